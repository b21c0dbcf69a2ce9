"""Order edits and line cancellations (issue 18): `editOrder` with its dry-run preview, `cancelOrderLines`."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry

from app.orders.edits import EditPreview, PreviewLine
from graphql_schema.common import AddressInput, Money, UserError, money
from graphql_schema.enums import LineCancellationReason
from graphql_schema.orders import OrderLineInput
from resolvers.ids import to_global_id

if TYPE_CHECKING:
    from graphql_schema.orders import Order

OrderRef = Annotated["Order", strawberry.lazy("graphql_schema.orders")]


@strawberry.input(description="A line of the order and a quantity.")
class OrderLineChangeInput:
    order_line_id: strawberry.ID = strawberry.field(description="The OrderLine's ID (Order.lines.id).")
    quantity: int = strawberry.field(
        description="editOrder: the line's new quantity (0 removes it, up to 10000). cancelOrderLines: the units to cancel (at least 1)."
    )


@strawberry.input(description="A change to a placed order's lines or address; every part optional, at least one given.")
class EditOrderInput:
    order_id: strawberry.ID = strawberry.field(description="The order to change.")
    add_lines: list[OrderLineInput] | None = strawberry.field(
        default=None, description="New lines, priced from the catalogue now (a new line each, even for a SKU already on the order)."
    )
    change_lines: list[OrderLineChangeInput] | None = strawberry.field(
        default=None, description="New quantities of existing lines; they keep the price they were sold at. 0 removes the line."
    )
    remove_lines: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Lines to remove (their row stays with quantity 0 and quantityCancelled counting the units)."
    )
    shipping_address: AddressInput | None = strawberry.field(
        default=None, description="The new delivery address; refused (INVALID_TRANSITION) once any unit has shipped."
    )
    dry_run: bool | None = strawberry.field(
        default=False,
        description="true: answer the preview only. Nothing is written, reserved, charged or numbered; the real edit re-checks everything.",
    )
    idempotency_key: str | None = strawberry.field(
        default=None,
        description="Per order: the same key with the same input answers the first result without acting again; with another input "
                    "IDEMPOTENCY_CONFLICT. Ignored by a dry run.",
    )


@strawberry.input(description="Units of an order's lines to cancel before they are picked or shipped.")
class CancelOrderLinesInput:
    order_id: strawberry.ID = strawberry.field(description="The order whose lines are cancelled.")
    lines: list[OrderLineChangeInput] = strawberry.field(description="Each line once, with the units to cancel.")
    reason: LineCancellationReason = strawberry.field(description="Why: kept on the event and the credit note.")
    note: str | None = strawberry.field(default=None, description="Free text for staff, at most 500 characters.")
    idempotency_key: str | None = strawberry.field(
        default=None, description="Per order: the same key with the same input answers the first result without acting again."
    )


@strawberry.type(description="A line as an edit leaves it.")
class OrderEditLine:
    sku: str = strawberry.field(description="The line's SKU.")
    product_name: str = strawberry.field(description="The product's name as on the line.")
    quantity: int = strawberry.field(description="Units after the edit (0: removed).")
    previous_quantity: int = strawberry.field(description="Units before the edit (0: a new line).")

    @strawberry.field(description="The OrderLine's ID; null for a line a dry run would add.")
    def order_line_id(root: PreviewLine) -> strawberry.ID | None:
        return None if root.order_line_id is None else strawberry.ID(to_global_id("OrderLine", root.order_line_id))

    @strawberry.field(description="Net unit price: the price it was sold at, or today's catalogue price for a new line.")
    def unit_price(root: PreviewLine) -> Money:
        return money(Decimal(root.unit_price), root.currency)

    @strawberry.field(description="quantity x unitPrice, before tax.")
    def total(root: PreviewLine) -> Money:
        return money(Decimal(root.total), root.currency)


@strawberry.type(description="Units of a SKU an edit reserves or gives back in one warehouse.")
class StockChange:
    sku: str = strawberry.field(description="The SKU.")
    warehouse_code: str = strawberry.field(description="The warehouse's code.")
    quantity: int = strawberry.field(description="Units (always positive; the list says which way).")


def _money(value: str, root: EditPreview) -> Money:
    return money(Decimal(value), root.currency)


@strawberry.type(description="What an edit does (dryRun) or did: the lines, the new totals, the money and the stock it moves.")
class OrderEditPreview:
    @strawberry.field(description="Every line of the order after the edit, removed ones with quantity 0.")
    def lines(root: EditPreview) -> list[OrderEditLine]:
        return root.lines  # type: ignore[return-value]  # PreviewLine rows, resolved by OrderEditLine's fields

    @strawberry.field(description="New net total of the lines.")
    def subtotal(root: EditPreview) -> Money:
        return _money(root.subtotal, root)

    @strawberry.field(description="New VAT, rounded once per rate.")
    def tax_total(root: EditPreview) -> Money:
        return _money(root.tax_total, root)

    @strawberry.field(description="Shipping (unchanged by an edit).")
    def shipping_total(root: EditPreview) -> Money:
        return _money(root.shipping_total, root)

    @strawberry.field(description="New order total: subtotal + taxTotal + shippingTotal.")
    def total(root: EditPreview) -> Money:
        return _money(root.total, root)

    @strawberry.field(description="How much more the customer pays (new total - old total, when positive): authorised on the card or expected.")
    def amount_due(root: EditPreview) -> Money:
        return _money(root.amount_due, root)

    @strawberry.field(
        description="Captured money that goes back to the customer. A decrease first lowers what is only authorised or expected; only the rest is refunded."
    )
    def amount_to_refund(root: EditPreview) -> Money:
        return _money(root.amount_to_refund, root)

    @strawberry.field(description="Units reserved for added or raised lines, per SKU and warehouse.")
    def stock_to_reserve(root: EditPreview) -> list[StockChange]:
        return root.stock_to_reserve  # type: ignore[return-value]  # StockMove rows

    @strawberry.field(description="Units given back by lowered or removed lines, per SKU and warehouse.")
    def stock_to_release(root: EditPreview) -> list[StockChange]:
        return root.stock_to_release  # type: ignore[return-value]  # StockMove rows


@strawberry.type(description="editOrder's answer.")
class EditOrderPayload:
    order: OrderRef | None = strawberry.field(description="The order (as it is: unchanged after a dry run).")
    preview: OrderEditPreview | None = strawberry.field(description="What the edit does (dryRun) or did.")
    user_errors: list[UserError] = strawberry.field(description="Refusals; nothing was written when there is one.")
    event_cursor: str | None = strawberry.field(description="Cursor of the last event this write produced (null for a dry run or a replay).")

