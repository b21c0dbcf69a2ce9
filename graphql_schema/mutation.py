from __future__ import annotations

import strawberry
from strawberry.types import Info

from graphql_schema.billing import CapturePaymentInput, InvoicePayload, PaymentPayload, RecordPaymentInput, RefundPaymentInput
from graphql_schema.catalog import AdjustStockInput, ProductInput, ProductPayload, StockLevelPayload, WarehouseInput, WarehousePayload
from graphql_schema.fulfilment import CreatePickListInput, CreateShipmentInput, PickListPayload, ShipmentPayload, TrackingEventInput
from graphql_schema.orders import OrderIdInput, OrderPayload, PlaceOrderInput, PlaceOrderPayload
from resolvers import billing, catalog, fulfilment, orders


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def place_order(self, info: Info, input: PlaceOrderInput) -> PlaceOrderPayload:
        return await orders.place_order(info, input)

    @strawberry.mutation
    async def confirm_order(self, info: Info, input: OrderIdInput) -> OrderPayload:
        return await orders.confirm_order(info, input)

    @strawberry.mutation
    async def hold_order(self, info: Info, input: OrderIdInput) -> OrderPayload:
        return await orders.hold_order(info, input)

    @strawberry.mutation
    async def release_order(self, info: Info, input: OrderIdInput) -> OrderPayload:
        return await orders.release_order(info, input)

    @strawberry.mutation
    async def cancel_order(self, info: Info, input: OrderIdInput) -> OrderPayload:
        return await orders.cancel_order(info, input)

    @strawberry.mutation
    async def adjust_stock(self, info: Info, input: AdjustStockInput) -> StockLevelPayload:
        return await catalog.adjust_stock(info, input)

    @strawberry.mutation
    async def upsert_product(self, info: Info, input: ProductInput) -> ProductPayload:
        return await catalog.upsert_product(info, input)

    @strawberry.mutation
    async def upsert_warehouse(self, info: Info, input: WarehouseInput) -> WarehousePayload:
        return await catalog.upsert_warehouse(info, input)

    @strawberry.mutation
    async def create_pick_list(self, info: Info, input: CreatePickListInput) -> PickListPayload:
        return await fulfilment.create_pick_list(info, input)

    @strawberry.mutation
    async def create_shipment(self, info: Info, input: CreateShipmentInput) -> ShipmentPayload:
        return await fulfilment.create_shipment(info, input)

    @strawberry.mutation
    async def record_tracking_event(self, info: Info, input: TrackingEventInput) -> ShipmentPayload:
        return await fulfilment.record_tracking_event(info, input)

    @strawberry.mutation
    async def capture_payment(self, info: Info, input: CapturePaymentInput) -> PaymentPayload:
        return await billing.capture_payment(info, input)

    @strawberry.mutation(description="a bank transfer or cash received")
    async def record_payment(self, info: Info, input: RecordPaymentInput) -> PaymentPayload:
        return await billing.record_payment(info, input)

    @strawberry.mutation(description="issues the credit note when the order was invoiced")
    async def refund_payment(self, info: Info, input: RefundPaymentInput) -> PaymentPayload:
        return await billing.refund_payment(info, input)

    @strawberry.mutation(description="for manual invoicing; one invoice per order however often asked")
    async def issue_invoice(self, info: Info, input: OrderIdInput) -> InvoicePayload:
        return await billing.issue_invoice(info, input)
