"""advanceProduction and OrderLine.productionStage (issue 19: made-to-order production stages)."""

from __future__ import annotations

from typing import Protocol

import strawberry

from app.flows import production as flow
from app.infra.database import UnitOfWork
from app.orders import production
from app.orders.enums import ProductionStage
from models import Order, OrderLine
from resolvers.errors import run_mutation
from resolvers.ids import decode_id
from resolvers.types import Info, MutationPayload


class AdvanceProductionArgs(Protocol):
    order_line_id: strawberry.ID
    stage: ProductionStage


def production_stage(line: OrderLine) -> ProductionStage | None:
    """None for a stock line; QUEUED for a made-to-order line without a stored stage."""
    return production.stage_of(line)


async def advance_production(info: Info, input: AdvanceProductionArgs) -> MutationPayload:
    async def work(uow: UnitOfWork) -> tuple[Order, OrderLine]:
        line_id = decode_id(input.order_line_id, "OrderLine", ["input", "orderLineId"])
        return await flow.advance_production(uow=uow, order_line_id=line_id, stage=ProductionStage(input.stage))

    def payload(result: tuple[Order, OrderLine] | None) -> dict[str, object]:
        order, line = result if result is not None else (None, None)
        return {"order": order, "order_line": line}

    return await run_mutation(info, scope="orders:write", action=work, payload=payload)
