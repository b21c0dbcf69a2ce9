"""Order metadata and the order list's filter (issue 17): `Order.metadata` / `privateMetadata`, `updateOrderMetadata`,
the OrderFilter -> app.orders.queries.OrderQuery translation shared by `orders` (and its planner), and the horizon the
UPDATED_AT ("changed since") sort reads under."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from graphql import GraphQLError

from app.infra.database import UnitOfWork
from app.orders import metadata, queries
from models import Order
from resolvers.errors import run_mutation
from resolvers.ids import decode_id
from resolvers.inputs import MetadataFilterArgs, OrderFilterArgs, UpdateOrderMetadataArgs
from resolvers.types import Info, MutationPayload

MAX_METADATA_FILTERS = 20


@dataclass(frozen=True, slots=True)
class MetadataItem:
    key: str
    value: str


def items(values: dict[str, str] | None) -> list[MetadataItem]:
    return [MetadataItem(key, str(value)) for key, value in sorted((values or {}).items())]


def order_metadata(root: Order, info: Info) -> list[MetadataItem]:
    return items(root.public_metadata)


def order_private_metadata(root: Order, info: Info) -> Any:  # list[MetadataItem], or an awaitable of it (the check)
    """Needs orders:write: without it, null and a FORBIDDEN error on this field (the order itself stays readable).
    Synchronous once the caller is known (always, under a root that checked orders:read)."""
    known, principal = info.context.cached_principal()
    if known and principal is not None and principal.has("orders:write"):
        return items(root.private_metadata)

    async def checked() -> list[MetadataItem] | None:
        await info.context.require("orders:write")
        return items(root.private_metadata)

    return checked()


def _enum_values(values: Sequence[Enum] | None) -> list[str] | None:
    return [v.value for v in values] if values else None


def _matches(values: Sequence[MetadataFilterArgs] | None) -> tuple[queries.MetadataMatch, ...]:
    if not values:
        return ()
    if len(values) > MAX_METADATA_FILTERS:
        raise GraphQLError(f"At most {MAX_METADATA_FILTERS} metadata conditions.", extensions={"code": "LIMIT_EXCEEDED"})
    return tuple((v.key, v.value) for v in values)


def order_query(filter: OrderFilterArgs | None) -> queries.OrderQuery | None:
    """OrderFilter as the domain's OrderQuery (the conditions themselves are app.orders.queries.order_conditions)."""
    if filter is None:
        return None
    return queries.OrderQuery(
        status=_enum_values(filter.status), channel=_enum_values(filter.channel), email=filter.email, placed_after=filter.placed_after,
        placed_before=filter.placed_before, delivery_at_risk=filter.delivery_at_risk, updated_after=filter.updated_after,
        external_reference=filter.external_reference, marketplace=filter.marketplace, metadata=_matches(filter.metadata),
        private_metadata=_matches(filter.private_metadata),
    )


async def check_filter_access(info: Info, filter: OrderFilterArgs | None) -> None:
    """Filtering on privateMetadata reveals it: it needs orders:write, like reading it."""
    if filter is not None and filter.private_metadata:
        await info.context.require("orders:write")


@dataclass(frozen=True, slots=True)
class SyncHorizon:
    upto: int  # read no order whose change_seq is above it
    primary: bool  # a replica that has not replayed it yet would hide a committed change: read the primary


async def sync_horizon(info: Info) -> SyncHorizon:
    """The confirmed event horizon, advanced by one round trip (app/infra/horizon.py `advance`): the UPDATED_AT sort
    never reads an order whose change_seq is above it, so a change committed late is never skipped. `advance`, not
    `now`: a poll never waits for the write transactions in flight; what they change shows on a later poll. (In the
    common case, no rollback below, the run of committed numbers covers every change committed before the call.)
    With a replica: only once it has replayed the horizon's WAL position (waiting up to replica_max_wait), else the
    primary; a lagging replica could show a later change and hide an earlier one committed after it."""
    horizon = info.context.hub.horizon
    upto = await horizon.advance()
    db = info.context.db
    return SyncHorizon(upto, db.replica is not None and not await db._replica_has(horizon.lsn))


def _order_payload(order: Order | None) -> dict[str, object]:
    return {"order": order}


async def update_order_metadata(info: Info, input: UpdateOrderMetadataArgs) -> MutationPayload:
    async def work(uow: UnitOfWork) -> Order:
        order_id = decode_id(input.order_id, "Order", ["input", "orderId"])
        return await metadata.update_metadata(uow=uow, order_id=order_id, set_=[metadata.Item(i.key, i.value) for i in input.set or []],
                                              remove=list(input.remove or []), private=bool(input.private))

    return await run_mutation(info, scope="orders:write", action=work, payload=_order_payload)
