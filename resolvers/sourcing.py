"""Sourcing rules (issue 19): setSourcingRules, sourcingRules, and reallocateOrder."""

from __future__ import annotations

from typing import Any, Protocol

import strawberry

from app.flows import reallocation
from app.infra.database import UnitOfWork
from app.orders import sourcing
from models import Order
from models.sourcing import SourcingRule
from resolvers.errors import run_mutation
from resolvers.ids import decode_id
from resolvers.types import Info, MutationPayload

READ, WRITE, ORDERS_WRITE = "stock:read", "stock:write", "orders:write"


class SetSourcingRulesArgs(Protocol):
    rules: list[Any]


class ReallocateOrderArgs(Protocol):
    order_id: strawberry.ID
    moves: list[Any] | None
    warehouse_code: str | None


def _value(x: Any) -> Any:
    return getattr(x, "value", x)


def _spec(rule: Any) -> sourcing.RuleSpec:
    return sourcing.RuleSpec(
        strategy=_value(rule.strategy), name=rule.name, channel=_value(rule.channel), countries=list(rule.countries or ()),
        zones=list(rule.zones or ()), delivery_type=_value(rule.delivery_type), fallback_strategy=_value(rule.fallback_strategy),
        ranking=list(rule.ranking or ()), exclude=list(rule.exclude or ()),
    )


async def set_sourcing_rules(info: Info, input: SetSourcingRulesArgs) -> MutationPayload:
    specs = [_spec(rule) for rule in input.rules]

    async def work(uow: UnitOfWork) -> list[SourcingRule]:
        return await sourcing.set_rules(uow=uow, rules=specs)

    return await run_mutation(info, scope=WRITE, action=work, payload=lambda rules: {"rules": rules})


async def sourcing_rules(info: Info) -> list[SourcingRule]:
    await info.context.require(READ)
    async with info.context.db.read() as session:
        return await sourcing.list_rules(session)


async def reallocate_order(info: Info, input: ReallocateOrderArgs) -> MutationPayload:
    moves = None if input.moves is None else [
        reallocation.Move(m.sku.strip(), m.from_warehouse_code.strip(), m.to_warehouse_code.strip(), m.quantity) for m in input.moves
    ]

    async def work(uow: UnitOfWork) -> Order:
        order_id = decode_id(input.order_id, "Order", ["input", "orderId"])
        return await reallocation.reallocate_order(uow=uow, order_id=order_id, moves=moves,
                                                   warehouse_code=input.warehouse_code.strip() if input.warehouse_code is not None else None)

    return await run_mutation(info, scope=ORDERS_WRITE, action=work, payload=lambda order: {"order": order})
