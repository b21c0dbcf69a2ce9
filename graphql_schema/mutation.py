"""The mutation root: each field forwards its input to the resolver, which answers with the payload's values."""

from __future__ import annotations

from typing import Annotated

import strawberry

from graphql_schema.billing import CapturePaymentInput, InvoicePayload, PaymentPayload, RecordPaymentInput, RefundPaymentInput
from graphql_schema.catalog import AdjustStockInput, ProductInput, ProductPayload, StockLevelPayload, WarehouseInput, WarehousePayload
from graphql_schema.drafts import CompleteDraftInput, CompleteDraftOrderPayload, CreateDraftInput, DraftOrderPayload, UpdateDraftInput  # drafts, issue 18
from graphql_schema.fulfilment import CreatePickListInput, CreateShipmentInput, PickListPayload, ShipmentPayload, TrackingEventInput
from graphql_schema.metadata import UpdateOrderMetadataInput
from graphql_schema.orders import OrderIdInput, OrderPayload, PlaceOrderInput, PlaceOrderPayload
from graphql_schema.partner import ImportOrdersInput, ImportOrdersPayload
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
from graphql_schema.webhooks import (  # hooks, issue 17
    CreateWebhookEndpointArgument,
    CreateWebhookEndpointPayload,
    DeleteWebhookEndpointArgument,
    DeleteWebhookEndpointPayload,
    ReplayWebhookDeliveriesArgument,
    ReplayWebhookDeliveriesPayload,
    UpdateWebhookEndpointArgument,
    WebhookEndpointPayload,
)
from resolvers import billing, catalog, fulfilment, metadata, orders, partner, returns, webhooks
from resolvers import drafts as draft_orders  # drafts, issue 18
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

    # hooks, issue 17: webhooks
    @strawberry.mutation(
        graphql_type=CreateWebhookEndpointPayload,
        description="Register an endpoint for the order events; its signing secret is returned this once. It receives events from now on "
                    "(no history: replayWebhookDeliveries sends older ones). Needs webhooks:write. Refuses with INVALID_INPUT (input.url: "
                    "not http(s), user info, a private or loopback target; input.eventTypes.N: an unknown type).",
    )
    async def create_webhook_endpoint(self, info: Info, input: CreateWebhookEndpointArgument) -> MutationPayload:
        return await webhooks.create_endpoint(info, input)

    @strawberry.mutation(
        graphql_type=WebhookEndpointPayload,
        description="Change an endpoint's URL, event types, channels or active flag. Needs webhooks:write. Refuses with NOT_FOUND "
                    "(input.endpointId) or INVALID_INPUT (as createWebhookEndpoint).",
    )
    async def update_webhook_endpoint(self, info: Info, input: UpdateWebhookEndpointArgument) -> MutationPayload:
        return await webhooks.update_endpoint(info, input)

    @strawberry.mutation(
        graphql_type=DeleteWebhookEndpointPayload,
        description="Delete an endpoint: nothing more is sent to it. Needs webhooks:write. Refuses with NOT_FOUND (input.endpointId).",
    )
    async def delete_webhook_endpoint(self, info: Info, input: DeleteWebhookEndpointArgument) -> MutationPayload:
        return await webhooks.delete_endpoint(info, input)

    @strawberry.mutation(
        graphql_type=ReplayWebhookDeliveriesPayload,
        description="Send an endpoint every event after the cursor `after` again (delivered and dead ones too, same webhook-id), in order "
                    "per order. Needs webhooks:write. Refuses with NOT_FOUND (input.endpointId) or INVALID_INPUT (input.after: not a cursor, "
                    "or one in the future).",
    )
    async def replay_webhook_deliveries(self, info: Info, input: ReplayWebhookDeliveriesArgument) -> MutationPayload:
        return await webhooks.replay_deliveries(info, input)
    # drafts, issue 18
    @strawberry.mutation(
        graphql_type=DraftOrderPayload,
        description="Start a draft order for a PHONE or STORE sale; it reserves nothing. Refusals: INVALID_INPUT (channel, email, "
                    "address, quantity), NOT_FOUND (unknown SKU, at [\"input\", \"lines\", i, \"sku\"]), LIMIT_EXCEEDED. Needs orders:write.",
    )
    async def create_draft_order(self, info: Info, input: CreateDraftInput) -> MutationPayload:
        return await draft_orders.create_draft_order(info, input)

    @strawberry.mutation(
        graphql_type=DraftOrderPayload,
        description="Change an OPEN draft (lines, addresses, customer email, notes); reserves nothing. Refusals as createDraftOrder, and "
                    "NOT_FOUND / INVALID_TRANSITION (completed, expired, being completed) at [\"input\", \"draftOrderId\"]. Needs orders:write.",
    )
    async def update_draft_order(self, info: Info, input: UpdateDraftInput) -> MutationPayload:
        return await draft_orders.update_draft_order(info, input)

    @strawberry.mutation(
        graphql_type=CompleteDraftOrderPayload,
        description="Place an OPEN draft as an order through placeOrder's own path (same pricing, reservation, payment and PLACED event; "
                    "the draft's channel). A draft is placed at most once, however often or concurrently this is called. Refusals: "
                    "NOT_FOUND / INVALID_TRANSITION (completed, expired, being completed) at [\"input\", \"draftOrderId\"]; the draft's "
                    "content (INVALID_INPUT, NOT_FOUND, OUT_OF_STOCK) at [\"draftOrder\", ...]; PAYMENT_DECLINED / UNAVAILABLE at "
                    "[\"input\", \"payment\", \"token\"]; IDEMPOTENCY_CONFLICT. A refusal places and reserves nothing. Needs orders:write.",
    )
    async def complete_draft_order(self, info: Info, input: CompleteDraftInput) -> MutationPayload:
        return await draft_orders.complete_draft_order(info, input)
    # partner, issue 17
    @strawberry.mutation(graphql_type=ImportOrdersPayload, description=(
        "Import up to 500 orders placed elsewhere (a marketplace's batch), each through placeOrder's rules in its own "
        "transaction: a bad row never blocks the others. Idempotent per (channel, marketplace, externalReference). Row "
        "errors (in results[].userErrors, paths `input.orders.N....`): INVALID_INPUT, NOT_FOUND (unknown SKU), OUT_OF_STOCK, "
        "LIMIT_EXCEEDED, IDEMPOTENCY_CONFLICT (`externalReference` imported with another content), UNAVAILABLE (retry the row); "
        "LIMIT_EXCEEDED at `orders` for more than 500 rows. Needs orders:write."))
    async def import_orders(
        self, info: Info, input: Annotated[ImportOrdersInput, strawberry.argument(description="The rows to import (at most 500).")]
    ) -> MutationPayload:
        return await partner.import_orders(info, input)

    @strawberry.mutation(graphql_type=OrderPayload, description=(
        "Set and remove an order's metadata (or, with `private: true`, its privateMetadata) in one change, recorded as a "
        "METADATA_UPDATED event (keys only). Refuses with NOT_FOUND (`orderId`), INVALID_INPUT (`set.N.key`, `remove.N`, "
        "nothing to change), LIMIT_EXCEEDED (`set.N.value` over 1024 characters; `set` over 50 keys or 16 KiB per map). "
        "Needs orders:write."))
    async def update_order_metadata(
        self, info: Info, input: Annotated[UpdateOrderMetadataInput, strawberry.argument(description="The order and the entries to set and remove.")]
    ) -> MutationPayload:
        return await metadata.update_order_metadata(info, input)
