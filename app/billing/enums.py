"""The billing domain's vocabularies: where each payment stands, what an invoice is.

The order's own payment attributes (PaymentMethod, PaymentStatus) are in app/orders/enums.py."""

from __future__ import annotations

from enum import StrEnum


class PaymentTransactionStatus(StrEnum):
    """Where one payment stands."""

    PENDING = "PENDING"
    AUTHORIZED = "AUTHORIZED"
    CAPTURED = "CAPTURED"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"
    REFUNDED = "REFUNDED"
    VOIDED = "VOIDED"
    DECLINED = "DECLINED"
    FAILED = "FAILED"


class PaymentOperationKind(StrEnum):
    """One call to the provider, or one manual record."""

    AUTHORIZE = "AUTHORIZE"
    CAPTURE = "CAPTURE"
    VOID = "VOID"
    REFUND = "REFUND"
    RECORD = "RECORD"


class InvoiceKind(StrEnum):
    INVOICE = "INVOICE"
    CREDIT_NOTE = "CREDIT_NOTE"
