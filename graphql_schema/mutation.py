from __future__ import annotations

import strawberry
from strawberry.types import Info

from graphql_schema.billing import CapturePaymentInput, InvoicePayload, PaymentPayload, RecordPaymentInput, RefundPaymentInput
from graphql_schema.catalog import AdjustStockInput, ProductInput, ProductPayload, StockLevelPayload, WarehouseInput, WarehousePayload
from graphql_schema.fulfilment import CreatePickListInput, CreateShipmentInput, PickListPayload, ShipmentPayload, TrackingEventInput
from graphql_schema.orders import OrderIdInput, OrderPayload, PlaceOrderInput, PlaceOrderPayload
from graphql_schema.returns import (
    CustomerInquiryMessageInput, InquiryIdInput, InquiryMessageInput, InquiryPayload, OpenCustomerInquiryInput, OpenInquiryInput,
    ReceiveReturnInput, RequestCustomerReturnInput, RequestReturnInput, ReturnDecisionInput, ReturnPayload,
)
from resolvers import billing, catalog, fulfilment, orders, returns


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

    @strawberry.mutation(description="Staff or partner return over delivered lines. Needs returns:write.")
    async def request_return(self, info: Info, input: RequestReturnInput) -> ReturnPayload:
        return await returns.request_return(info, input)

    @strawberry.mutation(description="Public: the customer's own return, proven by the tracking pair.")
    async def request_customer_return(self, info: Info, input: RequestCustomerReturnInput) -> ReturnPayload:
        return await returns.request_customer_return(info, input)

    @strawberry.mutation(description="An EXCHANGE places its replacement order here, reserving stock. Needs returns:write.")
    async def approve_return(self, info: Info, input: ReturnDecisionInput) -> ReturnPayload:
        return await returns.approve_return(info, input)

    @strawberry.mutation(description="Needs returns:write and a note.")
    async def reject_return(self, info: Info, input: ReturnDecisionInput) -> ReturnPayload:
        return await returns.reject_return(info, input)

    @strawberry.mutation(description="The goods arrived: restock or write off each line, refund with a credit note. Needs returns:write.")
    async def receive_return(self, info: Info, input: ReceiveReturnInput) -> ReturnPayload:
        return await returns.receive_return(info, input)

    @strawberry.mutation(description="Staff opens a case on an order. Needs orders:write.")
    async def open_inquiry(self, info: Info, input: OpenInquiryInput) -> InquiryPayload:
        return await returns.open_inquiry(info, input)

    @strawberry.mutation(description="Needs orders:write.")
    async def reply_to_inquiry(self, info: Info, input: InquiryMessageInput) -> InquiryPayload:
        return await returns.reply_to_inquiry(info, input)

    @strawberry.mutation(description="Needs orders:write.")
    async def close_inquiry(self, info: Info, input: InquiryIdInput) -> InquiryPayload:
        return await returns.close_inquiry(info, input)

    @strawberry.mutation(description="Public: the customer opens a case, proven by the tracking pair.")
    async def open_customer_inquiry(self, info: Info, input: OpenCustomerInquiryInput) -> InquiryPayload:
        return await returns.open_customer_inquiry(info, input)

    @strawberry.mutation(description="Public: the customer writes on one of the order's cases (reopens a closed one).")
    async def post_customer_inquiry_message(self, info: Info, input: CustomerInquiryMessageInput) -> InquiryPayload:
        return await returns.post_customer_inquiry_message(info, input)
