"""Draft orders (issue 18): phone and store sales built step by step, priced live, placed by completing them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

import strawberry
from strawberry.scalars import JSON

import models
import models.drafts
from app.drafts import service as draft_service
from app.drafts.enums import DraftOrderStatus
from graphql_schema.common import Address, AddressInput, Money, Node, UserError, money
from graphql_schema.enums import SalesChannel
from graphql_schema.orders import Order, OrderLineInput, PaymentInput
from resolvers import drafts as resolve

strawberry.enum(DraftOrderStatus, description="Where a draft order stands. Only an OPEN draft changes or completes.")
for _value, _text in (
    ("OPEN", "Being built: it can change and be completed. It reserves no stock."),
    ("COMPLETED", "Placed as an order (DraftOrder.order); final."),
    ("EXPIRED", "Not changed for OMS_DRAFT_EXPIRY_HOURS; final (start a new draft)."),
):
    next(v for v in DraftOrderStatus.__strawberry_definition__.values if v.name == _value).description = _text  # type: ignore[attr-defined]


@strawberry.type(description="One line of a draft: what the customer asked for. Prices are in DraftOrder.preview.")
class DraftOrderLine:
    sku: str = strawberry.field(description="The product's SKU (checked against the catalogue when the lines are set).")
    quantity: int = strawberry.field(description="Units, 1 to 10,000.")

    @strawberry.field(description="Made-to-order details, kept on the order line once the draft is completed.")
    def customization(root: models.drafts.DraftOrderLine) -> JSON | None:
        return resolve.line_customization(root)


@strawberry.type(description="One draft line priced from the catalogue now, as placeOrder would price it.")
class DraftOrderPreviewLine:
    @strawberry.field(description="The line's SKU.")
    def sku(root: draft_service.PreviewLine) -> str:
        return root.sku

    @strawberry.field(description="Units on the line.")
    def quantity(root: draft_service.PreviewLine) -> int:
        return root.quantity

    @strawberry.field(description="The catalogue's product name; null when the SKU is no longer in the catalogue.")
    def product_name(root: draft_service.PreviewLine) -> str | None:
        return root.product.name if root.product else None

    @strawberry.field(description="The catalogue's unit price now, before tax; null for an unknown SKU.")
    def unit_price(root: draft_service.PreviewLine) -> Money | None:
        return money(root.product.price, root.product.currency) if root.product else None

    @strawberry.field(description="The product's VAT rate (0.21 = 21 %); null for an unknown SKU.")
    def tax_rate(root: draft_service.PreviewLine) -> Decimal | None:
        return root.product.tax_rate if root.product else None

    @strawberry.field(description="quantity x unitPrice, before tax; null for an unknown SKU.")
    def total(root: draft_service.PreviewLine) -> Money | None:
        return money(root.total, root.product.currency) if root.product and root.total is not None else None

    @strawberry.field(description="Whether the product is made to order (needs no stock); null for an unknown SKU.")
    def made_to_order(root: draft_service.PreviewLine) -> bool | None:
        return root.product.made_to_order if root.product else None

    @strawberry.field(
        description="Units of the SKU a completion could take now in the warehouses serving the draft's channel: free "
                    "(on hand - reserved), plus, for a BACKORDER / PREORDER product, the units still unclaimed on its open stock "
                    "receipts there (a PREORDER before its availableFrom: those only); null for made-to-order and unknown SKUs. "
                    "Nothing is reserved until the draft is completed."
    )
    def available(root: draft_service.PreviewLine) -> int | None:
        return root.available


@strawberry.type(description="The draft priced now from the catalogue and checked against current stock, computed when read "
                             "with placeOrder's own pricing (net line totals, VAT rounded once per rate), so completing the draft "
                             "now gives these totals. Reserves nothing.")
class DraftOrderPreview:
    @strawberry.field(graphql_type=list[DraftOrderPreviewLine], description="The draft's lines, priced, in their order.")
    def lines(root: draft_service.Preview) -> list[draft_service.PreviewLine]:
        return root.lines

    @strawberry.field(description="Sum of the line totals before tax; null when no line can be priced (or currencies differ).")
    def subtotal(root: draft_service.Preview) -> Money | None:
        return money(root.totals.subtotal, root.currency) if root.totals and root.currency else None

    @strawberry.field(description="VAT, rounded once per rate; null when no line can be priced.")
    def tax_total(root: draft_service.Preview) -> Money | None:
        return money(root.totals.tax_total, root.currency) if root.totals and root.currency else None

    @strawberry.field(description="Shipping charged (0 today, as at placement); null when no line can be priced.")
    def shipping_total(root: draft_service.Preview) -> Money | None:
        return money(root.totals.shipping_total, root.currency) if root.totals and root.currency else None

    @strawberry.field(description="subtotal + taxTotal + shippingTotal: what the order would cost now; null when no line can be priced.")
    def total(root: draft_service.Preview) -> Money | None:
        return money(root.totals.total, root.currency) if root.totals and root.currency else None

    @strawberry.field(
        graphql_type=list[UserError],
        description="What completeDraftOrder would refuse now, payment aside, with the same codes and fields: missing email, "
                    "shipping address or lines (INVALID_INPUT), unknown SKU (NOT_FOUND), not enough stock (OUT_OF_STOCK), e.g. "
                    'field ["draftOrder", "lines", "0", "sku"]. Empty: ready to complete.',
    )
    def problems(root: draft_service.Preview) -> list[object]:
        return list(resolve.draft_errors(root.problems))

    @strawberry.field(description="true when problems is empty (the draft can be completed now).")
    def ready(root: draft_service.Preview) -> bool:
        return not root.problems


@strawberry.type(description="A phone or store sale being built (issue 18). It reserves nothing until completeDraftOrder places it "
                             "as an order through placeOrder's path. Needs orders:read.")
class DraftOrder(Node):
    number: str = strawberry.field(description="Human draft number, DR-000001 (not an order number).")
    status: DraftOrderStatus = strawberry.field(description="OPEN, COMPLETED or EXPIRED.")
    channel: SalesChannel = strawberry.field(description="PHONE or STORE: the channel of the order it becomes.")
    email: str | None = strawberry.field(description="The customer's email (found or added as a customer at completion); null until given.")
    notes: str | None = strawberry.field(description="The agent's notes (at most 2,000 characters); kept on the draft only.")
    created_by: str | None = strawberry.field(description="The API key that created the draft.")
    created_at: datetime = strawberry.field(description="When the draft was created.")
    updated_at: datetime = strawberry.field(description="When the draft last changed (or was completed or expired).")
    expires_at: datetime = strawberry.field(
        description="When an OPEN draft expires: OMS_DRAFT_EXPIRY_HOURS after its last change (each update moves it)."
    )
    completed_at: datetime | None = strawberry.field(description="When the draft was completed; null otherwise.")
    lines: list[models.drafts.DraftOrderLine] = strawberry.field(
        resolver=resolve.draft_lines, graphql_type=list[DraftOrderLine], description="What the customer asked for, in order."
    )
    preview: draft_service.Preview = strawberry.field(
        resolver=resolve.draft_preview, graphql_type=DraftOrderPreview,
        description="The live price preview: prices, tax and total from the catalogue now, stock free now, and what would refuse completion.",
    )
    order: models.Order | None = strawberry.field(
        resolver=resolve.draft_order_placed, graphql_type=Order | None, description="The order the draft became; null until completed."
    )

    @strawberry.field(description="Where the order ships to; null until given.")
    def shipping_address(root: models.drafts.DraftOrder) -> Address | None:
        return Address.from_stored(root.shipping_address)

    @strawberry.field(description="The billing address, if other than the shipping address.")
    def billing_address(root: models.drafts.DraftOrder) -> Address | None:
        return Address.from_stored(root.billing_address)


@strawberry.input(description="A new draft order. Every part may be given later with updateDraftOrder.")
class CreateDraftOrderInput:
    channel: SalesChannel = strawberry.field(description="PHONE or STORE (other channels: INVALID_INPUT at [\"input\", \"channel\"]).")
    email: str | None = strawberry.field(default=None, description="The customer's email.")
    lines: list[OrderLineInput] | None = strawberry.field(
        default=None, description="The lines (SKU, quantity, customization); each SKU must be in the catalogue (NOT_FOUND). Nothing is reserved."
    )
    shipping_address: AddressInput | None = strawberry.field(default=None, description="Where the order ships to.")
    billing_address: AddressInput | None = strawberry.field(default=None, description="The billing address, if other.")
    notes: str | None = strawberry.field(default=None, description="The agent's notes, at most 2,000 characters.")


@strawberry.input(description="Changes to an OPEN draft: the parts given replace the draft's (lines as a whole list); the parts "
                              "left out stay. Moves its expiry to OMS_DRAFT_EXPIRY_HOURS from now.")
class UpdateDraftOrderInput:
    draft_order_id: strawberry.ID = strawberry.field(description="The DraftOrder's global ID.")
    email: str | None = strawberry.field(default=None, description="The customer's email; an empty string clears it.")
    lines: list[OrderLineInput] | None = strawberry.field(
        default=None, description="The new lines, replacing all of them (an empty list clears them); SKUs checked, nothing reserved."
    )
    shipping_address: AddressInput | None = strawberry.field(default=None, description="The new shipping address.")
    billing_address: AddressInput | None = strawberry.field(default=None, description="The new billing address.")
    notes: str | None = strawberry.field(default=None, description="The new notes; an empty string clears them.")


@strawberry.input(description="Place a draft as an order.")
class CompleteDraftOrderInput:
    draft_order_id: strawberry.ID = strawberry.field(description="The DraftOrder's global ID.")
    payment: PaymentInput = strawberry.field(description="How the customer pays, as in placeOrder (a CARD needs the provider's token).")
    idempotency_key: str | None = strawberry.field(
        default=None,
        description="Same key + same payment: the first answer again (the draft's order); same key + other payment: "
                    "IDEMPOTENCY_CONFLICT. Whatever the key, a draft is placed at most once.",
    )
    shipping_method: str | None = strawberry.field(
        default=None,
        description="The shipping rate to charge, \"<CARRIER>:<SERVICE>\" (case-insensitive; see shippingQuotes), as placeOrder's "
                    "shippingMethod: INVALID_INPUT at shippingMethod when unknown or not available for the draft. Absent: no shipping "
                    "is charged (the order's totals are the preview's). Part of the idempotency key's input.",
    )


@strawberry.type(description="The answer of createDraftOrder and updateDraftOrder.")
class DraftOrderPayload:
    draft_order: models.drafts.DraftOrder | None = strawberry.field(
        graphql_type=DraftOrder | None, description="The draft as written; null when refused."
    )
    user_errors: list[UserError] = strawberry.field(description="Why the change was refused (nothing was written).")
    event_cursor: str | None = strawberry.field(description="Always null: a draft records no order event.")


@strawberry.type(description="The answer of completeDraftOrder.")
class CompleteDraftOrderPayload:
    draft_order: models.drafts.DraftOrder | None = strawberry.field(
        graphql_type=DraftOrder | None, description="The draft, now COMPLETED; null when refused."
    )
    order: models.Order | None = strawberry.field(graphql_type=Order | None, description="The order placed from the draft; null when refused.")
    user_errors: list[UserError] = strawberry.field(
        description="Why the completion was refused; nothing was placed or reserved. Fields under [\"draftOrder\", ...] name the draft's "
                    "content (e.g. [\"draftOrder\", \"lines\", \"0\", \"sku\"] for OUT_OF_STOCK or NOT_FOUND); others the input."
    )
    event_cursor: str | None = strawberry.field(
        description="Cursor of the last event the placement produced (PLACED, payment); null for a replayed completion."
    )


DraftOrderStatusArg = Annotated[
    list[DraftOrderStatus] | None, strawberry.argument(description="Only drafts in these statuses (default: all).")
]
DraftPageSize = Annotated[int | None, strawberry.argument(description="Page size: default 20, at most 100.")]
DraftPageAfter = Annotated[str | None, strawberry.argument(description="The endCursor of the previous page.")]
CreateDraftInput = Annotated[CreateDraftOrderInput, strawberry.argument(
    description='The new draft. A userError\'s `field` is a path from here: ["input", "lines", "0", "sku"].')]
UpdateDraftInput = Annotated[UpdateDraftOrderInput, strawberry.argument(
    description='The draft and the parts to replace. A userError\'s `field` is a path from here: ["input", "draftOrderId"].')]
CompleteDraftInput = Annotated[CompleteDraftOrderInput, strawberry.argument(
    description='The draft and its payment. A userError\'s `field` is a path from here (["input", "payment", "token"]), or, for the '
                'draft\'s own content, from the draft (["draftOrder", "lines", "0", "sku"]).')]
