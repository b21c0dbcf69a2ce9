"""Limits before execution (issue 13): one linear validation rule for depth (introspection included),
aliases (through fragments), directives and duplicated fields; parse limits (tokens, comments, length);
bad literals and variables (NUL, oversized strings, absurd number literals); a strict Decimal parser.

Why not strawberry's QueryDepthLimiter / MaxAliasesLimiter: both walk a fragment again for every spread
of it, with no memo (a 900-byte chain of fragments each spreading the next twice took 8 s and 17 s,
event loop blocked), work in the rule's __init__ (a 600-fragment chain raised RecursionError: a masked
internal error), and the depth limiter skips `__schema`/`__type`. Here every fragment is summarised once,
the work runs inside graphql-core's visit (`enter_document`), and introspection has its own depth limit
(the standard introspection query is 14 deep). Depth follows strawberry's convention (a field with a
selection set adds 1; `{ a }` is depth 0), so `max_depth=12` keeps its meaning.

Bad input: PostgreSQL text cannot hold U+0000 (asyncpg raises -> a masked internal error), so NUL and
oversized strings are refused in literals (a validation rule, cached with the document) and in variables
(an extension before execution), code INVALID_INPUT. A 5,000-digit Int literal makes graphql-core's int()
raise ValueError (a masked internal error): number literals over 40 characters are refused first.
strawberry's Decimal is `Decimal(str(value))`: it accepts NaN, sNaN, Infinity and 1e999999, which later raise
decimal.InvalidOperation; `parse_decimal` accepts plain fixed-point numbers only.
"""

from __future__ import annotations

import decimal
import math
import re
from collections import Counter, OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    ValidationContext,
    ValidationRule,
    validate,
)
from graphql.language import SKIP
from graphql.validation.validate import ValidationAbortedError  # not re-exported at the top level
from strawberry.exceptions import StrawberryInputCoercionError
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from resolvers.errors import mask_errors


@dataclass(frozen=True)
class DocumentLimits:
    max_depth: int = 12
    # `__schema`/`__type` subtrees have their own depth limit: the standard introspection query
    # (graphql-core get_introspection_query, GraphiQL's) is 14 deep through its TypeRef fragment
    max_introspection_depth: int = 20
    max_aliases: int = 30
    max_directives: int = 50
    max_same_field: int = 20      # the same response key selected more than this many times in one selection set
    code: str = "LIMIT_EXCEEDED"


@dataclass
class _Summary:
    depth: int = 0
    aliases: int = 0
    directives: int = 0
    introspection_depth: int = 0  # the deepest `__schema`/`__type` subtree, counted from that field


def document_limits_rule(limits: DocumentLimits) -> type[ValidationRule]:
    class DocumentLimitsRule(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self.fragments: dict[str, FragmentDefinitionNode] = {}
            self.memo: dict[str, _Summary | None] = {}  # None while in progress: a cycle (NoFragmentCycles reports it)
            self.duplicates_reported = False
            self.violations: list[GraphQLError] = []

        def _error(self, message: str, nodes=None) -> None:
            self.violations.append(GraphQLError(message, nodes, extensions={"code": limits.code}))

        def fragment(self, name: str) -> _Summary:
            if name in self.memo:
                return self.memo[name] or _Summary()
            definition = self.fragments.get(name)
            if definition is None:
                return _Summary()
            self.memo[name] = None
            summary = self.selection_set(definition.selection_set)
            summary.directives += len(definition.directives or ())
            self.memo[name] = summary
            return summary

        def selection_set(self, selection_set: SelectionSetNode) -> _Summary:
            total = _Summary()
            keys: Counter[str] = Counter()
            for sel in selection_set.selections:
                total.directives += len(sel.directives or ())
                if isinstance(sel, FieldNode):
                    key = sel.alias.value if sel.alias else sel.name.value
                    keys[key] += 1
                    if sel.alias:
                        total.aliases += 1
                    if sel.selection_set is not None:
                        child = self.selection_set(sel.selection_set)
                        if sel.name.value in ("__schema", "__type"):
                            total.introspection_depth = max(total.introspection_depth, 1 + child.depth)
                        else:
                            total.depth = max(total.depth, 1 + child.depth)
                        total.introspection_depth = max(total.introspection_depth, child.introspection_depth)
                        total.aliases += child.aliases
                        total.directives += child.directives
                elif isinstance(sel, InlineFragmentNode):
                    child = self.selection_set(sel.selection_set)
                    total.depth = max(total.depth, child.depth)
                    total.introspection_depth = max(total.introspection_depth, child.introspection_depth)
                    total.aliases += child.aliases
                    total.directives += child.directives
                elif isinstance(sel, FragmentSpreadNode):
                    child = self.fragment(sel.name.value)
                    total.depth = max(total.depth, child.depth)
                    total.introspection_depth = max(total.introspection_depth, child.introspection_depth)
                    total.aliases += child.aliases      # counted once per spread, as strawberry >= 0.315.7 does
                    total.directives += child.directives
            if keys and max(keys.values()) > limits.max_same_field and not self.duplicates_reported:
                self.duplicates_reported = True
                key, n = keys.most_common(1)[0]
                self._error(f"The field {key!r} is selected {n} times in one selection set; at most "
                            f"{limits.max_same_field} are allowed.", [selection_set])
            return total

        def enter_document(self, node: DocumentNode, *_args):
            self.fragments = {d.name.value: d for d in node.definitions if isinstance(d, FragmentDefinitionNode)}
            for definition in node.definitions:
                if not isinstance(definition, OperationDefinitionNode):
                    continue
                name = definition.name.value if definition.name else "anonymous"
                s = self.selection_set(definition.selection_set)
                s.directives += len(definition.directives or ()) + sum(
                    len(v.directives or ()) for v in definition.variable_definitions or ())
                if s.depth > limits.max_depth:
                    self._error(f"'{name}' exceeds maximum operation depth of {limits.max_depth}", [definition])
                if s.introspection_depth > limits.max_introspection_depth:
                    self._error(f"'{name}' exceeds maximum introspection depth of {limits.max_introspection_depth}",
                                [definition])
                if s.aliases > limits.max_aliases:
                    self._error(f"{s.aliases} aliases found. Allowed: {limits.max_aliases}", [definition])
                if s.directives > limits.max_directives:
                    self._error(f"{s.directives} directives found. Allowed: {limits.max_directives}", [definition])
            if self.violations:
                # Abort the whole validation here, at the first node visited: the other rules (e.g.
                # OverlappingFieldsCanBeMerged, quadratic up to its 500,000 budget) never see a refused document.
                *first, last = self.violations
                for error in first:
                    self.report_error(error)
                raise ValidationAbortedError(last.message, last.nodes, extensions=last.extensions)
            return SKIP  # the work is done; nothing else to visit

    return DocumentLimitsRule

MAX_STRING = 10_000
MAX_NUMBER_LITERAL = 40


def _bad_string(value: str) -> str | None:
    if "\x00" in value:
        return "Strings must not contain NUL (U+0000) characters."
    if len(value) > MAX_STRING:
        return f"Strings are limited to {MAX_STRING} characters."
    return None


class StringLiteralRule(ValidationRule):
    """NUL / oversized string literals, and number literals too long to be real (a 5,000-digit Int literal
    makes graphql-core's int() raise ValueError: Python's 4,300-digit limit; that validation error carries
    the ValueError as original_error, so a "mask anything not raised on purpose" extension turns it into
    an Internal server error logged at ERROR)."""

    # Raising ValidationAbortedError (and running *before* the specified rules, see PrependValidationRules)
    # stops validation at this node: ValuesOfCorrectType never calls int() on it.
    def enter_string_value(self, node: StringValueNode, *_args: Any) -> None:
        problem = _bad_string(node.value)
        if problem:
            raise ValidationAbortedError(problem, node, extensions={"code": "INVALID_INPUT"})

    def enter_int_value(self, node: Any, *_args: Any) -> None:
        if len(node.value) > MAX_NUMBER_LITERAL:
            raise ValidationAbortedError("Number literal too long.", node, extensions={"code": "INVALID_INPUT"})

    enter_float_value = enter_int_value


def _strings(value: Any, path: list[str | int]) -> Iterator[tuple[list[str | int], str]]:
    stack: list[tuple[Any, list[str | int]]] = [(value, path)]
    while stack:
        item, at = stack.pop()
        if isinstance(item, str):
            yield at, item
        elif isinstance(item, dict):
            for k, v in item.items():
                if isinstance(k, str):
                    yield [*at, k], k  # keys too: a NUL in an input field name reaches error messages/logs
                stack.append((v, [*at, k]))
        elif isinstance(item, list):
            stack.extend((v, [*at, i]) for i, v in enumerate(item))


def check_variables(variables: Any) -> None:
    for path, text in _strings(variables or {}, []):
        problem = _bad_string(text)
        if problem:
            raise GraphQLError(problem, extensions={"code": "INVALID_INPUT",
                                                    "variable": "$" + ".".join(map(str, path))})


class VariablesGuard(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        check_variables(self.execution_context.variables)
        yield


_DECIMAL = re.compile(r"-?\d{1,18}(\.\d{1,8})?")
DECIMAL_RULE = "Decimal values have at most 18 integer and 8 fraction digits, no exponent, NaN or Infinity."


def parse_decimal(value: object) -> Decimal:
    """The Decimal scalar's input: "12.50", 12 or 12.5 (a JSON number, if finite); never NaN, Infinity or an exponent."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise StrawberryInputCoercionError(f'Decimal values are strings like "12.50", not {type(value).__name__}.')
    if isinstance(value, float):
        if not math.isfinite(value):
            raise StrawberryInputCoercionError(DECIMAL_RULE)
        text = format(Decimal(repr(value)), "f")
    else:
        text = str(value).strip()
    if not _DECIMAL.fullmatch(text):
        raise StrawberryInputCoercionError(DECIMAL_RULE)
    try:
        return Decimal(text)
    except decimal.DecimalException:  # cannot happen after the pattern; kept as a guard
        raise StrawberryInputCoercionError("Invalid Decimal.") from None


class PrependValidationRules(SchemaExtension):
    """As strawberry's AddValidationRules, but *before* the specified rules (it appends): a rule that aborts
    then runs first on every node, so a refused document costs only its own linear pass."""

    def __init__(self, rules: list[type[ValidationRule]]) -> None:
        self.rules = tuple(rules)

    def on_operation(self) -> Iterator[None]:
        self.execution_context.validation_rules = self.rules + tuple(self.execution_context.validation_rules)
        yield


@dataclass(frozen=True)
class ParseSettings:
    max_tokens: int = 5000
    max_comments: int = 200
    max_source_length: int = 100_000


def parse_limits(settings: ParseSettings) -> type[SchemaExtension]:
    """graphql-core 3.3's parser limits (strawberry's MaxTokensLimiter sets the deprecated `max_tokens`, which
    counts comments too). ParserCache keys on parse_options, so the cache stays correct."""

    class ParseLimits(SchemaExtension):
        def on_operation(self) -> Iterator[None]:
            self.execution_context.parse_options.update(  # type: ignore[call-arg]
                max_lexical_tokens=settings.max_tokens, max_comments=settings.max_comments,
                max_source_length=settings.max_source_length,
            )
            yield

    return ParseLimits


# --- no "Did you mean …" (production): graphql-core 3.3's hide_suggestions, which strawberry never passes ---


class DocumentValidationCache:
    """Validation errors per (schema, document, rules), keyed by the document's *identity* (issue 15). graphql-core
    3.3's AST nodes are dataclasses whose generated __hash__ walks the whole tree on every call, so an lru_cache
    over the document (strawberry's ValidationCache) re-hashed the AST on each request. ParserCache hands back the
    same DocumentNode for the same text, so identity is the key; each entry holds the document (and schema), so an
    id cannot be reused while it is cached. Bounded (LRU)."""

    def __init__(self, validate_fn: Any, maxsize: int) -> None:
        self.validate_fn, self.maxsize = validate_fn, maxsize
        self.entries: OrderedDict[tuple[int, int, tuple[Any, ...]], tuple[Any, Any, list[GraphQLError]]] = OrderedDict()

    def __call__(self, schema: GraphQLSchema, document: Any, rules: tuple[Any, ...]) -> list[GraphQLError]:
        key = (id(schema), id(document), rules)
        entry = self.entries.get(key)
        if entry is not None and entry[0] is schema and entry[1] is document:
            self.entries.move_to_end(key)
            return entry[2]
        errors = self.validate_fn(schema, document, rules)
        self.entries[key] = (schema, document, errors)
        while len(self.entries) > self.maxsize:
            self.entries.popitem(last=False)
        return errors


def cached_validation(maxsize: int) -> type[SchemaExtension]:
    """strawberry's ValidationCache (the same validate_document, the same cached list handed out), with the
    identity-keyed cache above."""
    from strawberry.schema.schema import validate_document

    cache = DocumentValidationCache(validate_document, maxsize)

    class CachedValidation(SchemaExtension):
        def on_validate(self) -> Iterator[None]:
            ec = self.execution_context
            ec.pre_execution_errors = cache(ec.schema._schema, ec.graphql_document, ec.validation_rules)
            yield

    return CachedValidation


_validate_quietly = DocumentValidationCache(lambda schema, document, rules: validate(schema, document, rules, max_errors=20, hide_suggestions=True), 256)


class HideSuggestionsValidation(SchemaExtension):
    """Validation with hide_suggestions=True, cached per document like strawberry's ValidationCache (which it
    replaces: strawberry skips its own validation when pre_execution_errors is already set)."""

    def on_validate(self) -> Iterator[None]:
        ec = self.execution_context
        if ec.pre_execution_errors is None and ec.validation_rules and ec.graphql_document is not None:
            ec.pre_execution_errors = list(_validate_quietly(ec.schema._schema, ec.graphql_document, tuple(ec.validation_rules)))
        yield


def hide_suggestions_in_execution(base: type[StrawberryGraphQLCoreExecutionContext]) -> type[StrawberryGraphQLCoreExecutionContext]:
    """An execution context class whose variable coercion hides suggestions too ("Field 'emial' … Did you mean")."""

    class HideSuggestionsExecutionContext(base):  # type: ignore[valid-type,misc]
        @classmethod
        def build(cls, *args: Any, **kwargs: Any) -> Any:
            kwargs["hide_suggestions"] = True
            return super().build(*args, **kwargs)

    return HideSuggestionsExecutionContext


class ClientErrorCodes(SchemaExtension):
    """Every client error carries a code: a validation or coercion error (graphql-core gives none) gets
    GRAPHQL_VALIDATION_FAILED, or BAD_USER_INPUT for a variable's value (a bad Decimal, an Int out of range)."""

    def on_operation(self) -> Iterator[None]:
        yield
        add_client_codes(self.execution_context.result)


def add_client_codes(result: Any) -> None:
    for error in (result.errors if result is not None else None) or ():
        if error.path is not None or (error.extensions and "code" in error.extensions):
            continue
        code = "BAD_USER_INPUT" if error.message.startswith("Variable ") else "GRAPHQL_VALIDATION_FAILED"
        error.extensions = {**(error.extensions or {}), "code": code}


def request_steps(settings: ParseSettings, rules: tuple[type[ValidationRule], ...]) -> type[SchemaExtension]:
    """MaskUnexpectedErrors, ClientErrorCodes, parse_limits, PrependValidationRules and VariablesGuard as ONE
    extension, in that list order (issue 15: strawberry builds a context manager per extension and hook on every
    request; five extensions that each do a few lines cost more in that machinery than in their work).
    on_operation: the parse limits, then the prepended rules; after the operation, the codes of client errors
    first, then the masking (extensions exit in reverse order). on_execute: the variables' strings (the first
    on_execute of the list, as VariablesGuard was)."""

    class RequestSteps(SchemaExtension):
        def on_operation(self) -> Iterator[None]:
            ec = self.execution_context
            ec.parse_options.update(  # type: ignore[call-arg]
                max_lexical_tokens=settings.max_tokens, max_comments=settings.max_comments,
                max_source_length=settings.max_source_length,
            )
            ec.validation_rules = rules + tuple(ec.validation_rules)
            yield
            add_client_codes(ec.result)
            mask_errors(ec)

        def on_execute(self) -> Iterator[None]:
            check_variables(self.execution_context.variables)
            yield

    return RequestSteps
