"""Draft orders (issue 18): the list, the nested fields (lines, live preview, order) and the three mutations.

Access: reading drafts needs orders:read; creating, changing and completing them needs orders:write (the scope
placeOrder needs: completing a draft places an order). A draft is staff work (phone and store sales): no public path.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from functools import partial
from typing import Protocol

import strawberry
from strawberry.dataloader import DataLoader
from strawberry.scalars import JSON

from app.drafts import service
from app.drafts.enums import DraftOrderStatus
from app.errors import DomainError, Path, ValidationErrors
from app.flows import drafts as flow
from app.infra.database import UnitOfWork
from app.orders.enums import SalesChannel
from models import Order, Product
from models.drafts import DraftOrder, DraftOrderLine
from resolvers import pagination
from resolvers.errors import InputError, MutationOutcome, UserError, input_field, run_mutation, user_errors
from resolvers.ids import decode_id
from resolvers.inputs import AddressArgs, OrderLineArgs, PaymentArgs
from resolvers.orders import _address
from resolvers.types import Info, MutationPayload

# --- inputs (declared in graphql_schema/drafts.py) ------------------------------------------------


class DraftContentArgs(Protocol):
    email: str | None
    notes: str | None

    @property
    def lines(self) -> Sequence[OrderLineArgs] | None: ...
    @property
    def shipping_address(self) -> AddressArgs | None: ...
    @property
    def billing_address(self) -> AddressArgs | None: ...


class CreateDraftOrderArgs(DraftContentArgs, Protocol):
    @property
    def channel(self) -> SalesChannel: ...


class UpdateDraftOrderArgs(DraftContentArgs, Protocol):
    draft_order_id: strawberry.ID


class CompleteDraftOrderArgs(Protocol):
    draft_order_id: strawberry.ID
    idempotency_key: str | None

    @property
    def payment(self) -> PaymentArgs: ...


# --- reads ---------------------------------------------------------------------------------------


async def draft_orders(info: Info, first: int | None, after: str | None, status: Sequence[DraftOrderStatus] | None) -> pagination.Connection[DraftOrder]:
    await info.context.require("orders:read")
    conditions = [DraftOrder.status.in_([s.value for s in status])] if status else []
    return await pagination.newest_first(info.context.db, DraftOrder, DraftOrder.created_at, conditions, first, after)


def _lines_by_draft(info: Info) -> DataLoader[uuid.UUID, list[DraftOrderLine]]:
    return info.context.loaders.extra(
        "draft_lines", lambda loaders: loaders.grouped(DraftOrderLine, DraftOrderLine.draft_order_id, DraftOrderLine.position)
    )


async def draft_lines(root: DraftOrder, info: Info) -> list[DraftOrderLine]:
    return await _lines_by_draft(info).load(root.id)


def _products_by_sku(info: Info) -> DataLoader[str, Product | None]:
    return info.context.loaders.extra("products_by_sku", lambda loaders: loaders.by_key(Product, Product.sku))


def _available(info: Info) -> DataLoader[tuple[SalesChannel, str], int]:
    """Units free now per (channel, SKU), one statement per channel for every draft of the page."""
    async def load(keys: Sequence[tuple[SalesChannel, str]]) -> list[int]:
        by_channel: dict[SalesChannel, list[str]] = {}
        for channel, sku in keys:
            by_channel.setdefault(channel, []).append(sku)
        found: dict[tuple[SalesChannel, str], int] = {}
        for channel, skus in by_channel.items():
            units = await info.context.db.query(partial(service.available_units, channel=channel, skus=sorted(set(skus))))
            found.update({(channel, sku): n for sku, n in units.items()})
        return [found.get(key, 0) for key in keys]

    return info.context.loaders.extra("draft_available", lambda loaders: DataLoader(load_fn=load))


async def draft_preview(root: DraftOrder, info: Info) -> service.Preview:
    """Priced when read: the lines, their products and the free units come from batched loaders (a page of drafts
    costs three statements, not two per draft)."""
    lines = await _lines_by_draft(info).load(root.id)
    skus = sorted({line.sku for line in lines})
    products, units = await asyncio.gather(_products_by_sku(info).load_many(skus),
                                           _available(info).load_many([(root.channel, sku) for sku in skus]))
    return service.price(root, lines, {p.sku: p for p in products if p is not None}, dict(zip(skus, units, strict=True)))


async def draft_order_placed(root: DraftOrder, info: Info) -> Order | None:
    return None if root.order_id is None else await info.context.loaders.order.load(root.order_id)


def line_customization(root: DraftOrderLine) -> JSON | None:
    return None if root.customization is None else JSON(root.customization)


def draft_errors(problems: Sequence[DomainError]) -> list[UserError]:
    """A draft's problems as the completion would name them: ["draftOrder", "lines", "0", "sku"]."""
    return [UserError(field=_field(("draft_order", *e.path) if e.path else ("draft_order",)), code=e.code.value, message=e.message)
            for e in problems]


# --- mutations -----------------------------------------------------------------------------------


def _content(input: DraftContentArgs) -> service.DraftContent:
    return service.DraftContent(
        email=input.email,
        lines=None if input.lines is None else [service.DraftLine(line.sku, line.quantity, line.customization) for line in input.lines],
        shipping_address=_address(input.shipping_address), billing_address=_address(input.billing_address), notes=input.notes,
    )


def _draft_payload(draft: DraftOrder | None) -> dict[str, object]:
    return {"draft_order": draft}


async def create_draft_order(info: Info, input: CreateDraftOrderArgs) -> MutationPayload:
    hours = info.context.settings.draft_expiry_hours

    async def work(uow: UnitOfWork) -> DraftOrder:
        return await service.create_draft(uow=uow, channel=input.channel, content=_content(input), expiry_hours=hours)

    return await run_mutation(info, scope="orders:write", action=work, payload=_draft_payload)


async def update_draft_order(info: Info, input: UpdateDraftOrderArgs) -> MutationPayload:
    hours = info.context.settings.draft_expiry_hours

    async def work(uow: UnitOfWork) -> DraftOrder:
        draft_id = decode_id(input.draft_order_id, "DraftOrder", ["input", "draftOrderId"])
        return await service.update_draft(uow=uow, draft_id=draft_id, content=_content(input), expiry_hours=hours)

    return await run_mutation(info, scope="orders:write", action=work, payload=_draft_payload)


def _field(path: Path | None) -> list[str] | None:
    """The contract's path, except that the draft's own content is named from the draft (not the input):
    ("draft_order", "lines", 0, "sku") -> ["draftOrder", "lines", "0", "sku"]."""
    field = input_field(path)
    if field is not None and len(field) > 1 and field[1] == "draftOrder":
        return field[1:]
    return field


def _completion_errors(exc: DomainError | InputError) -> list[UserError]:
    if isinstance(exc, InputError):
        return user_errors(exc)
    errors = exc.errors if isinstance(exc, ValidationErrors) else [exc]
    return [UserError(field=_field(e.path), code=e.code.value, message=e.message) for e in errors]


async def complete_draft_order(info: Info, input: CompleteDraftOrderArgs) -> MutationPayload:
    # Not run_mutation's one unit of work: completion runs placeOrder's transactions (app/flows/drafts.py).
    actor = (await info.context.require("orders:write")).actor
    empty: dict[str, object] = {"draft_order": None, "order": None}
    try:
        draft_id = decode_id(input.draft_order_id, "DraftOrder", ["input", "draftOrderId"])
        completed = await flow.complete_draft(
            info.context.db, draft_id=draft_id, payment_method=input.payment.method, payment_token=input.payment.token,
            idempotency_key=input.idempotency_key, actor=actor, shipping_method=getattr(input, "shipping_method", None),
        )
    except (DomainError, InputError) as exc:
        return MutationOutcome(empty, _completion_errors(exc), None)
    cursor = str(completed.events[-1]["seq"]) if completed.events else None
    return MutationOutcome({"draft_order": completed.draft, "order": completed.order}, [], cursor)
