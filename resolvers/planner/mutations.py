"""The planned-mutation path (issue 16, session 7): a known-valid `placeOrder` document without strawberry's per-request machinery.

A mutation document whose one root field is in `MUTATION_ROOTS` is remembered by its (document text, operation name)
once the ordinary path has answered it without an error: then its text is known to parse and validate. A later
request of the same text skips what strawberry does around graphql-core for every request — the execution context,
the extension runner with a context manager per extension and hook, the parser and validation caches, the operation
type check — and runs exactly the steps that decide its answer, in the ordinary path's order:

1. the variables' strings are checked (RequestSteps' `check_variables`) and graphql-core builds its executor with the
   schema's own execution context class (variables coerced). Either refusing: nothing has run, so the request goes the
   ordinary way, which reports the error;
2. the cost extension's `on_execute` prices the request and takes it from the caller's bucket (a refusal: the ordinary
   way, nothing has run);
3. graphql-core executes the operation (`Executor.execute_operation`: the resolver wrapper, argument conversion, the
   scope checks, the access guards and the completion of the payload are the ordinary path's own code);
4. from here on the mutation has run, so there is no way back: errors are processed (`Schema._process_errors`), the
   cost extension finishes (actual cost), the request record is filled (RecordOperation, which sees the errors as the
   ordinary path's operation hook does: before masking), then client codes and masking (RequestSteps' exit), then the
   extensions' results — what strawberry's `execute` and `_handle_execution_result` do, in their order.

Issue 16, session 8: a remembered document of the usual shape (one `PlaceOrderInput!` variable, a payload selection
of known fields) also has compiled steps (resolvers/planner/compiled.py) that replace step 1's coercion and step 3's
executor: its variable converted straight into the resolver's input, the resolver called directly, the payload
serialized for the selection. A variable the converter does not take goes through graphql-core's executor as above;
`compile = False` switches the compiled steps off (tests compare the two). The HTTP view's planned lane
(server/http_protocol.py) calls `execute` for a remembered document before strawberry's request pipeline.

Schemas with an extension this module does not know (e.g. OpenTelemetry tracing) never take it (the same rule as
resolvers/planner/fast.py). tests/test_mutation_fast_path.py runs each case both ways and compares the responses.
"""

from __future__ import annotations

import contextlib
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

from graphql import DocumentNode, FieldNode, OperationType
from graphql import ExecutionResult as GraphQLExecutionResult
from graphql.language import Visitor, visit
from strawberry.execution import optimized_is_awaitable
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType as StrawberryOperationType
from strawberry.utils.await_maybe import await_maybe

from resolvers.errors import mask_errors
from resolvers.limits import add_client_codes, check_variables
from resolvers.planner.compiled import Compiled, compile_document
from resolvers.planner.fast import FAST, parsed_operation
from resolvers.planner.fast import _Execution as _QueryExecution

log = logging.getLogger(__name__)

MUTATION_ROOTS = frozenset({"placeOrder"})
ENTRIES_SIZE = 64


@dataclass(frozen=True, slots=True)
class Entry:
    document: DocumentNode
    name: str | None  # the operation's name (what strawberry's ExecutionContext.operation_name answers without operationName)
    compiled: Compiled | None = None  # session 8: its steps without graphql-core's executor (resolvers/planner/compiled.py)


class _Directives(Visitor):
    found = False

    def enter_directive(self, *_args: Any) -> None:
        self.found = True


class MutationPath:
    def __init__(self, size: int = ENTRIES_SIZE) -> None:
        self.size = size
        self.entries: WeakKeyDictionary[Any, OrderedDict[tuple[str, str | None], Entry]] = WeakKeyDictionary()
        self.served = 0  # requests answered on this path (tests)
        self.compiled = 0  # of which by the compiled steps (resolvers/planner/compiled.py; tests)
        self.compile = True  # the switch (tests compare the compiled steps with graphql-core's executor)

    def has_entries(self, schema: Any) -> bool:
        """Whether any document of this schema is remembered (the HTTP view's planned lane: nothing to look at if not)."""
        return bool(self.entries.get(schema))

    def knows(self, schema: Any, query: str, operation_name: str | None) -> bool:
        """Whether this (document text, operation name) is remembered: `execute` may answer it (the HTTP view's planned lane)."""
        entries = self.entries.get(schema)
        return entries is not None and (query, operation_name) in entries

    def observe(self, schema: Any, query: Any, operation_name: str | None, allowed: Any, result: Any) -> None:
        """After the ordinary path: remember a mutation of a known root answered without an error."""
        if not isinstance(query, str) or not isinstance(operation_name, str | None) or result.errors or not isinstance(result.data, dict) \
                or StrawberryOperationType.MUTATION not in allowed:
            return
        entries = self.entries.get(schema)
        if entries is not None and (query, operation_name) in entries:
            return
        if not FAST._schema(schema).usable:
            return
        parsed = parsed_operation(query, operation_name, OperationType.MUTATION)
        if parsed is None:
            return
        document, operation = parsed
        selections = operation.selection_set.selections
        if len(selections) != 1 or not isinstance(selections[0], FieldNode) or selections[0].name.value not in MUTATION_ROOTS:
            return
        directives = _Directives()
        visit(document, directives)
        if directives.found:  # @include/@skip decide per request: the ordinary path's (a rare document)
            return
        if entries is None:
            entries = self.entries[schema] = OrderedDict()
        try:
            compiled = compile_document(schema, document, operation)
        except Exception:  # a shape it does not know: graphql-core's executor runs it
            log.exception("placeOrder document not compiled")
            compiled = None
        entries[(query, operation_name)] = Entry(document, operation.name.value if operation.name else None, compiled)
        while len(entries) > self.size:
            entries.popitem(last=False)

    async def execute(self, schema: Any, query: Any, variables: Any, operation_name: str | None, context: Any, root_value: Any,
                      allowed: Any, operation_extensions: Any) -> ExecutionResult | None:
        """The answer of a remembered mutation, or None (nothing has run): then run it the ordinary way."""
        if not isinstance(query, str) or not isinstance(operation_name, str | None) or operation_extensions \
                or not getattr(context.settings, "read_planner", False):
            return None
        entries = self.entries.get(schema)
        entry = entries.get((query, operation_name)) if entries is not None else None
        if entry is None or StrawberryOperationType.MUTATION not in allowed or (variables is not None and not isinstance(variables, dict)):
            return None
        known = FAST._schema(schema)
        if not known.usable or known.cost is None:
            return None
        try:
            check_variables(variables)
        except Exception:
            return None
        compiled = entry.compiled if self.compile else None
        arguments = compiled.arguments(variables) if compiled is not None else None
        executor: Any = None
        if arguments is None:  # not compiled, or a variable its converter does not take: graphql-core's executor
            executor = schema.execution_context_class.build(
                schema._schema, entry.document, root_value, context, variables, operation_name, is_awaitable=optimized_is_awaitable,
                operation_extensions=None,
            )
            if isinstance(executor, list):  # the variables' coercion failed: the ordinary path reports it
                return None
        ec = _QueryExecution(query, entry.name if operation_name is None else operation_name, variables, entry.document, schema, context,
                             operation_type=StrawberryOperationType.MUTATION)
        cost = known.cost(execution_context=ec)
        cost.execution_context = ec
        pricing = cost.on_execute()
        try:
            await pricing.__anext__()
        except Exception:  # MAX_COST_EXCEEDED, THROTTLED, the key's lookup: refused the ordinary way (nothing has run)
            return None
        # The mutation runs: from here on this path answers, as the ordinary path would.
        try:
            if arguments is not None:
                assert compiled is not None
                data, errors = await compiled.run(context, root_value, arguments)
                result = GraphQLExecutionResult(data, errors)
                self.compiled += 1
            else:
                result = await await_maybe(executor.execute_operation())
        except BaseException:
            await pricing.aclose()
            raise
        ec.result = result
        if result.errors:
            ec.pre_execution_errors = result.errors
            schema._process_errors(result.errors, ec)
        with contextlib.suppress(StopAsyncIteration):
            await pricing.__anext__()
        if known.record is not None:  # the operation hooks exit in reverse order: the record first, the masking last
            recording = known.record(execution_context=ec)
            recording.execution_context = ec
            steps = recording.on_operation()
            next(steps)
            with contextlib.suppress(StopIteration):
                next(steps)
        add_client_codes(ec.result)
        mask_errors(ec)
        result = ec.result
        if result.errors:
            ec.pre_execution_errors = result.errors
        output = ExecutionResult(data=result.data, errors=result.errors, extensions=dict(cost.get_results()))
        ec.result = output
        self.served += 1
        return output


MUTATIONS = MutationPath()
