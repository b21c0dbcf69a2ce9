"""The query root. Each field forwards to its resolver; `graphql_type` is what the schema shows,
the return annotation what the resolver hands back (ORM rows, resolver pages and views)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

import models
import models.alerts
import models.billing
import models.drafts
import models.fulfilment
import models.receipts
import models.returns
import models.shipping
import models.sourcing
import models.webhooks
import resolvers.alerts
import resolvers.orders  # named in full in annotations: inside Query, `orders` is the field
import resolvers.receipts  # backorders, issue 19
import resolvers.shipping  # shipping, issue 19
import resolvers.sourcing  # sourcing, issue 19
from app.alerts.enums import AlertKind
from graphql_schema.alerts import Alert  # alerts, issue 19
from graphql_schema.billing import Invoice
from graphql_schema.catalog import Product, StockLevel, Warehouse
from graphql_schema.common import After, Connection, First, Node, OrderIdArgument, TrackedEmail, TrackedNumber
from graphql_schema.drafts import DraftOrder, DraftOrderStatusArg, DraftPageAfter, DraftPageSize  # drafts, issue 18
from graphql_schema.enums import SalesChannel
from graphql_schema.fulfilment import Carrier, Shipment
from graphql_schema.orders import Order, OrderFilter, OrderSort, OrderStats
from graphql_schema.receipts import StockReceipt  # backorders, issue 19
from graphql_schema.returns import Inquiry, InquiryFilter, Return, ReturnFilter
from graphql_schema.shipping import ShippingQuote, ShippingQuotesInput, ShippingRate  # shipping, issue 19
from graphql_schema.sourcing import SourcingRule  # sourcing, issue 19
from graphql_schema.tracking import OrderTracking
from graphql_schema.webhooks import WebhookEndpoint  # hooks, issue 17
from resolvers import billing, catalog, fulfilment, node, orders, pagination, returns, tracking, webhooks
from resolvers import drafts as draft_orders  # drafts, issue 18
from resolvers.planner.api import Planned
from resolvers.types import Info


@strawberry.type(description="Reads. Each field needs an API key with the scope it names; the tracking fields are public.")
class Query:
    @strawberry.field(graphql_type=Node | None, description="Any object by its global ID; null when none exists (or the ID is malformed). "
                      "Needs the read scope of the object's type (orders:read for an Order, stock:read for a Product, ...).")
    async def node(self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="Any Node's `id`.")]) -> object | None:
        return await node.node(info, id)

    @strawberry.field(graphql_type=Order | None, description="One order by its global ID or its number (given both, both must match); "
                      "null when none does. Needs orders:read.")
    async def order(
        self, info: Info, id: Annotated[strawberry.ID | None, strawberry.argument(description="The order's global ID.")] = None,
        number: Annotated[str | None, strawberry.argument(description="The order number, e.g. \"SO-100001\".")] = None,
    ) -> models.Order | Planned | None:
        return await orders.order(info, id=id, number=number)

    @strawberry.field(graphql_type=Connection[Order], description="Newest first unless sorted otherwise; `first` at most 100. Needs orders:read.")
    async def orders(
        self, info: Info, first: First = None, after: After = None,
        filter: Annotated[OrderFilter | None, strawberry.argument(description="Only the orders matching every condition given.")] = None,
        sort: Annotated[OrderSort | None, strawberry.argument(description="Absent: PLACED_AT, DESC.")] = None,
    ) -> pagination.Connection[models.Order] | Planned:
        return await orders.orders(info, first=first, after=after, filter=filter, sort=sort)

    @strawberry.field(graphql_type=Connection[Product], description="The catalogue, by SKU. Needs stock:read.")
    async def products(
        self, info: Info, first: First = None, after: After = None,
        search: Annotated[str | None, strawberry.argument(description="Only products whose SKU or name contains this text (any case).")] = None,
    ) -> pagination.Connection[models.Product] | Planned:
        return await catalog.products(info, first=first, after=after, search=search)

    @strawberry.field(graphql_type=list[Warehouse], description="Every warehouse, by code. Needs stock:read.")
    async def warehouses(self, info: Info) -> list[models.Warehouse]:
        return await catalog.warehouses(info)

    @strawberry.field(graphql_type=list[Carrier], description="The carriers a shipment may use (the active ones), by code. Needs shipments:read.")
    async def carriers(self, info: Info) -> list[models.fulfilment.Carrier]:
        return await fulfilment.carriers(info)

    @strawberry.field(graphql_type=Connection[StockLevel], description="Stock per SKU and warehouse, by SKU then warehouse. Needs stock:read.")
    async def stock_levels(
        self, info: Info, first: First = None, after: After = None,
        sku: Annotated[str | None, strawberry.argument(description="Only this SKU (exact).")] = None,
        warehouse_code: Annotated[str | None, strawberry.argument(description="Only this warehouse, by its code.")] = None,
        available_below: Annotated[int | None, strawberry.argument(description="low stock: fewer units available than this")] = None,
    ) -> pagination.Connection[models.StockLevel] | Planned:
        return await catalog.stock_levels(
            info, first=first, after=after, sku=sku, warehouse_code=warehouse_code, available_below=available_below
        )

    @strawberry.field(graphql_type=Connection[Shipment], description="Shipments, newest first (by shippedAt). Needs shipments:read.")
    async def shipments(
        self, info: Info, first: First = None, after: After = None, order_id: OrderIdArgument = None
    ) -> pagination.Connection[models.fulfilment.Shipment] | Planned:
        return await fulfilment.shipments(info, first=first, after=after, order_id=order_id)

    @strawberry.field(graphql_type=Connection[Invoice], description="Invoices and credit notes, newest first (by issuedAt). Needs invoices:read.")
    async def invoices(
        self, info: Info, first: First = None, after: After = None, order_id: OrderIdArgument = None
    ) -> pagination.Connection[models.billing.Invoice] | Planned:
        return await billing.invoices(info, first=first, after=after, order_id=order_id)

    @strawberry.field(graphql_type=Invoice | None, description="One invoice or credit note by its number; null when none. Needs invoices:read.")
    async def invoice(
        self, info: Info, number: Annotated[str, strawberry.argument(description="Its number, e.g. \"F2026-000042\".")]
    ) -> models.billing.Invoice | Planned | None:
        return await billing.invoice(info, number=number)

    @strawberry.field(graphql_type=OrderStats, description="Order counts by status and by channel. Needs orders:read.")
    async def order_stats(
        self, info: Info, channel: Annotated[SalesChannel | None, strawberry.argument(description="Count only this channel's orders.")] = None,
        placed_after: Annotated[datetime | None, strawberry.argument(description="Count only orders placed at or after this moment.")] = None,
    ) -> resolvers.orders.OrderStats:
        return await orders.order_stats(info, channel=channel, placed_after=placed_after)

    @strawberry.field(graphql_type=OrderTracking | None, description="Public: no API key. Both values must match one order.")
    async def track_order(self, info: Info, number: TrackedNumber, email: TrackedEmail) -> object | Planned | None:
        return await tracking.track_order(info, number=number, email=email)

    @strawberry.field(graphql_type=Connection[Return], description="Newest first; `first` at most 100. Needs returns:read.")
    async def returns(
        self, info: Info, first: First = None, after: After = None,
        filter: Annotated[ReturnFilter | None, strawberry.argument(description="Only the returns matching every condition given.")] = None,
    ) -> pagination.Connection[models.returns.ReturnRequest] | Planned:
        return await returns.list_returns(info, first=first, after=after, filter=filter)

    @strawberry.field(graphql_type=Connection[Inquiry], description="Most recently active first; `first` at most 100. Needs orders:read.")
    async def inquiries(
        self, info: Info, first: First = None, after: After = None,
        filter: Annotated[InquiryFilter | None, strawberry.argument(description="Only the cases matching every condition given.")] = None,
    ) -> pagination.Connection[models.returns.Inquiry]:
        return await returns.list_inquiries(info, first=first, after=after, filter=filter)

    @strawberry.field(graphql_type=list[Return], description="Public: the customer's returns, by the tracking pair (empty for a wrong pair).")
    async def tracked_returns(self, info: Info, number: TrackedNumber, email: TrackedEmail) -> list[models.returns.ReturnRequest]:
        return await returns.tracked_returns(info, number=number, email=email)

    @strawberry.field(
        graphql_type=list[Inquiry], description="Public: the customer's support cases with their messages, by the tracking pair (empty for a wrong pair)."
    )
    async def tracked_inquiries(self, info: Info, number: TrackedNumber, email: TrackedEmail) -> list[models.returns.Inquiry]:
        return await returns.tracked_inquiries(info, number=number, email=email)

    @strawberry.field(graphql_type=Connection[WebhookEndpoint], description="The webhook endpoints, newest first; `first` at most 100. Needs webhooks:read.")
    async def webhook_endpoints(
        self, info: Info,
        first: Annotated[int | None, strawberry.argument(description="Page size, at most 100 (default 20).")] = None,
        after: Annotated[str | None, strawberry.argument(description="The endCursor of the previous page.")] = None,
    ) -> pagination.Connection[models.webhooks.WebhookEndpoint]:
        return await webhooks.list_endpoints(info, first=first, after=after)

    # drafts, issue 18
    @strawberry.field(graphql_type=Connection[DraftOrder], description="Draft orders, newest first; `first` at most 100. Needs orders:read.")
    async def draft_orders(
        self, info: Info, first: DraftPageSize = None, after: DraftPageAfter = None, status: DraftOrderStatusArg = None
    ) -> pagination.Connection[models.drafts.DraftOrder]:
        return await draft_orders.draft_orders(info, first=first, after=after, status=status)

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

    # sourcing, issue 19
    @strawberry.field(graphql_type=list[SourcingRule], description=(
        "The sourcing rules placeOrder evaluates, by position (empty: warehouse priority, as before any rule). Needs stock:read."))
    async def sourcing_rules(self, info: Info) -> list[models.sourcing.SourcingRule]:
        return await resolvers.sourcing.sourcing_rules(info)

    # backorders, issue 19
    @strawberry.field(graphql_type=Connection[StockReceipt], description="Expected stock receipts, soonest expectedAt first; `first` at most "
                                                                         "100. Needs stock:read.")
    async def stock_receipts(
        self, info: Info,
        first: Annotated[int | None, strawberry.argument(description="Page size, at most 100 (default 20).")] = None,
        after: Annotated[str | None, strawberry.argument(description="The endCursor of the previous page.")] = None,
        sku: Annotated[str | None, strawberry.argument(description="Only this SKU's receipts.")] = None,
        warehouse_code: Annotated[str | None, strawberry.argument(description="Only receipts expected at this warehouse.")] = None,
        open: Annotated[bool | None, strawberry.argument(description="true: only those still expecting units (not RECEIVED); false: only "
                                                                     "RECEIVED ones; null: both.")] = None,
    ) -> pagination.Connection[models.receipts.StockReceipt]:
        return await resolvers.receipts.stock_receipts(info, first=first, after=after, sku=sku, warehouse_code=warehouse_code, open=open)

    # shipping, issue 19
    @strawberry.field(graphql_type=list[ShippingRate], description="The shipping rate table, in the order it was set (setShippingRates). "
                                                                 "Needs stock:read.")
    async def shipping_rates(self, info: Info) -> list[models.shipping.ShippingRate]:
        return await resolvers.shipping.shipping_rates(info)

    @strawberry.field(
        graphql_type=list[ShippingQuote],
        description="The shipping methods available for a basket, cheapest first, each with what placeOrder would charge (net, VAT, gross) "
                    "and its delivery estimate; writes nothing. Empty when no rate is configured for the basket's currency (nothing is "
                    "charged) and for a PICKUP delivery. Needs orders:read. Errors (extensions.code and extensions.field, as placeOrder's "
                    "userErrors): INVALID_INPUT, NOT_FOUND (an unknown SKU), LIMIT_EXCEEDED, OUT_OF_STOCK.",
    )
    async def shipping_quotes(
        self, info: Info, input: Annotated[ShippingQuotesInput, strawberry.argument(description="The basket: channel, lines, address.")],
    ) -> list[resolvers.shipping.QuoteView]:
        return await resolvers.shipping.shipping_quotes(info, input)
