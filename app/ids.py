"""Opaque global IDs: base64url of "Type:uuid" — the API's identifiers, also carried by webhooks and exports
(resolvers/ids.py decodes them for the API; the domain only ever encodes)."""

from __future__ import annotations

import base64
import binascii
import uuid


def to_global_id(type_name: str, value: uuid.UUID | str) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{value}".encode()).decode().rstrip("=")


def from_global_id(global_id: str) -> tuple[str, uuid.UUID] | None:
    try:
        padded = global_id + "=" * (-len(global_id) % 4)
        type_name, _, raw = base64.urlsafe_b64decode(padded.encode()).decode().partition(":")
        return type_name, uuid.UUID(raw)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
