"""The planned-mutation path (resolvers/planner/mutations.py) answers as the ordinary path does: every case runs
three ways on the same data — once with the path switched off, once after the document is known through graphql-core's
executor (the compiled steps switched off), once through the compiled steps (resolvers/planner/compiled.py, issue 16
session 8) from the HTTP view's planned lane — and the HTTP answers (status, content type, body with its data, errors
and extensions) and the request log line's fields must be the same, up to what differs between any two placements
(ids, numbers, cursors, request ids, durations)."""

from __future__ import annotations

import re
from typing import Any

import pytest
import pytest_asyncio

from app.flows import placement
from app.infra.faults import Unavailable
from resolvers.planner.mutations import MUTATIONS
from server import observability
from server.http_protocol import LANE
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
ALIASED = """
mutation Aliased($order: PlaceOrderInput!) {
  placed: placeOrder(input: $order) {
    kind: __typename
    eventCursor
    problems: userErrors { __typename path: field code message }
    order {
      __typename id ref: number status paymentStatus channel email
      subtotal { amount currency } taxTotal { amount } shippingTotal { __typename currency amount } sum: total { amount currency }
    }
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


class AccessLog:
    """The request log line's fields (server/observability.py RequestLog), without what varies (the duration; the
    statement count: the first request of a key looks it up, later ones find it cached)."""

    def __init__(self) -> None:
        self.lines: list[dict[str, Any]] = []

    def info(self, event: str, **fields: Any) -> None:
        self.lines.append({"event": event, **{k: v for k, v in fields.items() if k not in ("duration_ms", "sql")}})


async def post(client: Any, token: str | None, query: str, variables: Any, operation_name: str | None = None, *,
               body: dict[str, Any] | None = None, accept: str | None = None) -> tuple[int, str, str, dict[str, Any]]:
    """(status, content type, normalised body, the request log line's fields)."""
    if body is None:
        body = {"query": query, "variables": variables}
        if operation_name is not None:
            body["operationName"] = operation_name
    recorder = AccessLog()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(observability, "access", recorder)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if accept is not None:
            headers["Accept"] = accept
        response = await client.post("/graphql", json=body, headers=headers)
    (line,) = recorder.lines
    return response.status_code, response.headers.get("content-type", ""), normal(response.text), line


async def both_ways(client: Any, token: str | None, query: str, variables: Any, monkeypatch: pytest.MonkeyPatch, *,
                    operation_name: str | None = None, taken: bool = True, compiled: bool = True,
                    body: dict[str, Any] | None = None, accept: str | None = None) -> tuple[Any, Any]:
    """(ordinary answer, compiled answer) of the same request; the document is made known first by an ordinary
    success. `taken`: the planned-mutation path answers it; `compiled`: through the compiled steps, from the planned
    lane. The executor's answer (the compiled steps switched off) must be the ordinary one too."""
    with monkeypatch.context() as off:
        async def never(*_args: Any, **_kwargs: Any) -> None:
            return None

        off.setattr(MUTATIONS, "execute", never)
        ordinary = await post(client, token, query, variables, operation_name, body=body, accept=accept)
    warm_input = order([("A", 1)])
    warm = await post(client, ADMIN[0], query, {"order": warm_input["input"]} if "$order" in query else warm_input, operation_name)
    assert re.search(r'"(userErrors|problems)":\[\]', warm[2]), warm
    served, by_compiled, lane = MUTATIONS.served, MUTATIONS.compiled, LANE.mutations
    with monkeypatch.context() as executor_only:
        executor_only.setattr(MUTATIONS, "compile", False)
        executed = await post(client, token, query, variables, operation_name, body=body, accept=accept)
    assert MUTATIONS.served == served + (1 if taken else 0) and MUTATIONS.compiled == by_compiled
    assert executed == ordinary
    served, lane = MUTATIONS.served, LANE.mutations
    planned = await post(client, token, query, variables, operation_name, body=body, accept=accept)
    assert MUTATIONS.served == served + (1 if taken else 0)
    assert MUTATIONS.compiled == by_compiled + (1 if taken and compiled else 0)
    assert LANE.mutations == lane + (1 if taken else 0)  # the planned lane served it (the view's `run` skipped)
    return ordinary, planned


ADMIN: list[str] = []


@pytest_asyncio.fixture
async def setup(db, admin_token) -> None:
    ADMIN[:] = [admin_token]
    MUTATIONS.entries.clear()
    await factories.basic_catalog(db)
    await factories.stock(db, "A", "MAD", 1000)
    await factories.stock(db, "B", "MAD", 100)  # (each case places three times)


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


def variables_of(query: str, variables: dict[str, Any]) -> dict[str, Any]:
    return {"order": variables["input"]} if query is ALIASED else variables


@pytest.mark.parametrize("query", [PLACE, WIDE, ALIASED])
@pytest.mark.parametrize("case", list(CASES))
async def test_each_case_answers_the_same_both_ways(client, db, setup, monkeypatch, case, query) -> None:
    variables = variables_of(query, CASES[case])
    if case == "idempotent retry":  # every run is a retry of a first placement
        assert re.search(r'"(userErrors|problems)":\[\]', (await post(client, ADMIN[0], query, variables))[2])
    ordinary, planned = await both_ways(client, ADMIN[0], query, variables, monkeypatch, compiled=query is not WIDE)
    assert planned == ordinary


def test_the_compared_documents_select_every_field_the_compiled_payload_knows() -> None:
    """The differential cases above cover each field the serializer writes (resolvers/planner/compiled.py)."""
    from resolvers.planner import compiled

    for name in ["__typename", "eventCursor", "userErrors", "field", "code", "message", "order", "id", "number", "status",
                 "paymentStatus", "channel", "email", "amount", "currency", *compiled.MONEY_FIELDS]:
        assert re.search(rf"\b{name}\b", ALIASED), name


@pytest.mark.parametrize(("variables", "taken", "compiled"), [
    pytest.param(None, False, False, id="variables missing"),
    pytest.param({}, False, False, id="input missing"),
    pytest.param({"input": None}, False, False, id="input null"),
    pytest.param({"input": {k: v for k, v in CASES["placed"]["input"].items() if k != "email"}}, False, False, id="required field missing"),
    pytest.param(order([("A", 1)], channel="TELEPATHY"), False, False, id="unknown enum value"),
    pytest.param(order([("A", 1)], colour="red"), False, False, id="unknown field"),
    pytest.param(order([("A", 2.0)]), True, False, id="an integral float (graphql-core's)"),
    pytest.param({**order([("A", 1)]), "unused": 1}, True, False, id="an extra variable (graphql-core's)"),
    pytest.param({"input": {**order([("A", 1)])["input"], "lines": {"sku": "A", "quantity": 1}}}, True, False,
                 id="one line not in a list (graphql-core's)"),
    pytest.param({"input": {**order([])["input"], "lines": [{"sku": "MTO", "quantity": 1, "customization": {"engraving": "Ana"}}]}},
                 True, False, id="a customization (the ordinary conversion)"),
    pytest.param({"input": {**order([])["input"], "lines": [{"sku": "A", "quantity": 1, "customization": None}]}},
                 True, True, id="a null customization"),
    pytest.param(order([("A", 1)], idempotencyKey=None, billingAddress=None, payment=None, deliveryMethod=None, shippingMethod=None),
                 True, True, id="every optional field null"),
    pytest.param(order([("A", 1)], deliveryMethod={"type": "PICKUP", "warehouseCode": "NOPE"}), True, True, id="an unknown pickup point"),
    pytest.param(order([("A", 1)], shippingMethod="NOPE:NONE"), True, True, id="an unknown shipping method"),
    pytest.param(order([("A", 2**31 - 1)]), True, True, id="the largest Int"),
    pytest.param(order([("A", 2**31)]), False, False, id="beyond Int"),
])
async def test_variables_of_every_shape_answer_the_same(client, db, setup, monkeypatch, variables, taken, compiled) -> None:
    ordinary, planned = await both_ways(client, ADMIN[0], PLACE, variables, monkeypatch, taken=taken, compiled=compiled)
    assert planned == ordinary


async def test_a_declined_card_answers_the_same_through_the_compiled_steps(client, db, setup, monkeypatch) -> None:
    ordinary, planned = await both_ways(client, ADMIN[0], PLACE, CASES["card declined"], monkeypatch)
    assert planned == ordinary and "PAYMENT_DECLINED" in planned[2] and planned[3]["outcome"] == "USER_ERROR"


async def test_the_request_log_line_is_the_same(client, db, setup, monkeypatch) -> None:
    ordinary, planned = await both_ways(client, ADMIN[0], PLACE, CASES["placed"], monkeypatch)
    assert planned[3] == ordinary[3]
    assert {k: planned[3][k] for k in ("operation", "op_type", "outcome", "client_operation", "status")} == \
        {"operation": "placeOrder", "op_type": "mutation", "outcome": "OK", "client_operation": "Place", "status": 200}


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
    assert planned[3]["outcome"] == "INTERNAL_SERVER_ERROR"


@pytest.mark.parametrize("outcome", ["NOT_WRITTEN", "UNKNOWN"])
async def test_an_unavailable_database_answers_the_same_way(client, db, setup, monkeypatch, outcome) -> None:
    original = placement.place

    async def unavailable(*args: Any, **kwargs: Any) -> Any:
        if kwargs["request"].email == "down@example.com":
            raise Unavailable(outcome, "LOCK_TIMEOUT")
        return await original(*args, **kwargs)

    monkeypatch.setattr(placement, "place", unavailable)
    ordinary, planned = await both_ways(client, ADMIN[0], ALIASED, {"order": order([("A", 1)], email="down@example.com")["input"]},
                                        monkeypatch)
    assert planned == ordinary and "UNAVAILABLE" in planned[2], planned


async def test_the_graphql_response_media_type_answers_the_same_way(client, db, setup, monkeypatch) -> None:
    for variables, taken in [(CASES["placed"], True), (CASES["out of stock"], True), (None, False)]:
        ordinary, planned = await both_ways(client, ADMIN[0], PLACE, variables, monkeypatch, taken=taken, compiled=taken,
                                            accept="application/graphql-response+json")
        assert planned == ordinary and planned[1].startswith("application/graphql-response+json"), planned
    assert ordinary[0] == 400  # a variable missing: a request error


async def test_a_document_of_two_operations_answers_the_same_by_name(client, db, setup, monkeypatch) -> None:
    ordinary, planned = await both_ways(client, ADMIN[0], TWO, CASES["placed"], monkeypatch, operation_name="Place")
    assert planned == ordinary


async def test_a_document_with_a_directive_is_not_taken(client, db, setup, monkeypatch) -> None:
    query = PLACE.replace("eventCursor }", "eventCursor @include(if: true) }")
    ordinary, planned = await both_ways(client, ADMIN[0], query, CASES["placed"], monkeypatch, taken=False)
    assert planned == ordinary


async def test_the_values_the_comparison_hides_are_right_through_the_compiled_steps(client, db, setup, monkeypatch) -> None:
    """id, number and eventCursor differ between two placements, so the comparisons above hide them: each must name
    the order placed and its last event, read back through the API."""
    headers = {"Authorization": f"Bearer {ADMIN[0]}"}
    warm = await client.post("/graphql", json={"query": ALIASED, "variables": {"order": order([("A", 1)])["input"]}}, headers=headers)
    assert warm.json()["data"]["placed"]["problems"] == []
    compiled = MUTATIONS.compiled
    reply = (await client.post("/graphql", json={"query": ALIASED, "variables": {"order": CASES["placed"]["input"]}}, headers=headers)).json()
    assert MUTATIONS.compiled == compiled + 1
    placed = reply["data"]["placed"]
    back = (await client.post("/graphql", headers=headers, json={
        "query": "query($id: ID!) { order(id: $id) { id number email total { amount } events { edges { cursor } } } }",
        "variables": {"id": placed["order"]["id"]}})).json()["data"]["order"]
    assert back["id"] == placed["order"]["id"] and back["number"] == placed["order"]["ref"]
    assert back["email"] == placed["order"]["email"] and back["total"]["amount"] == placed["order"]["sum"]["amount"]
    assert placed["eventCursor"] == back["events"]["edges"][-1]["cursor"]
