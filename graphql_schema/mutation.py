"""The mutation root: each field forwards its input to the resolver, which answers with the payload's values."""

from __future__ import annotations

from typing import Annotated

import strawberry

from graphql_schema.alerts import LowStockThresholdInput, LowStockThresholdPayload  # alerts, issue 19
from graphql_schema.billing import CapturePaymentInput, InvoicePayload, PaymentPayload, RecordPaymentInput, RefundPaymentInput
from graphql_schema.catalog import AdjustStockInput, ProductInput, ProductPayload, StockLevelPayload, WarehouseInput, WarehousePayload
from graphql_schema.common import Input
from graphql_schema.drafts import CompleteDraftInput, CompleteDraftOrderPayload, CreateDraftInput, DraftOrderPayload, UpdateDraftInput  # drafts, issue 18
from graphql_schema.edits import CancelOrderLinesInput, EditOrderInput, EditOrderPayload
from graphql_schema.fulfilment import CreatePickListInput, CreateShipmentInput, PickListPayload, ShipmentPayload, TrackingEventInput
from graphql_schema.metadata import UpdateOrderMetadataInput
from graphql_schema.orders import OrderIdInput, OrderPayload, PlaceOrderInput, PlaceOrderPayload
from graphql_schema.partner import ImportOrdersInput, ImportOrdersPayload
from graphql_schema.pickup import CollectOrderInput, CollectOrderPayload  # pickup, issue 19
from graphql_schema.production import AdvanceProductionInput, AdvanceProductionPayload
from graphql_schema.receipts import ReceiveStockInput, ScheduleReceiptInput, StockReceiptPayload  # backorders, issue 19
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
from graphql_schema.risk import AssessOrderRiskInput
from graphql_schema.shipping import SetShippingRatesInput, SetShippingRatesPayload  # shipping, issue 19
from graphql_schema.sourcing import ReallocateOrderInput, SetSourcingRulesInput, SetSourcingRulesPayload  # sourcing, issue 19
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
from resolvers import (
    alerts,
    billing,
    catalog,
    edits,
    fulfilment,
    holds,
    metadata,
    orders,
    partner,
    pickup,  # pickup, issue 19
    production,
    returns,
    sourcing,  # sourcing, issue 19
    webhooks,
)
from resolvers import drafts as draft_orders  # drafts, issue 18
from resolvers import receipts as stock_receipts  # backorders, issue 19
from resolvers import shipping as resolve_shipping  # shipping, issue 19
from resolvers.types import Info, MutationPayload


@strawberry.type(description="Writes. Each takes one `input` and answers a payload with the changed objects and `userErrors`; a refused "
                  "request writes nothing. Each needs the write scope it names; the customer ones are public.")
class Mutation:
    @strawberry.mutation(graphql_type=PlaceOrderPayload, description=(
        "Places an order: checks it, reserves its stock in the warehouses serving its channel (never oversold), promises a "
        "delivery date and opens its payment (CARD is authorised now; CASH_ON_DELIVERY confirms the order at once). Refused, "
        "writing nothing, with INVALID_INPUT (a malformed email or address, no lines, a blank SKU, a quantity below 1, mixed "
        "currencies, a card without token), LIMIT_EXCEEDED (over 100 lines or 10,000 units of a line), NOT_FOUND (an unknown "
        "SKU, at `lines.N.sku`), OUT_OF_STOCK (at `lines.N.sku`: nothing was reserved), IDEMPOTENCY_CONFLICT, PAYMENT_DECLINED, "
        "or UNAVAILABLE (the payment provider did not answer in time; nothing was charged: retry with the same idempotencyKey). "
        "Needs orders:write."
    ))
    async def place_order(self, info: Info, input: Input[PlaceOrderInput]) -> MutationPayload:
        return await orders.place_order(info, input)

    @strawberry.mutation(graphql_type=OrderPayload, description=(
        "Confirms an order (PENDING, usually); billing then captures its card authorisations and issues its invoice when it is "
        "configured to do so at confirmation. Refused with NOT_FOUND, INVALID_TRANSITION (its status does not allow CONFIRMED), "
        "or PAYMENT_DECLINED / UNAVAILABLE when the capture fails (then nothing changes). Needs orders:write."
    ))
    async def confirm_order(self, info: Info, input: Input[OrderIdInput]) -> MutationPayload:
        return await orders.confirm_order(info, input)

    @strawberry.mutation(graphql_type=OrderPayload, description=(
        "Hold the order for `reason` (default STAFF). On an order already ON_HOLD another reason adds a hold (event HOLD_ADDED); "
        "INVALID_TRANSITION when it is held for that reason already or cannot be held. Needs orders:write."))
    async def hold_order(self, info: Info, input: Input[OrderIdInput]) -> MutationPayload:
        return await orders.hold_order(info, input)

    @strawberry.mutation(graphql_type=OrderPayload, description=(
        "Release one hold: `holdId`, or the oldest open one (`reason` is the release note). The order resumes the status it was held "
        "from only when no hold is left (else event HOLD_RELEASED, still ON_HOLD); back to PENDING, an order paying cash on delivery or "
        "already paid in full is confirmed at once. INVALID_TRANSITION when not on hold; NOT_FOUND for an unknown holdId. Needs "
        "orders:write."))
    async def release_order(self, info: Info, input: Input[OrderIdInput]) -> MutationPayload:
        return await orders.release_order(info, input)

    @strawberry.mutation(graphql_type=OrderPayload, description=(
        "Cancels an order that has not shipped (PENDING, CONFIRMED, PROCESSING or ON_HOLD): releases every reservation, voids "
        "what is only authorised or expected, refunds what was captured and credits an issued invoice. Refused with NOT_FOUND, "
        "INVALID_TRANSITION (shipped, delivered, returned or already cancelled), or PAYMENT_DECLINED / UNAVAILABLE when the "
        "provider refuses the void or refund (then nothing changes). Needs orders:write."
    ))
    async def cancel_order(self, info: Info, input: Input[OrderIdInput]) -> MutationPayload:
        return await orders.cancel_order(info, input)

    @strawberry.mutation(graphql_type=StockLevelPayload, description=(
        "A receipt (positive delta) or write-off (negative) of one SKU in one warehouse, with a ledger row; on hand never falls "
        "below what is reserved. Refused with INVALID_INPUT (delta 0, a blank reason, on hand below reserved), LIMIT_EXCEEDED "
        "(|delta| over 1,000,000) or NOT_FOUND (an unknown sku or warehouseCode). Needs stock:write."
    ))
    async def adjust_stock(self, info: Info, input: Input[AdjustStockInput]) -> MutationPayload:
        return await catalog.adjust_stock(info, input)

    @strawberry.mutation(graphql_type=ProductPayload, description=(
        "Creates the product with this SKU, or updates it (partner catalogue sync); orders already placed keep their prices. "
        "Refused with INVALID_INPUT (SKU 1 to 64 characters, name 1 to 300, a supported ISO 4217 currency, price 0 to "
        "999999999.99 with at most 2 decimals, taxRate 0 to 1, leadTimeDays 0 to 365 and only when madeToOrder). Needs "
        "stock:write."
    ))
    async def upsert_product(self, info: Info, input: Input[ProductInput]) -> MutationPayload:
        return await catalog.upsert_product(info, input)

    @strawberry.mutation(graphql_type=WarehousePayload, description=(
        "Creates the warehouse with this code, or updates its name and channels. Refused with INVALID_INPUT (code 1 to 32 "
        "characters, name 1 to 200). Needs stock:write."
    ))
    async def upsert_warehouse(self, info: Info, input: Input[WarehouseInput]) -> MutationPayload:
        return await catalog.upsert_warehouse(info, input)

    @strawberry.mutation(graphql_type=PickListPayload, description=(
        "Issues a warehouse's pick list over the given orders (or every confirmed order with units to pick there); each unit "
        "goes on one pick list only, and a CONFIRMED order moves to PROCESSING. Refused with INVALID_INPUT (an empty orderIds, "
        "an order with nothing left to pick there, no order to pick), LIMIT_EXCEEDED (over 200 orders), NOT_FOUND (the "
        "warehouse or an order) or INVALID_TRANSITION (an order that is not CONFIRMED, PROCESSING or PARTIALLY_SHIPPED). Needs "
        "shipments:write."
    ))
    async def create_pick_list(self, info: Info, input: Input[CreatePickListInput]) -> MutationPayload:
        return await fulfilment.create_pick_list(info, input)

    @strawberry.mutation(graphql_type=ShipmentPayload, description=(
        "Ships units of an order from one warehouse with one carrier: the units leave on hand and reserved, the order becomes "
        "PARTIALLY_SHIPPED or SHIPPED, its delivery estimate is recomputed, and billing captures and invoices when it is "
        "configured to at shipment. Refused with INVALID_INPUT (nothing left to ship from there, more units than are reserved "
        "there and unshipped, a trackingNumber over 100 characters), LIMIT_EXCEEDED (over 10,000 units in a line), NOT_FOUND "
        "(the order, warehouse or carrier, a SKU not on the order), INVALID_TRANSITION (the order is not CONFIRMED, PROCESSING "
        "or PARTIALLY_SHIPPED, or is a click-and-collect order shipped from its pickup point: collectOrder hands it over), or "
        "PAYMENT_DECLINED / UNAVAILABLE when the capture fails. A click-and-collect order ships only its transfers (issue 19): from "
        "another warehouse, the units reserved there for its pickup point (Shipment.transferTo): they leave on hand and reserved "
        "there (TRANSFER_OUT ledger rows), the order's status and lines do not move, billing is not called, the event is "
        "TRANSFER_SHIPPED (internal); its DELIVERED report moves them into the store (recordTrackingEvent). Needs shipments:write."
    ))
    async def create_shipment(self, info: Info, input: Input[CreateShipmentInput]) -> MutationPayload:
        return await fulfilment.create_shipment(info, input)

    @strawberry.mutation(graphql_type=ShipmentPayload, description=(
        "Adds a carrier's report to a shipment, in any arrival order (the same status at the same time again changes nothing); "
        "the shipment's status and estimate are derived again, and the order becomes DELIVERED when every parcel of a fully "
        "shipped order is delivered. A transfer to a click-and-collect order's pickup point (Shipment.transferTo) never delivers "
        "the order: its first DELIVERED report puts its units on hand and reserved at the store, once (TRANSFER_IN ledger rows; "
        "event TRANSFER_ARRIVED), its reports are the internal TRANSFER_UPDATED events. Refused with INVALID_INPUT (READY, an "
        "occurredAt over an hour ahead, a location over 200 "
        "or description over 500 characters) or NOT_FOUND (the shipment). Needs shipments:write."
    ))
    async def record_tracking_event(self, info: Info, input: Input[TrackingEventInput]) -> MutationPayload:
        return await fulfilment.record_tracking_event(info, input)

    @strawberry.mutation(graphql_type=PaymentPayload, description=(
        "Captures an authorised card payment: `amount`, or all that is still authorised. Refused with NOT_FOUND, INVALID_INPUT "
        "(not a card payment, an amount that is not positive or has over 2 decimals), INVALID_TRANSITION (not AUTHORIZED), "
        "LIMIT_EXCEEDED (more than is still authorised), IDEMPOTENCY_CONFLICT, or PAYMENT_DECLINED / UNAVAILABLE from the "
        "provider. Needs payments:write."
    ))
    async def capture_payment(self, info: Info, input: Input[CapturePaymentInput]) -> MutationPayload:
        return await billing.capture_payment(info, input)

    @strawberry.mutation(graphql_type=PaymentPayload, description=(
        "Records money received outside the provider (a bank transfer, cash on delivery, other); a PENDING order paid in full "
        "is confirmed. Refused with NOT_FOUND (the order), INVALID_INPUT (CARD, an amount that is not positive or has over 2 "
        "decimals, a reference over 200 characters), INVALID_TRANSITION (the order is cancelled), LIMIT_EXCEEDED (more than is "
        "due) or IDEMPOTENCY_CONFLICT. Needs payments:write."
    ))
    async def record_payment(self, info: Info, input: Input[RecordPaymentInput]) -> MutationPayload:
        return await billing.record_payment(info, input)

    @strawberry.mutation(graphql_type=PaymentPayload, description=(
        "Refunds part or all of what a payment captured (a card through the provider; transfers and cash are recorded as owed); "
        "issues the credit note when the order was invoiced. Refused with NOT_FOUND, INVALID_INPUT (an amount that is not "
        "positive or has over 2 decimals, a reason not 1 to 500 characters), LIMIT_EXCEEDED (more than is refundable), "
        "IDEMPOTENCY_CONFLICT, or PAYMENT_DECLINED / UNAVAILABLE from the provider. Needs payments:write."
    ))
    async def refund_payment(self, info: Info, input: Input[RefundPaymentInput]) -> MutationPayload:
        return await billing.refund_payment(info, input)

    @strawberry.mutation(graphql_type=InvoicePayload, description=(
        "Issues the order's invoice (for manual invoicing): one invoice per order however often asked, numbered gaplessly. "
        "Refused with NOT_FOUND or INVALID_TRANSITION (the order is not confirmed yet, or cancelled). Needs invoices:write."
    ))
    async def issue_invoice(self, info: Info, input: Input[OrderIdInput]) -> MutationPayload:
        return await billing.issue_invoice(info, input)

    @strawberry.mutation(graphql_type=ReturnPayload, description=(
        "Staff or partner return over delivered lines, within the return window counted from delivery. Refused with NOT_FOUND "
        "(the order, a line or SKU not on it, an unknown replacement SKU), INVALID_INPUT (no lines, a quantity below 1, a blank "
        "reason or one over 500 characters, replacement lines without EXCHANGE, a SKU on several lines without orderLineId), "
        "LIMIT_EXCEEDED (over 100 lines, more units than were delivered and not already returned, the window has closed) or "
        "INVALID_TRANSITION (the order is not delivered). Needs returns:write."
    ))
    async def request_return(self, info: Info, input: Input[RequestReturnInput]) -> MutationPayload:
        return await returns.request_return(info, input)

    @strawberry.mutation(graphql_type=ReturnPayload, description=(
        "Public: the customer's own return, proven by the tracking pair. The same rules and codes as requestReturn; a wrong "
        "pair is NOT_FOUND at `input.number`, and too many attempts are a top-level RATE_LIMITED error."
    ))
    async def request_customer_return(self, info: Info, input: Input[RequestCustomerReturnInput]) -> MutationPayload:
        return await returns.request_customer_return(info, input)

    @strawberry.mutation(graphql_type=ReturnPayload, description=(
        "Approves a REQUESTED return. An EXCHANGE places its replacement order here, reserving stock, paid by the returned "
        "goods' value. Refused with NOT_FOUND, INVALID_TRANSITION (not REQUESTED), INVALID_INPUT (a note over 500 characters), "
        "or the replacement's own refusal (e.g. OUT_OF_STOCK) at `input.returnId`. Needs returns:write."
    ))
    async def approve_return(self, info: Info, input: Input[ReturnDecisionInput]) -> MutationPayload:
        return await returns.approve_return(info, input)

    @strawberry.mutation(graphql_type=ReturnPayload, description=(
        "Rejects a REQUESTED return with a note. Refused with NOT_FOUND, INVALID_TRANSITION (not REQUESTED) or INVALID_INPUT "
        "(no note, or one over 500 characters). Needs returns:write."
    ))
    async def reject_return(self, info: Info, input: Input[ReturnDecisionInput]) -> MutationPayload:
        return await returns.reject_return(info, input)

    @strawberry.mutation(graphql_type=ReturnPayload, description=(
        "The goods of an APPROVED return arrived: restock or write off each line, refund with a credit note, and move the order "
        "to PARTIALLY_RETURNED or RETURNED. Refused with NOT_FOUND (the return, a line not on it, RESTOCK without a known "
        "warehouseCode), INVALID_INPUT (a line inspected twice or not at all), INVALID_TRANSITION (not APPROVED), or "
        "PAYMENT_DECLINED / UNAVAILABLE when the refund fails. Needs returns:write."
    ))
    async def receive_return(self, info: Info, input: Input[ReceiveReturnInput]) -> MutationPayload:
        return await returns.receive_return(info, input)

    @strawberry.mutation(graphql_type=InquiryPayload, description=(
        "Staff opens a support case on an order, with a first message (the case is then ANSWERED, waiting for the customer). "
        "Refused with NOT_FOUND (the order), INVALID_INPUT (a subject not 1 to 300 characters, a body not 1 to 5,000) or "
        "LIMIT_EXCEEDED (20 cases already open on the order). Needs orders:write."
    ))
    async def open_inquiry(self, info: Info, input: Input[OpenInquiryInput]) -> MutationPayload:
        return await returns.open_inquiry(info, input)

    @strawberry.mutation(graphql_type=InquiryPayload, description=(
        "Staff writes on a case, which becomes ANSWERED (a closed case reopens). Refused with NOT_FOUND or INVALID_INPUT (a "
        "body not 1 to 5,000 characters). Needs orders:write."
    ))
    async def reply_to_inquiry(self, info: Info, input: Input[InquiryMessageInput]) -> MutationPayload:
        return await returns.reply_to_inquiry(info, input)

    @strawberry.mutation(graphql_type=InquiryPayload, description=(
        "Closes a case. Refused with NOT_FOUND or INVALID_TRANSITION (already closed). Needs orders:write."
    ))
    async def close_inquiry(self, info: Info, input: Input[InquiryIdInput]) -> MutationPayload:
        return await returns.close_inquiry(info, input)

    @strawberry.mutation(graphql_type=InquiryPayload, description=(
        "Public: the customer opens a case, proven by the tracking pair (the case is then OPEN, waiting for staff). Refused "
        "with NOT_FOUND (a wrong pair, at `input.number`), INVALID_INPUT (subject, body) or LIMIT_EXCEEDED (20 cases already "
        "open); too many attempts are a top-level RATE_LIMITED error."
    ))
    async def open_customer_inquiry(self, info: Info, input: Input[OpenCustomerInquiryInput]) -> MutationPayload:
        return await returns.open_customer_inquiry(info, input)

    @strawberry.mutation(graphql_type=InquiryPayload, description=(
        "Public: the customer writes on one of the order's cases (reopens a closed one; the case is then OPEN). Refused with "
        "NOT_FOUND (a wrong pair, or a case of another order) or INVALID_INPUT (a body not 1 to 5,000 characters); too many "
        "attempts are a top-level RATE_LIMITED error."
    ))
    async def post_customer_inquiry_message(self, info: Info, input: Input[CustomerInquiryMessageInput]) -> MutationPayload:
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

    # holds, issue 18
    @strawberry.mutation(graphql_type=OrderPayload, description=(
        "Record an external fraud provider's verdict (Order.risk, source PROVIDER; event RISK_ASSESSED). HIGH puts the order ON_HOLD "
        "with a RISK_REVIEW hold unless one is open (an order no longer holdable keeps the verdict only); a lower level releases "
        "nothing. INVALID_INPUT / LIMIT_EXCEEDED on bad facts, NOT_FOUND for an unknown order. Needs orders:write."))
    async def assess_order_risk(
        self, info: Info, input: Annotated[AssessOrderRiskInput, strawberry.argument(description="The order and the provider's verdict.")],
    ) -> MutationPayload:
        return await holds.assess_order_risk(info, input)

    # edits, issue 18
    @strawberry.mutation(
        graphql_type=EditOrderPayload,
        description="Change a placed order's lines (add, change, remove) or address before the lines concerned are picked or shipped. "
                    "dryRun answers the preview and writes nothing. Otherwise one transaction: stock re-reserved (never oversold), totals "
                    "recomputed, the difference authorised or refunded through the payment that paid, an issued invoice corrected by a credit "
                    "note plus its next revision, one ORDER_EDITED event (before/after; live on trackOrder, not on orderStatusChanged). "
                    "Errors: NOT_FOUND, INVALID_INPUT, LIMIT_EXCEEDED, INVALID_TRANSITION (a line picked or shipped, named; an order past "
                    "changing), OUT_OF_STOCK, PAYMENT_DECLINED, UNAVAILABLE, IDEMPOTENCY_CONFLICT. Needs orders:write.",
    )
    async def edit_order(
        self, info: Info, input: Annotated[EditOrderInput, strawberry.argument(description="What to change, or to preview with dryRun.")],
    ) -> MutationPayload:
        return await edits.edit_order(info, input)

    # edits, issue 18
    @strawberry.mutation(
        graphql_type=OrderPayload,
        description="Cancel units of lines not yet picked or shipped: their reservations released, the amount released or refunded, an "
                    "issued invoice corrected (credit note plus next revision); the order is CANCELLED when nothing is left. One "
                    "LINES_CANCELLED event. Errors: NOT_FOUND, INVALID_INPUT, LIMIT_EXCEEDED, INVALID_TRANSITION, IDEMPOTENCY_CONFLICT. "
                    "Needs orders:write.",
    )
    async def cancel_order_lines(
        self, info: Info, input: Annotated[CancelOrderLinesInput, strawberry.argument(description="The lines, units and reason.")],
    ) -> MutationPayload:
        return await edits.cancel_order_lines(info, input)

    # alerts, issue 19
    @strawberry.mutation(
        graphql_type=LowStockThresholdPayload,
        description="Set (or with null, remove) a product's low-stock threshold: the next alert scan raises LOW_STOCK for every warehouse "
                    "below it and clears the others. Needs stock:write. Refuses with NOT_FOUND (input.sku) or INVALID_INPUT (input.threshold).",
    )
    async def set_low_stock_threshold(
        self, info: Info, input: Annotated[LowStockThresholdInput, strawberry.argument(description="The SKU and its threshold.")]
    ) -> MutationPayload:
        return await alerts.set_low_stock_threshold(info, input)

    # stages, issue 19
    @strawberry.mutation(
        graphql_type=AdvanceProductionPayload,
        description="Move a made-to-order line's production stage (forward one at a time, or QUALITY_CHECK back to IN_PRODUCTION); "
        "records PRODUCTION_STAGE_CHANGED and recomputes the delivery promise. Needs orders:write. Errors: NOT_FOUND (orderLineId), "
        "INVALID_INPUT (a stock line), INVALID_TRANSITION (a skipped or backward stage: stage; "
        "an order that cannot be fulfilled or a shipped line: orderLineId).",
    )
    async def advance_production(self, info: Info, input: Input[AdvanceProductionInput]) -> MutationPayload:
        return await production.advance_production(info, input)

    # pickup, issue 19
    @strawberry.mutation(graphql_type=OrderPayload, description=(
        "Makes a click-and-collect order READY_FOR_PICKUP at its pickup point and gives it a new random pickup code (6 digits), shown "
        "to the customer in their tracking view (OrderTracking.pickupCode) and never in event data; event READY_FOR_PICKUP. On an "
        "order already READY_FOR_PICKUP it issues a new code and resets the wrong-code count (for a lost code, or after LIMIT_EXCEEDED). "
        "Refused with NOT_FOUND (orderId) or INVALID_TRANSITION (a shipped order; an order that is not CONFIRMED or PROCESSING; units "
        "not all reserved at the pickup point, e.g. a transfer from another warehouse not shipped or not arrived yet; a made-to-order "
        "line not READY). Needs shipments:write."
    ))
    async def mark_ready_for_pickup(self, info: Info, input: Input[OrderIdInput]) -> MutationPayload:
        return await pickup.mark_ready_for_pickup(info, input)

    @strawberry.mutation(graphql_type=CollectOrderPayload, description=(
        "Hands a READY_FOR_PICKUP order over to the customer who shows its pickup code (compared in constant time): the reservation is "
        "consumed as by a shipment (onHand and reserved down at the pickup point, COLLECTION ledger rows), the order becomes DELIVERED "
        "(event COLLECTED) and billing captures / invoices when it does so at shipment. A wrong code is INVALID_INPUT at "
        "input.pickupCode and is counted (committed although refused); after 5 wrong codes every try is LIMIT_EXCEEDED until "
        "markReadyForPickup issues a new code. Also NOT_FOUND (orderId), INVALID_TRANSITION (not READY_FOR_PICKUP, or a shipped "
        "order), PAYMENT_DECLINED / UNAVAILABLE when the capture fails (nothing written). Needs shipments:write."
    ))
    async def collect_order(self, info: Info, input: Input[CollectOrderInput]) -> MutationPayload:
        return await pickup.collect_order(info, input)

    # sourcing, issue 19
    @strawberry.mutation(graphql_type=SetSourcingRulesPayload, description=(
        "Replaces the whole ordered list of sourcing rules in one transaction (placements in flight keep the list they read; the next "
        "ones read the new one). placeOrder then chooses warehouses by the rule that applies, in its first plan and in its re-plan on "
        "locked stock alike, and never oversells whatever the rule. An empty list: warehouse priority, as before any rule. Refused, "
        "changing nothing, with LIMIT_EXCEEDED (over 100 rules at rules; over 100 entries in one of a rule's lists), INVALID_INPUT (an "
        "unknown zone or country, RANKING without ranking, a fallbackStrategy other than on CLOSEST_COMPLETE or equal to it, a name "
        "over 100 characters) or NOT_FOUND (an unknown warehouse code in ranking or exclude), each at its field path "
        "(rules.N.field.M). Needs stock:write."
    ))
    async def set_sourcing_rules(self, info: Info, input: Input[SetSourcingRulesInput]) -> MutationPayload:
        return await sourcing.set_sourcing_rules(info, input)

    @strawberry.mutation(graphql_type=OrderPayload, description=(
        "Moves an order's reserved units that are neither shipped nor on a pick list to other warehouses, atomically (the order row "
        "locked, then the stock rows in (sku, warehouse) order): released at the source and reserved at the target, with ledger rows "
        "on both sides, new allocations of the same lines, one REALLOCATED event (moves, open units per warehouse before and after) "
        "and the delivery promise recomputed (DELIVERY_ESTIMATE_CHANGED when it moves). Refused, writing nothing, with INVALID_INPUT "
        "(neither or both of moves / warehouseCode; a quantity below 1 or above what the order holds there; a target that is the "
        "source, does not serve the order's channel, or is not a click-and-collect order's pickup point), NOT_FOUND (orderId, a "
        "warehouse code, a SKU without a stocked line), INVALID_TRANSITION (an order no longer changeable, at orderId; units on a "
        "pick list or shipped, at moves.N.quantity or warehouseCode), OUT_OF_STOCK (the target lacks free units, at moves.N.quantity "
        "or warehouseCode) or LIMIT_EXCEEDED (over 100 moves). Needs orders:write."
    ))
    async def reallocate_order(self, info: Info, input: Input[ReallocateOrderInput]) -> MutationPayload:
        return await sourcing.reallocate_order(info, input)

    # backorders, issue 19
    @strawberry.mutation(
        graphql_type=StockReceiptPayload,
        description="Schedule an expected stock receipt: units of a SKU a warehouse expects at expectedAt. Orders of BACKORDER / PREORDER "
        "products may claim its units from now on (never more than it expects). Needs stock:write. Errors: NOT_FOUND (sku, warehouseCode), "
        "INVALID_INPUT (quantity below 1, expectedAt not in the future or without an offset, a made-to-order sku), LIMIT_EXCEEDED (quantity).",
    )
    async def schedule_receipt(self, info: Info, input: Input[ScheduleReceiptInput]) -> MutationPayload:
        return await stock_receipts.schedule_receipt(info, input)

    @strawberry.mutation(
        graphql_type=StockReceiptPayload,
        description="Record units of a receipt that arrived: on hand rises by quantity (stock ledger RECEIPT) and the orders that claimed the "
        "receipt get the units in placement order (oldest placedAt first; an order partly filled keeps waiting for the rest), each with a "
        "BACKORDER_ALLOCATED event and its delivery promise recomputed; units beyond the claims are ordinary stock. Needs stock:write. "
        "Errors: NOT_FOUND (receiptId), INVALID_INPUT (quantity below 1 or beyond what it still expects), LIMIT_EXCEEDED (quantity), "
        "UNAVAILABLE (card placements in progress hold units of it: retry in a moment).",
    )
    async def receive_stock(self, info: Info, input: Input[ReceiveStockInput]) -> MutationPayload:
        return await stock_receipts.receive_stock(info, input)

    # shipping, issue 19
    @strawberry.mutation(
        graphql_type=SetShippingRatesPayload,
        description="Replace the shipping rate table (what each carrier service charges per destination, weight and goods value; see "
                    "ShippingRate). Orders placed afterwards are charged by it; placed orders keep their shipping. Needs stock:write. "
                    "Errors: INVALID_INPUT, NOT_FOUND (carrierCode), LIMIT_EXCEEDED (rates), each at input.rates.<i>.<field>.",
    )
    async def set_shipping_rates(
        self, info: Info, input: Annotated[SetShippingRatesInput, strawberry.argument(description="The whole table.")]
    ) -> MutationPayload:
        return await resolve_shipping.set_shipping_rates(info, input)
