"""Domain errors with stable codes.

Services raise these; the GraphQL layer turns them into `userErrors`
(code + input field path) and the transaction that raised them is rolled back,
so a refused request writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum


class ErrorCode(str, Enum):
    INVALID_INPUT = "INVALID_INPUT"
    NOT_FOUND = "NOT_FOUND"
    OUT_OF_STOCK = "OUT_OF_STOCK"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    IDEMPOTENCY_CONFLICT = "IDEMPOTENCY_CONFLICT"
    PAYMENT_DECLINED = "PAYMENT_DECLINED"
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED"


class DomainError(Exception):
    """A business rule refused the request. `field` is the input path, e.g. ("lines", "0", "sku")."""

    def __init__(self, code: ErrorCode, message: str, field: Sequence[str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = list(field) if field is not None else None


class ValidationErrors(DomainError):
    """Several input problems found at once, reported together."""

    def __init__(self, errors: Sequence[DomainError]) -> None:
        super().__init__(errors[0].code, errors[0].message, errors[0].field)
        self.errors = list(errors)


def collect(errors: list[DomainError]) -> None:
    """Raise all the collected validation errors at once, if any."""
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ValidationErrors(errors)


class AccessDenied(Exception):
    """Missing or invalid credentials, or a scope the key lacks."""
