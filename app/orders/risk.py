"""Risk assessment (issue 18): rules kept as data (table risk_rules), evaluated at placement.

- `assess(facts, rules, high_amount=)` is pure: the level is the highest of the rules the order matched (LOW when
  none did); the facts are the matched rules, each {rule, level, detail}.
- `read_rules` reads the active rules together with what they need to know about the customer's earlier orders,
  in ONE statement without locks, before the order is written (so it does not count itself), from the placement's
  email, amount and countries.
- The assessment is written with the order (its risk_* columns) in the transaction that writes it, on both
  placement paths (app/flows/placement.py); HIGH puts the order ON_HOLD with a RISK_REVIEW hold before anything
  is captured. Nothing confirms or captures a held order (orders.service.refuse_if_held).
- `record_provider_verdict` (assessOrderRisk): an external provider's level and facts replace the rules'; HIGH
  adds a RISK_REVIEW hold when none is open; a lower level releases nothing (staff does).

Rule kinds and their params (`RiskRuleKind`):
- AMOUNT_OVER {"amount"?}: the order total is over the amount (default: OMS_RISK_HIGH_AMOUNT), in the order's currency;
- COUNTRY_MISMATCH {}: a billing address was given and its country differs from the shipping country;
- EMAIL_VELOCITY {"count", "minutes"}: the email already placed at least `count` orders in the last `minutes`;
- FIRST_ORDER_OVER {"amount"}: the email has no earlier order and the total is over the amount.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import text

from app.errors import DomainError, ErrorCode
from app.infra.database import UnitOfWork
from app.orders.enums import RiskLevel, RiskRuleKind, RiskSource

log = logging.getLogger(__name__)

RANK = {RiskLevel.LOW: 0, RiskLevel.MEDIUM: 1, RiskLevel.HIGH: 2}
DEFAULT_MINUTES = 60
MAX_FACTS = 20
MAX_TEXT = 200

# What migration 0011 seeds (position, kind, params, level); tests/test_risk.py compares the two.
DEFAULT_RULES: list[tuple[int, str, dict[str, Any], str]] = [
    (1, "AMOUNT_OVER", {}, "HIGH"),
    (2, "COUNTRY_MISMATCH", {}, "MEDIUM"),
    (3, "EMAIL_VELOCITY", {"count": 5, "minutes": 60}, "HIGH"),
    (4, "FIRST_ORDER_OVER", {"amount": "1000"}, "MEDIUM"),
]


@dataclass(frozen=True, slots=True)
class Rule:
    kind: RiskRuleKind
    level: RiskLevel
    params: dict[str, Any] = field(default_factory=dict)
    position: int = 0
    # what the statement found for this rule: earlier orders of the email in its window (EMAIL_VELOCITY),
    # whether the email has any earlier order (FIRST_ORDER_OVER)
    recent_orders: int | None = None
    earlier_order: bool | None = None


@dataclass(frozen=True, slots=True)
class RiskFacts:
    amount: Decimal
    currency: str
    shipping_country: str
    billing_country: str | None


@dataclass(frozen=True, slots=True)
class Assessment:
    level: RiskLevel
    facts: list[dict[str, Any]]
    source: RiskSource = RiskSource.RULES

    @property
    def high(self) -> bool:
        return self.level == RiskLevel.HIGH


def _amount(params: dict[str, Any], default: Decimal | None) -> Decimal | None:
    raw = params.get("amount")
    if raw is None:
        return default
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _int(params: dict[str, Any], name: str, default: int) -> int:
    raw = params.get(name, default)
    return raw if isinstance(raw, int) and not isinstance(raw, bool) and raw > 0 else default


def _match(rule: Rule, facts: RiskFacts, high_amount: Decimal) -> str | None:
    """The detail of a matched rule, None when it does not match (or is malformed: then it never matches)."""
    if rule.kind == RiskRuleKind.AMOUNT_OVER:
        limit = _amount(rule.params, high_amount)
        if limit is not None and facts.amount > limit:
            return f"total {facts.amount} {facts.currency} is over {limit} {facts.currency}"
    elif rule.kind == RiskRuleKind.COUNTRY_MISMATCH:
        if facts.billing_country and facts.billing_country.upper() != facts.shipping_country.upper():
            return f"billing country {facts.billing_country} differs from shipping country {facts.shipping_country}"
    elif rule.kind == RiskRuleKind.EMAIL_VELOCITY:
        count, minutes = _int(rule.params, "count", 5), _int(rule.params, "minutes", DEFAULT_MINUTES)
        if rule.recent_orders is not None and rule.recent_orders >= count:
            return f"{rule.recent_orders} earlier orders from this email in the last {minutes} minutes (limit {count})"
    elif rule.kind == RiskRuleKind.FIRST_ORDER_OVER:
        limit = _amount(rule.params, None)
        if rule.earlier_order is False and limit is not None and facts.amount > limit:
            return f"first order from this email, total {facts.amount} {facts.currency} is over {limit} {facts.currency}"
    return None


def assess(facts: RiskFacts, rules: list[Rule], *, high_amount: Decimal) -> Assessment:
    """The level of the highest rule matched (LOW if none), and one fact per matched rule, in rule order."""
    matched: list[dict[str, Any]] = []
    level = RiskLevel.LOW
    for rule in sorted(rules, key=lambda r: r.position):
        detail = _match(rule, facts, high_amount)
        if detail is None:
            continue
        matched.append({"rule": rule.kind.value, "level": rule.level.value, "detail": detail})
        if RANK[rule.level] > RANK[level]:
            level = rule.level
    return Assessment(level, matched)


# One statement, nothing locked: the active rules, each with what it needs to know of the email's earlier orders
# (the window of an EMAIL_VELOCITY rule comes from its own params; a malformed one falls back to 60 minutes).
_RULES = text("""
SELECT r.position, r.kind, r.params, r.level,
       CASE WHEN r.kind = 'EMAIL_VELOCITY' THEN (
           SELECT count(*) FROM orders o WHERE o.email = :email AND o.placed_at > now() - make_interval(mins =>
               CASE WHEN jsonb_typeof(r.params -> 'minutes') = 'number' AND (r.params ->> 'minutes') ~ '^[0-9]{1,6}$'
                    THEN (r.params ->> 'minutes')::int ELSE 60 END)
       ) END AS recent_orders,
       CASE WHEN r.kind = 'FIRST_ORDER_OVER' THEN EXISTS (SELECT 1 FROM orders o WHERE o.email = :email) END AS earlier_order
FROM risk_rules r WHERE r.active ORDER BY r.position, r.id
""")


def rule_of(kind: Any, level: Any, params: Any, position: Any, recent_orders: Any, earlier_order: Any) -> Rule | None:
    """One active rule as read (by `_RULES` or with the catalogue, RULES_JSON_SQL); None (logged) when malformed."""
    try:
        return Rule(RiskRuleKind(kind), RiskLevel(level), dict(params or {}), position,
                    None if recent_orders is None else int(recent_orders), earlier_order)
    except (ValueError, TypeError):
        log.warning("risk rule at position %s is malformed (kind %r, level %r): skipped", position, kind, level)
        return None


async def read_rules(uow: UnitOfWork, *, email: str) -> list[Rule]:
    """The active rules with their facts about `email`'s earlier orders (call it before the order is written)."""
    rules = []
    for row in (await uow.session.execute(_RULES, {"email": email})).all():
        rule = rule_of(row.kind, row.level, row.params, row.position, row.recent_orders, row.earlier_order)
        if rule is not None:
            rules.append(rule)
    return rules


# The same rules and facts as `_RULES`, as one JSON text, for a column of the placement's catalogue read (writes7,
# session 7: no statement of its own); '[]' without active rules. Bind parameter: the email.
RULES_JSON_SQL = """SELECT coalesce(json_agg(json_build_object(
    'position', r.position, 'kind', r.kind, 'params', r.params, 'level', r.level,
    'recent_orders', CASE WHEN r.kind = 'EMAIL_VELOCITY' THEN (
           SELECT count(*) FROM orders o WHERE o.email = :email AND o.placed_at > now() - make_interval(mins =>
               CASE WHEN jsonb_typeof(r.params -> 'minutes') = 'number' AND (r.params ->> 'minutes') ~ '^[0-9]{1,6}$'
                    THEN (r.params ->> 'minutes')::int ELSE 60 END)
       ) END,
    'earlier_order', CASE WHEN r.kind = 'FIRST_ORDER_OVER' THEN EXISTS (SELECT 1 FROM orders o WHERE o.email = :email) END)
    ORDER BY r.position, r.id), '[]')::text
FROM risk_rules r WHERE r.active"""


def rules_of(raw: str) -> list[Rule]:
    """The rules from RULES_JSON_SQL's text."""
    rules = []
    for r in json.loads(raw):
        rule = rule_of(r["kind"], r["level"], r["params"], r["position"], r["recent_orders"], r["earlier_order"])
        if rule is not None:
            rules.append(rule)
    return rules


async def assess_placement(
    uow: UnitOfWork, *, email: str, amount: Decimal, currency: str, shipping_address: dict[str, Any], billing_address: dict[str, Any] | None,
    high_amount: Decimal, rules: list[Rule] | None = None,
) -> Assessment:
    """`rules`: read in this transaction already (with the catalogue); None: read them now."""
    facts = RiskFacts(amount, currency, str(shipping_address.get("country") or ""),
                      str(billing_address.get("country")) if billing_address and billing_address.get("country") else None)
    return assess(facts, rules if rules is not None else await read_rules(uow, email=email), high_amount=high_amount)


def risk_columns(assessment: Assessment) -> dict[str, Any]:
    """The order's risk_* column values for an assessment."""
    return {"risk_level": assessment.level, "risk_facts": assessment.facts, "risk_source": assessment.source,
            "risk_assessed_at": datetime.now(UTC)}


def check_provider_verdict(level: RiskLevel | str, facts: list[dict[str, Any]], provider: str) -> Assessment:
    """An external provider's verdict (assessOrderRisk), checked: the level, at most 20 facts of a rule code and a
    detail (1 to 200 characters each), the provider's name (1 to 200)."""
    try:
        verdict = RiskLevel(getattr(level, "value", level))
    except ValueError:
        raise DomainError(ErrorCode.INVALID_INPUT, "Unknown risk level.", ("level",)) from None
    name = (provider or "").strip()
    if not name or len(name) > MAX_TEXT:
        raise DomainError(ErrorCode.INVALID_INPUT, f"The provider's name must be 1 to {MAX_TEXT} characters.", ("provider",))
    if len(facts) > MAX_FACTS:
        raise DomainError(ErrorCode.LIMIT_EXCEEDED, f"At most {MAX_FACTS} facts.", ("facts",))
    checked = []
    for i, fact in enumerate(facts):
        for key in ("rule", "detail"):
            value = (fact.get(key) or "").strip()
            if not value or len(value) > MAX_TEXT:
                raise DomainError(ErrorCode.INVALID_INPUT, f"A fact's {key} must be 1 to {MAX_TEXT} characters.", ("facts", i, key))
        fact_level = fact.get("level") or verdict
        try:
            fact_level = RiskLevel(getattr(fact_level, "value", fact_level))
        except ValueError:
            raise DomainError(ErrorCode.INVALID_INPUT, "Unknown risk level.", ("facts", i, "level")) from None
        checked.append({"rule": fact["rule"].strip(), "level": fact_level.value, "detail": fact["detail"].strip(), "provider": name})
    return Assessment(verdict, checked, RiskSource.PROVIDER)
