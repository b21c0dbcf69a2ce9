"""The API's enums. Domain vocabularies are defined once, in the domain, and exposed here under their
contract names; only the reading options (sorting) are the API's own."""

from __future__ import annotations

from enum import Enum

import strawberry

from app.billing import enums as billing
from app.errors import ErrorCode as DomainErrorCode
from app.fulfilment import enums as fulfilment
from app.inquiries import enums as inquiries
from app.orders import enums as orders
from app.returns import enums as returns

SalesChannel = strawberry.enum(orders.SalesChannel, name="SalesChannel")
OrderStatus = strawberry.enum(orders.OrderStatus, name="OrderStatus")
PaymentStatus = strawberry.enum(orders.PaymentStatus, name="PaymentStatus")
PaymentMethod = strawberry.enum(orders.PaymentMethod, name="PaymentMethod")
PaymentTransactionStatus = strawberry.enum(billing.PaymentTransactionStatus, name="PaymentTransactionStatus")
ShipmentStatus = strawberry.enum(fulfilment.ShipmentStatus, name="ShipmentStatus")
InvoiceKind = strawberry.enum(billing.InvoiceKind, name="InvoiceKind")
ErrorCode = strawberry.enum(DomainErrorCode, name="ErrorCode")
ReturnStatus = strawberry.enum(returns.ReturnStatus, name="ReturnStatus")
ReturnResolution = strawberry.enum(returns.ReturnResolution, name="ReturnResolution")
InspectionResult = strawberry.enum(returns.InspectionResult, name="InspectionResult")
InquiryStatus = strawberry.enum(inquiries.InquiryStatus, name="InquiryStatus")
AuthorType = strawberry.enum(orders.AuthorType, name="AuthorType")


# How a list of orders is read: the API's own options (resolvers/orders.py), not a business concept.
@strawberry.enum
class OrderSortField(Enum):
    PLACED_AT = "PLACED_AT"
    NUMBER = "NUMBER"
    TOTAL = "TOTAL"


@strawberry.enum
class SortDirection(Enum):
    ASC = "ASC"
    DESC = "DESC"
