"""The built-in offline test provider (runtime contract).

A card `token` decides its fate: `test_approve` authorises and captures normally,
`test_decline` is declined, `test_fail` fails as an outage would; any other token is declined.
`test_slow` authorises like `test_approve` after SLOW_SECONDS (an asyncio.sleep standing for the
round trip to a remote provider; issue 16 proves that no stock lock is held meanwhile).

It behaves like a real remote provider in the ways that matter for tests: it keeps its own
ledger outside our database transactions (a rollback on our side does not undo a charge here),
it enforces idempotency keys, and it refuses to capture more than authorised or refund more
than captured.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from decimal import Decimal

from app.billing.providers import ProviderOutcome, ProviderResult
from app.infra.settings import Settings

APPROVE, DECLINE, FAIL, SLOW = "test_approve", "test_decline", "test_fail", "test_slow"
SLOW_SECONDS = 0.3


@dataclass(slots=True)
class Authorization:
    reference: str
    amount: Decimal
    currency: str
    captured: Decimal = Decimal("0.00")
    refunded: Decimal = Decimal("0.00")
    voided: bool = False


@dataclass(slots=True)
class OfflineProvider:
    name: str = "test"
    authorizations: dict[str, Authorization] = field(default_factory=dict)
    # idempotency key -> (request fingerprint, result): a repeated key replays the result
    replies: dict[str, tuple[str, ProviderResult]] = field(default_factory=dict)
    # every operation actually performed (not replayed): (kind, reference, amount)
    operations: list[tuple[str, str, Decimal]] = field(default_factory=list)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Test switch: True declines every authorize_additional (an edit raising the total of a card that now refuses).
    decline_additional: bool = False

    def reset(self) -> None:
        self.decline_additional = False
        self.authorizations.clear()
        self.replies.clear()
        self.operations.clear()

    def captured_total(self, reference: str) -> Decimal:
        return self.authorizations[reference].captured

    async def _once(self, key: str, request: str, act) -> ProviderResult:  # type: ignore[no-untyped-def]
        async with self.lock:
            fingerprint = hashlib.sha256(request.encode()).hexdigest()
            if key in self.replies:
                seen, result = self.replies[key]
                if seen != fingerprint:
                    return ProviderResult(ProviderOutcome.DECLINED, None, "idempotency key reused with different parameters")
                return result
            result = act()
            if result.outcome != ProviderOutcome.FAILED:  # an outage stores nothing: the retry really retries
                self.replies[key] = (fingerprint, result)
            return result

    async def authorize(self, *, amount: Decimal, currency: str, token: str, idempotency_key: str) -> ProviderResult:
        if token == SLOW:
            await asyncio.sleep(SLOW_SECONDS)  # the remote call (outside the provider's own lock: calls overlap)

        def act() -> ProviderResult:
            if token == FAIL:
                return ProviderResult(ProviderOutcome.FAILED, None, "The test provider is unavailable (test_fail).")
            if token not in (APPROVE, SLOW):
                return ProviderResult(ProviderOutcome.DECLINED, None, "The card was declined.")
            reference = "tp_auth_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:20]
            self.authorizations[reference] = Authorization(reference, amount, currency)
            self.operations.append(("authorize", reference, amount))
            return ProviderResult(ProviderOutcome.APPROVED, reference)

        return await self._once(idempotency_key, f"authorize|{amount}|{currency}|{token}", act)

    async def authorization_for(self, *, idempotency_key: str) -> ProviderResult | None:
        """What an earlier authorize with this key answered, if it reached the provider (recovery)."""
        async with self.lock:
            reply = self.replies.get(idempotency_key)
            return reply[1] if reply is not None else None

    async def capture(self, *, authorization: str, amount: Decimal, currency: str, idempotency_key: str) -> ProviderResult:
        def act() -> ProviderResult:
            auth = self.authorizations.get(authorization)
            if auth is None or auth.voided:
                return ProviderResult(ProviderOutcome.DECLINED, None, "No open authorisation.")
            if auth.captured + amount > auth.amount:
                return ProviderResult(ProviderOutcome.DECLINED, None, "Capture exceeds the authorised amount.")
            auth.captured += amount
            self.operations.append(("capture", authorization, amount))
            return ProviderResult(ProviderOutcome.APPROVED, f"tp_cap_{len(self.operations)}")

        return await self._once(idempotency_key, f"capture|{authorization}|{amount}|{currency}", act)

    async def void(self, *, authorization: str, idempotency_key: str) -> ProviderResult:
        def act() -> ProviderResult:
            auth = self.authorizations.get(authorization)
            if auth is None:
                return ProviderResult(ProviderOutcome.DECLINED, None, "No such authorisation.")
            auth.voided = True
            self.operations.append(("void", authorization, auth.amount - auth.captured))
            return ProviderResult(ProviderOutcome.APPROVED, f"tp_void_{len(self.operations)}")

        return await self._once(idempotency_key, f"void|{authorization}", act)

    async def refund(self, *, authorization: str, amount: Decimal, currency: str, idempotency_key: str) -> ProviderResult:
        def act() -> ProviderResult:
            auth = self.authorizations.get(authorization)
            if auth is None or auth.refunded + amount > auth.captured:
                return ProviderResult(ProviderOutcome.DECLINED, None, "Refund exceeds the captured amount.")
            auth.refunded += amount
            self.operations.append(("refund", authorization, amount))
            return ProviderResult(ProviderOutcome.APPROVED, f"tp_ref_{len(self.operations)}")

        return await self._once(idempotency_key, f"refund|{authorization}|{amount}|{currency}", act)

    async def authorize_additional(self, *, authorization: str, amount: Decimal, currency: str, idempotency_key: str) -> ProviderResult:
        def act() -> ProviderResult:
            auth = self.authorizations.get(authorization)
            if auth is None or auth.voided:
                return ProviderResult(ProviderOutcome.DECLINED, None, "No open authorisation to extend.")
            if self.decline_additional:
                return ProviderResult(ProviderOutcome.DECLINED, None, "The card was declined (decline_additional).")
            if auth.captured < auth.amount:  # still open: raised in place
                auth.amount += amount
                self.operations.append(("authorize_additional", authorization, amount))
                return ProviderResult(ProviderOutcome.APPROVED, authorization)
            reference = "tp_auth_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:20]
            self.authorizations[reference] = Authorization(reference, amount, currency)
            self.operations.append(("authorize_additional", reference, amount))
            return ProviderResult(ProviderOutcome.APPROVED, reference)

        return await self._once(idempotency_key, f"authorize_additional|{authorization}|{amount}|{currency}", act)


def create(settings: Settings) -> OfflineProvider:
    return OfflineProvider()
