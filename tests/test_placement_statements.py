"""placeOrder's statements (issue 16): few, the reference data read before any stock lock, the reservation
made in one statement right before the commit; a hot SKU under concurrency never oversells."""

from __future__ import annotations

import asyncio
import random
import uuid

from sqlalchemy import func, insert, select

from models import Allocation, Order, StockLevel
from models.holds import RiskRule
from tests import factories
from tests.factories import ADDRESS_INPUT

PLACE = """
mutation Place($input: PlaceOrderInput!) {
  placeOrder(input: $input) { order { id number status total { amount currency } } userErrors { code field message } eventCursor }
}
"""
COUNT = "{ orders(first: 1) { totalCount } }"
# The raw asyncpg transaction of benchmarks/load.py `place_raw`, BEGIN and COMMIT aside: products, lock stock,
# customer, order, lines, reserved, movements, allocations, event counter, event.
RAW_BASELINE = 10


def order_input(lines: list[tuple[str, int]]) -> dict:
    return {"input": {"channel": "WEB", "email": "buyer@example.com", "lines": [{"sku": s, "quantity": q} for s, q in lines],
                      "shippingAddress": ADDRESS_INPUT}}


def locks_stock(statement: str) -> bool:
    s = " ".join(statement.split()).upper()
    return "STOCK_LEVELS" in s and ("FOR UPDATE" in s or "UPDATE STOCK_LEVELS" in s)


async def test_place_order_sends_at_most_the_raw_transactions_statements_plus_two(gql, db) -> None:
    await factories.basic_catalog(db)
    await gql(COUNT)  # the key is looked up once, then cached
    with db.count_statements() as counted:
        body = await gql(PLACE, order_input([("A", 1), ("B", 1), ("C", 1)]))
    assert body["data"]["placeOrder"]["userErrors"] == []
    statements = counted.statements
    # (the customer's find-or-add, sent on the unit's connection before its transaction, is counted too:
    # app/orders/service.py `customer_first`)
    assert any("INSERT INTO customers" in s for s in statements), "\n".join(statements)
    assert len(statements) <= RAW_BASELINE + 2, "\n".join(statements)
    assert not any("api_keys" in s for s in statements)
    # issue 19 (review F13): the sourcing rules and the shipping rates come with the catalogue statement: main's 8
    assert len(statements) <= 8, "\n".join(statements)
    assert not any("shipping_rates" in s and "FROM products" not in s for s in statements)
    # Only the last statements run while a stock row is locked: the reservation, the events, the commit's own.
    first_lock = next(i for i, s in enumerate(statements) if locks_stock(s))
    after = statements[first_lock + 1:]
    assert len(after) <= 3, "\n".join(after)
    assert not any(("carriers" in s or "warehouses" in s or "products" in s) for s in after)
    assert sum(locks_stock(s) for s in statements) == 1  # one statement reserves every line


async def test_a_hot_sku_under_concurrency_never_oversells(gql, db) -> None:
    # given: one hot SKU in two warehouses (30 units), and other SKUs that orders add at random
    await factories.warehouse(db, "W1", ["WEB"])
    await factories.warehouse(db, "W2", ["WEB"])
    await factories.product(db, "HOT")
    await factories.stock(db, "HOT", "W1", 18)
    await factories.stock(db, "HOT", "W2", 12)
    for sku in ("X", "Y", "Z"):
        await factories.product(db, sku)
        await factories.stock(db, sku, "W1", 100)
        await factories.stock(db, sku, "W2", 100)
    rng = random.Random(16)
    orders = [order_input([("HOT", 1), (rng.choice("XYZ"), rng.randint(1, 2))]) for _ in range(48)]
    # when: 48 at once
    results = await asyncio.gather(*(gql(PLACE, o) for o in orders))
    # then: exactly the 30 units are sold, the rest refused, reservations match allocations
    assert all("errors" not in r for r in results)
    placed = [r for r in results if r["data"]["placeOrder"]["order"]]
    refused = [r["data"]["placeOrder"]["userErrors"] for r in results if not r["data"]["placeOrder"]["order"]]
    assert len(placed) == 30
    assert all(e[0]["code"] == "OUT_OF_STOCK" and e[0]["field"] == ["input", "lines", "0", "sku"] for e in refused)
    async with db.read() as session:
        hot = (await session.execute(select(StockLevel.on_hand, StockLevel.reserved).where(StockLevel.sku == "HOT"))).all()
        allocated = (await session.execute(select(func.sum(Allocation.quantity)).where(Allocation.sku == "HOT"))).scalar_one()
        count = (await session.execute(select(func.count()).select_from(Order))).scalar_one()
    assert all(reserved == on_hand for on_hand, reserved in hot)
    assert allocated == 30 and count == 30


async def test_the_customer_is_found_or_added_by_the_catalogue_statement_before_the_transaction(gql, db) -> None:
    """Session 8: without an idempotency key (and not for pickup) nothing comes before the catalogue's read, so that
    statement also finds or adds the customer, committed on its own before BEGIN: one statement fewer than a
    statement of its own; with a key, the key's lookup begins the transaction, so the customer's statement stays."""
    from models import Customer

    await factories.basic_catalog(db)
    await gql(COUNT)
    with db.count_statements() as counted:
        body = await gql(PLACE, order_input([("A", 1), ("B", 1)]))
    assert body["data"]["placeOrder"]["userErrors"] == []
    statements = counted.statements
    # one statement reads the catalogue and adds the customer, the first one (count_statements leaves BEGIN and COMMIT
    # out: 4 here, 6 with them, against main's 7)
    (catalogue,) = [i for i, s in enumerate(statements) if "FROM products" in s]
    assert catalogue == 0 and "INSERT INTO customers" in statements[0], statements[0]
    assert sum("INSERT INTO customers" in s for s in statements) == 1
    assert len(statements) <= 4, "\n".join(statements)
    # the order belongs to the customer added; a second order of that email finds the same one
    again = await gql(PLACE, order_input([("A", 1)]))
    async with db.read() as session:
        customers = (await session.execute(select(Customer.id).where(Customer.email == "buyer@example.com"))).scalars().all()
        owners = (await session.execute(select(Order.customer_id))).scalars().all()
    assert again["data"]["placeOrder"]["userErrors"] == []
    assert len(customers) == 1 and owners == [customers[0], customers[0]]
    # committed on its own, before the transaction: a placement refused after that read (rolled back) keeps its new customer
    refused = await gql(PLACE, {"input": {**order_input([("A", 10_000)])["input"], "email": "refused@example.com"}})
    assert [e["code"] for e in refused["data"]["placeOrder"]["userErrors"]] == ["OUT_OF_STOCK"]
    async with db.read() as session:
        assert (await session.execute(select(func.count()).select_from(Customer).where(Customer.email == "refused@example.com"))).scalar_one() == 1
    # with an idempotency key the key is looked up first (in the transaction): the customer has its own statement before
    with db.count_statements() as counted:
        keyed = await gql(PLACE, {"input": {**order_input([("A", 1)])["input"], "idempotencyKey": "k-1", "email": "new@example.com"}})
    assert keyed["data"]["placeOrder"]["userErrors"] == []
    added = [i for i, s in enumerate(counted.statements) if "INSERT INTO customers" in s]
    assert added == [0] and "FROM products" not in counted.statements[0], counted.statements


async def test_the_order_and_its_events_are_written_by_the_reservation_statement_the_last_before_commit(gql, db) -> None:
    """Session 9: without a payment to open, a placement's reservation, the last statement of its transaction, also
    writes the order, its lines and its queued events (the order's change_seq the events' last number): two statements
    (catalogue, reservation) where there were four; the events are numbered in the order they were recorded, and
    published after the commit as before."""
    from models import OrderEvent

    await factories.basic_catalog(db)
    await gql(COUNT)
    with db.count_statements() as counted:
        body = await gql(PLACE, order_input([("A", 1), ("B", 2)]))
    payload = body["data"]["placeOrder"]
    assert payload["userErrors"] == []
    statements = counted.statements
    assert len(statements) == 2, "\n".join(statements)
    last = statements[-1]
    assert locks_stock(last) and "INSERT INTO order_events" in last and "INSERT INTO orders" in last and "INSERT INTO order_lines" in last, last
    assert not any("INSERT INTO order_events" in s or "INSERT INTO orders" in s for s in statements[:-1])
    assert not any("UPDATE orders" in s for s in statements)  # the order's row is written once
    async with db.read() as session:
        order = (await session.execute(select(Order))).scalar_one()
        events = (await session.execute(select(OrderEvent.seq, OrderEvent.type).order_by(OrderEvent.seq))).all()
    assert [e.type.value for e in events] == ["PLACED"]
    assert order.change_seq == events[-1].seq and payload["eventCursor"] == str(events[-1].seq)
    # a high-risk order's three events come in the order they were recorded: PLACED, RISK_ASSESSED, then ON_HOLD
    async with db.engine.begin() as conn:  # (conftest empties risk_rules before each test)
        await conn.execute(insert(RiskRule).values(id=uuid.uuid4(), position=1, kind="AMOUNT_OVER", params={"amount": "0"}, level="HIGH", active=True))
    with db.count_statements() as counted:
        held = await gql(PLACE, {"input": {**order_input([("A", 1)])["input"], "email": "held@example.com"}})
    assert held["data"]["placeOrder"]["order"]["status"] == "ON_HOLD", held
    assert len(counted.statements) == 2, "\n".join(counted.statements)
    async with db.read() as session:
        number = held["data"]["placeOrder"]["order"]["number"]
        order = (await session.execute(select(Order).where(Order.number == number))).scalar_one()
        rows = (await session.execute(select(OrderEvent.seq, OrderEvent.type, OrderEvent.status)
                                      .where(OrderEvent.order_id == order.id).order_by(OrderEvent.seq))).all()
    assert [(r.type.value, r.status.value) for r in rows] == [("PLACED", "PENDING"), ("RISK_ASSESSED", "PENDING"), ("STATUS_CHANGED", "ON_HOLD")]
    assert order.change_seq == rows[-1].seq and held["data"]["placeOrder"]["eventCursor"] == str(rows[-1].seq)
