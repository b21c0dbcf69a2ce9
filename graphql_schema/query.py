"""The query root. Each field forwards to its resolver; `graphql_type` is what the schema shows,
the return annotation what the resolver hands back (ORM rows, resolver pages and views)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

import models
import models.alerts
import models.billing
import models.fulfilment
import models.returns
import models.webhooks
import resolvers.alerts
import resolvers.orders  # named in full in annotations: inside Query, `orders` is the field
from app.alerts.enums import AlertKind
from graphql_schema.alerts import Alert  # alerts, issue 19
from graphql_schema.billing import Invoice
from graphql_schema.catalog import Product, StockLevel, Warehouse
from graphql_schema.common import Connection, Node
from graphql_schema.enums import SalesChannel
from graphql_schema.fulfilment import Carrier, Shipment
from graphql_schema.orders import Order, OrderFilter, OrderSort, OrderStats
from graphql_schema.returns import Inquiry, InquiryFilter, Return, ReturnFilter
from graphql_schema.tracking import OrderTracking
from graphql_schema.webhooks import WebhookEndpoint  # hooks, issue 17
from resolvers import billing, catalog, fulfilment, node, orders, pagination, returns, tracking, webhooks
from resolvers.planner.api import Planned
from resolvers.types import Info


@strawberry.type
class Query:
    @strawberry.field(graphql_type=Node | None)
    async def node(self, info: Info, id: strawberry.ID) -> object | None:
        return await node.node(info, id)

    @strawberry.field(graphql_type=Order | None)
    async def order(self, info: Info, id: strawberry.ID | None = None, number: str | None = None) -> models.Order | Planned | None:
        return await orders.order(info, id=id, number=number)

    @strawberry.field(graphql_type=Connection[Order], description="Newest first unless sorted otherwise; `first` at most 100.")
    async def orders(
        self, info: Info, first: int | None = None, after: str | None = None, filter: OrderFilter | None = None, sort: OrderSort | None = None
    ) -> pagination.Connection[models.Order] | Planned:
        return await orders.orders(info, first=first, after=after, filter=filter, sort=sort)

    @strawberry.field(graphql_type=Connection[Product])
    async def products(
        self, info: Info, first: int | None = None, after: str | None = None, search: str | None = None
    ) -> pagination.Connection[models.Product] | Planned:
        return await catalog.products(info, first=first, after=after, search=search)

    @strawberry.field(graphql_type=list[Warehouse])
    async def warehouses(self, info: Info) -> list[models.Warehouse]:
        return await catalog.warehouses(info)

    @strawberry.field(graphql_type=list[Carrier])
    async def carriers(self, info: Info) -> list[models.fulfilment.Carrier]:
        return await fulfilment.carriers(info)

    @strawberry.field(graphql_type=Connection[StockLevel])
    async def stock_levels(
        self, info: Info, first: int | None = None, after: str | None = None, sku: str | None = None, warehouse_code: str | None = None,
        available_below: Annotated[int | None, strawberry.argument(description="low stock: fewer units available than this")] = None,
    ) -> pagination.Connection[models.StockLevel] | Planned:
        return await catalog.stock_levels(
            info, first=first, after=after, sku=sku, warehouse_code=warehouse_code, available_below=available_below
        )

    @strawberry.field(graphql_type=Connection[Shipment])
    async def shipments(
        self, info: Info, first: int | None = None, after: str | None = None, order_id: strawberry.ID | None = None
    ) -> pagination.Connection[models.fulfilment.Shipment] | Planned:
        return await fulfilment.shipments(info, first=first, after=after, order_id=order_id)

    @strawberry.field(graphql_type=Connection[Invoice])
    async def invoices(
        self, info: Info, first: int | None = None, after: str | None = None, order_id: strawberry.ID | None = None
    ) -> pagination.Connection[models.billing.Invoice] | Planned:
        return await billing.invoices(info, first=first, after=after, order_id=order_id)

    @strawberry.field(graphql_type=Invoice | None)
    async def invoice(self, info: Info, number: str) -> models.billing.Invoice | Planned | None:
        return await billing.invoice(info, number=number)

    @strawberry.field(graphql_type=OrderStats)
    async def order_stats(self, info: Info, channel: SalesChannel | None = None, placed_after: datetime | None = None) -> resolvers.orders.OrderStats:
        return await orders.order_stats(info, channel=channel, placed_after=placed_after)

    @strawberry.field(graphql_type=OrderTracking | None, description="Public: no API key. Both values must match one order.")
    async def track_order(self, info: Info, number: str, email: str) -> object | Planned | None:
        return await tracking.track_order(info, number=number, email=email)

    @strawberry.field(graphql_type=Connection[Return], description="Newest first; `first` at most 100. Needs returns:read.")
    async def returns(
        self, info: Info, first: int | None = None, after: str | None = None, filter: ReturnFilter | None = None
    ) -> pagination.Connection[models.returns.ReturnRequest] | Planned:
        return await returns.list_returns(info, first=first, after=after, filter=filter)

    @strawberry.field(graphql_type=Connection[Inquiry], description="Most recently active first; `first` at most 100. Needs orders:read.")
    async def inquiries(
        self, info: Info, first: int | None = None, after: str | None = None, filter: InquiryFilter | None = None
    ) -> pagination.Connection[models.returns.Inquiry]:
        return await returns.list_inquiries(info, first=first, after=after, filter=filter)

    @strawberry.field(graphql_type=list[Return], description="Public: the customer's returns, by the tracking pair (empty for a wrong pair).")
    async def tracked_returns(self, info: Info, number: str, email: str) -> list[models.returns.ReturnRequest]:
        return await returns.tracked_returns(info, number=number, email=email)

    @strawberry.field(
        graphql_type=list[Inquiry], description="Public: the customer's support cases with their messages, by the tracking pair (empty for a wrong pair)."
    )
    async def tracked_inquiries(self, info: Info, number: str, email: str) -> list[models.returns.Inquiry]:
        return await returns.tracked_inquiries(info, number=number, email=email)

    @strawberry.field(graphql_type=Connection[WebhookEndpoint], description="The webhook endpoints, newest first; `first` at most 100. Needs webhooks:read.")
    async def webhook_endpoints(
        self, info: Info,
        first: Annotated[int | None, strawberry.argument(description="Page size, at most 100 (default 20).")] = None,
        after: Annotated[str | None, strawberry.argument(description="The endCursor of the previous page.")] = None,
    ) -> pagination.Connection[models.webhooks.WebhookEndpoint]:
        return await webhooks.list_endpoints(info, first=first, after=after)

    # alerts, issue 19
    @strawberry.field(graphql_type=Connection[Alert], description="Alerts, newest raised first; `first` at most 100. Needs orders:read; "
                                                                  "LOW_STOCK alerts are listed only with stock:read too.")
    async def alerts(
        self, info: Info,
        first: Annotated[int | None, strawberry.argument(description="Page size, at most 100 (default 20).")] = None,
        after: Annotated[str | None, strawberry.argument(description="The endCursor of the previous page.")] = None,
        kind: Annotated[AlertKind | None, strawberry.argument(description="Only this kind (LOW_STOCK needs stock:read).")] = None,
        open: Annotated[bool | None, strawberry.argument(description="true: only open alerts; false: only cleared ones; null: both.")] = None,
    ) -> pagination.Connection[models.alerts.Alert]:
        return await resolvers.alerts.alerts(info, first=first, after=after, kind=kind, open=open)
