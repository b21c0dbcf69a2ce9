"""Backorder visibility (issue 19, "the customer informed"): OrderLine.quantityBackordered / expectedAt (batched: one
statement per page, whatever the number of lines), OrderTracking.awaitingStock and BACKORDER_ALLOCATED in the public
timeline (without its data); the read planner falls back for the new fields and gives the same JSON for the rest."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.orders.enums import InventoryPolicy
from resolvers.cost import LeakyBucket
from server.app import GraphQLApp
from tests import factories
from tests.test_backorders import backorder_product, receive, schedule

LINES = """
query Lines($first: Int!) {
  orders(first: $first, sort: {field: PLACED_AT, direction: ASC}) {
    edges { node { email lines { sku quantity quantityBackordered expectedAt } } }
  }
}
"""
TRACK = """
query Track($number: String!, $email: String!) {
  trackOrder(number: $number, email: $email) { status awaitingStock events { type data actor } }
}
"""
TRACK_EVENTS = """
query TrackEvents($number: String!, $email: String!) {
  trackOrder(number: $number, email: $email) { status events { type status previousStatus data actor } }
}
"""


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


@pytest.fixture
async def stocked(db: Any) -> dict[str, Any]:
    """MAD serves WEB; BO (BACKORDER) has 2 on hand, a receipt of 3 in 10 days and one of 4 in 20 days; PLAIN has 5 on hand."""
    await factories.warehouse(db, "MAD", ["WEB"])
    await backorder_product(db)
    await factories.product(db, "PLAIN")
    await factories.stock(db, "BO", "MAD", 2)
    await factories.stock(db, "PLAIN", "MAD", 5)
    now = datetime.now(UTC).replace(microsecond=0)
    soon = await schedule(db, "BO", "MAD", 3, now + timedelta(days=10))
    later = await schedule(db, "BO", "MAD", 4, now + timedelta(days=20))
    return {"soon": soon, "later": later}


@pytest.fixture(autouse=True)
def full_bucket(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cost bucket always full (extensions.cost would otherwise differ between two identical requests)."""
    monkeypatch.setattr(LeakyBucket, "_available", lambda self, key, now: self.capacity)


@pytest.fixture
def planner(app: Any) -> Iterator[Callable[[bool], None]]:
    view = next(route.endpoint for route in app.router.routes if isinstance(getattr(route, "endpoint", None), GraphQLApp))
    original = view.settings

    def set_planner(on: bool) -> None:
        view.settings = dataclasses.replace(original, read_planner=on)

    yield set_planner
    view.settings = original


def planner_statements(statements: list[str]) -> list[str]:
    return [s for s in statements if "json_build_object" in s]


async def test_lines_show_the_units_awaiting_a_receipt_and_when_it_is_expected(db, gql, stocked) -> None:
    soon, later = stocked["soon"], stocked["later"]
    await factories.place(db, [("BO", 2), ("PLAIN", 1)], email="a@example.com")  # on hand only
    await factories.place(db, [("BO", 2)], email="b@example.com")  # 2 claimed on `soon`
    await factories.place(db, [("BO", 3), ("PLAIN", 1)], email="c@example.com")  # 1 on `soon`, 2 on `later`

    with db.count_statements() as counter:
        body = await gql(LINES, {"first": 10})
    assert "errors" not in body, body
    lines = {(e["node"]["email"], line["sku"]): line for e in body["data"]["orders"]["edges"] for line in e["node"]["lines"]}
    assert {key: (line["quantityBackordered"], line["expectedAt"]) for key, line in lines.items()} == {
        ("a@example.com", "BO"): (0, None), ("a@example.com", "PLAIN"): (0, None),
        ("b@example.com", "BO"): (2, iso(soon.expected_at)),
        ("c@example.com", "BO"): (3, iso(soon.expected_at)),  # the earliest receipt of those the units wait for
        ("c@example.com", "PLAIN"): (0, None),
    }
    # batched: one statement for every line of the page (no N+1)
    assert len([s for s in counter.statements if "stock_receipts" in s]) == 1, counter.statements

    # `soon` arrives (3 units): B (placed first) gets 2, C 1; C's last 2 still wait, now for `later` only
    await receive(db, soon.id, 3)
    body = await gql(LINES, {"first": 10})
    lines = {(e["node"]["email"], line["sku"]): line for e in body["data"]["orders"]["edges"] for line in e["node"]["lines"]}
    assert (lines[("b@example.com", "BO")]["quantityBackordered"], lines[("b@example.com", "BO")]["expectedAt"]) == (0, None)
    assert (lines[("c@example.com", "BO")]["quantityBackordered"], lines[("c@example.com", "BO")]["expectedAt"]) == (2, iso(later.expected_at))

    await receive(db, later.id, 4)
    body = await gql(LINES, {"first": 10})
    assert all(line["quantityBackordered"] == 0 and line["expectedAt"] is None
               for e in body["data"]["orders"]["edges"] for line in e["node"]["lines"])


async def test_a_cancelled_backorder_awaits_nothing(db, gql, stocked) -> None:
    from app.flows import cancellation

    order = await factories.place(db, [("BO", 4)], email="a@example.com")
    body = await gql(LINES, {"first": 10})
    assert body["data"]["orders"]["edges"][0]["node"]["lines"][0]["quantityBackordered"] == 2
    await db.run(lambda uow: cancellation.cancel_order(uow=uow, order_id=order.id, reason="changed mind"), actor="test")
    body = await gql(LINES, {"first": 10})
    assert body["data"]["orders"]["edges"][0]["node"]["lines"][0] == {"sku": "BO", "quantity": 4, "quantityBackordered": 0, "expectedAt": None}


async def test_made_to_order_lines_await_nothing_and_cost_no_statement(db, gql) -> None:
    await factories.warehouse(db, "MAD", ["WEB"])
    await factories.product(db, "MTO", made_to_order=True, lead_time_days=5)
    await factories.place(db, [("MTO", 2)])
    with db.count_statements() as counter:
        body = await gql(LINES, {"first": 10})
    assert body["data"]["orders"]["edges"][0]["node"]["lines"][0]["quantityBackordered"] == 0
    assert not [s for s in counter.statements if "stock_receipts" in s]


async def test_the_tracking_view_says_stock_is_awaited_and_shows_its_arrival_without_details(db, gql, stocked) -> None:
    order = await factories.place(db, [("BO", 3)], email="c@example.com")  # 2 on hand + 1 on `soon`
    plain = await factories.place(db, [("PLAIN", 1)], email="p@example.com")
    pair = {"number": order.number, "email": "c@example.com"}
    view = (await gql(TRACK, pair, token=None))["data"]["trackOrder"]
    assert view["awaitingStock"] is True
    assert "BACKORDER_ALLOCATED" not in [e["type"] for e in view["events"]]
    assert (await gql(TRACK, {"number": plain.number, "email": "p@example.com"}, token=None))["data"]["trackOrder"]["awaitingStock"] is False

    await receive(db, stocked["soon"].id, 1)
    view = (await gql(TRACK, pair, token=None))["data"]["trackOrder"]
    assert view["awaitingStock"] is False
    allocated = [e for e in view["events"] if e["type"] == "BACKORDER_ALLOCATED"]
    assert allocated == [{"type": "BACKORDER_ALLOCATED", "data": None, "actor": None}]  # the receipt, SKU and units stay internal
    # the view still has no lines: OrderTracking exposes none of quantityBackordered / expectedAt
    refused = await gql("query($n: String!, $e: String!) { trackOrder(number: $n, email: $e) { lines { sku } } }",
                        {"n": order.number, "e": "c@example.com"}, token=None)
    assert refused["errors"] and "lines" in refused["errors"][0]["message"]


async def test_the_planner_falls_back_for_the_new_fields_and_answers_the_rest_the_same(db, gql, stocked, planner) -> None:
    order = await factories.place(db, [("BO", 3)], email="c@example.com")
    await receive(db, stocked["soon"].id, 1)  # a BACKORDER_ALLOCATED event on its timeline
    await factories.place(db, [("BO", 2), ("PLAIN", 1)], email="d@example.com")  # still awaiting
    pair = {"number": order.number, "email": "c@example.com"}

    for document, variables, token, planned in (
        (LINES, {"first": 10}, True, False),  # quantityBackordered / expectedAt: not mapped, the whole root falls back
        (TRACK, pair, None, False),  # awaitingStock: not mapped
        (TRACK_EVENTS, pair, None, True),  # the public timeline with BACKORDER_ALLOCATED: planned, the same JSON
        ("query { orders(first: 10) { edges { node { email lines { sku quantity quantityShipped } } } } }", {}, True, True),
    ):
        planner(False)
        off = await gql(document, variables, token=token)
        planner(True)
        await gql(document, variables, token=token)  # compiled (and cached) on the first request
        with db.count_statements() as counter:
            on = await gql(document, variables, token=token)
        assert "errors" not in on, on
        assert json.dumps(on) == json.dumps(off), (document, on, off)
        assert bool(planner_statements(counter.statements)) is planned, (document, counter.statements)
    events = (await gql(TRACK_EVENTS, pair, token=None))["data"]["trackOrder"]["events"]
    assert "BACKORDER_ALLOCATED" in [e["type"] for e in events]


async def test_a_preorder_line_awaits_every_unit(db, gql) -> None:
    from datetime import date

    await factories.warehouse(db, "MAD", ["WEB"])
    await backorder_product(db, "PRE", policy=InventoryPolicy.PREORDER, available_from=date.today() + timedelta(days=30))
    await factories.stock(db, "PRE", "MAD", 5)
    receipt = await schedule(db, "PRE", "MAD", 3, datetime.now(UTC).replace(microsecond=0) + timedelta(days=15))
    await factories.place(db, [("PRE", 3)])
    line = (await gql(LINES, {"first": 1}))["data"]["orders"]["edges"][0]["node"]["lines"][0]
    assert (line["quantityBackordered"], line["expectedAt"]) == (3, iso(receipt.expected_at))
