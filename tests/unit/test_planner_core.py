"""The read planner's pure parts (issue 15): the switch, SQL formatting helpers, field collection, the plan cache."""

from __future__ import annotations

import pytest
from graphql import parse

from app.infra.settings import Settings
from graphql_schema.schema import schema
from resolvers.planner.api import PlanCache
from resolvers.planner.core import Bind, Compiler, Plan, Unsupported, add, json_object, literal


@pytest.mark.parametrize(("value", "expected"), [(None, True), ("true", True), ("1", True), ("false", False), ("0", False),
                                                 ("off", False), ("OFF", False), (" no ", False)])
def test_the_switch(monkeypatch: pytest.MonkeyPatch, value: str | None, expected: bool) -> None:
    if value is None:
        monkeypatch.delenv("OMS_READ_PLANNER", raising=False)
    else:
        monkeypatch.setenv("OMS_READ_PLANNER", value)
    assert Settings.from_env().read_planner is expected
    assert Settings().read_planner is True


def test_sql_helpers() -> None:
    assert literal("it's") == "'it''s'"
    assert add("0", "1", "x.c", "2") == "(x.c + 3)"
    assert add("0", "0") == "0"
    assert json_object([("a", "1")]) == "json_build_object('a', 1)"
    with pytest.raises(Unsupported):
        json_object([(f"k{i}", "1") for i in range(51)])


def compiler(document: str, variables: dict[str, object] | None = None) -> tuple[Compiler, object]:
    parsed = parse(document)
    fragments = {d.name.value: d for d in parsed.definitions if d.kind == "fragment_definition"}  # type: ignore[attr-defined]
    operation = next(d for d in parsed.definitions if d.kind == "operation_definition")  # type: ignore[attr-defined]
    return Compiler(schema._schema, fragments, variables or {}, frozenset({"admin"})), operation


def test_collect_follows_graphql_core() -> None:
    c, operation = compiler("""query($yes: Boolean!) { orders { edges { node {
        a: number number ... on Order { status } ...F ...F ... on Node { id } email @skip(if: $yes) channel @include(if: $yes) } } } }
        fragment F on Order { number placedAt }""", {"yes": True})
    selection = operation.selection_set.selections[0].selection_set.selections[0].selection_set.selections[0].selection_set  # type: ignore[attr-defined]
    keys = [s.key for s in c.collect(c.object_type("Order"), [selection])]
    assert keys == ["a", "number", "status", "placedAt", "id", "channel"]
    assert [shape.name for shape in c.shapes] == ["var:yes", "var:yes"]


def test_plan_cache_keys_plans_by_their_shapes() -> None:
    cache = PlanCache(size=2)
    plan = Plan("SELECT 1", ())
    key = ("doc", None, "orders", "Query.orders", None, frozenset())
    project = [lambda bind: bind.variables.get("x") is True]
    cache.store(key, ("var:x",), project, (True,), plan)
    assert cache.find(key, Bind({}, {"x": True})) == (True, plan)
    assert cache.find(key, Bind({}, {"x": False})) == (False, None)
    cache.store(key, ("var:x",), project, (False,), None)  # not compilable with x false: remembered too
    assert cache.find(key, Bind({}, {"x": False})) == (True, None)
    for other in ("b", "c"):
        cache.store((other,), (), [], (), plan)
    assert cache.find(key, Bind({}, {"x": True})) == (False, None)  # the oldest key went
