"""The mutation root: each field forwards its input to the resolver, which answers with the payload's values."""

from __future__ import annotations

import strawberry

from graphql_schema.billing import CapturePaymentInput, InvoicePayload, PaymentPayload, RecordPaymentInput, RefundPaymentInput
from graphql_schema.catalog import AdjustStockInput, ProductInput, ProductPayload, StockLevelPayload, WarehouseInput, WarehousePayload
from graphql_schema.fulfilment import CreatePickListInput, CreateShipmentInput, PickListPayload, ShipmentPayload, TrackingEventInput
from graphql_schema.orders import OrderIdInput, OrderPayload, PlaceOrderInput, PlaceOrderPayload
from graphql_schema.production import AdvanceProductionInput, AdvanceProductionPayload
from graphql_schema.returns import (
    CustomerInquiryMessageInput,
    InquiryIdInput,
    InquiryMessageInput,
    InquiryPayload,
    OpenCustomerInquiryInput,
    OpenInquiryInput,
    ReceiveReturnInput,
    RequestCustomerReturnInput,
    RequestReturnInput,
    ReturnDecisionInput,
    ReturnPayload,
)
from resolvers import billing, catalog, fulfilment, orders, production, returns
from resolvers.types import Info, MutationPayload


@strawberry.type
class Mutation:
    @strawberry.mutation(graphql_type=PlaceOrderPayload)
    async def place_order(self, info: Info, input: PlaceOrderInput) -> MutationPayload:
        return await orders.place_order(info, input)

    @strawberry.mutation(graphql_type=OrderPayload)
    async def confirm_order(self, info: Info, input: OrderIdInput) -> MutationPayload:
        return await orders.confirm_order(info, input)

    @strawberry.mutation(graphql_type=OrderPayload)
    async def hold_order(self, info: Info, input: OrderIdInput) -> MutationPayload:
        return await orders.hold_order(info, input)

    @strawberry.mutation(graphql_type=OrderPayload)
    async def release_order(self, info: Info, input: OrderIdInput) -> MutationPayload:
        return await orders.release_order(info, input)

    @strawberry.mutation(graphql_type=OrderPayload)
    async def cancel_order(self, info: Info, input: OrderIdInput) -> MutationPayload:
        return await orders.cancel_order(info, input)

    @strawberry.mutation(graphql_type=StockLevelPayload)
    async def adjust_stock(self, info: Info, input: AdjustStockInput) -> MutationPayload:
        return await catalog.adjust_stock(info, input)

    @strawberry.mutation(graphql_type=ProductPayload)
    async def upsert_product(self, info: Info, input: ProductInput) -> MutationPayload:
        return await catalog.upsert_product(info, input)

    @strawberry.mutation(graphql_type=WarehousePayload)
    async def upsert_warehouse(self, info: Info, input: WarehouseInput) -> MutationPayload:
        return await catalog.upsert_warehouse(info, input)

    @strawberry.mutation(graphql_type=PickListPayload)
    async def create_pick_list(self, info: Info, input: CreatePickListInput) -> MutationPayload:
        return await fulfilment.create_pick_list(info, input)

    @strawberry.mutation(graphql_type=ShipmentPayload)
    async def create_shipment(self, info: Info, input: CreateShipmentInput) -> MutationPayload:
        return await fulfilment.create_shipment(info, input)

    @strawberry.mutation(graphql_type=ShipmentPayload)
    async def record_tracking_event(self, info: Info, input: TrackingEventInput) -> MutationPayload:
        return await fulfilment.record_tracking_event(info, input)

    @strawberry.mutation(graphql_type=PaymentPayload)
    async def capture_payment(self, info: Info, input: CapturePaymentInput) -> MutationPayload:
        return await billing.capture_payment(info, input)

    @strawberry.mutation(graphql_type=PaymentPayload, description="a bank transfer or cash received")
    async def record_payment(self, info: Info, input: RecordPaymentInput) -> MutationPayload:
        return await billing.record_payment(info, input)

    @strawberry.mutation(graphql_type=PaymentPayload, description="issues the credit note when the order was invoiced")
    async def refund_payment(self, info: Info, input: RefundPaymentInput) -> MutationPayload:
        return await billing.refund_payment(info, input)

    @strawberry.mutation(graphql_type=InvoicePayload, description="for manual invoicing; one invoice per order however often asked")
    async def issue_invoice(self, info: Info, input: OrderIdInput) -> MutationPayload:
        return await billing.issue_invoice(info, input)

    @strawberry.mutation(graphql_type=ReturnPayload, description="Staff or partner return over delivered lines. Needs returns:write.")
    async def request_return(self, info: Info, input: RequestReturnInput) -> MutationPayload:
        return await returns.request_return(info, input)

    @strawberry.mutation(graphql_type=ReturnPayload, description="Public: the customer's own return, proven by the tracking pair.")
    async def request_customer_return(self, info: Info, input: RequestCustomerReturnInput) -> MutationPayload:
        return await returns.request_customer_return(info, input)

    @strawberry.mutation(graphql_type=ReturnPayload, description="An EXCHANGE places its replacement order here, reserving stock. Needs returns:write.")
    async def approve_return(self, info: Info, input: ReturnDecisionInput) -> MutationPayload:
        return await returns.approve_return(info, input)

    @strawberry.mutation(graphql_type=ReturnPayload, description="Needs returns:write and a note.")
    async def reject_return(self, info: Info, input: ReturnDecisionInput) -> MutationPayload:
        return await returns.reject_return(info, input)

    @strawberry.mutation(
        graphql_type=ReturnPayload, description="The goods arrived: restock or write off each line, refund with a credit note. Needs returns:write."
    )
    async def receive_return(self, info: Info, input: ReceiveReturnInput) -> MutationPayload:
        return await returns.receive_return(info, input)

    @strawberry.mutation(graphql_type=InquiryPayload, description="Staff opens a case on an order. Needs orders:write.")
    async def open_inquiry(self, info: Info, input: OpenInquiryInput) -> MutationPayload:
        return await returns.open_inquiry(info, input)

    @strawberry.mutation(graphql_type=InquiryPayload, description="Needs orders:write.")
    async def reply_to_inquiry(self, info: Info, input: InquiryMessageInput) -> MutationPayload:
        return await returns.reply_to_inquiry(info, input)

    @strawberry.mutation(graphql_type=InquiryPayload, description="Needs orders:write.")
    async def close_inquiry(self, info: Info, input: InquiryIdInput) -> MutationPayload:
        return await returns.close_inquiry(info, input)

    @strawberry.mutation(graphql_type=InquiryPayload, description="Public: the customer opens a case, proven by the tracking pair.")
    async def open_customer_inquiry(self, info: Info, input: OpenCustomerInquiryInput) -> MutationPayload:
        return await returns.open_customer_inquiry(info, input)

    @strawberry.mutation(graphql_type=InquiryPayload, description="Public: the customer writes on one of the order's cases (reopens a closed one).")
    async def post_customer_inquiry_message(self, info: Info, input: CustomerInquiryMessageInput) -> MutationPayload:
        return await returns.post_customer_inquiry_message(info, input)

    # stages, issue 19
    @strawberry.mutation(
        graphql_type=AdvanceProductionPayload,
        description="Move a made-to-order line's production stage (forward one at a time, or QUALITY_CHECK back to IN_PRODUCTION); "
        "records PRODUCTION_STAGE_CHANGED and recomputes the delivery promise. Needs orders:write. Errors: NOT_FOUND (orderLineId), "
        "INVALID_INPUT (a stock line), INVALID_TRANSITION (a skipped or backward stage: stage; "
        "an order that cannot be fulfilled or a shipped line: orderLineId).",
    )
    async def advance_production(self, info: Info, input: AdvanceProductionInput) -> MutationPayload:
        return await production.advance_production(info, input)
