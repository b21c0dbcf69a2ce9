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
import models.returns
from graphql_schema.common import Address, AddressInput, BareConnection, Money, Node, UserError, money
from graphql_schema.enums import OrderSortField, OrderStatus, PaymentMethod, PaymentStatus, ProductionStage, SalesChannel, SortDirection
from resolvers import billing as resolve_billing
from resolvers import fulfilment as resolve_fulfilment
from resolvers import orders as resolve
from resolvers import pagination
from resolvers import production as resolve_production
from resolvers import returns as resolve_returns
from resolvers.ids import to_global_id

if TYPE_CHECKING:
    from graphql_schema.billing import Invoice, Payment
    from graphql_schema.fulfilment import Shipment
    from graphql_schema.returns import Inquiry, Return

ShipmentRef = Annotated["Shipment", strawberry.lazy("graphql_schema.fulfilment")]
InvoiceRef = Annotated["Invoice", strawberry.lazy("graphql_schema.billing")]
PaymentRef = Annotated["Payment", strawberry.lazy("graphql_schema.billing")]
ReturnRef = Annotated["Return", strawberry.lazy("graphql_schema.returns")]
InquiryRef = Annotated["Inquiry", strawberry.lazy("graphql_schema.returns")]


@strawberry.type
class OrderLine:
    sku: str
    product_name: str
    quantity: int
    tax_rate: Decimal
    quantity_shipped: int
    quantity_returned: int

    @strawberry.field
    def id(root: models.OrderLine) -> strawberry.ID:
        return strawberry.ID(to_global_id("OrderLine", root.id))

    @strawberry.field
    def unit_price(root: models.OrderLine) -> Money:
        return money(root.unit_price, root.currency)

    @strawberry.field(description="quantity x unitPrice, before tax")
    def total(root: models.OrderLine) -> Money:
        return money(root.total, root.currency)

    @strawberry.field(description="Made-to-order details given when the order was placed.")
    def customization(root: models.OrderLine) -> JSON | None:
        return None if root.customization is None else JSON(root.customization)

    # stages, issue 19
    @strawberry.field(
        description="Production stage of a made-to-order line (QUEUED until advanceProduction moves it); null for a stock line. "
        "Its units ship only once READY."
    )
    def production_stage(root: models.OrderLine) -> ProductionStage | None:
        return resolve_production.production_stage(root)


@strawberry.type
class OrderEvent:
    type: str = strawberry.field(description="e.g. PLACED, STATUS_CHANGED, SHIPMENT_CREATED")
    status: OrderStatus = strawberry.field(description="the order's status once this event applied")
    previous_status: OrderStatus | None
    occurred_at: datetime
    actor: str | None

    @strawberry.field(description="Totally ordered; a subscription resumes after it.")
    def cursor(root: models.OrderEvent) -> str:
        return str(root.seq)

    @strawberry.field
    def data(root: models.OrderEvent) -> JSON | None:
        return None if root.data is None else JSON(root.data)


@strawberry.type
class Order(Node):
    number: str
    status: OrderStatus
    payment_status: PaymentStatus
    channel: SalesChannel
    email: str
    placed_at: datetime
    updated_at: datetime
    estimated_delivery_date: date | None
    lines: list[models.OrderLine] = strawberry.field(resolver=resolve.order_lines, graphql_type=list[OrderLine])
    events: pagination.Connection[models.OrderEvent] = strawberry.field(resolver=resolve.order_events, graphql_type=BareConnection[OrderEvent])
    shipments: list[models.fulfilment.Shipment] = strawberry.field(resolver=resolve_fulfilment.order_shipments, graphql_type=list[ShipmentRef])
    invoices: list[models.billing.Invoice] = strawberry.field(resolver=resolve_billing.order_invoices, graphql_type=list[InvoiceRef])
    payments: list[models.billing.Payment] = strawberry.field(resolver=resolve_billing.order_payments, graphql_type=list[PaymentRef])
    returns: list[models.returns.ReturnRequest] = strawberry.field(
        resolver=resolve_returns.order_returns, graphql_type=list[ReturnRef], description="Needs returns:read."
    )
    inquiries: list[models.returns.Inquiry] = strawberry.field(resolver=resolve_returns.order_inquiries, graphql_type=list[InquiryRef])

    @strawberry.field
    def shipping_address(root: models.Order) -> Address | None:
        return Address.from_stored(root.shipping_address)

    @strawberry.field
    def billing_address(root: models.Order) -> Address | None:
        return Address.from_stored(root.billing_address)

    @strawberry.field
    def subtotal(root: models.Order) -> Money:
        return money(root.subtotal, root.currency)

    @strawberry.field
    def tax_total(root: models.Order) -> Money:
        return money(root.tax_total, root.currency)

    @strawberry.field
    def shipping_total(root: models.Order) -> Money:
        return money(root.shipping_total, root.currency)

    @strawberry.field
    def total(root: models.Order) -> Money:
        return money(root.total, root.currency)


@strawberry.type
class OrderStats:
    count_by_status: JSON = strawberry.field(description='{"PENDING": 3, ...}; every status, 0 included')
    total_orders: int
    count_by_channel: JSON = strawberry.field(description='{"WEB": 3, ...}; every channel, 0 included')


@strawberry.input
class OrderFilter:
    status: list[OrderStatus] | None = None
    channel: list[SalesChannel] | None = None
    email: str | None = None
    placed_after: datetime | None = None
    placed_before: datetime | None = None
    delivery_at_risk: bool | None = strawberry.field(
        default=None, description="true: the promised delivery date is today or past and the order is not delivered"
    )
    updated_after: datetime | None = strawberry.field(default=None, description="changed (status, payment) at or after this moment")


@strawberry.input
class OrderSort:
    field: OrderSortField
    direction: SortDirection


@strawberry.input
class OrderLineInput:
    sku: str
    quantity: int
    customization: JSON | None = strawberry.field(default=None, description="made-to-order details, kept on the line")


@strawberry.input
class PaymentInput:
    method: PaymentMethod
    token: str | None = strawberry.field(default=None, description="provider token for CARD; absent for others")


@strawberry.input
class PlaceOrderInput:
    channel: SalesChannel
    email: str
    lines: list[OrderLineInput]
    shipping_address: AddressInput
    idempotency_key: str | None = strawberry.field(
        default=None, description="same key + same input: the first result again; same key + other input: IDEMPOTENCY_CONFLICT"
    )
    billing_address: AddressInput | None = None
    payment: PaymentInput | None = None


@strawberry.input
class OrderIdInput:
    order_id: strawberry.ID
    reason: str | None = None


@strawberry.type
class PlaceOrderPayload:
    order: Order | None
    user_errors: list[UserError]
    event_cursor: str | None = strawberry.field(description="Cursor of the event this write produced: subscribe `after` it to miss nothing.")


@strawberry.type
class OrderPayload:
    order: Order | None
    user_errors: list[UserError]
    event_cursor: str | None = strawberry.field(description="Cursor of the last event this write produced.")
