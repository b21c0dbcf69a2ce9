from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from graphql_schema.billing import Invoice
from graphql_schema.catalog import Product, StockLevel, Warehouse
from graphql_schema.common import Connection, Node
from graphql_schema.enums import SalesChannel
from graphql_schema.fulfilment import Carrier, Shipment
from graphql_schema.orders import Order, OrderFilter, OrderSort, OrderStats
from graphql_schema.returns import Inquiry, InquiryFilter, Return, ReturnFilter
from graphql_schema.tracking import OrderTracking
from resolvers import billing, catalog, fulfilment, node, orders, returns, tracking


@strawberry.type
class Query:
    @strawberry.field
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        return await node.node(info, id)

    @strawberry.field
    async def order(self, info: Info, id: strawberry.ID | None = None, number: str | None = None) -> Order | None:
        return await orders.order(info, id=id, number=number)

    @strawberry.field(description="Newest first unless sorted otherwise; `first` at most 100.")
    async def orders(
        self, info: Info, first: int | None = None, after: str | None = None, filter: OrderFilter | None = None, sort: OrderSort | None = None
    ) -> Connection[Order]:
        return await orders.orders(info, first=first, after=after, filter=filter, sort=sort)

    @strawberry.field
    async def products(self, info: Info, first: int | None = None, after: str | None = None, search: str | None = None) -> Connection[Product]:
        return await catalog.products(info, first=first, after=after, search=search)

    @strawberry.field
    async def warehouses(self, info: Info) -> list[Warehouse]:
        return await catalog.warehouses(info)

    @strawberry.field
    async def carriers(self, info: Info) -> list[Carrier]:
        return await fulfilment.carriers(info)

    @strawberry.field
    async def stock_levels(
        self, info: Info, first: int | None = None, after: str | None = None, sku: str | None = None, warehouse_code: str | None = None
    ) -> Connection[StockLevel]:
        return await catalog.stock_levels(info, first=first, after=after, sku=sku, warehouse_code=warehouse_code)

    @strawberry.field
    async def shipments(self, info: Info, first: int | None = None, after: str | None = None, order_id: strawberry.ID | None = None) -> Connection[Shipment]:
        return await fulfilment.shipments(info, first=first, after=after, order_id=order_id)

    @strawberry.field
    async def invoices(self, info: Info, first: int | None = None, after: str | None = None, order_id: strawberry.ID | None = None) -> Connection[Invoice]:
        return await billing.invoices(info, first=first, after=after, order_id=order_id)

    @strawberry.field
    async def invoice(self, info: Info, number: str) -> Invoice | None:
        return await billing.invoice(info, number=number)

    @strawberry.field
    async def order_stats(self, info: Info, channel: SalesChannel | None = None, placed_after: datetime | None = None) -> OrderStats:
        return await orders.order_stats(info, channel=channel, placed_after=placed_after)

    @strawberry.field(description="Public: no API key. Both values must match one order.")
    async def track_order(self, info: Info, number: str, email: str) -> OrderTracking | None:
        return await tracking.track_order(info, number=number, email=email)

    @strawberry.field(description="Newest first; `first` at most 100. Needs returns:read.")
    async def returns(self, info: Info, first: int | None = None, after: str | None = None, filter: ReturnFilter | None = None) -> Connection[Return]:
        return await returns.list_returns(info, first=first, after=after, filter=filter)

    @strawberry.field(description="Most recently active first; `first` at most 100. Needs orders:read.")
    async def inquiries(self, info: Info, first: int | None = None, after: str | None = None, filter: InquiryFilter | None = None) -> Connection[Inquiry]:
        return await returns.list_inquiries(info, first=first, after=after, filter=filter)

    @strawberry.field(description="Public: the customer's returns, by the tracking pair (empty for a wrong pair).")
    async def tracked_returns(self, info: Info, number: str, email: str) -> list[Return]:
        return await returns.tracked_returns(info, number=number, email=email)

    @strawberry.field(description="Public: the customer's support cases with their messages, by the tracking pair (empty for a wrong pair).")
    async def tracked_inquiries(self, info: Info, number: str, email: str) -> list[Inquiry]:
        return await returns.tracked_inquiries(info, number=number, email=email)
