"""Holds and risk (issue 18): an order's open holds, its risk assessment, and assessOrderRisk's input."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

import models.holds
from app.orders.enums import RiskLevel, RiskSource
from graphql_schema.enums import PaymentMethod
from resolvers.ids import to_global_id

ENUM_DESCRIPTIONS: dict[type[Enum], tuple[str | None, dict[str, str]]] = {
    RiskLevel: (
        "How risky an order looks: the highest level among the risk rules it matched at placement (LOW when none did), or an external "
        "provider's verdict (assessOrderRisk). HIGH puts the order ON_HOLD with a RISK_REVIEW hold before anything is captured.",
        {
            "LOW": "No rule matched (or the provider saw no risk).",
            "MEDIUM": "A MEDIUM rule matched (e.g. billing and shipping countries differ, a first order above a value); not held.",
            "HIGH": "A HIGH rule matched (e.g. the total is over OMS_RISK_HIGH_AMOUNT, many orders from one email within the hour): "
                    "held for RISK_REVIEW.",
        },
    ),
    RiskSource: (
        "Who assessed an order's risk.",
        {
            "RULES": "The installation's risk rules (kept as data, table risk_rules), at placement.",
            "PROVIDER": "An external fraud provider, through assessOrderRisk; replaces the rules' assessment.",
        },
    ),
    # holds, issue 18: the value added to the domain's PaymentMethod (docs: fold into DOMAIN_ENUMS["PaymentMethod"])
    PaymentMethod: (
        None,
        {
            "PAY_BY_LINK": "The customer pays through a payment link: the order stays PENDING (like BANK_TRANSFER) until recordPayment "
                           "covers its total, and is cancelled (reason UNPAID) after its deadline in OMS_UNPAID_EXPIRY_HOURS.",
        },
    ),
}


def _describe(enum: type[Enum], description: str | None, values: dict[str, str]) -> None:
    definition = getattr(enum, "__strawberry_definition__", None)
    if definition is None:
        strawberry.enum(enum, description=description)
        definition = enum.__strawberry_definition__  # type: ignore[attr-defined]
    for value in definition.values:
        if value.name in values and not value.description:
            value.description = values[value.name]


for _enum, (_description, _values) in ENUM_DESCRIPTIONS.items():
    _describe(_enum, _description, _values)


@strawberry.type(description="One reason an order is ON_HOLD. The order resumes only when every open hold is released.")
class OrderHold:
    reason: str = strawberry.field(description="Why it is held: STAFF (holdOrder's default), RISK_REVIEW (risk assessment) or the reason "
                                               "given to holdOrder; one open hold per reason.")
    note: str | None = strawberry.field(description="What the hold says beyond its reason (for RISK_REVIEW: the risk facts that caused it).")

    @strawberry.field(description="Pass it as releaseOrder's holdId to release this hold rather than the oldest one.")
    def id(root: models.holds.OrderHold) -> strawberry.ID:
        return strawberry.ID(to_global_id("OrderHold", root.id))

    @strawberry.field(description="When the hold was added.")
    def held_at(root: models.holds.OrderHold) -> datetime:
        return root.created_at

    @strawberry.field(description="Who added it: the API key's actor (or the one that placed the order, for a RISK_REVIEW hold at placement).")
    def held_by(root: models.holds.OrderHold) -> str | None:
        return root.created_by


@strawberry.type(description="One thing a risk assessment found.")
class RiskFact:
    rule: str = strawberry.field(description="The rule that matched (AMOUNT_OVER, COUNTRY_MISMATCH, EMAIL_VELOCITY, FIRST_ORDER_OVER) or "
                                             "the provider's own code.")
    level: RiskLevel = strawberry.field(description="The level this fact carries; the assessment's level is the highest.")
    detail: str = strawberry.field(description="What was found, in words (amounts in the order's currency).")


@strawberry.type(description="An order's risk assessment: computed at placement by the risk rules, or an external provider's verdict.")
class OrderRisk:
    level: RiskLevel = strawberry.field(description="The highest level among the facts; LOW when none.")
    facts: list[RiskFact] = strawberry.field(description="The rules (or provider codes) that matched, in rule order.")
    source: RiskSource = strawberry.field(description="RULES at placement, PROVIDER after assessOrderRisk.")
    assessed_at: datetime | None = strawberry.field(description="When this assessment was made.")


@strawberry.input(description="One fact of a provider's verdict.")
class RiskFactInput:
    rule: str = strawberry.field(description="The provider's code for what it found; 1 to 200 characters.")
    detail: str = strawberry.field(description="What it found, in words; 1 to 200 characters.")
    level: RiskLevel | None = strawberry.field(default=None, description="This fact's level; default: the verdict's level.")


@strawberry.input(description="An external fraud provider's verdict on an order.")
class AssessOrderRiskInput:
    order_id: strawberry.ID = strawberry.field(description="The order assessed.")
    level: RiskLevel = strawberry.field(description="The verdict. HIGH holds the order for RISK_REVIEW (unless such a hold is open); "
                                                    "a lower level releases nothing: staff releases with releaseOrder.")
    provider: str = strawberry.field(description="The provider's name, kept with each fact; 1 to 200 characters.")
    facts: list[RiskFactInput] | None = strawberry.field(default=None, description="What it found; at most 20.")
