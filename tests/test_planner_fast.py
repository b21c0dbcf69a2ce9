"""The fast path of an all-planned query (resolvers/planner/fast.py, issue 15): once the ordinary path answered a
document entirely from the planner, the same text skips strawberry's per-request machinery — with the same answer,
errors and extensions as planner off; anything not answered by the planner runs the ordinary way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from resolvers.planner.fast import FAST
from tests import test_planner
from tests.conftest import GraphQL, make_key

# the planner off/on fixtures, the seeded orders, the cost bucket held full
both, switch, seeded, full_bucket = test_planner.both, test_planner.switch, test_planner.seeded, test_planner.full_bucket

ORDER = "query One($number: String!) { order(number: $number) { id number status total { amount currency } } }"
PAGE = "query Page($after: String) { orders(first: 2, after: $after) { edges { cursor node { number } } pageInfo { endCursor } } }"
MIXED = "query Mixed($number: String!) { order(number: $number) { number } trackOrder(number: $number, email: \"x@example.com\") { status } }"


async def test_a_repeated_all_planned_query_takes_the_fast_path_with_the_same_answer(both, seeded, gql: GraphQL, switch):
    numbers = [o.number for o in seeded]
    await both(ORDER, {"number": numbers[0]})  # off, on (observed: all planned), on again (fast)
    served = FAST.served
    for number in [*numbers, "SO-NOPE"]:  # other variable values of the same text: fast, and as planner off
        switch(True)
        on = await gql(ORDER, {"number": number})
        switch(False)
        off = await gql(ORDER, {"number": number})
        assert on == off and list(on) == list(off)
        assert on["extensions"]["cost"]["actualQueryCost"] == off["extensions"]["cost"]["actualQueryCost"]
    assert FAST.served == served + len(numbers) + 1


async def test_the_planner_switch_turns_the_fast_path_off(both, seeded, gql: GraphQL, switch):
    await both(ORDER, {"number": seeded[0].number})
    served = FAST.served
    switch(False)
    await gql(ORDER, {"number": seeded[0].number})
    assert FAST.served == served


async def test_what_the_planner_does_not_answer_runs_the_ordinary_way(both, seeded, gql: GraphQL, switch):
    first = await both(PAGE, {})
    served = FAST.served
    # an invalid cursor: the planner falls back, the ordinary resolver refuses it
    refused = await both(PAGE, {"after": "not-a-cursor"}, planned=False)
    assert refused["errors"], refused
    # a variable of the wrong type: the ordinary coercion error
    await both(PAGE, {"after": 5}, planned=False)
    assert FAST.served == served + 0 + 0
    # and a valid cursor is fast again
    await both(PAGE, {"after": first["data"]["orders"]["pageInfo"]["endCursor"]})
    assert FAST.served > served


async def test_a_key_without_the_scope_gets_the_ordinary_refusal(both, seeded, db: Any, gql: GraphQL):
    await both(ORDER, {"number": seeded[0].number})
    served = FAST.served
    catalog_only = await make_key(db, "stock:read")
    refused = await both(ORDER, {"number": seeded[0].number}, token=catalog_only, planned=False)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN", refused
    assert FAST.served == served


async def test_a_document_with_a_root_the_fast_path_does_not_take_never_does(seeded, gql: GraphQL, switch: Callable[[bool], None]):
    switch(True)
    served = FAST.served
    for _ in range(3):
        await gql(MIXED, {"number": seeded[0].number})
    assert FAST.served == served


TWO_ROOTS = """query Two($a: String!, $b: String!) {
  first: order(number: $a) { number status } first: order(number: $a) { id }
  second: order(number: $b) { number total { amount } }
  page: orders(first: 2) { edges { node { number } } }
}"""
SKIPPED = """query Skipped($a: String!, $with: Boolean!) { order(number: $a) { number } other: order(number: $a) @include(if: $with) { id } }"""


async def test_root_fields_resolved_directly_answer_as_graphql_core_does(both, seeded, gql: GraphQL, switch):
    # given: a document of several root fields (aliases, one key asked twice and merged), and one with a root @include
    a, b = seeded[0].number, seeded[1].number
    await both(TWO_ROOTS, {"a": a, "b": b})
    await both(SKIPPED, {"a": a, "with": True})
    direct, served = FAST.direct, FAST.served
    # when: they are asked again, fast, with other values
    for variables in ({"a": b, "b": a}, {"a": "SO-NOPE", "b": b}):
        switch(True)
        on = await gql(TWO_ROOTS, variables)
        switch(False)
        off = await gql(TWO_ROOTS, variables)
        assert on == off and list(on["data"]) == list(off["data"]) == ["first", "second", "page"]
    for flag in (False, True):
        switch(True)
        on = await gql(SKIPPED, {"a": a, "with": flag})
        switch(False)
        assert on == await gql(SKIPPED, {"a": a, "with": flag})
    # then: the root fields were resolved directly, except where a root directive needs graphql-core's collection
    assert FAST.direct == direct + 2 and FAST.served == served + 4
