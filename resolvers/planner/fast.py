"""The fast path of an all-planned query (issue 15): no extension runner, no parse/validate step, one graphql-core call.

A query operation whose every root field the read planner answered (each a planned orjson.Fragment, no error) is
remembered by its (document text, operation name) once the ordinary path has run it that way: the document parsed,
validated and executed, so its text is known valid. A later request of the same text then skips strawberry's
per-request machinery (its execution context, the extension runner and a context manager per extension and hook,
the parser and validation caches) and does only what decides this request's answer:

1. the variables' strings are checked (the request steps' `check_variables`);
2. graphql-core's `execute` runs the operation with the schema's own execution context class, so the root
   resolvers run exactly as on the ordinary path (argument coercion, strawberry's resolver wrapper, the scope
   checks, `planned()`); the executor completes each planned fragment as it is;
3. the cost extension's own `on_execute` (resolvers/cost.py: requested cost, the caller's bucket, the actual cost
   from the planner's statements) and `get_results` give `extensions.cost`, and the request record
   (server/observability.RecordOperation) is filled by its own `on_operation`.

Anything else — an error, a refusal, a value the planner did not answer (e.g. an invalid cursor falls back to the
ordinary resolver), a cost refusal — abandons the fast path (the cost charged is refunded first) and the request
runs the ordinary way, which gives the answer, errors and extensions of the ordinary path by construction; the
root fields are reads, so running them again changes nothing. Only roots whose resolvers have no side effect
take this path (`FAST_ROOTS`: not `trackOrder`, whose resolver counts attempts per order and address).
Schemas with an extension this module does not know (e.g. OpenTelemetry tracing) never take it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any
from weakref import WeakKeyDictionary

import orjson
from graphql import DocumentNode, FieldNode, OperationDefinitionNode, OperationType, execute, get_operation_ast, parse
from graphql.execution.values import get_argument_values
from graphql.pyutils import Path
from strawberry.execution import optimized_is_awaitable
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType as StrawberryOperationType
from strawberry.utils.await_maybe import await_maybe

from resolvers.limits import check_variables

log = logging.getLogger(__name__)

FAST_ROOTS = frozenset({"order", "orders", "node", "shipments", "invoices", "invoice", "products", "stockLevels", "returns"})
ENTRIES_SIZE = 256
# The extensions of build_schema (graphql_schema/schema.py) by class name: what each does on a planned success.
PASSIVE = frozenset({"RequestSteps", "ParserCache", "CachedValidation", "HideSuggestionsValidation", "DisableIntrospection"})
COST, RECORD = "QueryCost", "RecordOperation"


@dataclass(frozen=True, slots=True)
class Entry:
    document: DocumentNode
    name: str | None  # the operation's name (what strawberry's ExecutionContext.operation_name answers without operationName)
    # The root fields by response key, in order, when no root field carries a directive (@include/@skip decide per request):
    # then the fields are resolved directly (`_resolve_roots`), without graphql-core's field collection and completion.
    roots: tuple[tuple[str, tuple[FieldNode, ...]], ...] | None = None


@dataclass(slots=True)
class _Schema:
    """Per schema (its validation rules and limits decide which documents are valid): its extensions, its entries."""

    usable: bool
    cost: type | None = None
    record: type | None = None
    entries: OrderedDict[tuple[str, str | None], Entry] = field(default_factory=OrderedDict)


@dataclass(slots=True)
class _Execution:
    """What the cost and record extensions (and, on the planned-mutation path, the error processing) read of
    strawberry's ExecutionContext."""

    query: str
    operation_name: str | None
    variables: dict[str, Any] | None
    graphql_document: DocumentNode
    schema: Any
    context: Any
    result: Any = None
    operation_type: StrawberryOperationType = StrawberryOperationType.QUERY
    pre_execution_errors: Any = None


def parsed_operation(query: str, operation_name: str | None, kind: OperationType) -> tuple[DocumentNode, OperationDefinitionNode] | None:
    """The document of a text the ordinary path has just run, and its operation when it is of `kind`; None otherwise."""
    try:
        document = parse(query)
    except Exception:
        return None
    operation = get_operation_ast(document, operation_name)
    if not isinstance(operation, OperationDefinitionNode) or operation.operation is not kind:
        return None
    return document, operation


class FastPath:
    def __init__(self, size: int = ENTRIES_SIZE) -> None:
        self.size = size
        self.schemas: WeakKeyDictionary[Any, _Schema] = WeakKeyDictionary()
        self.served = 0  # requests answered on the fast path (tests)
        self.direct = 0  # of which with the root fields resolved directly (`_resolve_roots`)

    def _schema(self, schema: Any) -> _Schema:
        found = self.schemas.get(schema)
        if found is None:
            try:
                instances = schema.get_extensions()
                by_name = {type(e).__name__: type(e) for e in instances}
                usable = (set(by_name) <= PASSIVE | {COST, RECORD} and COST in by_name
                          and not any(e._implements_resolve() for e in instances))
                found = _Schema(usable, by_name.get(COST), by_name.get(RECORD))
            except Exception:
                log.exception("planner fast path: the schema's extensions could not be read; not used")
                found = _Schema(False)
            self.schemas[schema] = found
        return found

    def has_entries(self, schema: Any) -> bool:
        """Whether any query of this schema is remembered (server/http_protocol.py's planned lane: nothing to look at if not)."""
        found = self.schemas.get(schema)
        return found is not None and bool(found.entries)

    def knows(self, schema: Any, query: str, operation_name: str | None) -> bool:
        """Whether this (document text, operation name) is remembered: `execute` may answer it."""
        found = self.schemas.get(schema)
        return found is not None and (query, operation_name) in found.entries

    def observe(self, schema: Any, query: Any, operation_name: str | None, allowed: Any, result: Any) -> None:
        """After the ordinary path: remember a query whose every root field the planner answered."""
        if not isinstance(query, str) or not isinstance(operation_name, str | None) or result.errors or not isinstance(result.data, dict) \
                or not result.data \
                or not all(type(value) is orjson.Fragment for value in result.data.values()):
            return
        key = (query, operation_name)
        known = self._schema(schema)
        if key in known.entries or StrawberryOperationType.QUERY not in allowed or not known.usable:
            return
        parsed = parsed_operation(query, operation_name, OperationType.QUERY)
        if parsed is None:
            return
        document, operation = parsed
        selections = operation.selection_set.selections
        if not all(isinstance(s, FieldNode) and s.name.value in FAST_ROOTS for s in selections):
            return
        roots: dict[str, list[FieldNode]] | None = {}
        for node in selections:
            assert isinstance(node, FieldNode)
            if node.directives:
                roots = None
                break
            assert roots is not None
            roots.setdefault(node.alias.value if node.alias else node.name.value, []).append(node)
        known.entries[key] = Entry(document, operation.name.value if operation.name else None,
                                   None if roots is None else tuple((k, tuple(v)) for k, v in roots.items()))
        while len(known.entries) > self.size:
            known.entries.popitem(last=False)

    async def execute(self, schema: Any, query: Any, variables: Any, operation_name: str | None, context: Any, root_value: Any,
                      allowed: Any, operation_extensions: Any) -> ExecutionResult | None:
        """The answer of a remembered all-planned query, or None: then run it the ordinary way."""
        if not isinstance(query, str) or not isinstance(operation_name, str | None) or operation_extensions \
                or not getattr(context.settings, "read_planner", False):
            return None
        extensions = self._schema(schema)
        entry = extensions.entries.get((query, operation_name))
        if entry is None or StrawberryOperationType.QUERY not in allowed or (variables is not None and not isinstance(variables, dict)):
            return None
        if not extensions.usable or extensions.cost is None:
            return None
        try:
            check_variables(variables)
        except Exception:
            return None
        ec = _Execution(query, entry.name if operation_name is None else operation_name, variables, entry.document, schema, context)
        cost = extensions.cost(execution_context=ec)
        cost.execution_context = ec
        pricing = cost.on_execute()
        try:
            await pricing.__anext__()
        except Exception:  # MAX_COST_EXCEEDED, THROTTLED, the key's lookup: refused the ordinary way
            return None
        result: Any = None
        run: Any = execute
        try:
            if entry.roots is not None:
                result = await _resolve_roots(schema, entry, root_value, variables, operation_name, context)
            else:
                result = await await_maybe(run(
                    schema._schema, entry.document, root_value=root_value, variable_values=variables, operation_name=operation_name,
                    context_value=context, is_awaitable=optimized_is_awaitable, executor_class=schema.execution_context_class,
                    operation_extensions=operation_extensions,
                ))
        except Exception:  # not an answer of this path (graphql-core reports resolver errors in the result)
            log.exception("planner fast path: execution failed; running the ordinary way")
            result = None
        finally:
            answered = result is not None and not result.errors and isinstance(result.data, dict) \
                and all(type(value) is orjson.Fragment for value in result.data.values())
            ec.result = ExecutionResult(data=result.data if answered else None, errors=None)
            with contextlib.suppress(StopAsyncIteration):
                await pricing.__anext__()
        if not answered:
            return None
        self.served += 1
        self.direct += entry.roots is not None
        output = ExecutionResult(data=result.data, errors=None, extensions=dict(cost.get_results()))
        ec.result = output
        if extensions.record is not None:
            recording = extensions.record(execution_context=ec)
            recording.execution_context = ec
            steps = recording.on_operation()
            next(steps)
            with contextlib.suppress(StopIteration):
                next(steps)
        return output


async def _resolve_roots(schema: Any, entry: Entry, root_value: Any, variables: Any, operation_name: str | None, context: Any) -> Any:
    """What graphql-core's `execute` answers for an operation whose root fields all return the planner's fragments, with
    only the steps that decide it: the executor built as `execute` builds it (variables coerced: errors -> None), each root
    field's resolver called as `execute_field` calls it (its resolve info, its coerced arguments), the root fields
    concurrently (as a query's are). Anything else — an error, a value that is not a planned fragment — is None: the
    caller then runs the request the ordinary way."""
    executor = schema.execution_context_class.build(
        schema._schema, entry.document, root_value, context, variables, operation_name, is_awaitable=optimized_is_awaitable,
        operation_extensions=None,
    )
    if isinstance(executor, list):
        return None
    root_type = schema._schema.query_type
    calls = []
    try:
        for key, nodes in entry.roots or ():
            field_def = root_type.fields.get(nodes[0].name.value)
            if field_def is None or field_def.resolve is None:
                return None
            info = executor.build_resolve_info(field_def, list(nodes), root_type, Path(None, key, root_type.name))
            args = get_argument_values(field_def, nodes[0], executor.variable_values) if field_def.args or nodes[0].arguments else {}
            calls.append((field_def.resolve, info, args))
    except Exception:  # e.g. an argument graphql-core refuses: its error is the ordinary path's to report
        return None

    async def resolve(fn: Any, info: Any, args: dict[str, Any]) -> Any:
        return await await_maybe(fn(root_value, info, **args))

    if len(calls) == 1:  # one root field: no tasks to run it beside others
        try:
            values: list[Any] = [await resolve(*calls[0])]
        except Exception:
            return None
    else:
        values = await asyncio.gather(*(resolve(*call) for call in calls), return_exceptions=True)
    if not all(type(value) is orjson.Fragment for value in values):
        return None
    return ExecutionResult(data={key: value for (key, _nodes), value in zip(entry.roots or (), values, strict=True)}, errors=None)


FAST = FastPath()
