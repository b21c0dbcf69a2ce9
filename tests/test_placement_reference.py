"""The reference data a placement reads before any lock — the active risk rules with their facts about the
email, and the default carrier — come with the catalogue statement (writes7, session 7), not statements of
their own; read that way they are exactly what `risk.read_rules` and `carriers.default_rules` read."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import time
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import delete, insert, select, text, update

from app.fulfilment import carriers
from app.orders import risk
from app.orders import service as orders
from app.orders.service import LineRequest, PlaceOrderRequest
from models.fulfilment import Carrier
from models.holds import RiskRule
from tests import factories
from tests.paused_provider import pause_authorisation
from tests.test_placement_statements import PLACE, order_input

CARD_PLACE = """
mutation Place($input: PlaceOrderInput!) {
  placeOrder(input: $input) { order { id status risk { level } } userErrors { code field message } eventCursor }
}
"""

ADDRESS = {"name": "Ana", "line1": "Calle Mayor 1", "city": "Madrid", "postal_code": "28013", "country": "ES"}


def request(email: str = "buyer@example.com") -> PlaceOrderRequest:
    return PlaceOrderRequest(channel="WEB", email=email, lines=[LineRequest("A", 1, None)], shipping_address=ADDRESS)


async def set_rules(db, rules: list[tuple[int, str, Any, str, bool]]) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(delete(RiskRule))
        if rules:
            await conn.execute(insert(RiskRule), [{"id": uuid.uuid4(), "position": p, "kind": k, "params": params, "level": level, "active": active}
                                                  for p, k, params, level, active in rules])
            await conn.execute(text("UPDATE risk_rules SET kind = 'NO_SUCH_KIND' WHERE position = 4 AND params = '{}'::jsonb AND level = 'HIGH'"))


async def both_ways(db, email: str) -> tuple[Any, Any]:
    """(rules, carrier) as the catalogue statement brings them, and as their own statements read them, in one transaction."""

    async def work(uow):
        planned = await orders.plan_placement(uow=uow, request=request(email), with_risk=True)
        assert isinstance(planned, orders.Placement) and planned.risk_rules is not None and planned.default_carrier is not None
        alone = await risk.read_rules(uow, email=planned.email), await carriers.default_rules(uow.session)
        return (planned.risk_rules, carriers.default_of(planned.default_carrier)), alone

    return await db.run(work)


@pytest.mark.parametrize("rules", [
    [],
    [(p, k, params, level, True) for p, k, params, level in risk.DEFAULT_RULES],
    [(2, "EMAIL_VELOCITY", {"count": 2, "minutes": 30}, "HIGH", True), (1, "FIRST_ORDER_OVER", {"amount": "10"}, "MEDIUM", True),
     (1, "AMOUNT_OVER", {"amount": 12.5}, "LOW", True), (3, "EMAIL_VELOCITY", {"minutes": "bad"}, "HIGH", True),
     (4, "AMOUNT_OVER", {}, "HIGH", True),  # made malformed by set_rules (an unknown kind: skipped, both ways)
     (5, "COUNTRY_MISMATCH", None, "MEDIUM", False)],
])
async def test_risk_rules_read_with_the_catalogue_are_those_read_alone(db, rules) -> None:
    await factories.basic_catalog(db)
    await set_rules(db, rules)
    for email in ("buyer@example.com", "new@example.com"):
        (with_catalogue, _), (alone, _) = await both_ways(db, email)
        assert with_catalogue == alone
        await factories.place(db, [("A", 1)], email="buyer@example.com")  # the next round sees earlier orders


@pytest_asyncio.fixture
async def carriers_restored(db: Any) -> AsyncIterator[None]:
    """The carriers are reference data the test database keeps between tests: put back every column these tests change."""
    async with db.engine.connect() as conn:
        seeded = [dict(row._mapping) for row in await conn.execute(select(Carrier.code, Carrier.active, Carrier.is_default, Carrier.cutoff_time,
                                                                                  Carrier.transit_days))]
    yield
    async with db.engine.begin() as conn:
        await conn.execute(update(Carrier).values(is_default=False))  # one default at a time (a unique index)
        for row in seeded:
            code = row.pop("code")
            await conn.execute(update(Carrier).where(Carrier.code == code).values(**row))


@pytest.mark.parametrize("setup", ["seeded", "no default", "none active", "seconds in the cut-off"])
async def test_the_default_carrier_read_with_the_catalogue_is_the_one_read_alone(db, setup, carriers_restored) -> None:
    await factories.basic_catalog(db)
    async with db.engine.begin() as conn:
        if setup == "no default":
            await conn.execute(update(Carrier).values(is_default=False))
        elif setup == "none active":
            await conn.execute(update(Carrier).values(active=False))
        elif setup == "seconds in the cut-off":
            await conn.execute(update(Carrier).values(cutoff_time=time(16, 45, 30, 250000), transit_days={"ES": 1, "EU": 4}))
    (_, with_catalogue), (_, alone) = await both_ways(db, "buyer@example.com")
    assert with_catalogue == alone
    if setup == "none active":
        assert with_catalogue == carriers.FALLBACK


async def test_place_order_reads_no_risk_rule_nor_carrier_in_a_statement_of_its_own(gql, db) -> None:
    await factories.basic_catalog(db)
    await set_rules(db, [(p, k, params, level, True) for p, k, params, level in risk.DEFAULT_RULES])
    await gql("{ orders(first: 1) { totalCount } }")  # the key is looked up once, then cached
    with db.count_statements() as counted:
        body = await gql(PLACE, order_input([("A", 1), ("B", 1), ("C", 1)]))
    assert body["data"]["placeOrder"]["userErrors"] == []
    statements = counted.statements
    own = [s for s in statements if ("risk_rules" in s or "carriers" in s) and "FROM products" not in s]
    assert own == [], "\n".join(statements)
    assert len(statements) <= 6, "\n".join(statements)  # main's 8, less the two


async def test_a_card_placement_is_assessed_by_the_rules_of_its_second_transaction(gql, db, monkeypatch) -> None:
    """The card path's second transaction reads the rules with the hold's taking (its own moment, not the first
    step's reading): a rule added while the provider answers applies; no statement reads the rules alone."""
    await factories.basic_catalog(db)
    await set_rules(db, [])
    entered, release = pause_authorisation(monkeypatch)
    await gql("{ orders(first: 1) { totalCount } }")  # the key is looked up once, then cached
    card = {"input": {**order_input([("A", 1)])["input"], "payment": {"method": "CARD", "token": "test_approve"}}}
    with db.count_statements() as counted:
        placing = asyncio.create_task(gql(CARD_PLACE, card))
        await asyncio.wait_for(entered.wait(), 30)
        await set_rules(db, [(1, "AMOUNT_OVER", {"amount": "1"}, "HIGH", True)])  # while the provider answers
        release.set()
        body = await placing
    payload = body["data"]["placeOrder"]
    assert payload["userErrors"] == [] and payload["order"]["status"] == "ON_HOLD"
    assert payload["order"]["risk"]["level"] == "HIGH"
    reads = [s for s in counted.statements if "FROM risk_rules r WHERE r.active" in s]  # (set_rules' own statements aside)
    assert len(reads) == 1 and "placement_attempts" in reads[0], "\n".join(counted.statements)


@pytest.mark.parametrize("setup", ["seeded", "inactive", "seconds in the cut-off"])
async def test_the_charged_methods_carrier_read_with_the_catalogue_is_the_one_read_alone(db, setup, carriers_restored) -> None:
    # given: the carriers as the setup leaves them, and charges naming each carrier (with and without a rate's transit days)
    from app.fulfilment import rates
    from app.orders.pricing import ShippingCharge

    await factories.basic_catalog(db)
    async with db.engine.begin() as conn:
        if setup == "inactive":
            await conn.execute(update(Carrier).values(active=False))
        elif setup == "seconds in the cut-off":
            await conn.execute(update(Carrier).values(cutoff_time=time(16, 45, 30, 250000), transit_days={"ES": 1, "EU": 4}))
        codes = list((await conn.execute(select(Carrier.code).order_by(Carrier.code))).scalars())
    assert codes
    charges: list[ShippingCharge | None] = [None, ShippingCharge("NOBODY:STANDARD", Decimal("1.00"))]
    for code in codes:
        charges += [rates.MethodCharge(f"{code}:STANDARD", Decimal("4.90"), carrier_code=code),
                    rates.MethodCharge(f"{code}:EXPRESS", Decimal("9.90"), carrier_code=code, transit_days=1),
                    ShippingCharge(f"{code}:STANDARD", Decimal("4.90"))]

    async def work(uow):
        planned = await orders.plan_placement(uow=uow, request=request(), with_risk=True)
        assert isinstance(planned, orders.Placement) and planned.carriers is not None
        return [(rates.method_carrier_of(charge, planned.carriers), await rates.method_carrier(uow.session, charge)) for charge in charges]

    # when / then: the catalogue's answer is the one read alone, for every charge (None where nothing or nobody is charged)
    for with_catalogue, alone in await db.run(work):
        assert with_catalogue == alone
