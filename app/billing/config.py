"""The billing settings in force in this process: set by the app's lifespan, read by the billing services."""

from __future__ import annotations

from app.infra.settings import Settings
from app.orders.enums import PaymentMethod

CAPTURE_MOMENTS = frozenset({"confirmation", "shipment"})
INVOICE_MOMENTS = frozenset({"confirmation", "shipment", "manual"})
# The methods that leave an order PENDING until the money is recorded: what OMS_UNPAID_EXPIRY_HOURS may name.
PENDING_METHODS = frozenset({PaymentMethod.BANK_TRANSFER, PaymentMethod.PAY_BY_LINK, PaymentMethod.OTHER})
DEFAULT_UNPAID_EXPIRY_HOURS: dict[str, float] = {PaymentMethod.PAY_BY_LINK: 24.0}

_current: Settings | None = None


def configure(settings: Settings) -> None:
    if settings.capture_moment not in CAPTURE_MOMENTS:
        raise ValueError(f"OMS_CAPTURE_MOMENT must be one of {sorted(CAPTURE_MOMENTS)}")
    if settings.invoice_moment not in INVOICE_MOMENTS:
        raise ValueError(f"OMS_INVOICE_MOMENT must be one of {sorted(INVOICE_MOMENTS)}")
    for method, _ in settings.unpaid_expiry_hours:
        if method not in PENDING_METHODS:
            raise ValueError(f"OMS_UNPAID_EXPIRY_HOURS: {method} is not a payment method that leaves an order pending ({sorted(PENDING_METHODS)})")
    global _current
    _current = settings


def settings() -> Settings:
    """Services run outside the app too (CLI, demo seed, tests): fall back to the environment."""
    global _current
    if _current is None:
        configure(Settings.from_env())
    assert _current is not None
    return _current



def unpaid_expiry_hours(method: PaymentMethod | str | None) -> float | None:
    """Hours an unpaid order paid by `method` is kept before it is cancelled UNPAID; None: it never expires
    (OTHER, by default: exchanges are paid that way). OMS_UNPAID_EXPIRY_HOURS wins; BANK_TRANSFER then falls back
    to OMS_BANK_TRANSFER_EXPIRY_HOURS, PAY_BY_LINK to 24 hours."""
    current = settings()
    hours = {**DEFAULT_UNPAID_EXPIRY_HOURS, PaymentMethod.BANK_TRANSFER: float(current.bank_transfer_expiry_hours),
             **dict(current.unpaid_expiry_hours)}
    return hours.get(str(method)) if method is not None else None
