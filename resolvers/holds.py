"""Holds and risk (issue 18): holdOrder / releaseOrder with several holds, assessOrderRisk, Order.holds, Order.risk."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Protocol

import strawberry
from strawberry.dataloader import DataLoader

from app.flows import holds as hold_flow
from app.infra.database import UnitOfWork
from app.orders import holds
from app.orders.enums import RiskLevel, RiskSource
from models import Order
from models.holds import OrderHold
from resolvers.errors import run_mutation
from resolvers.ids import decode_id
from resolvers.types import Info, MutationPayload

ORDERS_WRITE = "orders:write"


class HoldArgs(Protocol):
    order_id: strawberry.ID
    reason: str | None
    hold_id: strawberry.ID | None


class RiskFactArgs(Protocol):
    rule: str
    detail: str

    @property
    def level(self) -> Enum | None: ...


class AssessOrderRiskArgs(Protocol):
    order_id: strawberry.ID
    provider: str

    @property
    def level(self) -> Enum: ...
    @property
    def facts(self) -> Sequence[RiskFactArgs] | None: ...


@dataclass(frozen=True, slots=True)
class RiskFact:
    rule: str
    level: RiskLevel
    detail: str


@dataclass(frozen=True, slots=True)
class OrderRisk:
    level: RiskLevel
    facts: list[RiskFact]
    source: RiskSource
    assessed_at: datetime | None


def _payload(order: Order | None) -> dict[str, object]:
    return {"order": order}


async def hold_order(info: Info, input: HoldArgs) -> MutationPayload:
    async def work(uow: UnitOfWork) -> Order:
        order_id = decode_id(input.order_id, "Order", ["input", "orderId"])
        return await holds.hold_order(uow=uow, order_id=order_id, reason=input.reason)

    return await run_mutation(info, scope=ORDERS_WRITE, action=work, payload=_payload)


async def release_order(info: Info, input: HoldArgs) -> MutationPayload:
    async def work(uow: UnitOfWork) -> Order:
        order_id = decode_id(input.order_id, "Order", ["input", "orderId"])
        hold_id = decode_id(input.hold_id, "OrderHold", ["input", "holdId"]) if input.hold_id is not None else None
        return await hold_flow.release_order(uow=uow, order_id=order_id, hold_id=hold_id, reason=input.reason)

    return await run_mutation(info, scope=ORDERS_WRITE, action=work, payload=_payload)


async def assess_order_risk(info: Info, input: AssessOrderRiskArgs) -> MutationPayload:
    async def work(uow: UnitOfWork) -> Order:
        order_id = decode_id(input.order_id, "Order", ["input", "orderId"])
        facts: list[dict[str, Any]] = [{"rule": f.rule, "detail": f.detail, "level": f.level.value if f.level is not None else None}
                                       for f in input.facts or []]
        return await holds.assess_order_risk(uow=uow, order_id=order_id, level=input.level.value, facts=facts, provider=input.provider)

    return await run_mutation(info, scope=ORDERS_WRITE, action=work, payload=_payload)


def _holds_by_order(info: Info) -> DataLoader[uuid.UUID, list[OrderHold]]:
    return info.context.loaders.extra("holds_by_order", lambda loaders: loaders.grouped(OrderHold, OrderHold.order_id, OrderHold.created_at))


async def order_holds(root: Order, info: Info) -> list[OrderHold]:
    """The order's open holds, oldest first (what releaseOrder without holdId releases first)."""
    return [h for h in await _holds_by_order(info).load(root.id) if h.released_at is None]


def order_risk(root: Order) -> OrderRisk | None:
    if root.risk_level is None:
        return None
    facts = [RiskFact(str(f.get("rule", "")), RiskLevel(f.get("level", root.risk_level)), str(f.get("detail", ""))) for f in root.risk_facts or []]
    return OrderRisk(RiskLevel(root.risk_level), facts, RiskSource(root.risk_source or RiskSource.RULES), root.risk_assessed_at)
