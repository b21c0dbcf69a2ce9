"""Issue 19 review F13: placeOrder reads the shipping rates in its catalogue statement (one more column, NULL
without rates), so it sends the same statements with or without rates, and none of its own for them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select

from app.fulfilment import rates
from models import Order
from models.fulfilment import Carrier
from tests import factories
from tests.test_placement_statements import COUNT, PLACE, order_input


async def place_counted(gql: Any, db: Any) -> tuple[list[str], dict[str, Any]]:
    with db.count_statements() as counted:
        body = await gql(PLACE, order_input([("A", 1), ("B", 1), ("C", 1)]))
    assert body["data"]["placeOrder"]["userErrors"] == [], body
    return counted.statements, body["data"]["placeOrder"]["order"]


def reads_rates_alone(statement: str) -> bool:
    s = " ".join(statement.split()).lower()
    return "shipping_rates" in s and "from products" not in s


async def test_place_order_sends_no_statement_for_the_shipping_rates(gql, db) -> None:
    await factories.basic_catalog(db)
    await gql(COUNT)  # the key is looked up once, then cached
    without, _ = await place_counted(gql, db)
    assert not any(reads_rates_alone(s) for s in without), "\n".join(without)
    # with rates: charged, and still the same number of statements
    async with db.read() as session:
        carrier = (await session.execute(select(Carrier.code).where(Carrier.active).order_by(Carrier.code))).scalars().first()
    assert carrier is not None
    await db.run(lambda uow: rates.set_rates(uow=uow, rows=[rates.RateInput(carrier, "EXPRESS", "ES", "EUR", "9.90"),
                                                             rates.RateInput(carrier, "STANDARD", "ES", "EUR", "4.90", free_above="500.00"),
                                                             rates.RateInput(carrier, "STANDARD", "ES", "USD", "1.00")]))
    with_rates, order = await place_counted(gql, db)
    assert not any(reads_rates_alone(s) for s in with_rates), "\n".join(with_rates)
    assert len(with_rates) == len(without)
    async with db.read() as session:
        placed = (await session.execute(select(Order).where(Order.number == order["number"]))).scalar_one()
    assert (placed.shipping_method, placed.shipping_total) == (f"{carrier}:STANDARD", Decimal("4.90"))
