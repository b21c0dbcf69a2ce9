"""An order's metadata (issue 17): partner key-value strings, public (`metadata`, readable with orders:read) or
private (`private_metadata`, orders:write), set and removed in one change under the order's row lock.

Limits (documented in the API): a key is 1-64 characters of letters, digits and `_ . : -`; a value is a string of
at most 1024 characters; a map holds at most 50 keys and at most 16 KiB as JSON (UTF-8). A change records
METADATA_UPDATED with the keys it set and removed (never the values; for the private map only how many).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from app.errors import DomainError, ErrorCode, collect
from app.infra.database import UnitOfWork
from app.orders import events
from app.orders.enums import OrderEventType
from app.orders.service import get_for_update
from models import Order

KEY = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
MAX_VALUE = 1024
MAX_KEYS = 50
MAX_BYTES = 16 * 1024


@dataclass(frozen=True, slots=True)
class Item:
    key: str
    value: str


def size_of(values: dict[str, str]) -> int:
    """The map's size as the limit counts it: its JSON, UTF-8."""
    return len(json.dumps(values, ensure_ascii=False, separators=(",", ":")).encode())


def _check(set_: Sequence[Item], remove: Sequence[str]) -> None:
    errors: list[DomainError] = []
    if not set_ and not remove:
        errors.append(DomainError(ErrorCode.INVALID_INPUT, "Give at least one key to set or remove.", ("set",)))
    if len(set_) > MAX_KEYS:
        errors.append(DomainError(ErrorCode.LIMIT_EXCEEDED, f"At most {MAX_KEYS} keys per change.", ("set",)))
    if len(remove) > MAX_KEYS:
        errors.append(DomainError(ErrorCode.LIMIT_EXCEEDED, f"At most {MAX_KEYS} keys per change.", ("remove",)))
    seen: set[str] = set()
    for i, item in enumerate(set_):
        if not KEY.fullmatch(item.key):
            errors.append(DomainError(ErrorCode.INVALID_INPUT, "A key is 1-64 letters, digits or _ . : -", ("set", i, "key")))
        elif item.key in seen:
            errors.append(DomainError(ErrorCode.INVALID_INPUT, f"Key {item.key!r} is set twice.", ("set", i, "key")))
        seen.add(item.key)
        if len(item.value) > MAX_VALUE:
            errors.append(DomainError(ErrorCode.LIMIT_EXCEEDED, f"A value is at most {MAX_VALUE} characters.", ("set", i, "value")))
    for i, key in enumerate(remove):
        if not KEY.fullmatch(key):
            errors.append(DomainError(ErrorCode.INVALID_INPUT, "A key is 1-64 letters, digits or _ . : -", ("remove", i)))
        elif key in seen:
            errors.append(DomainError(ErrorCode.INVALID_INPUT, f"Key {key!r} is both set and removed.", ("remove", i)))
    collect(errors)


async def update_metadata(*, uow: UnitOfWork, order_id: uuid.UUID, set_: Sequence[Item], remove: Sequence[str], private: bool) -> Order:
    """Merge `set_` into the order's (private) metadata and drop `remove`; refuses the whole change when the result
    would exceed a limit. A change that changes nothing writes nothing (and records no event)."""
    _check(set_, remove)
    order = await get_for_update(uow=uow, order_id=order_id)
    current = dict(order.private_metadata if private else order.public_metadata)
    merged = {**current, **{item.key: item.value for item in set_}}
    removed = [key for key in remove if key in merged]
    for key in removed:
        del merged[key]
    if len(merged) > MAX_KEYS:
        raise DomainError(ErrorCode.LIMIT_EXCEEDED, f"An order holds at most {MAX_KEYS} keys per map ({len(merged)} after this change).",
                          ("set",))
    if size_of(merged) > MAX_BYTES:
        raise DomainError(ErrorCode.LIMIT_EXCEEDED, f"An order's map is at most {MAX_BYTES} bytes as JSON ({size_of(merged)} after this change).",
                          ("set",))
    if merged == current:
        return order
    if private:
        order.private_metadata = dict(sorted(merged.items()))
    else:
        order.public_metadata = dict(sorted(merged.items()))
    changed = sorted(item.key for item in set_ if current.get(item.key) != item.value)
    data: dict[str, object] = {"private": private}
    if private:
        data |= {"set": len(changed), "removed": len(removed)}
    else:
        data |= {"set": changed, "removed": sorted(removed)}
    events.record(uow, order, OrderEventType.METADATA_UPDATED, data=data)
    return order
