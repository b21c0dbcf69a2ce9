"""Domain errors to userErrors; unexpected errors to a generic message with a request id.

The domain names an input by its own attribute names and indexes, ("lines", 1, "sku"); the
contract names it by the mutation's argument path, ["input", "lines", "1", "sku"]. This module
alone translates one into the other.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types import Info

from app.errors import DomainError, ErrorCode, Path, ValidationErrors
from app.infra import metrics
from app.infra.database import UnitOfWork
from app.infra.faults import LOCK_TIMEOUT, STATEMENT_TIMEOUT, Unavailable, is_connection_error, sqlstate

log = logging.getLogger("oms.errors")
T = TypeVar("T")

# An attribute name (snake_case); anything else in a path (a country code keying a map) stays as it is.
SNAKE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
INPUT_ARGUMENT = "input"  # every mutation takes one `input` argument


class InputError(Exception):
    """A resolver refused an argument before the domain saw it (a malformed ID): `field` is already
    the contract's path, e.g. ["input", "orderId"]."""

    def __init__(self, code: ErrorCode, message: str, field: list[str]) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def input_field(path: Path | None) -> list[str] | None:
    """("lines", 1, "sku") -> ["input", "lines", "1", "sku"]; ("shipping_address", "postal_code") ->
    ["input", "shippingAddress", "postalCode"]."""
    if path is None:
        return None
    return [INPUT_ARGUMENT, *(str(p) if isinstance(p, int) else _camel(p) if SNAKE.fullmatch(p) else p for p in path)]


@dataclass(frozen=True, slots=True)
class UserError:
    """One refusal as the contract shows it (`UserError { field code message }`)."""

    field: list[str] | None
    code: str
    message: str


class MutationOutcome:
    """What `run_mutation` returns: the payload's own fields (e.g. `order`), `user_errors` and `event_cursor`.
    Payload types differ only in their own fields, so those are kept by name and read as attributes."""

    __slots__ = ("_fields", "event_cursor", "user_errors")

    def __init__(self, fields: dict[str, Any], user_errors: list[UserError], event_cursor: str | None) -> None:
        self._fields = fields
        self.user_errors = user_errors
        self.event_cursor = event_cursor

    def __getattr__(self, name: str) -> Any:
        try:
            return self._fields[name]
        except KeyError:
            raise AttributeError(name) from None


def user_errors(exc: DomainError | InputError) -> list[UserError]:
    # Plain values: GraphQL execution would re-raise Exception instances found in a list.
    if isinstance(exc, InputError):
        return [UserError(field=exc.field, code=exc.code.value, message=exc.message)]
    errors = exc.errors if isinstance(exc, ValidationErrors) else [exc]
    return [UserError(field=input_field(e.path), code=e.code.value, message=e.message) for e in errors]


async def run_mutation(
    info: Info, *, scope: str | None, action: Callable[[UnitOfWork], Awaitable[T]], payload: Callable[[T | None], dict[str, Any]],
    public_actor: str | None = None,
) -> MutationOutcome:
    """Check the scope, run `action` in one transaction, and shape the payload.

    `scope=None` is for the few public mutations (a customer proving access with the tracking
    pair inside `action`); they run as `public_actor`.
    A DomainError (or a resolver's InputError) rolls the transaction back (nothing is written) and
    comes back as userErrors.
    """
    actor = (await info.context.require(scope)).actor if scope is not None else public_actor
    units: list[UnitOfWork] = []

    async def tracked(uow: UnitOfWork) -> T:
        units.append(uow)
        return await action(uow)

    try:
        result = await info.context.db.run(tracked, actor=actor)
    except (DomainError, InputError) as exc:
        return MutationOutcome(payload(None), user_errors(exc), None)
    events = units[-1].committed_events
    # The cursor of the last event this write produced: subscribe `after` it to miss nothing.
    return MutationOutcome(payload(result), [], str(events[-1]["seq"]) if events else None)


RETRY_AFTER_SECONDS = 1
UNAVAILABLE_MESSAGES = {
    "NOT_WRITTEN": "The service is temporarily unavailable; nothing was written. Retry.",
    "UNKNOWN": "The connection to the database was lost while committing; the outcome is unknown. Retry with the same idempotencyKey.",
}


def unavailable_error(original: BaseException) -> tuple[str, str] | None:
    """(outcome, reason) when `original` means the database could not serve the request."""
    if isinstance(original, Unavailable):
        return original.outcome, original.reason
    if is_connection_error(original):
        return "NOT_WRITTEN", "DATABASE"
    # a read outside the unit of work cut short by a timeout (the unit of work raises Unavailable itself)
    timeout = {STATEMENT_TIMEOUT: "STATEMENT_TIMEOUT", LOCK_TIMEOUT: "LOCK_TIMEOUT"}.get(sqlstate(original))
    if timeout is not None:
        return "NOT_WRITTEN", timeout
    return None


def mask_exception(original: Exception, request_id: str, error: GraphQLError | None = None) -> GraphQLError:
    """What the client sees of an exception we did not raise on purpose: UNAVAILABLE (retryable, with its
    outcome) for a database fault, otherwise a generic message with the request id; details go to the log.
    `error` is graphql-core's wrapping of it, when it happened inside a field (its path and location are kept)."""
    nodes, source, positions, path = (error.nodes, error.source, error.positions, error.path) if error else (None, None, None, None)
    unavailable = unavailable_error(original)
    if unavailable is not None:
        outcome, reason = unavailable
        log.warning("unavailable [request %s] at %s: %s %s (%s)", request_id, path, reason, outcome, original)
        metrics.UNAVAILABLE.labels(reason=reason).inc()
        return GraphQLError(
            UNAVAILABLE_MESSAGES[outcome], nodes=nodes, source=source, positions=positions, path=path,
            extensions={"code": "UNAVAILABLE", "outcome": outcome, "reason": reason, "retryAfter": RETRY_AFTER_SECONDS,
                        "requestId": request_id},
        )
    log.error("unexpected error [request %s] at %s", request_id, path, exc_info=original)
    return GraphQLError(
        f"Internal server error (request id {request_id}).", nodes=nodes, source=source, positions=positions, path=path,
        extensions={"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
    )


class MaskUnexpectedErrors(SchemaExtension):
    """Only errors we raise on purpose reach the client; anything else becomes a generic
    message carrying the request id, and its details go to the log."""

    def on_operation(self) -> Iterator[None]:
        yield
        mask_errors(self.execution_context)


def mask_errors(execution_context: Any) -> None:
    """MaskUnexpectedErrors' work once the operation is done (also run by limits.request_steps)."""
    result = execution_context.result
    if result is None or not result.errors:
        return
    request_id = getattr(execution_context.context, "request_id", "-")
    masked = []
    for error in result.errors:
        original = error.original_error
        if original is None or isinstance(original, GraphQLError):
            masked.append(error)
            continue
        masked.append(mask_exception(original, request_id, error))
    result.errors = masked
