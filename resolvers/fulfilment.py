"""Shipments, pick lists, carriers and tracking: reads, mutations and nested fields."""

from __future__ import annotations

import uuid

from strawberry.dataloader import DataLoader

from app.flows import shipping
from app.fulfilment import carriers as carrier_config
from app.fulfilment import pick_lists, tracking
from app.fulfilment.shipments import ShipLine
from app.fulfilment.tracking import Reported, in_time_order
from app.infra.database import UnitOfWork
from models import Order, Warehouse
from models.fulfilment import Carrier, PickList, PickListLine, Shipment, TrackingEvent
from resolvers import pagination
from resolvers.errors import run_mutation
from resolvers.ids import decode_id, id_of, to_global_id
from resolvers.inputs import CreatePickListArgs, CreateShipmentArgs, TrackingEventArgs
from resolvers.planner.api import Planned, planned
from resolvers.types import Info, MutationPayload

READ = "shipments:read"
WRITE = "shipments:write"


def pick_list_csv_path(pick_list_id: object) -> str:
    """Where server.downloads serves a pick list's CSV."""
    return f"/documents/pick-lists/{to_global_id('PickList', str(pick_list_id))}.csv"


def packing_slip_path(order_id: object) -> str:
    """Where server.downloads serves an order's packing slip."""
    return f"/documents/orders/{to_global_id('Order', str(order_id))}/packing-slip.pdf"


def _shipments_by_order(info: Info) -> DataLoader[uuid.UUID, list[Shipment]]:
    return info.context.loaders.extra("shipments_by_order", lambda loaders: loaders.grouped(Shipment, Shipment.order_id, Shipment.shipped_at))


async def order_shipments(root: Order, info: Info) -> list[Shipment]:
    # Visible wherever the order is (including the public tracking view, which hides `Shipment.order`).
    return await _shipments_by_order(info).load(root.id)


async def shipment_order(root: Shipment, info: Info) -> Order | None:
    # The order carries prices and the full address: never through a shipment without orders:read.
    await info.context.require("orders:read")
    return await info.context.loaders.order.load(root.order_id)


async def shipment_warehouse(root: Shipment, info: Info) -> Warehouse | None:
    return await info.context.loaders.warehouse.load(root.warehouse_id)


async def shipment_transfer_to(root: Shipment, info: Info) -> Warehouse | None:
    """transfers, issue 19: the pickup point a transfer shipment carries units to."""
    return await info.context.loaders.warehouse.load(root.transfer_to_warehouse_id) if root.transfer_to_warehouse_id is not None else None


async def shipment_events(root: Shipment, info: Info) -> list[Reported]:
    loader = info.context.loaders.extra(
        "tracking_by_shipment", lambda loaders: loaders.grouped(TrackingEvent, TrackingEvent.shipment_id, TrackingEvent.occurred_at)
    )
    return in_time_order(await loader.load(root.id))


async def shipment_packing_slip_url(root: Shipment, info: Info) -> str | None:
    # Null for callers who could not download it anyway (e.g. the public tracking view).
    principal = await info.context.principal()
    return packing_slip_path(root.order_id) if principal is not None and principal.has(READ) else None


async def pick_list_warehouse(root: PickList, info: Info) -> Warehouse | None:
    return await info.context.loaders.warehouse.load(root.warehouse_id)


async def pick_list_lines(root: PickList, info: Info) -> list[PickListLine]:
    loader = info.context.loaders.extra("lines_by_pick_list", lambda loaders: loaders.grouped(PickListLine, PickListLine.pick_list_id, PickListLine.position))
    return await loader.load(root.id)


def pick_list_csv_url(root: PickList) -> str:
    return pick_list_csv_path(root.id)


async def carriers(info: Info) -> list[Carrier]:
    await info.context.require(READ)
    async with info.context.db.read() as session:
        return await carrier_config.list_active(session)


async def shipments(
    info: Info, first: int | None = None, after: str | None = None, order_id: str | None = None
) -> pagination.Connection[Shipment] | Planned:
    """Newest first, keyset on (shippedAt, id)."""
    await info.context.require(READ)
    conditions = pagination.order_filter(Shipment.order_id, order_id)
    args = {"first": first, "after": after, "order_id": None if order_id is None else id_of(order_id, "Order")}
    if (json := await planned(info, "Query.shipments", args)) is not None:
        return json
    return await pagination.newest_first(info.context.db, Shipment, Shipment.shipped_at, conditions, first, after)


async def create_pick_list(info: Info, input: CreatePickListArgs) -> MutationPayload:
    async def work(uow: UnitOfWork) -> PickList:
        order_ids = None
        if input.order_ids is not None:
            order_ids = [decode_id(gid, "Order", ["input", "orderIds", str(i)]) for i, gid in enumerate(input.order_ids)]
        return await pick_lists.create_pick_list(uow=uow, warehouse_code=input.warehouse_code, order_ids=order_ids)

    return await run_mutation(info, scope=WRITE, action=work, payload=lambda result: {"pick_list": result})


async def create_shipment(info: Info, input: CreateShipmentArgs) -> MutationPayload:
    async def work(uow: UnitOfWork) -> Shipment:
        order_id = decode_id(input.order_id, "Order", ["input", "orderId"])
        lines = None if input.lines is None else [ShipLine(line.sku, line.quantity) for line in input.lines]
        return await shipping.create_shipment(
            uow=uow, order_id=order_id, warehouse_code=input.warehouse_code, carrier_code=input.carrier,
            tracking_number=input.tracking_number, lines=lines,
        )

    return await run_mutation(info, scope=WRITE, action=work, payload=lambda result: {"shipment": result})


async def record_tracking_event(info: Info, input: TrackingEventArgs) -> MutationPayload:
    async def work(uow: UnitOfWork) -> Shipment:
        shipment_id = decode_id(input.shipment_id, "Shipment", ["input", "shipmentId"])
        return await tracking.record_tracking_event(
            uow=uow, shipment_id=shipment_id, status=input.status, occurred_at=input.occurred_at,
            location=input.location, description=input.description,
        )

    return await run_mutation(info, scope=WRITE, action=work, payload=lambda result: {"shipment": result})
