"""editOrder and cancelOrderLines (issue 18): IDs decoded, the request built, the flow run in one unit of work."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, Protocol

import strawberry

from app.flows import edits as edit_flow
from app.flows import line_cancellation
from app.infra.database import UnitOfWork
from app.orders.edits import CancelLinesRequest, EditRequest, LineQuantity
from app.orders.enums import LineCancellationReason
from app.orders.service import LineRequest
from resolvers.errors import run_mutation
from resolvers.ids import decode_id
from resolvers.inputs import AddressArgs, OrderLineArgs
from resolvers.orders import _address
from resolvers.types import Info, MutationPayload


class OrderLineChangeArgs(Protocol):
    order_line_id: strawberry.ID
    quantity: int


class EditOrderArgs(Protocol):
    order_id: strawberry.ID
    dry_run: bool | None
    idempotency_key: str | None

    @property
    def add_lines(self) -> Sequence[OrderLineArgs] | None: ...
    @property
    def change_lines(self) -> Sequence[OrderLineChangeArgs] | None: ...
    @property
    def remove_lines(self) -> Sequence[strawberry.ID] | None: ...
    @property
    def shipping_address(self) -> AddressArgs | None: ...


class CancelOrderLinesArgs(Protocol):
    order_id: strawberry.ID
    note: str | None
    idempotency_key: str | None

    @property
    def lines(self) -> Sequence[OrderLineChangeArgs]: ...
    @property
    def reason(self) -> LineCancellationReason: ...


def _changes(lines: Sequence[OrderLineChangeArgs], field: str) -> list[LineQuantity]:
    return [LineQuantity(decode_id(line.order_line_id, "OrderLine", ["input", field, str(i), "orderLineId"]), line.quantity)
            for i, line in enumerate(lines)]


async def edit_order(info: Info, input: EditOrderArgs) -> MutationPayload:
    attempt = uuid.uuid4()  # once per request: the unit of work's retries keep it (app/orders/edits.py `edit_id_for`)

    async def work(uow: UnitOfWork) -> edit_flow.Edited:
        request = EditRequest(
            order_id=decode_id(input.order_id, "Order", ["input", "orderId"]),
            add_lines=[LineRequest(line.sku, line.quantity, line.customization) for line in input.add_lines or []],
            change_lines=_changes(input.change_lines or [], "changeLines"),
            remove_lines=[decode_id(line_id, "OrderLine", ["input", "removeLines", str(i)]) for i, line_id in enumerate(input.remove_lines or [])],
            shipping_address=_address(input.shipping_address),
            idempotency_key=input.idempotency_key,
        )
        return await edit_flow.edit_order(uow=uow, request=request, attempt=attempt, dry_run=bool(input.dry_run))

    def payload(result: edit_flow.Edited | None) -> dict[str, Any]:
        return {"order": result.order if result else None, "preview": result.preview if result else None}

    return await run_mutation(info, scope="orders:write", action=work, payload=payload)


async def cancel_order_lines(info: Info, input: CancelOrderLinesArgs) -> MutationPayload:
    attempt = uuid.uuid4()  # once per request (app/orders/edits.py `edit_id_for`)

    async def work(uow: UnitOfWork) -> line_cancellation.Cancelled:
        request = CancelLinesRequest(
            order_id=decode_id(input.order_id, "Order", ["input", "orderId"]),
            lines=_changes(input.lines, "lines"),
            reason=input.reason,
            note=input.note,
            idempotency_key=input.idempotency_key,
        )
        return await line_cancellation.cancel_lines(uow=uow, request=request, attempt=attempt)

    return await run_mutation(info, scope="orders:write", action=work, payload=lambda result: {"order": result.order if result else None})
