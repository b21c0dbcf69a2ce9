"""API keys: created with scopes, stored as SHA-256 hashes, checked on every request."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, or_, select, update

from app.errors import DomainError, ErrorCode
from app.infra.database import UnitOfWork
from models import ApiKey

SCOPES = frozenset(
    {
        "orders:read", "orders:write", "stock:read", "stock:write", "shipments:read", "shipments:write",
        "invoices:read", "invoices:write", "payments:read", "payments:write", "returns:read", "returns:write", "admin",
        "webhooks:read", "webhooks:write",  # hooks, issue 17
    }
)
TOKEN_PREFIX = "oms_"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: an API key's name and its scopes."""

    name: str
    scopes: frozenset[str]
    key_id: str | None = None  # the api_keys row: open WebSockets are re-checked by it (revocation, expiry)

    @property
    def actor(self) -> str:
        return f"apikey:{self.name}"

    def has(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes


def bearer_token(value: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` value, or None when it is absent or malformed."""
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_api_key(*, uow: UnitOfWork, name: str, scopes: list[str], expires_in: timedelta | None = None) -> str:
    """Returns the token; it is shown once and only its hash is kept. `expires_in`: the key stops working then
    (and its open WebSockets are closed by the key sweep)."""
    if expires_in is not None and expires_in <= timedelta(0):
        raise DomainError(ErrorCode.INVALID_INPUT, "An expiry must be in the future.", ("expires_in",))
    unknown = sorted(set(scopes) - SCOPES)
    if unknown or not scopes:
        raise DomainError(ErrorCode.INVALID_INPUT,
                          f"Unknown or missing scopes: {', '.join(unknown) or '(none)'}; known: {', '.join(sorted(SCOPES))}", ("scopes",))
    if not name.strip():
        raise DomainError(ErrorCode.INVALID_INPUT, "A key needs a name.", ("name",))
    existing = await uow.session.execute(select(ApiKey.id).where(ApiKey.name == name, ApiKey.revoked_at.is_(None)))
    if existing.first() is not None:
        raise DomainError(ErrorCode.INVALID_INPUT, f"An active key named {name!r} exists; revoke it first.", ("name",))
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires_at = datetime.now(UTC) + expires_in if expires_in is not None else None
    uow.session.add(ApiKey(name=name, token_hash=hash_token(token), scopes=sorted(set(scopes)), expires_at=expires_at))
    return token


KEY_TOPIC = "apikey"  # the notice (and bus message kind) that empties every process's key cache of these keys


async def revoke_api_key(*, uow: UnitOfWork, name: str) -> int:
    """Revoke the active key of that name. After commit every serving process drops it from its key cache
    (the `apikey` notice, published by the unit of work); `revoked_key_ids` has its id for callers that
    run no hub (the CLI sends the message itself)."""
    ids = [str(key_id) for key_id in (await uow.session.execute(
        update(ApiKey).where(ApiKey.name == name, ApiKey.revoked_at.is_(None)).values(revoked_at=datetime.now(UTC)).returning(ApiKey.id)
    )).scalars()]
    if not ids:
        raise DomainError(ErrorCode.NOT_FOUND, f"No active key named {name!r}.", ("name",))
    uow.notices.append((KEY_TOPIC, {"revoked": ids}))
    return len(ids)


def revoked_key_ids(uow: UnitOfWork) -> list[str]:
    """The key ids this unit of work revoked."""
    return [key_id for topic, payload in uow.notices if topic == KEY_TOPIC for key_id in payload.get("revoked", [])]


async def authenticate(*, session, token: str) -> Principal | None:  # type: ignore[no-untyped-def]
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = (
        await session.execute(
            select(ApiKey.id, ApiKey.name, ApiKey.scopes).where(ApiKey.token_hash == hash_token(token), _usable())
        )
    ).first()
    return Principal(row.name, frozenset(row.scopes), str(row.id)) if row else None


@dataclass(frozen=True, slots=True)
class KeyRecord:
    principal: Principal
    expires_at: datetime | None


async def lookup_key(*, session, token_hash: str) -> KeyRecord | None:  # type: ignore[no-untyped-def]
    """The usable key with this hash and its expiry (what the key cache keeps)."""
    row = (
        await session.execute(
            select(ApiKey.id, ApiKey.name, ApiKey.scopes, ApiKey.expires_at).where(ApiKey.token_hash == token_hash, _usable())
        )
    ).first()
    return KeyRecord(Principal(row.name, frozenset(row.scopes), str(row.id)), row.expires_at) if row else None


async def still_valid(*, session, key_ids: set[str]) -> set[str]:  # type: ignore[no-untyped-def]
    """Of these key ids, those not revoked: one query for every open WebSocket of a process."""
    if not key_ids:
        return set()
    rows = await session.execute(select(ApiKey.id).where(ApiKey.id.in_(list(key_ids)), _usable()))
    return {str(key_id) for key_id in rows.scalars()}


def _usable():  # type: ignore[no-untyped-def]
    """Not revoked and not expired (the database's clock, the same for every process)."""
    return ApiKey.revoked_at.is_(None) & or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > func.now())


@dataclass(frozen=True, slots=True)
class KeyInfo:
    name: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


async def list_api_keys(*, session) -> list[KeyInfo]:  # type: ignore[no-untyped-def]
    """Every key, newest first (never the token or its hash)."""
    rows = await session.execute(
        select(ApiKey.name, ApiKey.scopes, ApiKey.created_at, ApiKey.expires_at, ApiKey.revoked_at).order_by(ApiKey.created_at.desc())
    )
    return [KeyInfo(r.name, list(r.scopes), r.created_at, r.expires_at, r.revoked_at) for r in rows]
