from __future__ import annotations

from enum import Enum

import strawberry


@strawberry.enum
class SalesChannel(Enum):
    WEB = "WEB"
    MOBILE = "MOBILE"
    PHONE = "PHONE"
    MARKETPLACE = "MARKETPLACE"
    STORE = "STORE"


@strawberry.enum
class OrderStatus(Enum):
    PENDING = "PENDING"
    CONFIRMED = "CONFIRMED"
    ON_HOLD = "ON_HOLD"
    PROCESSING = "PROCESSING"
    PARTIALLY_SHIPPED = "PARTIALLY_SHIPPED"
    SHIPPED = "SHIPPED"
    DELIVERED = "DELIVERED"
    PARTIALLY_RETURNED = "PARTIALLY_RETURNED"
    RETURNED = "RETURNED"
    CANCELLED = "CANCELLED"


@strawberry.enum
class PaymentStatus(Enum):
    UNPAID = "UNPAID"
    AUTHORIZED = "AUTHORIZED"
    PAID = "PAID"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"
    REFUNDED = "REFUNDED"
    FAILED = "FAILED"


@strawberry.enum
class PaymentMethod(Enum):
    CARD = "CARD"
    BANK_TRANSFER = "BANK_TRANSFER"
    CASH_ON_DELIVERY = "CASH_ON_DELIVERY"
    OTHER = "OTHER"


@strawberry.enum
class PaymentTransactionStatus(Enum):
    PENDING = "PENDING"
    AUTHORIZED = "AUTHORIZED"
    CAPTURED = "CAPTURED"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"
    REFUNDED = "REFUNDED"
    VOIDED = "VOIDED"
    DECLINED = "DECLINED"
    FAILED = "FAILED"


@strawberry.enum
class ShipmentStatus(Enum):
    READY = "READY"
    IN_TRANSIT = "IN_TRANSIT"
    OUT_FOR_DELIVERY = "OUT_FOR_DELIVERY"
    DELIVERED = "DELIVERED"
    EXCEPTION = "EXCEPTION"
    RETURNED_TO_SENDER = "RETURNED_TO_SENDER"


@strawberry.enum
class InvoiceKind(Enum):
    INVOICE = "INVOICE"
    CREDIT_NOTE = "CREDIT_NOTE"


@strawberry.enum
class ErrorCode(Enum):
    INVALID_INPUT = "INVALID_INPUT"
    NOT_FOUND = "NOT_FOUND"
    OUT_OF_STOCK = "OUT_OF_STOCK"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    IDEMPOTENCY_CONFLICT = "IDEMPOTENCY_CONFLICT"
    PAYMENT_DECLINED = "PAYMENT_DECLINED"
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED"


@strawberry.enum
class OrderSortField(Enum):
    PLACED_AT = "PLACED_AT"
    NUMBER = "NUMBER"
    TOTAL = "TOTAL"


@strawberry.enum
class SortDirection(Enum):
    ASC = "ASC"
    DESC = "DESC"


@strawberry.enum
class ReturnStatus(Enum):
    REQUESTED = "REQUESTED"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    RECEIVED = "RECEIVED"


@strawberry.enum
class ReturnResolution(Enum):
    REFUND = "REFUND"
    EXCHANGE = "EXCHANGE"


@strawberry.enum
class InspectionResult(Enum):
    RESTOCK = "RESTOCK"
    WRITE_OFF = "WRITE_OFF"


@strawberry.enum
class InquiryStatus(Enum):
    OPEN = "OPEN"
    ANSWERED = "ANSWERED"
    CLOSED = "CLOSED"


@strawberry.enum
class AuthorType(Enum):
    CUSTOMER = "CUSTOMER"
    STAFF = "STAFF"
