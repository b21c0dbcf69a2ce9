"""Which database errors are faults of the connection or the server (retry, or answer UNAVAILABLE).

Measured with asyncpg + SQLAlchemy 2: a pooled connection the server terminated raises
InterfaceError "connection is closed" (connection_invalidated); a statement cut short raises
DBAPIError 08003; a server that is down raises a bare ConnectionRefusedError (an OSError, not
wrapped by SQLAlchemy); a server starting or stopping raises 57P03/57P01.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

# admin/crash shutdown, cannot connect now, too many connections
UNAVAILABLE_SQLSTATES = {"57P01", "57P02", "57P03", "53300"}
DEADLOCK_OR_SERIALIZATION = {"40P01", "40001"}
LOCK_TIMEOUT = "55P03"
STATEMENT_TIMEOUT = "57014"


def sqlstate(exc: BaseException) -> str:
    if isinstance(exc, DBAPIError):
        return getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None) or ""
    return ""


def is_connection_error(exc: BaseException) -> bool:
    """The connection or the server failed (not the statement): the transaction did not commit,
    unless this happened during COMMIT."""
    if isinstance(exc, OSError | PoolTimeout):  # refused, reset, asyncpg's TimeoutError; pool exhausted
        return True
    if isinstance(exc, DBAPIError):
        state = sqlstate(exc)
        return bool(exc.connection_invalidated) or state.startswith("08") or state in UNAVAILABLE_SQLSTATES
    return False


def is_retryable(exc: BaseException) -> bool:
    """A whole transaction that failed this way rolled back and may simply run again."""
    return sqlstate(exc) in DEADLOCK_OR_SERIALIZATION or sqlstate(exc) == LOCK_TIMEOUT or is_connection_error(exc)


class Unavailable(Exception):
    """The database (or another dependency) could not serve the request; retrying is safe.

    `outcome` is NOT_WRITTEN (nothing was committed) or UNKNOWN (the connection was lost while
    COMMIT was in flight and its fate could not be learned: retry with the same idempotency key);
    `reason` says why, e.g. DATABASE, LOCK_TIMEOUT, STATEMENT_TIMEOUT. Not a DomainError (infrastructure, not
    a business rule): callers show it as a retryable top-level error (HTTP 503), not a userError.
    """

    def __init__(self, outcome: str = "NOT_WRITTEN", reason: str = "DATABASE") -> None:
        super().__init__(f"unavailable ({reason}, {outcome})")
        self.outcome = outcome
        self.reason = reason
