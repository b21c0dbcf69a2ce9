"""Opaque global IDs: base64url of "Type:uuid"."""

from __future__ import annotations

import base64
import binascii
import uuid

from app.errors import ErrorCode
from resolvers.errors import InputError


def to_global_id(type_name: str, value: uuid.UUID | str) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{value}".encode()).decode().rstrip("=")


def from_global_id(global_id: str) -> tuple[str, uuid.UUID] | None:
    try:
        padded = global_id + "=" * (-len(global_id) % 4)
        type_name, _, raw = base64.urlsafe_b64decode(padded.encode()).decode().partition(":")
        return type_name, uuid.UUID(raw)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


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
