"""The document limits still apply when parsing and validation are cached (graphql_schema/schema.py)."""

from __future__ import annotations

ALIASES = "query { " + " ".join(f"a{i}: __typename" for i in range(31)) + " }"
# 2 levels per repetition: 8 repetitions nest well past the depth limit of 12.
DEEP = "query { orders(first: 1) { edges { node { " + "lines { order { " * 8 + "number" + " } }" * 8 + " } } } }"
FINE = "query { __typename }"


async def test_too_many_aliases_are_refused_every_time_not_only_before_the_cache(gql) -> None:
    for _ in range(3):
        # when
        reply = await gql(ALIASES)

        # then
        assert "aliases" in reply["errors"][0]["message"].lower(), reply


async def test_a_too_deep_document_is_refused_every_time(gql) -> None:
    for _ in range(3):
        # when
        reply = await gql(DEEP)

        # then
        assert reply.get("errors"), reply
        assert "depth" in reply["errors"][0]["message"].lower(), reply


async def test_a_cached_valid_document_still_runs(gql) -> None:
    for _ in range(3):
        reply = await gql(FINE)
        assert reply["data"] == {"__typename": "Query"} and "errors" not in reply
