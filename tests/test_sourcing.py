"""Sourcing rules as data (issue 19), through the API on PostgreSQL: setSourcingRules / sourcingRules, each strategy
changing where placeOrder reserves, exclusions, a channel-specific rule, country before zone, the PLACED event's
explanation, the locked re-plan under the same rule, and no rules = today's placement.

Fixture: warehouses ES (priority 1, Spain), PT (2, Portugal), FR (3, France), serving WEB and MARKETPLACE; X and Y
stocked everywhere, Z 3 / 3 / 5. The default carrier (CORREOS, seeded): DOMESTIC 2 days, PT 3, EU 5.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select, text

from app.catalog import service as catalog
from app.orders import service as orders
from app.orders.enums import OrderEventType
from app.orders.service import LineRequest, PlaceOrderRequest
from models import Allocation, OrderEvent, StockLevel, Warehouse
from resolvers.ids import from_global_id
from tests import factories
from tests.conftest import make_key

SET_RULES = """
mutation($input: SetSourcingRulesInput!) {
  setSourcingRules(input: $input) {
    rules { position name channel countries zones deliveryType strategy fallbackStrategy ranking exclude }
    userErrors { field code message }
  }
}"""
RULES = "{ sourcingRules { position name strategy ranking exclude countries zones channel } }"
PLACE = """
mutation($input: PlaceOrderInput!) {
  placeOrder(input: $input) { order { id number } userErrors { field code message } }
}"""


def address(country: str) -> dict[str, str]:
    return {"name": "Ana", "line1": "Rue 1", "city": "City", "postalCode": "12345", "country": country}


async def three_warehouses(db: Any) -> None:
    for code, country, priority in (("ES", "ES", 1), ("PT", "PT", 2), ("FR", "FR", 3)):
        await factories.warehouse(db, code, ["WEB", "MARKETPLACE"])
        async with db.engine.begin() as conn:
            await conn.execute(text("UPDATE warehouses SET country = :c, priority = :p WHERE code = :code"),
                               {"c": country, "p": priority, "code": code})
    for sku in ("X", "Y", "Z"):
        await factories.product(db, sku)
    for code in ("ES", "PT", "FR"):
        await factories.stock(db, "X", code, 10)
        await factories.stock(db, "Y", code, 10)
    for code, units in (("ES", 3), ("PT", 3), ("FR", 5)):
        await factories.stock(db, "Z", code, units)


async def set_rules(gql: Any, *rules: dict[str, Any]) -> dict[str, Any]:
    return (await gql(SET_RULES, {"input": {"rules": list(rules)}}))["data"]["setSourcingRules"]


async def place(gql: Any, lines: dict[str, int], *, country: str = "FR", channel: str = "WEB") -> str:
    body = await gql(PLACE, {"input": {"channel": channel, "email": "buyer@example.com", "shippingAddress": address(country),
                                       "lines": [{"sku": s, "quantity": q} for s, q in lines.items()]}})
    assert body["data"]["placeOrder"]["userErrors"] == [], body
    return body["data"]["placeOrder"]["order"]["id"]


async def reserved_at(db: Any, order_gid: str) -> dict[tuple[str, str], int]:
    decoded = from_global_id(order_gid)
    assert decoded is not None
    async with db.read() as session:
        rows = (await session.execute(
            select(Warehouse.code, Allocation.sku, Allocation.quantity).join(Warehouse, Warehouse.id == Allocation.warehouse_id)
            .where(Allocation.order_id == decoded[1])
        )).all()
    got: dict[tuple[str, str], int] = {}
    for code, sku, quantity in rows:
        got[(code, sku)] = got.get((code, sku), 0) + quantity
    return got


async def placed_data(db: Any, order_gid: str) -> dict[str, Any]:
    decoded = from_global_id(order_gid)
    assert decoded is not None
    async with db.read() as session:
        return (await session.execute(
            select(OrderEvent.data).where(OrderEvent.order_id == decoded[1], OrderEvent.type == OrderEventType.PLACED)
        )).scalar_one()


XY = {"X": 2, "Y": 2}


# --- the list itself -------------------------------------------------------------------------------------------------


async def test_set_replaces_the_whole_list_and_reads_back_in_order(gql, db) -> None:
    await three_warehouses(db)
    first = await set_rules(gql, {"strategy": "PRIORITY"}, {"strategy": "RANKING", "ranking": ["FR"]})
    assert [r["position"] for r in first["rules"]] == [0, 1]
    answer = await set_rules(gql, {"strategy": "CLOSEST_COMPLETE", "name": "France", "countries": ["fr"], "fallbackStrategy": "FEWEST_SHIPMENTS",
                                   "ranking": ["PT"], "exclude": ["ES"]},
                             {"strategy": "FEWEST_SHIPMENTS", "zones": ["EU", "eu"], "channel": "MARKETPLACE", "deliveryType": "SHIP"})
    assert answer["userErrors"] == []
    assert answer["rules"] == [
        {"position": 0, "name": "France", "channel": None, "countries": ["FR"], "zones": [], "deliveryType": None, "strategy": "CLOSEST_COMPLETE",
         "fallbackStrategy": "FEWEST_SHIPMENTS", "ranking": ["PT"], "exclude": ["ES"]},
        {"position": 1, "name": None, "channel": "MARKETPLACE", "countries": [], "zones": ["EU"], "deliveryType": "SHIP",
         "strategy": "FEWEST_SHIPMENTS", "fallbackStrategy": None, "ranking": [], "exclude": []},
    ]
    read = (await gql(RULES))["data"]["sourcingRules"]
    assert [(r["position"], r["strategy"]) for r in read] == [(0, "CLOSEST_COMPLETE"), (1, "FEWEST_SHIPMENTS")]
    assert (await set_rules(gql))["rules"] == []
    assert (await gql(RULES))["data"]["sourcingRules"] == []


async def test_invalid_rules_are_refused_with_field_paths_and_nothing_changes(gql, db) -> None:
    await three_warehouses(db)
    await set_rules(gql, {"strategy": "RANKING", "ranking": ["FR"]})
    answer = await set_rules(gql, {"strategy": "PRIORITY"},
                             {"strategy": "RANKING", "ranking": ["PT", "NOPE"], "exclude": ["GONE"], "countries": ["ES", "XX"], "zones": ["MARS"]},
                             {"strategy": "RANKING"},
                             {"strategy": "PRIORITY", "fallbackStrategy": "RANKING"},
                             {"strategy": "CLOSEST_COMPLETE", "fallbackStrategy": "CLOSEST_COMPLETE", "name": "n" * 101})
    assert answer["rules"] is None
    assert sorted((e["code"], ".".join(e["field"])) for e in answer["userErrors"]) == sorted([
        ("NOT_FOUND", "input.rules.1.ranking.1"),
        ("NOT_FOUND", "input.rules.1.exclude.0"),
        ("INVALID_INPUT", "input.rules.1.countries.1"),
        ("INVALID_INPUT", "input.rules.1.zones.0"),
        ("INVALID_INPUT", "input.rules.2.ranking"),
        ("INVALID_INPUT", "input.rules.3.fallbackStrategy"),
        ("INVALID_INPUT", "input.rules.4.fallbackStrategy"),
        ("INVALID_INPUT", "input.rules.4.name"),
    ])
    too_many = await set_rules(gql, *[{"strategy": "PRIORITY"}] * 101)
    assert [(e["code"], e["field"]) for e in too_many["userErrors"]] == [("LIMIT_EXCEEDED", ["input", "rules"])]
    assert [(r["strategy"], r["ranking"]) for r in (await gql(RULES))["data"]["sourcingRules"]] == [("RANKING", ["FR"])]
    assert len((await set_rules(gql, *[{"strategy": "PRIORITY"}] * 100))["rules"]) == 100


async def test_the_rules_need_stock_scopes(gql, db) -> None:
    reader = await make_key(db, "stock:read")
    orders_only = await make_key(db, "orders:read", "orders:write")
    refused = await gql(SET_RULES, {"input": {"rules": []}}, token=reader)
    assert refused["data"] is None or refused["data"]["setSourcingRules"] is None
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await gql(RULES, token=reader))["data"]["sourcingRules"] == []
    assert (await gql(RULES, token=orders_only))["errors"][0]["extensions"]["code"] == "FORBIDDEN"


# --- each strategy changes where the units are reserved -----------------------------------------------------------


async def test_without_rules_placement_is_todays(gql, db) -> None:
    await three_warehouses(db)
    order = await place(gql, XY)
    assert await reserved_at(db, order) == {("ES", "X"): 2, ("ES", "Y"): 2}
    data = await placed_data(db, order)
    assert set(data) == {"lines", "total", "currency"}  # the PLACED event exactly as before rules existed


async def test_each_strategy_picks_its_warehouses(gql, db) -> None:
    await three_warehouses(db)
    chosen = {}
    for strategy, extra in (("PRIORITY", {}), ("RANKING", {"ranking": ["PT", "FR"]}), ("CLOSEST_COMPLETE", {}), ("FEWEST_SHIPMENTS", {})):
        assert (await set_rules(gql, {"strategy": strategy, **extra}))["userErrors"] == []
        chosen[strategy] = await reserved_at(db, await place(gql, XY, country="FR"))
    assert chosen == {
        "PRIORITY": {("ES", "X"): 2, ("ES", "Y"): 2},  # lowest priority with everything
        "RANKING": {("PT", "X"): 2, ("PT", "Y"): 2},  # first ranked with everything
        "CLOSEST_COMPLETE": {("FR", "X"): 2, ("FR", "Y"): 2},  # FR -> FR: 2 days; ES/PT -> FR: 5
        "FEWEST_SHIPMENTS": {("ES", "X"): 2, ("ES", "Y"): 2},  # one parcel; priority breaks the tie
    }
    # where no warehouse has everything: FEWEST_SHIPMENTS sends two parcels where PRIORITY sends three
    await set_rules(gql, {"strategy": "PRIORITY"})
    assert await reserved_at(db, await place(gql, {"Z": 8})) == {("ES", "Z"): 3, ("PT", "Z"): 3, ("FR", "Z"): 2}
    for code, units in (("ES", 3), ("PT", 3), ("FR", 2)):  # the same free stock again: 3 / 3 / 5
        await factories.stock(db, "Z", code, units)
    await set_rules(gql, {"strategy": "FEWEST_SHIPMENTS"})
    assert await reserved_at(db, await place(gql, {"Z": 8})) == {("FR", "Z"): 5, ("ES", "Z"): 3}


async def test_closest_complete_falls_back_when_no_warehouse_has_everything(gql, db) -> None:
    await three_warehouses(db)
    await set_rules(gql, {"strategy": "CLOSEST_COMPLETE", "fallbackStrategy": "FEWEST_SHIPMENTS"})
    order = await place(gql, {"Z": 8, "X": 1})
    assert await reserved_at(db, order) == {("ES", "X"): 1, ("ES", "Z"): 3, ("FR", "Z"): 5}  # two parcels
    sourcing = (await placed_data(db, order))["sourcing"]
    assert (sourcing["strategy"], sourcing["fallback"], sourcing["why"]) == (
        "CLOSEST_COMPLETE", "FEWEST_SHIPMENTS", "no warehouse has everything: fallback FEWEST_SHIPMENTS")


async def test_an_excluded_warehouse_is_not_used(gql, db) -> None:
    await three_warehouses(db)
    await set_rules(gql, {"strategy": "CLOSEST_COMPLETE", "exclude": ["FR"]})
    order = await place(gql, XY, country="FR")
    assert await reserved_at(db, order) == {("ES", "X"): 2, ("ES", "Y"): 2}  # ES and PT tie on 5 days: priority
    assert (await placed_data(db, order))["sourcing"]["excluded"] == ["FR"]
    # and an order the remaining warehouses cannot fill is refused, though FR has the units
    await set_rules(gql, {"strategy": "PRIORITY", "exclude": ["FR"]})
    body = await gql(PLACE, {"input": {"channel": "WEB", "email": "b@example.com", "shippingAddress": address("FR"),
                                       "lines": [{"sku": "Z", "quantity": 7}]}})
    assert [(e["code"], e["field"]) for e in body["data"]["placeOrder"]["userErrors"]] == [("OUT_OF_STOCK", ["input", "lines", "0", "sku"])]


async def test_a_channel_specific_rule(gql, db) -> None:
    await three_warehouses(db)
    await set_rules(gql, {"strategy": "RANKING", "channel": "MARKETPLACE", "ranking": ["FR"]})
    assert await reserved_at(db, await place(gql, XY, channel="WEB")) == {("ES", "X"): 2, ("ES", "Y"): 2}
    assert await reserved_at(db, await place(gql, XY, channel="MARKETPLACE")) == {("FR", "X"): 2, ("FR", "Y"): 2}


async def test_a_country_rule_beats_a_zone_rule(gql, db) -> None:
    await three_warehouses(db)
    await set_rules(gql, {"strategy": "RANKING", "zones": ["EU"], "ranking": ["PT"]},
                    {"strategy": "CLOSEST_COMPLETE", "countries": ["FR"]})
    to_france = await place(gql, XY, country="FR")
    to_germany = await place(gql, XY, country="DE")
    assert await reserved_at(db, to_france) == {("FR", "X"): 2, ("FR", "Y"): 2}
    assert await reserved_at(db, to_germany) == {("PT", "X"): 2, ("PT", "Y"): 2}
    assert (await placed_data(db, to_france))["sourcing"]["rule"] == 1
    assert (await placed_data(db, to_germany))["sourcing"]["rule"] == 0


async def test_the_placed_event_explains_the_choice(gql, db) -> None:
    await three_warehouses(db)
    await set_rules(gql, {"strategy": "CLOSEST_COMPLETE", "name": "closest for France", "countries": ["FR"], "exclude": ["PT"]})
    order = await place(gql, XY, country="FR")
    data = await placed_data(db, order)
    assert (data["lines"], data["currency"]) == (2, "EUR")
    assert data["sourcing"] == {
        "rule": 0, "name": "closest for France", "strategy": "CLOSEST_COMPLETE", "destinationZone": "DOMESTIC",
        "considered": [
            {"warehouse": "ES", "fills": True, "linesFilled": 2, "transitDays": 5, "zone": "EU"},
            {"warehouse": "FR", "fills": True, "linesFilled": 2, "transitDays": 2, "zone": "DOMESTIC"},
        ],
        "excluded": ["PT"], "chosen": ["FR"], "why": "closest warehouse with everything: FR (2 transit days)",
    }


async def test_the_locked_re_plan_uses_the_same_rule_and_the_event_explains_what_was_reserved(db) -> None:
    # given: CLOSEST_COMPLETE plans FR; before the reservation FR's X goes (another transaction, committed)
    await three_warehouses(db)
    from app.orders import sourcing

    await db.run(lambda uow: sourcing.set_rules(uow=uow, rules=[sourcing.RuleSpec(strategy="CLOSEST_COMPLETE", countries=["FR"])]))
    request = PlaceOrderRequest(channel="WEB", email="a@example.com", lines=[LineRequest("X", 2), LineRequest("Y", 2)],  # type: ignore[arg-type]
                                shipping_address={**factories.ADDRESS, "country": "FR"})

    async def work(uow):  # type: ignore[no-untyped-def]
        planned = await orders.plan_placement(uow=uow, request=request)
        assert isinstance(planned, orders.Placement)
        assert {p.warehouse_id for p in planned.picks} == {await warehouse_id(db, "FR")}
        await db.run(lambda other: catalog.adjust_stock(uow=other, sku="X", warehouse_code="FR", delta=-9, reason="damaged"))
        order, stocked = await orders.create_order(uow=uow, placement=planned, estimated_delivery_date=None)
        reserved = await orders.reserve_for_order(uow=uow, order=order, placement=planned, stocked=stocked)
        assert reserved.picks != planned.picks  # it re-planned on locked rows
        return order

    order = await db.run(work)
    # then: the re-plan chose the closest complete warehouse left (ES and PT tie on 5 days: ES by priority), not a split
    async with db.read() as session:
        rows = (await session.execute(
            select(Warehouse.code, Allocation.sku, Allocation.quantity).join(Warehouse, Warehouse.id == Allocation.warehouse_id)
            .where(Allocation.order_id == order.id)
        )).all()
        data = (await session.execute(select(OrderEvent.data).where(OrderEvent.order_id == order.id, OrderEvent.type == "PLACED"))).scalar_one()
        fr_x = (await session.execute(select(StockLevel.reserved).join(Warehouse).where(Warehouse.code == "FR", StockLevel.sku == "X"))).scalar_one()
    assert sorted(rows) == [("ES", "X", 2), ("ES", "Y", 2)]
    assert fr_x == 0
    assert data["sourcing"]["chosen"] == ["ES"]
    assert {c["warehouse"]: c["fills"] for c in data["sourcing"]["considered"]} == {"ES": True, "PT": True, "FR": False}


async def warehouse_id(db: Any, code: str) -> Any:
    async with db.read() as session:
        return (await session.execute(select(Warehouse.id).where(Warehouse.code == code))).scalar_one()


async def test_concurrent_sets_leave_one_whole_list(gql, db) -> None:
    # given: four different lists set at once; then: the list in force is exactly one of them, never a mix
    await three_warehouses(db)
    lists = [[{"strategy": "RANKING", "ranking": [code], "name": f"{code}-{i}"} for i in range(5)] for code in ("ES", "PT", "FR", "ES")]
    answers = await asyncio.gather(*(set_rules(gql, *rules) for rules in lists))
    assert all(a["userErrors"] == [] for a in answers)
    final = [(r["name"], r["ranking"]) for r in (await gql(RULES))["data"]["sourcingRules"]]
    assert final in [[(r["name"], r["ranking"]) for r in rules] for rules in lists]
