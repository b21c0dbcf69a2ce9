"""The planned lane of the HTTP view (server/http_protocol.py, issue 15): a POST of a query the planner's fast path
remembers is answered without strawberry's request pipeline — with the same status, headers and body bytes as the
ordinary pipeline (`run`) gives; anything else goes through `run` as before."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from server import http_protocol
from server.http_protocol import LANE
from tests import test_planner
from tests.conftest import make_key

both, switch, seeded, full_bucket = test_planner.both, test_planner.switch, test_planner.seeded, test_planner.full_bucket

ORDER = "query One($number: String!) { order(number: $number) { id number status total { amount currency } } }"
PAGE = "query Page($after: String) { orders(first: 2, after: $after) { edges { cursor node { number } } pageInfo { endCursor } } }"


def _shown(response: httpx.Response) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() != "x-request-id"]
    return response.status_code, headers, response.content


async def _both_ways(client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, body: bytes, headers: dict[str, str]) -> tuple[Any, int]:
    """The request through the lane, then through `run` alone: the same status, headers and bytes; and whether the lane answered."""
    served = LANE.served
    monkeypatch.setattr(LANE, "on", True)
    lane = await client.post("/graphql", content=body, headers=headers)
    answered = LANE.served - served
    monkeypatch.setattr(LANE, "on", False)
    ordinary = await client.post("/graphql", content=body, headers=headers)
    monkeypatch.setattr(LANE, "on", True)
    assert _shown(lane) == _shown(ordinary), (lane.text, ordinary.text)
    return lane, answered


async def test_the_lane_answers_a_remembered_query_with_the_bytes_of_the_ordinary_pipeline(
        both, seeded, client: httpx.AsyncClient, admin_token: str, monkeypatch: pytest.MonkeyPatch):
    # given: documents the ordinary path has answered entirely from the planner (so the fast path remembers them)
    numbers = [o.number for o in seeded]
    await both(ORDER, {"number": numbers[0]})
    first = await both(PAGE, {})
    auth = {"Authorization": f"Bearer {admin_token}", "Content-Type": "application/json"}

    def body(query: str, variables: Any = None, **extra: Any) -> bytes:
        return orjson.dumps({"query": query, "variables": variables, **extra})

    # when / then: each of these is answered by the lane, byte for byte as `run` answers it
    lane_cases = [
        (body(ORDER, {"number": numbers[1]}), auth),
        (body(ORDER, {"number": "SO-NOPE"}), auth),  # null
        (body(ORDER, {"number": numbers[2]}, operationName="One"), auth),
        (body(ORDER, {"number": numbers[2]}, extensions={}), auth),
        (body(ORDER, {"number": numbers[3]}), {**auth, "Accept": "application/graphql-response+json"}),
        (body(ORDER, {"number": numbers[3]}), {**auth, "Content-Type": "application/json; charset=utf-8"}),
        (body(PAGE, None), auth),
        (body(PAGE, {"after": first["data"]["orders"]["pageInfo"]["endCursor"]}), auth),
    ]
    for content, headers in lane_cases:
        await _both_ways(client, monkeypatch, content, headers)  # (an operationName the fast path has not seen yet: remembered now)
        response, answered = await _both_ways(client, monkeypatch, content, headers)
        assert answered == 1, response.text
        assert response.status_code == 200 and b'"errors"' not in response.content

    # and these are not the lane's: `run` answers them, as it did before the lane
    other_cases = [
        (body(ORDER, {"number": 5}), auth),  # a variable of the wrong type
        (body(ORDER, {"number": numbers[1]}), {"Content-Type": "application/json"}),  # no key: FORBIDDEN
        (body(ORDER, {"number": numbers[1]}, operationName="Nope"), auth),  # no such operation
        (body(ORDER, {"number": numbers[1]}, extensions={"persistedQuery": 1}), auth),  # extensions the fast path does not take
        (body(ORDER, {"number": numbers[1]}, extensions=[1]), auth),  # 400
        (body(ORDER, [1]), auth),  # 400
        (body(PAGE, {"after": "not-a-cursor"}), auth),  # the planner falls back: the ordinary resolver's refusal
        (b'{"query": ', auth),  # not JSON: 400
        (orjson.dumps([{"query": ORDER, "variables": {"number": numbers[1]}}]), auth),  # a batch
        (body(ORDER, {"number": numbers[1]}), {**auth, "Accept": "text/event-stream"}),  # a stream's Accept
        (body(ORDER, {"number": numbers[1]}), {**auth, "Content-Type": "text/plain"}),  # 400
    ]
    for content, headers in other_cases:
        _response, answered = await _both_ways(client, monkeypatch, content, headers)
        assert answered == 0, content


async def test_a_get_and_the_planner_switched_off_never_take_the_lane(both, seeded, client: httpx.AsyncClient, admin_token: str,
                                                                       switch, monkeypatch: pytest.MonkeyPatch):
    await both(ORDER, {"number": seeded[0].number})
    auth = {"Authorization": f"Bearer {admin_token}"}
    served = LANE.served
    got = await client.get("/graphql", params={"query": ORDER, "variables": orjson.dumps({"number": seeded[0].number}).decode()},
                           headers=auth)
    assert got.status_code == 200 and got.json()["data"]["order"]["number"] == seeded[0].number
    switch(False)
    posted = await client.post("/graphql", json={"query": ORDER, "variables": {"number": seeded[0].number}}, headers=auth)
    assert posted.json()["data"]["order"]["number"] == seeded[0].number
    assert LANE.served == served
    assert http_protocol.LANE is LANE


async def test_a_request_the_lane_lets_through_runs_on_with_its_context_so_nothing_is_asked_twice(
        both, seeded, client: httpx.AsyncClient, db: Any, monkeypatch: pytest.MonkeyPatch):
    # given: a remembered query, and keys the fast path cannot serve: one the database does not know (not cached:
    # each request looks it up) and one without the scope
    await both(ORDER, {"number": seeded[0].number})
    catalog_only = await make_key(db, "stock:read")
    body = orjson.dumps({"query": ORDER, "variables": {"number": seeded[0].number}})
    for token in ("oms_" + "x" * 43, catalog_only):
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        await client.post("/graphql", content=body, headers=headers)  # (a known key is cached from now on)
        texts = {}
        for on in (True, False):
            monkeypatch.setattr(LANE, "on", on)
            with db.count_statements() as counter:
                response = await client.post("/graphql", content=body, headers=headers)
            texts[on] = (response.status_code, response.content, list(counter.statements))
        # then: the same answer and the same statements (the key's lookup once, not once per path)
        assert texts[True] == texts[False], texts
        assert b'"errors"' in texts[True][1]
