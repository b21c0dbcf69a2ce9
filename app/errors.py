"""Domain errors with stable codes.

Services raise these; the transaction that raised them is rolled back, so a refused request
writes nothing. A DomainError speaks the domain's language: its `path` names the offending
input by the attribute names and list indexes of the service's own arguments, e.g.
("lines", 1, "sku") or ("shipping_address", "postal_code"). How a caller shows it (the GraphQL
layer's userErrors, a CLI message) is the caller's business (resolvers/errors.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

Path = tuple[str | int, ...]


class ErrorCode(StrEnum):
    INVALID_INPUT = "INVALID_INPUT"
    NOT_FOUND = "NOT_FOUND"
    OUT_OF_STOCK = "OUT_OF_STOCK"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    IDEMPOTENCY_CONFLICT = "IDEMPOTENCY_CONFLICT"
    PAYMENT_DECLINED = "PAYMENT_DECLINED"
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED"
    # A dependency (the database, the payment provider) is unavailable; retrying later is safe.
    UNAVAILABLE = "UNAVAILABLE"


class DomainError(Exception):
    """A business rule refused the request. `path` is the input at fault, e.g. ("lines", 0, "sku")."""

    def __init__(self, code: ErrorCode, message: str, path: Sequence[str | int] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.path: Path | None = tuple(path) if path is not None else None


class ValidationErrors(DomainError):
    """Several input problems found at once, reported together."""

    def __init__(self, errors: Sequence[DomainError]) -> None:
        super().__init__(errors[0].code, errors[0].message, errors[0].path)
        self.errors = list(errors)


def collect(errors: list[DomainError]) -> None:
    """Raise all the collected validation errors at once, if any."""
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ValidationErrors(errors)

