"""Field collection over a selection set, as graphql-core's collect_fields does it: shared by the cost analysis
(resolvers/cost.py) and the read planner (resolvers/planner/core.py), which differ only in how they read
@skip/@include (the planner records the variables that decide it: they shape its plan)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    NamedTypeNode,
    SelectionSetNode,
    is_abstract_type,
)


def applies(schema: GraphQLSchema, condition: NamedTypeNode | None, object_type: GraphQLObjectType) -> bool:
    """A fragment's type condition holds for `object_type` (no condition, the type itself, or an abstract type it belongs to)."""
    if condition is None:
        return True
    conditional = schema.get_type(condition.name.value)
    if conditional is object_type:
        return True
    return conditional is not None and is_abstract_type(conditional) and schema.is_sub_type(conditional, object_type)


def collect_fields(
    schema: GraphQLSchema, fragments: Mapping[str, FragmentDefinitionNode], object_type: GraphQLObjectType,
    selection_sets: Iterable[SelectionSetNode], included: Callable[[Any], bool], visited: Iterable[str] = (),
) -> dict[str, list[FieldNode]]:
    """Response key -> its field nodes, in order. One visited set for the whole collection, as graphql-core's:
    a fragment spread twice into the same selection set is collected (and executed) once. A per-path set would make
    `fragment F0 { ...F1 ...F1 } fragment F1 { ...F2 ...F2 } …` exponential (it executes in linear time)."""
    fields: dict[str, list[FieldNode]] = {}
    seen = set(visited)

    def walk(selection_set: SelectionSetNode) -> None:
        for selection in selection_set.selections:
            if not included(selection):
                continue
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                fields.setdefault(key, []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                if applies(schema, selection.type_condition, object_type):
                    walk(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = fragments.get(name)
                if fragment is None or name in seen:  # unknown, cyclic or already collected
                    continue
                seen.add(name)
                if applies(schema, fragment.type_condition, object_type):
                    walk(fragment.selection_set)

    for selection_set in selection_sets:
        walk(selection_set)
    return fields
