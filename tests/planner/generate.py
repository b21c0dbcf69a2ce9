"""The generated corpus: documents from the schema (hypothesis-graphql) over the planner's root fields, enriched.

hypothesis-graphql draws the selection: which fields, how deep, inline fragments on the Node interface's
types. `Enricher` then rewrites each document with further draws from the same Hypothesis `data`:

- arguments from the seeded data (`Pools`): real global IDs, order numbers, tracking pairs, SKUs, invoice
  numbers, page sizes (mostly small; sometimes 0, 100, 101, -1), `after` cursors from earlier pages of the
  same list (sometimes from another list, or garbage), OrderFilter / OrderSort / ReturnFilter values, plus a
  few wrong ones (unknown IDs, IDs of another type, malformed IDs);
- arguments (and fields inside input objects) moved into variables, some with a default value in the
  declaration instead of a value;
- random aliases, @include/@skip on fields and fragments with variables (or literals);
- selection sets moved into named fragments (on the object type or on Node), wrapped in inline fragments
  (with and without a type condition), `... on Node { id }` added where the type implements Node;
- an operation name sometimes.

Every enriched document is validated against the schema; an invalid one is dropped (counted), never sent.
"""

from __future__ import annotations

import itertools
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import graphql
from graphql import (
    ArgumentNode,
    DirectiveNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLInterfaceType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    NamedTypeNode,
    NameNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableDefinitionNode,
    VariableNode,
    get_named_type,
)
from graphql.utilities import ast_from_value
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import from_schema, nodes

SDL = (Path(__file__).resolve().parents[2] / "graphql_schema" / "schema.graphql").read_text()
ROOTS = ("orders", "order", "node", "shipments", "invoices", "invoice", "products", "stockLevels", "returns", "trackOrder")
MAX_ALIASES = 20  # the server refuses more than 30 (Settings.max_aliases)
OMIT = object()

# Custom scalars in hypothesis-graphql's own arguments (most are replaced by the Enricher anyway).
CUSTOM_SCALARS = {
    "Decimal": st.sampled_from(["1.00", "0", "-5.5"]).map(nodes.String),
    "Date": st.sampled_from(["2026-01-31", "2026-12-31"]).map(nodes.String),
    "DateTime": st.sampled_from(["2026-01-31T10:00:00+00:00", "2026-11-30T23:59:59.999999+00:00"]).map(nodes.String),
    "JSON": st.sampled_from(["x"]).map(nodes.String),
}


@dataclass
class Pools:
    """Values from the seeded database, read once (planner off, admin key) before the corpus is drawn."""

    ids: dict[str, list[str]] = field(default_factory=dict)        # node type -> global IDs
    order_numbers: list[str] = field(default_factory=list)
    pairs: list[tuple[str, str]] = field(default_factory=list)     # trackOrder (number, email)
    emails: list[str] = field(default_factory=list)
    invoice_numbers: list[str] = field(default_factory=list)
    skus: list[str] = field(default_factory=list)
    warehouse_codes: list[str] = field(default_factory=list)
    times: list[str] = field(default_factory=list)                 # placedAt / updatedAt values
    cursors: dict[str, list[str]] = field(default_factory=dict)    # list name (e.g. "orders:NUMBER:ASC", "events") -> cursors

    def all_ids(self) -> list[str]:
        return [i for ids in self.ids.values() for i in ids]


BAD_IDS = ["", "not-an-id", "T3JkZXI6bm90LWEtdXVpZA", "Tm9wZTowMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDA",
           "T3JkZXI6MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAw"]  # garbage, Order:not-a-uuid, Nope:<uuid>, Order:<zero uuid>
BAD_CURSORS = ["", "bm90LWEtY3Vyc29y", "!!!", "eyJ4IjogMX0"]  # empty, "not-a-cursor", not base64, {"x": 1}


class Enricher:
    """Rewrites one generated document with draws from Hypothesis's `data` (see the module docstring)."""

    def __init__(self, schema: GraphQLSchema, rnd: random.Random, pools: Pools) -> None:
        self.schema, self.rnd, self.pools = schema, rnd, pools
        self.variables: dict[str, Any] = {}
        self.definitions: list[VariableDefinitionNode] = []
        self.fragments: list[FragmentDefinitionNode] = []
        self.counter = itertools.count(1)
        self.aliases = 0

    # -- draws (from one seeded Random that Hypothesis draws: uniform, and the same every run) ---------
    def chance(self, p: float) -> bool:
        return self.rnd.random() < p

    def pick(self, values: list[Any] | tuple[Any, ...], fallback: Any = OMIT) -> Any:
        return self.rnd.choice(values) if values else fallback

    def page_size(self) -> Any:
        if self.chance(0.6):
            return self.rnd.randint(0, 6)
        return self.pick([1, 2, 3, 10, 20, 50, 100, 101, -1, OMIT, OMIT, OMIT])

    def cursor(self, pool: str) -> Any:
        roll = self.rnd.random()
        if roll < 0.45:
            return self.pick(self.pools.cursors.get(pool, []))
        if roll < 0.9:
            return OMIT
        if roll < 0.95:
            return self.pick([c for name, cs in self.pools.cursors.items() if name != pool for c in cs])
        return self.pick(BAD_CURSORS)

    def some_id(self, kind: str | None) -> Any:
        roll = self.rnd.random()
        if roll < 0.75:
            return self.pick(self.pools.ids.get(kind, []) if kind else self.pools.all_ids(), "")
        if roll < 0.88:
            return self.pick(self.pools.all_ids(), "")
        return self.pick(BAD_IDS)

    def subset(self, values: list[str]) -> list[str]:
        return self.rnd.sample(values, self.rnd.randint(0, min(3, len(values))))

    def time(self) -> Any:
        if self.chance(0.8):
            return self.pick(self.pools.times, "2026-01-01T00:00:00+00:00")
        return self.pick(["2026-01-01T00:00:00+00:00", "2099-01-01T00:00:00Z", "2026-11-30T12:00:00.5+01:00"])

    def order_filter(self) -> Any:
        out: dict[str, Any] = {}
        for name, make in (("status", lambda: self.subset(list(self.schema.type_map["OrderStatus"].values))),  # type: ignore[attr-defined]
                           ("channel", lambda: self.subset(list(self.schema.type_map["SalesChannel"].values))),  # type: ignore[attr-defined]
                           ("email", lambda: self.pick([*self.pools.emails, "nobody@example.com"])),
                           ("placedAfter", self.time), ("placedBefore", self.time),
                           ("deliveryAtRisk", lambda: self.chance(0.5)), ("updatedAfter", self.time)):
            if self.chance(0.3):
                out[name] = None if self.chance(0.1) else make()
        return out

    def arguments(self, parent: str, name: str) -> dict[str, Any] | None:
        """Values for the arguments of `parent.name` (OMIT = leave out); None: keep hypothesis-graphql's own."""
        p = self.pools
        if parent == "Query" and name in ("orders", "shipments", "invoices", "products", "stockLevels", "returns"):
            args: dict[str, Any] = {"first": self.page_size()}
            pool = name
            if name == "orders":
                args["filter"] = self.order_filter() if self.chance(0.45) else OMIT
                if self.chance(0.5):
                    sort = {"field": self.pick(["PLACED_AT", "NUMBER", "TOTAL"]), "direction": self.pick(["ASC", "DESC"])}
                    args["sort"] = sort
                    pool = f"orders:{sort['field']}:{sort['direction']}"
            if name in ("shipments", "invoices"):
                args["orderId"] = self.some_id("Order") if self.chance(0.3) else OMIT
            if name == "products":
                args["search"] = self.pick(["TSHIRT", "t-shirt", "mug", "sofa", "zzz", "%", "_", ""]) if self.chance(0.4) else OMIT
            if name == "stockLevels":
                args["sku"] = self.pick([*p.skus, "NOPE"]) if self.chance(0.3) else OMIT
                args["warehouseCode"] = self.pick([*p.warehouse_codes, "NOPE"]) if self.chance(0.3) else OMIT
                args["availableBelow"] = self.pick([0, 1, 10, 30, 100, 1000]) if self.chance(0.3) else OMIT
            if name == "returns" and self.chance(0.4):
                args["filter"] = {"status": self.subset(["REQUESTED", "APPROVED", "REJECTED", "RECEIVED"])} if self.chance(0.6) else {
                    "orderId": self.some_id("Order")}
            args["after"] = self.cursor(pool)
            return args
        if parent == "Order" and name == "events":
            return {"first": self.page_size(), "after": self.cursor("events")}
        if parent == "Query" and name == "order":
            how = self.pick(["id", "id", "number", "number", "both", "none"])
            out: dict[str, Any] = {"id": OMIT, "number": OMIT}
            if how in ("id", "both"):
                out["id"] = self.some_id("Order")
            if how in ("number", "both"):
                out["number"] = self.pick([*p.order_numbers, "SO-999999", ""])
            return out
        if parent == "Query" and name == "node":
            return {"id": self.some_id(None)}
        if parent == "Query" and name == "invoice":
            return {"number": self.pick([*p.invoice_numbers, "F2026-999999"])}
        if parent == "Query" and name == "trackOrder":
            number, email = self.pick(p.pairs, ("SO-1", "x@example.com"))
            twist = self.pick(["same", "same", "same", "upper", "wrong-email", "wrong-number"])
            if twist == "upper":
                email = email.upper()
            elif twist == "wrong-email":
                email = "someone@example.com"
            elif twist == "wrong-number":
                number = "SO-999999"
            return {"number": number, "email": email}
        return None

    # -- rewriting --------------------------------------------------------------------------------
    def variable(self, type_: GraphQLInputType, value: Any) -> VariableNode:
        name = f"v{next(self.counter)}"
        declared = type_
        if not isinstance(type_, GraphQLNonNull) and value is not None and self.chance(0.3):
            declared = GraphQLNonNull(type_)  # a non-null variable into a nullable argument is allowed
        default = None
        if self.chance(0.15) and not isinstance(declared, GraphQLNonNull):
            default = ast_from_value(value, type_)  # the value comes from the declaration's default
        else:
            self.variables[name] = value
        self.definitions.append(VariableDefinitionNode(variable=VariableNode(name=NameNode(value=name)), type=graphql.parse_type(str(declared)),
                                                       default_value=default, directives=()))
        return VariableNode(name=NameNode(value=name))

    def value_node(self, type_: GraphQLInputType, value: Any) -> Any:
        if self.chance(0.35):
            return self.variable(type_, value)
        named = get_named_type(type_)
        if isinstance(named, GraphQLInputObjectType) and isinstance(value, dict) and value and self.chance(0.4):
            # One field of the input object as a variable, the others literal.
            inner = []
            for key, item in value.items():
                field_type = named.fields[key].type
                node = self.variable(field_type, item) if self.chance(0.5) else ast_from_value(item, field_type)
                inner.append(graphql.ObjectFieldNode(name=NameNode(value=key), value=node))
            return graphql.ObjectValueNode(fields=tuple(inner))
        return ast_from_value(value, type_)

    def condition(self) -> DirectiveNode:
        name = self.pick(["include", "skip"])
        flag = self.chance(0.7)
        if self.chance(0.7):
            var_name = f"b{next(self.counter)}"
            self.variables[var_name] = flag
            self.definitions.append(VariableDefinitionNode(variable=VariableNode(name=NameNode(value=var_name)), type=graphql.parse_type("Boolean!"),
                                                           directives=()))
            value: Any = VariableNode(name=NameNode(value=var_name))
        else:
            value = graphql.BooleanValueNode(value=flag)
        return DirectiveNode(name=NameNode(value=name), arguments=(ArgumentNode(name=NameNode(value="if"), value=value),))

    def field(self, parent: GraphQLObjectType | GraphQLInterfaceType, node: FieldNode) -> FieldNode:
        definition = parent.fields.get(node.name.value)
        if definition is None:  # __typename
            return node
        arguments = node.arguments
        wanted = self.arguments(parent.name, node.name.value)
        if wanted is not None:
            arguments = tuple(ArgumentNode(name=NameNode(value=k), value=self.value_node(definition.args[k].type, v))
                              for k, v in wanted.items() if v is not OMIT)
        selection_set = node.selection_set
        if selection_set is not None:
            selection_set = self.selections(get_named_type(definition.type), selection_set)  # type: ignore[arg-type]
        alias = node.alias
        if alias is None and self.aliases < MAX_ALIASES and self.chance(0.2):
            self.aliases += 1
            alias = NameNode(value=f"a{next(self.counter)}_{node.name.value}")
        directives = tuple(node.directives or ())
        if self.chance(0.1):
            directives += (self.condition(),)
        return FieldNode(alias=alias, name=node.name, arguments=tuple(arguments), directives=directives, selection_set=selection_set)

    def selections(self, type_: GraphQLObjectType | GraphQLInterfaceType, selection_set: SelectionSetNode) -> SelectionSetNode:
        out: list[Any] = []
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                out.append(self.field(type_, selection))
            elif isinstance(selection, InlineFragmentNode):
                on = self.schema.type_map[selection.type_condition.name.value] if selection.type_condition else type_
                inner = self.selections(on, selection.selection_set)  # type: ignore[arg-type]
                out.append(InlineFragmentNode(type_condition=selection.type_condition, directives=selection.directives, selection_set=inner))
            else:
                out.append(selection)
        node_type = self.schema.type_map["Node"]
        implements_node = (isinstance(type_, GraphQLObjectType) and node_type in type_.interfaces) or type_ is node_type
        if implements_node and self.chance(0.25):
            out.insert(self.rnd.randint(0, len(out)), InlineFragmentNode(
                type_condition=NamedTypeNode(name=NameNode(value="Node")), directives=(),
                selection_set=SelectionSetNode(selections=(FieldNode(name=NameNode(value="id"), arguments=(), directives=()),))))
        result = SelectionSetNode(selections=tuple(out))
        return self.wrap(type_, result)

    def wrap(self, type_: GraphQLObjectType | GraphQLInterfaceType, selection_set: SelectionSetNode) -> SelectionSetNode:
        how = self.pick(["as-is", "as-is", "as-is", "named", "named-part", "inline-typed", "inline-bare"])
        directives: tuple[DirectiveNode, ...] = (self.condition(),) if how != "as-is" and self.chance(0.2) else ()
        if how in ("named", "named-part"):
            name = f"F{next(self.counter)}"
            selections = list(selection_set.selections)
            keep: list[Any] = []
            if how == "named-part" and len(selections) > 1:
                cut = self.rnd.randint(1, len(selections) - 1)
                keep, selections = selections[:cut], selections[cut:]
            self.fragments.append(FragmentDefinitionNode(name=NameNode(value=name), type_condition=NamedTypeNode(name=NameNode(value=type_.name)),
                                                         directives=(), selection_set=SelectionSetNode(selections=tuple(selections))))
            return SelectionSetNode(selections=(*keep, FragmentSpreadNode(name=NameNode(value=name), directives=directives)))
        if how == "inline-typed":
            return SelectionSetNode(selections=(InlineFragmentNode(type_condition=NamedTypeNode(name=NameNode(value=type_.name)),
                                                                   directives=directives, selection_set=selection_set),))
        if how == "inline-bare":
            return SelectionSetNode(selections=(InlineFragmentNode(type_condition=None, directives=directives, selection_set=selection_set),))
        return selection_set

    def document(self, document: DocumentNode) -> DocumentNode:
        operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
        query_type = self.schema.query_type
        assert query_type is not None
        out: list[Any] = []
        for selection in operation.selection_set.selections:
            assert isinstance(selection, FieldNode)
            out.append(self.field(query_type, selection))
        name = NameNode(value=f"Q{next(self.counter)}") if self.chance(0.3) else None
        operation = OperationDefinitionNode(operation=operation.operation, name=name, variable_definitions=tuple(self.definitions),
                                            directives=(), selection_set=SelectionSetNode(selections=tuple(out)))
        return DocumentNode(definitions=(operation, *self.fragments))


def _leaf(type_: Any) -> bool:
    return graphql.is_leaf_type(get_named_type(type_))


# Types outside the order graph the issue lists as compiled: half the random walks never reach them, so that more
# documents are whole plans (a selection that reaches them is a partial plan or none, resolved the ordinary way).
OUTSIDE_GRAPH = frozenset({"Return", "ReturnLine", "Inquiry", "InquiryMessage", "PickList"})
# ... and a third of the walks under the order/shipment roots stay on the order graph's core (orders, lines, events, shipments).
ORDER_CORE = OUTSIDE_GRAPH | {"Invoice", "InvoiceLine", "TaxBreakdown", "Payment", "Product", "StockLevel"}


def random_selection(schema: GraphQLSchema, type_: GraphQLObjectType | GraphQLInterfaceType, rnd: random.Random, depth: int,
                     avoid: frozenset[str] = frozenset()) -> SelectionSetNode:
    """A random subset of `type_`'s fields (at least one leaf), object fields followed with a chance that falls with depth;
    on an interface, inline fragments on some of its object types. Connection wrappers (edges, node) do not count as depth."""
    selections: list[Any] = []
    if isinstance(type_, GraphQLInterfaceType):
        if rnd.random() < 0.6:
            selections.append(FieldNode(name=NameNode(value="id"), arguments=(), directives=()))
        possibles = [t for t in schema.get_possible_types(type_) if t.name not in avoid]
        for possible in rnd.sample(possibles, rnd.randint(1, min(4, len(possibles)))):
            selections.append(InlineFragmentNode(type_condition=NamedTypeNode(name=NameNode(value=possible.name)), directives=(),
                                                 selection_set=random_selection(schema, possible, rnd, depth, avoid)))
        return SelectionSetNode(selections=tuple(selections))
    fields = list(type_.fields.items())
    leaves = [name for name, definition in fields if _leaf(definition.type)]
    objects = [(name, definition) for name, definition in fields if not _leaf(definition.type) and get_named_type(definition.type).name not in avoid]
    chosen = set(rnd.sample(leaves, rnd.randint(1, min(len(leaves), 7)))) if leaves else set()
    wrapper = type_.name.endswith(("Connection", "Edge"))
    for name, _definition in objects:
        p = 0.9 if wrapper and name in ("edges", "node") else (0.55, 0.4, 0.25, 0.12, 0.0)[min(depth, 4)]
        if rnd.random() < p:
            chosen.add(name)
    if rnd.random() < 0.05:
        chosen.add("__typename")
    for name, definition in [*fields, ("__typename", None)]:
        if name not in chosen:
            continue
        child = None
        if definition is not None and not _leaf(definition.type):
            named = get_named_type(definition.type)
            child = random_selection(schema, named, rnd, depth if wrapper or named.name.endswith(("Connection", "Edge")) else depth + 1,  # type: ignore[arg-type]
                                     avoid)
        selections.append(FieldNode(name=NameNode(value=name), arguments=(), directives=(), selection_set=child))
    if not selections:
        selections.append(FieldNode(name=NameNode(value="__typename"), arguments=(), directives=()))
    rnd.shuffle(selections)
    return SelectionSetNode(selections=tuple(selections))


def random_document(schema: GraphQLSchema, root: str, rnd: random.Random, avoid: frozenset[str] = frozenset()) -> DocumentNode:
    query_type = schema.query_type
    assert query_type is not None
    named = get_named_type(query_type.fields[root].type)
    field_node = FieldNode(name=NameNode(value=root), arguments=(), directives=(),
                           selection_set=random_selection(schema, named, rnd, 0, avoid))  # type: ignore[arg-type]
    return DocumentNode(definitions=(OperationDefinitionNode(operation=graphql.OperationType.QUERY, variable_definitions=(), directives=(),
                                                             selection_set=SelectionSetNode(selections=(field_node,))),))


@dataclass(frozen=True)
class Generated:
    root: str
    query: str
    variables: dict[str, Any]
    source: str  # "hypothesis-graphql" or "random-walk"


def corpus(pools: Pools, per_root: int, roots: tuple[str, ...] = ROOTS) -> tuple[list[Generated], int]:
    """For each root, per_root // 3 documents drawn by hypothesis-graphql (derandomized) and the rest by
    `random_document` (seeded by root and index), all enriched; returns the distinct valid ones and how many
    enriched documents failed validation (dropped). The same documents every run, given the same Pools."""
    schema = graphql.build_schema(SDL)
    found: list[Generated] = []
    seen: set[tuple[str, str]] = set()
    invalid = 0

    def keep(root: str, document: DocumentNode, rnd: random.Random, source: str) -> None:
        nonlocal invalid
        enricher = Enricher(schema, rnd, pools)
        enriched = enricher.document(document)
        if graphql.validate(schema, enriched):
            invalid += 1
            return
        text = graphql.print_ast(enriched)
        key = (text, json.dumps(enricher.variables, sort_keys=True))
        if key not in seen:
            seen.add(key)
            found.append(Generated(root, text, enricher.variables, source))

    def drawer(root: str) -> Any:
        @settings(max_examples=per_root // 3, derandomize=True, database=None, deadline=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(document=from_schema(SDL, fields=[root], custom_scalars=CUSTOM_SCALARS, print_ast=lambda d: d, allow_x00=False), data=st.data())
        def draw(document: DocumentNode, data: Any) -> None:
            keep(root, document, random.Random(data.draw(st.integers(0, 2**32), label="enrichment seed")), "hypothesis-graphql")

        return draw

    for root in roots:
        drawer(root)()
        for index in range(per_root - per_root // 3):
            rnd = random.Random(f"{root}:{index}")
            avoid = (frozenset(), OUTSIDE_GRAPH, ORDER_CORE if root in ("orders", "order", "node", "shipments", "trackOrder") else OUTSIDE_GRAPH)[index % 3]
            if root == "returns":
                avoid = frozenset()
            keep(root, random_document(schema, root, rnd, avoid), rnd, "random-walk")
    return found, invalid
