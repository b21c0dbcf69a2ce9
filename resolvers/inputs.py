"""What the resolvers read from GraphQL arguments and inputs, as protocols.

The input types themselves are declared in graphql_schema/, which this layer does not import;
the schema passes them in, and the type checker proves there that each one fits its protocol.
Plain members must match the schema's declaration exactly; read-only properties accept a narrower
type (an enum class, a nested input, a list of them). The domain's vocabularies are the API's enums
(graphql_schema/enums.py), so those members are typed with the domain's classes; the API's own
reading options (sorting) and the filters shared by two types stay plain Enum.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Protocol

import strawberry
from strawberry.scalars import JSON

from app.fulfilment.enums import ShipmentStatus
from app.orders.enums import InventoryPolicy, OrderStatus, PaymentMethod, SalesChannel
from app.returns.enums import InspectionResult, ReturnResolution

# --- orders ----------------------------------------------------------------------------------------


class MetadataFilterArgs(Protocol):  # partner, issue 17
    key: str
    value: str | None


class OrderFilterArgs(Protocol):
    email: str | None
    placed_after: datetime | None
    placed_before: datetime | None
    delivery_at_risk: bool | None
    updated_after: datetime | None
    external_reference: str | None  # partner, issue 17
    marketplace: str | None

    @property
    def status(self) -> Sequence[OrderStatus] | None: ...
    @property
    def channel(self) -> Sequence[SalesChannel] | None: ...
    @property
    def metadata(self) -> Sequence[MetadataFilterArgs] | None: ...
    @property
    def private_metadata(self) -> Sequence[MetadataFilterArgs] | None: ...


class MetadataItemArgs(Protocol):  # partner, issue 17
    key: str
    value: str


class UpdateOrderMetadataArgs(Protocol):
    order_id: strawberry.ID
    private: bool | None

    @property
    def set(self) -> Sequence[MetadataItemArgs] | None: ...
    @property
    def remove(self) -> Sequence[str] | None: ...


class OrderSortArgs(Protocol):
    @property
    def field(self) -> Enum: ...
    @property
    def direction(self) -> Enum: ...


class AddressArgs(Protocol):
    name: str
    line1: str
    line2: str | None
    city: str
    postal_code: str
    region: str | None
    country: str
    phone: str | None


class OrderLineArgs(Protocol):
    sku: str
    quantity: int
    customization: JSON | None


class PaymentArgs(Protocol):
    token: str | None

    @property
    def method(self) -> PaymentMethod: ...


class OrderRequestArgs(Protocol):
    """What placeOrder and an importOrders row share."""

    email: str

    @property
    def channel(self) -> SalesChannel: ...
    @property
    def lines(self) -> Sequence[OrderLineArgs]: ...
    @property
    def shipping_address(self) -> AddressArgs: ...
    @property
    def billing_address(self) -> AddressArgs | None: ...
    @property
    def payment(self) -> PaymentArgs | None: ...


class PlaceOrderArgs(OrderRequestArgs, Protocol):
    idempotency_key: str | None


class ImportOrderRowArgs(OrderRequestArgs, Protocol):  # partner, issue 17
    external_reference: str
    marketplace: str | None
    paid_externally: bool | None


class ImportOrdersArgs(Protocol):
    @property
    def orders(self) -> Sequence[ImportOrderRowArgs]: ...


class OrderIdArgs(Protocol):
    order_id: strawberry.ID


class OrderTransitionArgs(OrderIdArgs, Protocol):
    reason: str | None


# --- catalogue -------------------------------------------------------------------------------------


class ProductArgs(Protocol):
    sku: str
    name: str
    price: Decimal
    currency: str
    tax_rate: Decimal
    made_to_order: bool | None
    lead_time_days: int | None
    inventory_policy: InventoryPolicy | None  # backorders, issue 19
    available_from: date | None
    weight_grams: int | None  # shipping, issue 19


class WarehouseArgs(Protocol):
    code: str
    name: str

    @property
    def channels(self) -> Sequence[SalesChannel]: ...


class AdjustStockArgs(Protocol):
    sku: str
    warehouse_code: str
    delta: int
    reason: str


# --- fulfilment ------------------------------------------------------------------------------------


class ShipmentLineArgs(Protocol):
    sku: str
    quantity: int


class CreateShipmentArgs(Protocol):
    order_id: strawberry.ID
    warehouse_code: str
    carrier: str
    tracking_number: str | None

    @property
    def lines(self) -> Sequence[ShipmentLineArgs] | None: ...


class CreatePickListArgs(Protocol):
    warehouse_code: str

    @property
    def order_ids(self) -> Sequence[strawberry.ID] | None: ...


class TrackingEventArgs(Protocol):
    shipment_id: strawberry.ID
    occurred_at: datetime | None
    location: str | None
    description: str | None

    @property
    def status(self) -> ShipmentStatus: ...


# --- billing ---------------------------------------------------------------------------------------


class CapturePaymentArgs(Protocol):
    payment_id: strawberry.ID
    amount: Decimal | None
    idempotency_key: str | None


class RecordPaymentArgs(Protocol):
    order_id: strawberry.ID
    amount: Decimal
    reference: str | None
    idempotency_key: str | None

    @property
    def method(self) -> PaymentMethod: ...


class RefundPaymentArgs(Protocol):
    payment_id: strawberry.ID
    amount: Decimal
    reason: str
    idempotency_key: str | None


# --- returns and inquiries -------------------------------------------------------------------------


class PostSaleFilterArgs(Protocol):
    """ReturnFilter and InquiryFilter."""

    order_id: strawberry.ID | None

    @property
    def status(self) -> Sequence[Enum] | None: ...


class ReturnLineArgs(Protocol):
    quantity: int
    order_line_id: strawberry.ID | None
    sku: str | None
    reason: str | None


class ReplacementLineArgs(Protocol):
    sku: str
    quantity: int


class ReturnRequestArgs(Protocol):
    """What RequestReturnInput and RequestCustomerReturnInput share."""

    reason: str

    @property
    def lines(self) -> Sequence[ReturnLineArgs]: ...
    @property
    def resolution(self) -> ReturnResolution: ...
    @property
    def replacement_lines(self) -> Sequence[ReplacementLineArgs] | None: ...


class StaffReturnArgs(ReturnRequestArgs, Protocol):
    order_id: strawberry.ID


class TrackingPairArgs(Protocol):
    """A customer's proof of access: the order number and email of the tracking page."""

    number: str
    email: str


class CustomerReturnArgs(ReturnRequestArgs, TrackingPairArgs, Protocol):
    pass


class ReturnDecisionArgs(Protocol):
    return_id: strawberry.ID
    note: str | None


class InspectionArgs(Protocol):
    return_line_id: strawberry.ID
    warehouse_code: str | None
    note: str | None

    @property
    def result(self) -> InspectionResult: ...


class ReceiveReturnArgs(Protocol):
    return_id: strawberry.ID

    @property
    def lines(self) -> Sequence[InspectionArgs]: ...


class OpenInquiryArgs(Protocol):
    order_id: strawberry.ID
    subject: str
    body: str


class InquiryIdArgs(Protocol):
    inquiry_id: strawberry.ID


class InquiryMessageArgs(InquiryIdArgs, Protocol):
    body: str


class OpenCustomerInquiryArgs(TrackingPairArgs, Protocol):
    subject: str
    body: str


class CustomerInquiryMessageArgs(TrackingPairArgs, Protocol):
    inquiry_id: strawberry.ID
    body: str
