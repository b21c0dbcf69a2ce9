"""Opaque global IDs: base64url of "Type:uuid"."""

from __future__ import annotations

import uuid

from app.errors import ErrorCode
from app.ids import from_global_id, to_global_id
from resolvers.errors import InputError

__all__ = ["decode_id", "from_global_id", "id_of", "to_global_id"]


def id_of(global_id: str, expected: str) -> uuid.UUID | None:
    """The UUID inside a global ID of the `expected` type; None for a malformed ID or one of another type."""
    decoded = from_global_id(global_id)
    return decoded[1] if decoded is not None and decoded[0] == expected else None


def decode_id(global_id: str, expected: str, field: list[str]) -> uuid.UUID:
    """Decode an ID argument of a mutation input; a malformed or foreign ID is a NOT_FOUND userError."""
    value = id_of(global_id, expected)
    if value is None:
        raise InputError(ErrorCode.NOT_FOUND, f"Not a valid {expected} ID.", field)
    return value
