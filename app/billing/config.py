"""The billing settings in force in this process: set by the app's lifespan, read by the billing services."""

from __future__ import annotations

from app.infra.settings import Settings

CAPTURE_MOMENTS = frozenset({"confirmation", "shipment"})
INVOICE_MOMENTS = frozenset({"confirmation", "shipment", "manual"})

_current: Settings | None = None


def configure(settings: Settings) -> None:
    if settings.capture_moment not in CAPTURE_MOMENTS:
        raise ValueError(f"OMS_CAPTURE_MOMENT must be one of {sorted(CAPTURE_MOMENTS)}")
    if settings.invoice_moment not in INVOICE_MOMENTS:
        raise ValueError(f"OMS_INVOICE_MOMENT must be one of {sorted(INVOICE_MOMENTS)}")
    global _current
    _current = settings


def settings() -> Settings:
    """Services run outside the app too (CLI, demo seed, tests): fall back to the environment."""
    global _current
    if _current is None:
        configure(Settings.from_env())
    assert _current is not None
    return _current

