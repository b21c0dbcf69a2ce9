"""Orders, their lines and timeline, and the order mutations' inputs and payloads.

Values are ORM rows: a field's annotation (or a resolver's return type) is the Python value, and
`graphql_type` what the schema shows where the two differ.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.scalars import JSON

import models
import models.billing
import models.fulfilment
import models.holds
import models.returns
from graphql_schema.common import Address, AddressInput, BareConnection, Money, Node, UserError, money
from graphql_schema.enums import DeliveryType, OrderSortField, OrderStatus, PaymentMethod, PaymentStatus, ProductionStage, SalesChannel, SortDirection
from graphql_schema.metadata import MetadataFilterInput, MetadataItem
from graphql_schema.pickup import DeliveryMethodInput  # pickup, issue 19
from graphql_schema.risk import OrderHold, OrderRisk
from resolvers import backorders as resolve_backorders  # backorders visibility, issue 19
from resolvers import billing as resolve_billing
from resolvers import fulfilment as resolve_fulfilment
from resolvers import holds as resolve_holds
from resolvers import metadata as resolve_metadata
from resolvers import orders as resolve
from resolvers import pagination
from resolvers import pickup as resolve_pickup  # pickup, issue 19
from resolvers import production as resolve_production
from resolvers import returns as resolve_returns
from resolvers.ids import to_global_id
from resolvers.types import Info  # backorders visibility, issue 19

if TYPE_CHECKING:
    from graphql_schema.billing import Invoice, Payment
    from graphql_schema.catalog import Warehouse
    from graphql_schema.fulfilment import Shipment
    from graphql_schema.returns import Inquiry, Return

ShipmentRef = Annotated["Shipment", strawberry.lazy("graphql_schema.fulfilment")]
InvoiceRef = Annotated["Invoice", strawberry.lazy("graphql_schema.billing")]
PaymentRef = Annotated["Payment", strawberry.lazy("graphql_schema.billing")]
ReturnRef = Annotated["Return", strawberry.lazy("graphql_schema.returns")]
InquiryRef = Annotated["Inquiry", strawberry.lazy("graphql_schema.returns")]
WarehouseRef = Annotated["Warehouse", strawberry.lazy("graphql_schema.catalog")]  # pickup, issue 19


@strawberry.type(description="One line of an order: a SKU, how many units, and its price frozen at placement.")
class OrderLine:
    sku: str = strawberry.field(description="The product's SKU.")
    product_name: str = strawberry.field(description="The product's name when the order was placed.")
    quantity: int = strawberry.field(description="Units on the line (1 to 10,000 when placed).")
    tax_rate: Decimal = strawberry.field(description="The VAT rate as a fraction (\"0.21\" is 21%), frozen at placement.")
    quantity_shipped: int = strawberry.field(description="Units that have left in shipments so far.")
    quantity_returned: int = strawberry.field(description="Units received back through returns so far.")

    @strawberry.field(description="A global ID (not a Node): names the line in ReturnLineInput.orderLineId and ReturnLine.orderLineId.")
    def id(root: models.OrderLine) -> strawberry.ID:
        return strawberry.ID(to_global_id("OrderLine", root.id))

    @strawberry.field(description="The catalogue price of one unit when the order was placed, before tax.")
    def unit_price(root: models.OrderLine) -> Money:
        return money(root.unit_price, root.currency)

    @strawberry.field(description="quantity x unitPrice, before tax")
    def total(root: models.OrderLine) -> Money:
        return money(root.total, root.currency)

    @strawberry.field(description="Made-to-order details given when the order was placed.")
    def customization(root: models.OrderLine) -> JSON | None:
        return None if root.customization is None else JSON(root.customization)

    @strawberry.field(description="Units taken off the line after placement (editOrder lowering or removing it, cancelOrderLines); quantity is what is left.")
    def quantity_cancelled(root: models.OrderLine) -> int:
        return root.quantity_cancelled
    # stages, issue 19
    @strawberry.field(
        description="Production stage of a made-to-order line (QUEUED until advanceProduction moves it); null for a stock line. "
        "Its units ship only once READY."
    )
    def production_stage(root: models.OrderLine) -> ProductionStage | None:
        return resolve_production.production_stage(root)
    # backorders visibility, issue 19 (the customer informed)
    @strawberry.field(
        description="Units of the line waiting for an expected stock receipt (a BACKORDER or PREORDER product's units claimed on a "
        "receipt that has not arrived): they ship once it arrives (receiveStock). 0 when none: the units are on hand, shipped, "
        "cancelled, or made to order."
    )
    async def quantity_backordered(root: models.OrderLine, info: Info) -> int:
        return await resolve_backorders.quantity_backordered(root, info)

    @strawberry.field(
        description="When the first of the receipts those units wait for is expected (UTC; StockReceipt.expectedAt): the delivery "
        "promise counts from it. Null when quantityBackordered is 0. A moment past while units still wait means the receipt is late."
    )
    async def expected_at(root: models.OrderLine, info: Info) -> datetime | None:
        return await resolve_backorders.expected_at(root, info)



@strawberry.type(description="One entry on an order's timeline: every change of an order appends exactly one, in the change's own "
                  "transaction.")
class OrderEvent:
    type: str = strawberry.field(description="e.g. PLACED, STATUS_CHANGED, SHIPMENT_CREATED")
    status: OrderStatus = strawberry.field(description="the order's status once this event applied")
    previous_status: OrderStatus | None = strawberry.field(description="The status before it: equal to `status` when the event did not "
                                                           "change it; null only for PLACED.")
    occurred_at: datetime = strawberry.field(description="When it was written (UTC, the database's clock).")
    actor: str | None = strawberry.field(description="Who did it: \"apikey:<key name>\" for API calls, \"customer:<email>\" for a customer "
                                         "through the tracking pair, \"system:<worker>\" for background work. Null in the public tracking view.")

    @strawberry.field(description="Totally ordered; a subscription resumes after it.")
    def cursor(root: models.OrderEvent) -> str:
        return str(root.seq)

    @strawberry.field(description="What changed, as a JSON object whose keys depend on `type` (a shipment's lines, a refund's amount, a hold's "
                      "reason, ...); keys may be added. Null in the public tracking view.")
    def data(root: models.OrderEvent) -> JSON | None:
        return None if root.data is None else JSON(root.data)


@strawberry.type(description="An order: what was bought, by whom, through which channel, and everything that happened to it since "
                  "(`events`). Needs orders:read.")
class Order(Node):
    number: str = strawberry.field(description="The order number the customer sees, e.g. \"SO-100001\"; unique. With `email` it is the "
                                   "tracking pair.")
    status: OrderStatus = strawberry.field(description="Where the order stands; OrderStatus lists the moves.")
    payment_status: PaymentStatus = strawberry.field(description="Derived from the order's payments.")
    channel: SalesChannel = strawberry.field(description="Where it was placed.")
    email: str = strawberry.field(description="The customer's email, trimmed and lower-cased.")
    placed_at: datetime = strawberry.field(description="When it was placed (UTC).")
    updated_at: datetime = strawberry.field(description="When the order last changed (UTC).")
    estimated_delivery_date: date | None = strawberry.field(description="The day its last parcel should arrive: promised at placement, "
                                                            "recomputed as parcels leave and carriers report (each change is a "
                                                            "DELIVERY_ESTIMATE_CHANGED event). Null when no estimate can be given.")
    lines: list[models.OrderLine] = strawberry.field(resolver=resolve.order_lines, graphql_type=list[OrderLine],
                                                     description="What was ordered, in the order given at placement.")
    events: pagination.Connection[models.OrderEvent] = strawberry.field(resolver=resolve.order_events, graphql_type=BareConnection[OrderEvent],
                                                                        description="The timeline, oldest first.")
    shipments: list[models.fulfilment.Shipment] = strawberry.field(resolver=resolve_fulfilment.order_shipments, graphql_type=list[ShipmentRef],
                                                                   description="Its parcels, in the order they left. Needs shipments:read.")
    invoices: list[models.billing.Invoice] = strawberry.field(resolver=resolve_billing.order_invoices, graphql_type=list[InvoiceRef],
                                                              description="Its invoice and credit notes, in issue order. Needs invoices:read.")
    payments: list[models.billing.Payment] = strawberry.field(resolver=resolve_billing.order_payments, graphql_type=list[PaymentRef],
                                                              description="Its payments, oldest first. Needs payments:read.")
    returns: list[models.returns.ReturnRequest] = strawberry.field(
        resolver=resolve_returns.order_returns, graphql_type=list[ReturnRef], description="Its returns, oldest first. Needs returns:read."
    )
    inquiries: list[models.returns.Inquiry] = strawberry.field(resolver=resolve_returns.order_inquiries, graphql_type=list[InquiryRef],
                                                               description="Its support cases, oldest first.")

    @strawberry.field(description="Where the parcels go.")
    def shipping_address(root: models.Order) -> Address | None:
        return Address.from_stored(root.shipping_address)

    @strawberry.field(description="The invoice address; null when none was given (the invoice then uses the shipping address).")
    def billing_address(root: models.Order) -> Address | None:
        return Address.from_stored(root.billing_address)

    @strawberry.field(description="The line totals added up, before tax (catalogue prices are net of VAT).")
    def subtotal(root: models.Order) -> Money:
        return money(root.subtotal, root.currency)

    @strawberry.field(description="VAT, rounded once per tax rate, as on the invoice; includes shippingTax.")
    def tax_total(root: models.Order) -> Money:
        return money(root.tax_total, root.currency)

    @strawberry.field(description="Shipping charged, net of VAT (its VAT is in taxTotal: shippingTax); 0.00 when no shipping rate applies "
                                  "(none configured, or a pickup). Fixed at placement: edits and line cancellations keep it while any unit is left "
                                  "(its VAT re-spread over the goods left); 0.00 once cancelOrderLines takes every unit.")
    def shipping_total(root: models.Order) -> Money:
        return money(root.shipping_total, root.currency)

    @strawberry.field(description="subtotal + taxTotal + shippingTotal: what the customer pays.")
    def total(root: models.Order) -> Money:
        return money(root.total, root.currency)

    # partner, issue 17
    external_reference: str | None = strawberry.field(
        description="A bulk-imported order's reference at its marketplace or channel (importOrders); null for orders placed here.")
    marketplace: str | None = strawberry.field(description="The marketplace code an imported order came from, e.g. `amazon-es`.")
    metadata: list[resolve_metadata.MetadataItem] = strawberry.field(
        resolver=resolve_metadata.order_metadata, graphql_type=list[MetadataItem],
        description="Partner key-value strings, sorted by key. Readable with orders:read.")
    private_metadata: list[resolve_metadata.MetadataItem] | None = strawberry.field(
        resolver=resolve_metadata.order_private_metadata, graphql_type=list[MetadataItem] | None,
        description="Private key-value strings, sorted by key. Needs orders:write: without it, null with a FORBIDDEN error on this field.")
    # holds, issue 18
    holds: list[models.holds.OrderHold] = strawberry.field(
        resolver=resolve_holds.order_holds, graphql_type=list[OrderHold],
        description="The open holds, oldest first (releaseOrder without holdId releases the first). Empty unless ON_HOLD.",
    )

    @strawberry.field(description="The risk assessment made at placement (or by assessOrderRisk); null for orders placed before it existed.")
    def risk(root: models.Order) -> OrderRisk | None:
        return resolve_holds.order_risk(root)  # type: ignore[return-value]

    # pickup, issue 19
    delivery_type: DeliveryType = strawberry.field(description="SHIP, or PICKUP: collected at `pickupPoint` (click-and-collect).")
    pickup_point: models.Warehouse | None = strawberry.field(
        resolver=resolve_pickup.order_pickup_point, graphql_type=WarehouseRef | None,
        description="A PICKUP order's pickup point, where its units are reserved (or transferred to); null for a shipped order.")
    # shipping, issue 19
    shipping_method: str | None = strawberry.field(
        description="The shipping rate charged, \"<CARRIER>:<SERVICE>\" (PlaceOrderInput.shippingMethod, or the cheapest); null when no "
                    "shipping was charged.")

    @strawberry.field(description="The VAT on shippingTotal, included in taxTotal: the shipping is spread over the order's VAT rates in "
                                  "proportion to their bases (whole cents, largest remainder) and each part taxed at its rate.")
    def shipping_tax(root: models.Order) -> Money:
        return money(root.shipping_tax, root.currency)



@strawberry.type(description="Order counts for a dashboard, over the orders `orderStats`' arguments select.")
class OrderStats:
    count_by_status: JSON = strawberry.field(description='{"PENDING": 3, ...}; every status, 0 included')
    total_orders: int = strawberry.field(description="How many orders were counted.")
    count_by_channel: JSON = strawberry.field(description='{"WEB": 3, ...}; every channel, 0 included')


@strawberry.input(description="Which orders `orders` lists: every condition given must hold; a list matches any of its values.")
class OrderFilter:
    status: list[OrderStatus] | None = strawberry.field(default=None, description="In any of these statuses.")
    channel: list[SalesChannel] | None = strawberry.field(default=None, description="Placed through any of these channels.")
    email: str | None = strawberry.field(default=None, description="The customer's email, exactly (compared trimmed and lower-cased).")
    placed_after: datetime | None = strawberry.field(default=None, description="Placed at or after this moment.")
    placed_before: datetime | None = strawberry.field(default=None, description="Placed strictly before this moment.")
    delivery_at_risk: bool | None = strawberry.field(
        default=None, description="true: the promised delivery date is today or past and the order is not delivered"
    )
    updated_after: datetime | None = strawberry.field(
        default=None, description="Changed at or after this moment (Order.updatedAt: any change recorded on its timeline).")
    # partner, issue 17
    external_reference: str | None = strawberry.field(default=None, description="The imported order with this external reference.")
    marketplace: str | None = strawberry.field(default=None, description="Orders imported from this marketplace code.")
    metadata: list[MetadataFilterInput] | None = strawberry.field(
        default=None, description="Every condition must hold (key present, with the value if given); at most 20.")
    private_metadata: list[MetadataFilterInput] | None = strawberry.field(
        default=None, description="As `metadata`, on privateMetadata. Needs orders:write.")


@strawberry.input(description="How `orders` is sorted; ties are broken by the order's id.")
class OrderSort:
    field: OrderSortField = strawberry.field(description="What to sort on.")
    direction: SortDirection = strawberry.field(description="Ascending or descending.")


@strawberry.input(description="One line to order: the price comes from the catalogue.")
class OrderLineInput:
    sku: str = strawberry.field(description="A catalogue SKU (trimmed); an unknown one is NOT_FOUND, blank is INVALID_INPUT.")
    quantity: int = strawberry.field(description="Units: 1 to 10,000 (INVALID_INPUT below 1, LIMIT_EXCEEDED above, also once lines of one "
                                     "SKU are merged).")
    customization: JSON | None = strawberry.field(default=None, description="made-to-order details, kept on the line")


@strawberry.input(description="How the order is paid.")
class PaymentInput:
    method: PaymentMethod = strawberry.field(description="CARD is authorised now (PAYMENT_DECLINED refuses the whole placement); the "
                                             "others open a pending payment.")
    token: str | None = strawberry.field(default=None, description="provider token for CARD; absent for others")


@strawberry.input(description="An order to place. Prices and taxes come from the catalogue, never from the client.")
class PlaceOrderInput:
    channel: SalesChannel = strawberry.field(description="Where it is placed: only warehouses serving this channel reserve stock for it.")
    email: str = strawberry.field(description="The customer's email (at most 320 characters; INVALID_INPUT when malformed); stored "
                                  "lower-cased.")
    lines: list[OrderLineInput] = strawberry.field(description="1 to 100 lines (INVALID_INPUT when empty, LIMIT_EXCEEDED above); lines of one "
                                                   "SKU with the same customization merge into one.")
    shipping_address: AddressInput = strawberry.field(description="Where the parcels go; its country drives the delivery estimate.")
    idempotency_key: str | None = strawberry.field(
        default=None, description="Same key + same input: the first result again; same key + other input: IDEMPOTENCY_CONFLICT. 1 to "
                                  "200 characters; the prefixes `import:` and `draft:` are reserved (importOrders, completeDraftOrder): "
                                  "INVALID_INPUT."
    )
    billing_address: AddressInput | None = strawberry.field(default=None, description="The invoice address; absent: the shipping address.")
    payment: PaymentInput | None = strawberry.field(default=None, description="Absent: no payment is opened; the order waits, PENDING "
                                                    "and UNPAID, for staff.")
    delivery_method: DeliveryMethodInput | None = strawberry.field(  # pickup, issue 19
        default=None, description="SHIP (absent: the default) or PICKUP at a pickup point (click-and-collect): see DeliveryMethodInput. "
                                  "A PICKUP order's promise is the day it should be ready at the store; shippingAddress stays the "
                                  "customer's contact address.")
    shipping_method: str | None = strawberry.field(  # shipping, issue 19
        default=None, description="The shipping rate to charge, \"<CARRIER>:<SERVICE>\" (a ShippingQuote's method, any case). Absent: the "
                                  "cheapest available, or nothing when no rate is configured for the order's currency. INVALID_INPUT at "
                                  "shippingMethod when unknown or not available for this order (destination, weight, goods value), when "
                                  "absent and no configured rate covers the order, and for a PICKUP delivery (not shipped: charged 0).")


@strawberry.input(description="The order a status mutation acts on.")
class OrderIdInput:
    order_id: strawberry.ID = strawberry.field(description="The order's global ID; a malformed or foreign ID is NOT_FOUND.")
    reason: str | None = strawberry.field(default=None, description="Why, kept in the event's data; optional.")
    hold_id: strawberry.ID | None = strawberry.field(
        default=None, description="releaseOrder only: the hold to release (Order.holds' id); default: the oldest open one. NOT_FOUND "
                                  "when it is not an open hold of this order. Other mutations ignore it.",
    )


@strawberry.type(description="What placeOrder answers.")
class PlaceOrderPayload:
    order: Order | None = strawberry.field(description="The order placed (for a repeated idempotencyKey: the first one); null when refused.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused (nothing was written); empty on success.")
    event_cursor: str | None = strawberry.field(description="Cursor of the event this write produced: subscribe `after` it to miss nothing.")


@strawberry.type(description="What an order status mutation answers.")
class OrderPayload:
    order: Order | None = strawberry.field(description="The order after the change; null when refused.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused (nothing was written); empty on success.")
    event_cursor: str | None = strawberry.field(description="Cursor of the last event this write produced.")
