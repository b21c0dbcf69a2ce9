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


@strawberry.type
class ReturnLine:
    sku: str
    product_name: str
    quantity: int
    reason: str | None
    inspection: InspectionResult | None
    inspection_note: str | None
    restock_warehouse: models.Warehouse | None = strawberry.field(resolver=resolve.restock_warehouse, graphql_type=Warehouse | None)

    @strawberry.field
    def id(root: models.returns.ReturnLine) -> strawberry.ID:
        return strawberry.ID(to_global_id("ReturnLine", root.id))

    @strawberry.field
    def order_line_id(root: models.returns.ReturnLine) -> strawberry.ID:
        return strawberry.ID(to_global_id("OrderLine", root.order_line_id))


@strawberry.type(name="Return", description="A return (RMA) over delivered lines of one order.")
class Return(Node):
    number: str
    status: ReturnStatus
    resolution: ReturnResolution
    reason: str
    requested_by: AuthorType
    decision_note: str | None
    created_at: datetime
    decided_at: datetime | None
    received_at: datetime | None
    lines: list[models.returns.ReturnLine] = strawberry.field(resolver=resolve.return_lines, graphql_type=list[ReturnLine])

    @strawberry.field(description="What the customer paid for the returned units, VAT included.")
    def value(root: models.returns.ReturnRequest) -> Money:
        return money(root.value, root.currency)

    @strawberry.field
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


@strawberry.type
class InquiryMessage:
    author_type: AuthorType
    body: str
    created_at: datetime
    author: str | None = strawberry.field(resolver=resolve.staff_author, description="Shown to staff only.")

    @strawberry.field
    def id(root: models.returns.InquiryMessage) -> strawberry.ID:
        return strawberry.ID(to_global_id("InquiryMessage", root.id))


@strawberry.type(description="A support case about one order.")
class Inquiry(Node):
    number: str
    subject: str
    status: InquiryStatus
    opened_by: AuthorType
    created_at: datetime
    updated_at: datetime
    messages: list[models.returns.InquiryMessage] = strawberry.field(resolver=resolve.inquiry_messages, graphql_type=list[InquiryMessage])

    @strawberry.field(graphql_type=OrderRef | None, description="Needs orders:read.")
    async def order(root: models.returns.Inquiry, info: Info) -> models.Order | None:
        return await resolve.related_order(info, root.order_id)


@strawberry.input
class ReturnFilter:
    status: list[ReturnStatus] | None = strawberry.field(default=None, description="e.g. [REQUESTED, APPROVED] for the open ones")
    order_id: strawberry.ID | None = None


@strawberry.input
class InquiryFilter:
    status: list[InquiryStatus] | None = strawberry.field(default=None, description="e.g. [OPEN] for cases waiting for staff")
    order_id: strawberry.ID | None = None


@strawberry.input
class ReturnLineInput:
    quantity: int
    order_line_id: strawberry.ID | None = strawberry.field(default=None, description="or `sku` when the order has one line of it")
    sku: str | None = None
    reason: str | None = None


@strawberry.input
class ReplacementLineInput:
    sku: str
    quantity: int


@strawberry.input
class RequestReturnInput:
    order_id: strawberry.ID
    lines: list[ReturnLineInput]
    reason: str
    resolution: ReturnResolution = ReturnResolution.REFUND
    replacement_lines: list[ReplacementLineInput] | None = strawberry.field(
        default=None, description="EXCHANGE only; defaults to the returned SKUs and quantities"
    )


@strawberry.input(description="A customer's return, proven by the order number and email pair of the tracking page.")
class RequestCustomerReturnInput:
    number: str
    email: str
    lines: list[ReturnLineInput]
    reason: str
    resolution: ReturnResolution = ReturnResolution.REFUND
    replacement_lines: list[ReplacementLineInput] | None = None


@strawberry.input
class ReturnDecisionInput:
    return_id: strawberry.ID
    note: str | None = strawberry.field(default=None, description="required to reject")


@strawberry.input
class InspectionInput:
    return_line_id: strawberry.ID
    result: InspectionResult
    warehouse_code: str | None = strawberry.field(default=None, description="where RESTOCK puts the units back")
    note: str | None = None


@strawberry.input
class ReceiveReturnInput:
    return_id: strawberry.ID
    lines: list[InspectionInput] = strawberry.field(description="every line of the return, once")


@strawberry.type
class ReturnPayload:
    return_: Return | None = strawberry.field(name="return")
    user_errors: list[UserError]
    event_cursor: str | None = strawberry.field(description="Cursor of the last event this write produced.")


@strawberry.input
class OpenInquiryInput:
    order_id: strawberry.ID
    subject: str
    body: str


@strawberry.input
class OpenCustomerInquiryInput:
    number: str
    email: str
    subject: str
    body: str


@strawberry.input
class InquiryMessageInput:
    inquiry_id: strawberry.ID
    body: str


@strawberry.input
class CustomerInquiryMessageInput:
    number: str
    email: str
    inquiry_id: strawberry.ID
    body: str


@strawberry.input
class InquiryIdInput:
    inquiry_id: strawberry.ID


@strawberry.type
class InquiryPayload:
    inquiry: Inquiry | None
    user_errors: list[UserError]
    event_cursor: str | None = strawberry.field(description="Cursor of the last event this write produced.")
