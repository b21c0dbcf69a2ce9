"""Shipments, pick lists, carriers and public tracking. (Filled in by the fulfilment issue.)"""

from __future__ import annotations

from typing import Any

from strawberry.types import Info

from models import Order


def is_shipment(obj: Any) -> bool:
    return False


def is_pick_list(obj: Any) -> bool:
    return False


async def order_shipments(root: Order, info: Info) -> list[Any]:
    return []


async def shipment_order(root: Any, info: Info) -> Any:
    return await info.context.loaders.order.load(root.order_id)


async def shipment_warehouse(root: Any, info: Info) -> Any:
    return await info.context.loaders.warehouse.load(root.warehouse_id)


async def shipment_events(root: Any, info: Info) -> list[Any]:
    return []


async def pick_list_warehouse(root: Any, info: Info) -> Any:
    return await info.context.loaders.warehouse.load(root.warehouse_id)


async def pick_list_lines(root: Any, info: Info) -> list[Any]:
    return []


def pick_list_csv_url(root: Any) -> str:
    return f"/documents/pick-lists/{root.id}.csv"


async def carriers(info: Info) -> list[Any]:
    return []


async def shipments(info: Info, first: int | None = None, after: str | None = None, order_id: str | None = None) -> Any:
    raise NotImplementedError("shipments arrive with the fulfilment issue")


async def track_order(info: Info, number: str, email: str) -> Any:
    return None


async def create_pick_list(info: Info, input: Any) -> Any:
    raise NotImplementedError


async def create_shipment(info: Info, input: Any) -> Any:
    raise NotImplementedError


async def record_tracking_event(info: Info, input: Any) -> Any:
    raise NotImplementedError


async def load_shipment(info: Info, key: Any) -> Any:
    return None


async def load_pick_list(info: Info, key: Any) -> Any:
    return None
