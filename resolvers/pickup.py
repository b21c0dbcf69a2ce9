"""Click-and-collect (issue 19): markReadyForPickup, collectOrder, the delivery method of placeOrder, and the
pickup fields of Order and of the public tracking view."""

from __future__ import annotations

from typing import Any, Protocol

import strawberry

from app.catalog.service import OpeningHours
from app.errors import DomainError
from app.flows import pickup as flow
from app.infra.database import UnitOfWork
from app.orders.enums import DeliveryType, OrderStatus
from app.orders.service import DeliveryMethod
from models import Order, Warehouse
from resolvers.errors import MutationOutcome, run_mutation, user_errors
from resolvers.ids import decode_id
from resolvers.types import Info, MutationPayload

SCOPE = "shipments:write"


class OrderIdArgs(Protocol):
    order_id: strawberry.ID


class CollectOrderArgs(Protocol):
    order_id: strawberry.ID
    pickup_code: str


def delivery_method(input: Any) -> DeliveryMethod | None:
    """PlaceOrderInput.deliveryMethod as the request's (None when absent: the fingerprint stays as before)."""
    given = getattr(input, "delivery_method", None)
    if given is None:
        return None
    return DeliveryMethod(type=DeliveryType(getattr(given.type, "value", given.type)), warehouse_code=given.warehouse_code)


def pickup_point_args(input: Any) -> dict[str, Any]:
    """WarehouseInput's pickup-point fields as upsert_warehouse's keyword arguments (absent: None, unchanged)."""
    hours = getattr(input, "opening_hours", None)
    return {
        "pickup_point": getattr(input, "pickup_point", None),
        "opening_hours": None if hours is None else [OpeningHours(getattr(h.day, "value", h.day), h.opens, h.closes) for h in hours],
        "timezone": getattr(input, "timezone", None),
    }


async def mark_ready_for_pickup(info: Info, input: OrderIdArgs) -> MutationPayload:
    async def work(uow: UnitOfWork) -> Order:
        return await flow.mark_ready_for_pickup(uow=uow, order_id=decode_id(input.order_id, "Order", ["input", "orderId"]))

    return await run_mutation(info, scope=SCOPE, action=work, payload=lambda order: {"order": order})


async def collect_order(info: Info, input: CollectOrderArgs) -> MutationPayload:
    """A wrong code is refused AFTER its unit of work commits (the attempt counted): the flow returns that refusal."""
    refused: list[DomainError] = []

    async def work(uow: UnitOfWork) -> Order | None:
        refused.clear()  # a retried unit of work starts over
        order_id = decode_id(input.order_id, "Order", ["input", "orderId"])
        result = await flow.collect_order(uow=uow, order_id=order_id, pickup_code=input.pickup_code)
        if isinstance(result, DomainError):
            refused.append(result)
            return None
        return result

    outcome = await run_mutation(info, scope=SCOPE, action=work, payload=lambda order: {"order": order})
    if refused:
        return MutationOutcome({"order": None}, user_errors(refused[-1]), None)
    return outcome


async def order_pickup_point(root: Order, info: Info) -> Warehouse | None:
    if root.pickup_warehouse_id is None:
        return None
    return await info.context.loaders.warehouse.load(root.pickup_warehouse_id)


def tracking_pickup_code(order: Order) -> str | None:
    """The code the customer shows at the counter: only while the order waits there."""
    return order.pickup_code if order.status == OrderStatus.READY_FOR_PICKUP else None
