"""Post-sale: returns (RMA) with exchanges, and support inquiries."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

import models
import models.returns
from graphql_schema.catalog import Warehouse
from graphql_schema.common import Money, Node, UserError, money
from graphql_schema.enums import AuthorType, InquiryStatus, InspectionResult, ReturnResolution, ReturnStatus
from resolvers import returns as resolve
from resolvers.ids import to_global_id
from resolvers.types import Info

if TYPE_CHECKING:
    from graphql_schema.orders import Order

OrderRef = Annotated["Order", strawberry.lazy("graphql_schema.orders")]

# Input descriptions used more than once.
ORDER_ID_FILTER = "Only this order's (its global ID; a malformed one is an INVALID_INPUT error)."
PAIR_NUMBER = "The order number, as on the tracking page; with `email` it proves the customer's access (a wrong pair is NOT_FOUND)."
PAIR_EMAIL = "The email the order was placed with (any case)."
RETURN_LINES = "1 to 100 lines (INVALID_INPUT when empty, LIMIT_EXCEEDED above)."
RETURN_REASON = "Why the goods come back: 1 to 500 characters."
SUBJECT = "What it is about: 1 to 300 characters."
BODY = "The message: 1 to 5,000 characters (trimmed)."


@strawberry.type(description="Units of one order line in a return.")
class ReturnLine:
    sku: str = strawberry.field(description="The SKU returned.")
    product_name: str = strawberry.field(description="The product's name, as ordered.")
    quantity: int = strawberry.field(description="How many units.")
    reason: str | None = strawberry.field(description="Why this line comes back; optional.")
    inspection: InspectionResult | None = strawberry.field(description="What receiving did with the units; null until received.")
    inspection_note: str | None = strawberry.field(description="The inspector's note; optional.")
    restock_warehouse: models.Warehouse | None = strawberry.field(resolver=resolve.restock_warehouse, graphql_type=Warehouse | None,
                                                                  description="Where RESTOCK put the units back; null otherwise.")

    @strawberry.field(description="A global ID (not a Node): names the line in InspectionInput.returnLineId.")
    def id(root: models.returns.ReturnLine) -> strawberry.ID:
        return strawberry.ID(to_global_id("ReturnLine", root.id))

    @strawberry.field(description="The global ID of the order line it returns (OrderLine.id).")
    def order_line_id(root: models.returns.ReturnLine) -> strawberry.ID:
        return strawberry.ID(to_global_id("OrderLine", root.order_line_id))


@strawberry.type(name="Return", description="A return (RMA) over delivered lines of one order.")
class Return(Node):
    number: str = strawberry.field(description="Its number, e.g. \"RMA-000042\".")
    status: ReturnStatus = strawberry.field(description="Where it stands.")
    resolution: ReturnResolution = strawberry.field(description="A refund or an exchange.")
    reason: str = strawberry.field(description="Why the goods come back.")
    requested_by: AuthorType = strawberry.field(description="The customer (through the tracking pair) or staff.")
    decision_note: str | None = strawberry.field(description="The note given on approval (optional) or rejection (required).")
    created_at: datetime = strawberry.field(description="When it was requested (UTC).")
    decided_at: datetime | None = strawberry.field(description="When it was approved or rejected (UTC); null before.")
    received_at: datetime | None = strawberry.field(description="When the goods were received (UTC); null before.")
    lines: list[models.returns.ReturnLine] = strawberry.field(resolver=resolve.return_lines, graphql_type=list[ReturnLine],
                                                              description="What comes back, in the order requested.")

    @strawberry.field(description="What the customer paid for the returned units, VAT included.")
    def value(root: models.returns.ReturnRequest) -> Money:
        return money(root.value, root.currency)

    @strawberry.field(description="What receiving refunded; 0 until then (for an exchange, only a surplus over the replacement).")
    def refunded_amount(root: models.returns.ReturnRequest) -> Money:
        return money(root.refunded_amount, root.currency)

    @strawberry.field(description="Exchanges: replacement total minus returned value; > 0 is due on the replacement, < 0 is refunded on receipt.")
    def price_difference(root: models.returns.ReturnRequest) -> Money | None:
        return None if root.price_difference is None else money(root.price_difference, root.currency)

    @strawberry.field(graphql_type=OrderRef | None, description="Needs orders:read.")
    async def order(root: models.returns.ReturnRequest, info: Info) -> models.Order | None:
        return await resolve.related_order(info, root.order_id)

    @strawberry.field(graphql_type=OrderRef | None, description="Exchanges: the linked order that sends the replacement. Needs orders:read.")
    async def replacement_order(root: models.returns.ReturnRequest, info: Info) -> models.Order | None:
        return await resolve.related_order(info, root.replacement_order_id)


@strawberry.type(description="One message of a support case.")
class InquiryMessage:
    author_type: AuthorType = strawberry.field(description="Whether the customer or staff wrote it.")
    body: str = strawberry.field(description="The text, 1 to 5,000 characters.")
    created_at: datetime = strawberry.field(description="When it was written (UTC).")
    author: str | None = strawberry.field(resolver=resolve.staff_author, description="Shown to staff only.")

    @strawberry.field(description="A global ID (not a Node).")
    def id(root: models.returns.InquiryMessage) -> strawberry.ID:
        return strawberry.ID(to_global_id("InquiryMessage", root.id))


@strawberry.type(description="A support case about one order.")
class Inquiry(Node):
    number: str = strawberry.field(description="Its number, e.g. \"CASE-000042\".")
    subject: str = strawberry.field(description="What it is about, 1 to 300 characters.")
    status: InquiryStatus = strawberry.field(description="Whose turn it is.")
    opened_by: AuthorType = strawberry.field(description="Who opened it.")
    created_at: datetime = strawberry.field(description="When it was opened (UTC).")
    updated_at: datetime = strawberry.field(description="Its last message or status change (UTC).")
    messages: list[models.returns.InquiryMessage] = strawberry.field(resolver=resolve.inquiry_messages, graphql_type=list[InquiryMessage],
                                                                     description="Oldest first.")

    @strawberry.field(graphql_type=OrderRef | None, description="Needs orders:read.")
    async def order(root: models.returns.Inquiry, info: Info) -> models.Order | None:
        return await resolve.related_order(info, root.order_id)


@strawberry.input(description="Which returns `returns` lists: every condition given must hold.")
class ReturnFilter:
    status: list[ReturnStatus] | None = strawberry.field(default=None, description="e.g. [REQUESTED, APPROVED] for the open ones")
    order_id: strawberry.ID | None = strawberry.field(default=None, description=ORDER_ID_FILTER)


@strawberry.input(description="Which cases `inquiries` lists: every condition given must hold.")
class InquiryFilter:
    status: list[InquiryStatus] | None = strawberry.field(default=None, description="e.g. [OPEN] for cases waiting for staff")
    order_id: strawberry.ID | None = strawberry.field(default=None, description=ORDER_ID_FILTER)


@strawberry.input(description="Units of one delivered order line to return.")
class ReturnLineInput:
    quantity: int = strawberry.field(description="At least 1, and at most what was delivered minus what other returns (not rejected) "
                                     "claim (LIMIT_EXCEEDED).")
    order_line_id: strawberry.ID | None = strawberry.field(default=None, description="or `sku` when the order has one line of it")
    sku: str | None = strawberry.field(default=None, description="The line's SKU, instead of orderLineId.")
    reason: str | None = strawberry.field(default=None, description="Why this line comes back; at most 500 characters.")


@strawberry.input(description="A line an exchange sends instead.")
class ReplacementLineInput:
    sku: str = strawberry.field(description="A catalogue SKU (NOT_FOUND otherwise).")
    quantity: int = strawberry.field(description="At least 1.")


@strawberry.input(description="A return over delivered lines of one order.")
class RequestReturnInput:
    order_id: strawberry.ID = strawberry.field(description="The order's global ID.")
    lines: list[ReturnLineInput] = strawberry.field(description=RETURN_LINES)
    reason: str = strawberry.field(description=RETURN_REASON)
    resolution: ReturnResolution = strawberry.field(default=ReturnResolution.REFUND, description="A refund (the default) or an exchange.")
    replacement_lines: list[ReplacementLineInput] | None = strawberry.field(
        default=None, description="EXCHANGE only; defaults to the returned SKUs and quantities"
    )


@strawberry.input(description="A customer's return, proven by the order number and email pair of the tracking page.")
class RequestCustomerReturnInput:
    number: str = strawberry.field(description=PAIR_NUMBER)
    email: str = strawberry.field(description=PAIR_EMAIL)
    lines: list[ReturnLineInput] = strawberry.field(description=RETURN_LINES)
    reason: str = strawberry.field(description=RETURN_REASON)
    resolution: ReturnResolution = strawberry.field(default=ReturnResolution.REFUND, description="A refund (the default) or an exchange.")
    replacement_lines: list[ReplacementLineInput] | None = strawberry.field(default=None, description="EXCHANGE only; defaults to the "
                                                                           "returned SKUs and quantities")


@strawberry.input(description="A decision on a REQUESTED return.")
class ReturnDecisionInput:
    return_id: strawberry.ID = strawberry.field(description="The return's global ID.")
    note: str | None = strawberry.field(default=None, description="required to reject")


@strawberry.input(description="The inspection of one return line.")
class InspectionInput:
    return_line_id: strawberry.ID = strawberry.field(description="The line's id (ReturnLine.id).")
    result: InspectionResult = strawberry.field(description="Restock or write off.")
    warehouse_code: str | None = strawberry.field(default=None, description="where RESTOCK puts the units back")
    note: str | None = strawberry.field(default=None, description="The inspector's note; at most 500 characters.")


@strawberry.input(description="The goods of an approved return, received and inspected.")
class ReceiveReturnInput:
    return_id: strawberry.ID = strawberry.field(description="The return's global ID.")
    lines: list[InspectionInput] = strawberry.field(description="every line of the return, once")


@strawberry.type(description="What a return mutation answers.")
class ReturnPayload:
    return_: Return | None = strawberry.field(name="return", description="The return after the change; null when refused.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused (nothing was written); empty on success.")
    event_cursor: str | None = strawberry.field(description="Cursor of the last event this write produced.")


@strawberry.input(description="A case staff opens on an order.")
class OpenInquiryInput:
    order_id: strawberry.ID = strawberry.field(description="The order's global ID.")
    subject: str = strawberry.field(description=SUBJECT)
    body: str = strawberry.field(description=BODY)


@strawberry.input(description="A case the customer opens, proven by the tracking pair.")
class OpenCustomerInquiryInput:
    number: str = strawberry.field(description=PAIR_NUMBER)
    email: str = strawberry.field(description=PAIR_EMAIL)
    subject: str = strawberry.field(description=SUBJECT)
    body: str = strawberry.field(description=BODY)


@strawberry.input(description="A staff message on a case.")
class InquiryMessageInput:
    inquiry_id: strawberry.ID = strawberry.field(description="The case's global ID.")
    body: str = strawberry.field(description=BODY)


@strawberry.input(description="A customer message on a case, proven by the tracking pair.")
class CustomerInquiryMessageInput:
    number: str = strawberry.field(description=PAIR_NUMBER)
    email: str = strawberry.field(description=PAIR_EMAIL)
    inquiry_id: strawberry.ID = strawberry.field(description="The case's global ID; a case of another order is NOT_FOUND.")
    body: str = strawberry.field(description=BODY)


@strawberry.input(description="The case to act on.")
class InquiryIdInput:
    inquiry_id: strawberry.ID = strawberry.field(description="The case's global ID.")


@strawberry.type(description="What a support-case mutation answers.")
class InquiryPayload:
    inquiry: Inquiry | None = strawberry.field(description="The case after the change, with its messages; null when refused.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused (nothing was written); empty on success.")
    event_cursor: str | None = strawberry.field(description="Cursor of the last event this write produced.")
