"""Partner integration (issue 17): bulk import of orders placed elsewhere (`importOrders`)."""

from __future__ import annotations

from typing import Any

import strawberry

from app.flows.imports import ImportOutcome as DomainImportOutcome
from graphql_schema.common import AddressInput, UserError
from graphql_schema.enums import SalesChannel
from graphql_schema.orders import Order, OrderLineInput, PaymentInput

ImportOutcome = DomainImportOutcome  # the domain's enum is the API's (graphql_schema/enums.py's pattern)
strawberry.enum(ImportOutcome, description="What importing one row did.")
_OUTCOMES = {
    "CREATED": "A new order was placed for the row.",
    "ALREADY_IMPORTED": "The row's reference was imported before with the same content: `order` is that first order; nothing new was written.",
    "FAILED": "The row was refused (its userErrors say why); nothing was written for it.",
}
_definition: Any = ImportOutcome.__strawberry_definition__  # type: ignore[attr-defined]  # set by strawberry.enum above
for _value in _definition.values:  # the domain enum stays free of strawberry
    _value.description = _OUTCOMES[_value.name]


@strawberry.input(description=(
    "One order to import: placeOrder's input (minus idempotencyKey) plus where it comes from. The row is idempotent per "
    "(channel, marketplace, externalReference): the same row again answers ALREADY_IMPORTED with the first order; the same "
    "reference with another content fails with IDEMPOTENCY_CONFLICT at `externalReference`."))
class ImportOrderInput:
    external_reference: str = strawberry.field(description="The order's reference at its marketplace or channel: 1-100 printable characters.")
    channel: SalesChannel = strawberry.field(description="Where the order was placed (e.g. MARKETPLACE).")
    email: str = strawberry.field(description="The customer's email address.")
    lines: list[OrderLineInput] = strawberry.field(description="1-100 lines, as placeOrder.")
    shipping_address: AddressInput = strawberry.field(description="Where the order ships, as placeOrder.")
    marketplace: str | None = strawberry.field(
        default=None, description="The marketplace's code, e.g. `amazon-es`: 1-64 lowercase letters, digits, `. _ -`. Absent: the channel alone.")
    billing_address: AddressInput | None = strawberry.field(default=None, description="As placeOrder.")
    payment: PaymentInput | None = strawberry.field(
        default=None, description="As placeOrder, except that CARD is refused (INVALID_INPUT at `payment.method`): imports take no token.")
    paid_externally: bool | None = strawberry.field(
        default=False, description="true: the order was paid at the marketplace; its total is recorded as received (once, however often imported).")


@strawberry.input(description="Up to 500 orders to import.")
class ImportOrdersInput:
    orders: list[ImportOrderInput] = strawberry.field(description="At most 500 rows (else LIMIT_EXCEEDED at `orders`, nothing imported).")


@strawberry.type(description="The result of one imported row.")
class ImportOrderResult:
    index: int = strawberry.field(description="The row's position in `input.orders`, from 0.")
    external_reference: str = strawberry.field(description="The row's externalReference, as given.")
    outcome: ImportOutcome = strawberry.field(description="CREATED, ALREADY_IMPORTED (the first order) or FAILED (see userErrors).")
    order: Order | None = strawberry.field(
        description="The order: the new one, or the one first imported under this reference (also on IDEMPOTENCY_CONFLICT).",
        graphql_type=Order | None)
    user_errors: list[UserError] = strawberry.field(
        description="Why the row failed, each with a code and a field path naming the row: `input.orders.N....`.")


@strawberry.type(description="importOrders' answer: one result per row, in row order, and the counts.")
class ImportOrdersPayload:
    results: list[ImportOrderResult] = strawberry.field(description="One per row, in input order.")
    created: int = strawberry.field(description="Rows that placed a new order.")
    already_imported: int = strawberry.field(description="Rows whose reference was imported before (with the same content).")
    failed: int = strawberry.field(description="Rows refused (their userErrors say why); nothing was written for them.")
    user_errors: list[UserError] = strawberry.field(description="Refusals of the whole call (LIMIT_EXCEEDED at `orders`).")

