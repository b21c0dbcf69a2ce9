"""The API's enums. Domain vocabularies are defined once, in the domain, and exposed here under their
contract names; only the reading options (sorting) are the API's own."""

from __future__ import annotations

from enum import Enum

import strawberry

from app.billing import enums as billing
from app.catalog import enums as catalog
from app.errors import ErrorCode as DomainErrorCode
from app.fulfilment import enums as fulfilment
from app.inquiries import enums as inquiries
from app.orders import enums as orders
from app.returns import enums as returns
from graphql_schema.descriptions import describe

SalesChannel = orders.SalesChannel
OrderStatus = orders.OrderStatus
PaymentStatus = orders.PaymentStatus
PaymentMethod = orders.PaymentMethod
PaymentTransactionStatus = billing.PaymentTransactionStatus
ShipmentStatus = fulfilment.ShipmentStatus
InvoiceKind = billing.InvoiceKind
ErrorCode = DomainErrorCode
ReturnStatus = returns.ReturnStatus
ReturnResolution = returns.ReturnResolution
InspectionResult = returns.InspectionResult
InquiryStatus = inquiries.InquiryStatus
AuthorType = orders.AuthorType

# strawberry.enum marks the class itself and returns it: each domain class is the API's enum, under its own
# name (the contract's; the committed SDL checks it). Plain aliases above, not `X = strawberry.enum(...)`,
# because a type checker reads a call's result as a variable, which annotations cannot use.
for _domain_enum in (SalesChannel, OrderStatus, PaymentStatus, PaymentMethod, PaymentTransactionStatus, ShipmentStatus, InvoiceKind,
                     ErrorCode, ReturnStatus, ReturnResolution, InspectionResult, InquiryStatus, AuthorType):
    describe(_domain_enum)  # strawberry.enum, with the descriptions of graphql_schema/descriptions.py

# edits, issue 18
LineCancellationReason = orders.LineCancellationReason
describe(LineCancellationReason)


# How a list of orders is read: the API's own options (resolvers/orders.py), not a business concept.
@strawberry.enum
class OrderSortField(Enum):
    PLACED_AT = "PLACED_AT"
    NUMBER = "NUMBER"
    TOTAL = "TOTAL"
    UPDATED_AT = strawberry.enum_value("UPDATED_AT", description=(  # partner, issue 17
        "The order's last change, in commit order (ties by id): a poller paging ASC with `after` from its last cursor never "
        "skips a change, even one committed late; an order shows up again each time it changes."))


@strawberry.enum
class SortDirection(Enum):
    ASC = "ASC"
    DESC = "DESC"


for _api_enum in (OrderSortField, SortDirection):
    describe(_api_enum)  # descriptions: graphql_schema/descriptions.py API_ENUMS
# stages, issue 19 (value descriptions: graphql_schema/descriptions.py)
ProductionStage = orders.ProductionStage
describe(ProductionStage)
# pickup, issue 19 (value descriptions: graphql_schema/descriptions.py)
DeliveryType = orders.DeliveryType
describe(DeliveryType)
Weekday = catalog.Weekday
describe(Weekday)
# sourcing, issue 19 (value descriptions: graphql_schema/descriptions.py)
SourcingStrategy = orders.SourcingStrategy
describe(SourcingStrategy)
