"""The planned-mutation path (resolvers/planner/mutations.py) answers as the ordinary path does: every case runs
both ways on the same data — once with the path switched off, once after the document is known — and the two
HTTP answers (status, content type, body with its data, errors and extensions) must be the same, up to what
differs between any two placements (ids, numbers, cursors, request ids)."""

from __future__ import annotations

import re
from typing import Any

import pytest
import pytest_asyncio

from app.flows import placement
from resolvers.planner.mutations import MUTATIONS
from tests import factories
from tests.conftest import make_key
from tests.factories import ADDRESS_INPUT

PLACE = """
mutation Place($input: PlaceOrderInput!) {
  placeOrder(input: $input) { order { id number status total { amount currency } } userErrors { code field message } eventCursor }
}
"""
WIDE = """
mutation Wide($input: PlaceOrderInput!) {
  placed: placeOrder(input: $input) {
    __typename
    eventCursor
    userErrors { field message code }
    order { __typename id number status paymentStatus channel email total { amount currency } subtotal { amount }
            lines { sku quantity unitPrice { amount } } events { edges { node { type } } } risk { level } }
  }
}
"""
TWO = PLACE + "\nquery Other { orders(first: 1) { totalCount } }\n"


def order(lines: list[tuple[str, int]], **extra: Any) -> dict[str, Any]:
    return {"input": {"channel": "WEB", "email": "buyer@example.com", "lines": [{"sku": s, "quantity": q} for s, q in lines],
                      "shippingAddress": ADDRESS_INPUT, **extra}}


# (the bucket's level depends on the milliseconds between taking and refunding: the same rule either way)
VARYING = re.compile(r'"(id|number|eventCursor)":"[^"]*"|"currentlyAvailable":\d+|\b[0-9a-f]{32}\b|SO-\d+')


def normal(text: str) -> str:
    return VARYING.sub("<varies>", text)


async def post(client: Any, token: str | None, query: str, variables: Any, operation_name: str | None = None) -> tuple[int, str, str]:
    body: dict[str, Any] = {"query": query, "variables": variables}
    if operation_name is not None:
        body["operationName"] = operation_name
    response = await client.post("/graphql", json=body, headers={"Authorization": f"Bearer {token}"} if token else {})
    return response.status_code, response.headers.get("content-type", ""), normal(response.text)


async def both_ways(client: Any, token: str | None, query: str, variables: Any, monkeypatch: pytest.MonkeyPatch, *,
                    operation_name: str | None = None, taken: bool = True) -> tuple[Any, Any]:
    """(ordinary answer, planned answer) of the same request; the document is made known first by an ordinary success."""
    with monkeypatch.context() as off:
        async def never(*_args: Any, **_kwargs: Any) -> None:
            return None

        off.setattr(MUTATIONS, "execute", never)
        ordinary = await post(client, token, query, variables, operation_name)
    warm = await post(client, ADMIN[0], query, order([("A", 1)]), operation_name)
    assert '"userErrors":[]' in warm[2], warm
    served = MUTATIONS.served
    planned = await post(client, token, query, variables, operation_name)
    assert MUTATIONS.served == served + (1 if taken else 0)
    return ordinary, planned


ADMIN: list[str] = []


@pytest_asyncio.fixture
async def setup(db, admin_token) -> None:
    ADMIN[:] = [admin_token]
    MUTATIONS.entries.clear()
    await factories.basic_catalog(db)
    await factories.stock(db, "A", "MAD", 1000)


CASES = {
    "placed": order([("A", 1), ("B", 2), ("MTO", 1)]),
    "unknown sku": order([("NOPE", 1)]),
    "several input problems": order([("A", 0), ("", 1)], email="not-an-email"),
    "out of stock": order([("C", 50)]),
    "merged lines": order([("A", 1), ("A", 2)]),
    "cash on delivery": order([("A", 1)], payment={"method": "CASH_ON_DELIVERY"}),
    "card approved": order([("B", 1)], payment={"method": "CARD", "token": "test_approve"}),
    "card declined": order([("B", 1)], payment={"method": "CARD", "token": "test_decline"}),
    "card failing": order([("B", 1)], payment={"method": "CARD", "token": "test_fail"}),
    "reserved key prefix": order([("A", 1)], idempotencyKey="import:x"),
    "idempotent retry": order([("A", 1)], idempotencyKey="retry-1"),
    "billing country differs": order([("A", 1)], billingAddress={**ADDRESS_INPUT, "country": "FR"}),
}


@pytest.mark.parametrize("query", [PLACE, WIDE])
@pytest.mark.parametrize("case", list(CASES))
async def test_each_case_answers_the_same_both_ways(client, db, setup, monkeypatch, case, query) -> None:
    if case == "idempotent retry":  # both runs are retries of a first placement
        assert '"userErrors":[]' in (await post(client, ADMIN[0], query, CASES[case]))[2]
    ordinary, planned = await both_ways(client, ADMIN[0], query, CASES[case], monkeypatch)
    assert planned == ordinary


async def test_an_unknown_variable_shape_goes_the_ordinary_way_with_the_same_error(client, db, setup, monkeypatch) -> None:
    bad = {"input": {"channel": "WEB", "lines": [{"sku": "A", "quantity": "two"}]}}
    ordinary, planned = await both_ways(client, ADMIN[0], PLACE, bad, monkeypatch, taken=False)
    assert planned == ordinary and "BAD_USER_INPUT" in planned[2]


async def test_a_key_without_the_write_scope_is_refused_the_same_way(client, db, setup, monkeypatch) -> None:
    reader = await make_key(db, "orders:read")
    ordinary, planned = await both_ways(client, reader, PLACE, CASES["placed"], monkeypatch)
    assert planned == ordinary and '"errors"' in planned[2]


async def test_no_key_is_refused_the_same_way(client, db, setup, monkeypatch) -> None:
    ordinary, planned = await both_ways(client, None, PLACE, CASES["placed"], monkeypatch)
    assert planned == ordinary


async def test_an_unexpected_failure_is_masked_the_same_way(client, db, setup, monkeypatch) -> None:
    original = placement.place

    async def broken(*args: Any, **kwargs: Any) -> Any:
        if kwargs["request"].email == "broken@example.com":
            raise RuntimeError("secret detail")
        return await original(*args, **kwargs)

    monkeypatch.setattr(placement, "place", broken)
    ordinary, planned = await both_ways(client, ADMIN[0], PLACE, order([("A", 1)], email="broken@example.com"), monkeypatch)
    assert planned == ordinary and "secret detail" not in planned[2] and '"errors"' in planned[2]


async def test_a_document_of_two_operations_answers_the_same_by_name(client, db, setup, monkeypatch) -> None:
    ordinary, planned = await both_ways(client, ADMIN[0], TWO, CASES["placed"], monkeypatch, operation_name="Place")
    assert planned == ordinary


async def test_a_document_with_a_directive_is_not_taken(client, db, setup, monkeypatch) -> None:
    query = PLACE.replace("eventCursor }", "eventCursor @include(if: true) }")
    ordinary, planned = await both_ways(client, ADMIN[0], query, CASES["placed"], monkeypatch, taken=False)
    assert planned == ordinary
