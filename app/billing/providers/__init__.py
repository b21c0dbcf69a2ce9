"""Payment providers: a small protocol, one module per implementation, chosen by configuration.

`OMS_PAYMENT_PROVIDER=test` loads `app.billing.providers.test`; a real provider is another
module here exposing `create(settings) -> PaymentProvider`.

Every call carries an idempotency key: the provider must answer a repeated key with the
first call's result instead of acting again. That is what makes retries and crashes between
a charge and our commit safe.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from app.infra.settings import Settings


class ProviderOutcome(StrEnum):
    APPROVED = "APPROVED"
    DECLINED = "DECLINED"  # the provider said no (card refused, amount over the authorisation, ...)
    FAILED = "FAILED"  # the provider could not answer (outage); nothing is known to have happened


@dataclass(frozen=True, slots=True)
class ProviderResult:
    outcome: ProviderOutcome
    reference: str | None = None
    message: str = ""

    @property
    def approved(self) -> bool:
        return self.outcome == ProviderOutcome.APPROVED


class PaymentProvider(Protocol):
    name: str

    async def authorize(self, *, amount: Decimal, currency: str, token: str, idempotency_key: str) -> ProviderResult: ...

    async def authorization_for(self, *, idempotency_key: str) -> ProviderResult | None:
        """The answer an earlier `authorize` with this key got, or None if none reached the provider. Lets a
        placement interrupted between authorising and recording it void what was authorised (issue 16)."""
        ...

    async def capture(self, *, authorization: str, amount: Decimal, currency: str, idempotency_key: str) -> ProviderResult: ...

    async def void(self, *, authorization: str, idempotency_key: str) -> ProviderResult: ...

    async def refund(self, *, authorization: str, amount: Decimal, currency: str, idempotency_key: str) -> ProviderResult: ...

    async def authorize_additional(self, *, authorization: str, amount: Decimal, currency: str, idempotency_key: str) -> ProviderResult:
        """An order edit (issue 18) raised the total by `amount`, on the card of `authorization` (its token is not
        stored). An authorisation still open (not captured in full) is raised by `amount` and keeps its reference;
        one captured in full gets a second authorisation on the same stored credential, with a new reference (the
        caller records it as a new payment and captures it). DECLINED when the card refuses or the authorisation
        was voided."""
        ...


_instances: dict[str, PaymentProvider] = {}


def get_provider(settings: Settings) -> PaymentProvider:
    """One instance per process and provider name (providers may keep connections or state)."""
    name = settings.payment_provider
    provider = _instances.get(name)
    if provider is None:
        if not name.isidentifier():
            raise ValueError(f"invalid payment provider name {name!r}")
        module = importlib.import_module(f"{__name__}.{name}")
        provider = _instances[name] = module.create(settings)
    return provider
