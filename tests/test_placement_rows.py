"""placeOrder writes its rows through the driver (issue 16, app/infra/rows.py): the INSERTs are derived from the mapped
tables, so a column another change adds is written too, and the rows are the ones the ORM's flush would write."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import event, inspect, select, text
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg

from app.infra import rows
from app.orders.enums import OrderStatus, PaymentStatus, SalesChannel
from models import Allocation, Order, OrderLine
from models.billing import Payment
from tests import factories

SERVER_MADE = {"id", "serial", "number", "placed_at", "updated_at", "change_seq", "customer_id", "email", "order_id", "order_line_id", "risk_assessed_at",
               "position"}  # (position: the lines are compared in position order; ids and times differ per order)


def test_the_insert_names_every_column_set_on_the_object_or_with_a_python_default() -> None:
    dialect = PGDialect_asyncpg()
    for model in (Order, OrderLine, Allocation, Payment):
        writer = rows.RowWriter(model, dialect)
        assert writer.usable, model
        table: Any = model.__table__
        obj = model(id=uuid.uuid4())
        quoted, _ = writer.values(obj)
        names = {name.strip('"') for name in quoted}
        expected = {c.name for c in table.columns
                    if c.computed is None and (c.name == "id" or (c.default is not None and not getattr(c.default, "is_sequence", False)))}
        assert names == expected, model
        # what is not named is the server's (a server default, or NULL)
        for column in table.columns:
            if column.name not in names and column.computed is None:
                assert column.default is None or getattr(column.default, "is_sequence", False), column
        # and a value set on the object is named, whatever the column
        everything = model(**{model.__mapper__.get_property_by_column(c).key: None for c in table.columns if c.computed is None})
        assert {name.strip('"') for name in writer.values(everything)[0]} == {c.name for c in table.columns if c.computed is None}


def test_construct_builds_the_object_the_constructor_would_without_its_attribute_events() -> None:
    # issue 16, session 8: write_order builds the order and its lines so (rows.construct)
    values = {"id": uuid.uuid4(), "status": OrderStatus.PENDING, "payment_status": PaymentStatus.UNPAID, "channel": SalesChannel.WEB,
              "email": "x@example.com", "shipping_address": {"country": "ES"}, "private_metadata": {}, "held_from": None}
    built, constructed = rows.construct(Order, **values), Order(**values)
    assert type(built) is Order and inspect(built).transient
    assert {k: v for k, v in vars(built).items() if k != "_sa_instance_state"} == values
    assert {k: v for k, v in vars(constructed).items() if k != "_sa_instance_state"} == values
    sets: list[Any] = []

    def on_set(*args: Any) -> None:
        sets.append(args)

    event.listen(Order.status, "set", on_set)
    try:
        rows.construct(Order, **values)
        assert sets == []
        built.status = OrderStatus.ON_HOLD  # later changes go through the attributes, as usual
        assert len(sets) == 1 and built.status == OrderStatus.ON_HOLD
    finally:
        event.remove(Order.status, "set", on_set)
    with pytest.raises(TypeError):
        rows.construct(Order, no_such_column=1)
    with pytest.raises(TypeError):
        rows.construct(Order, number_of_lines=1)


async def _rows(db, order_id: uuid.UUID) -> dict[str, Any]:
    async with db.read() as session:
        order = (await session.execute(select(Order.__table__).where(Order.__table__.c.id == order_id))).mappings().one()
        lines = (await session.execute(select(OrderLine.__table__).where(OrderLine.__table__.c.order_id == order_id)
                                       .order_by(OrderLine.__table__.c.position))).mappings().all()
    return {"order": {k: v for k, v in order.items() if k not in SERVER_MADE},
            "lines": [{k: v for k, v in line.items() if k not in SERVER_MADE} for line in lines]}


async def test_the_driver_writes_the_rows_the_orm_would(db, monkeypatch) -> None:
    # given: the same order placed through the driver and through the ORM's flush (the fallback)
    await factories.basic_catalog(db)
    through_driver = await factories.place(db, [("A", 1), ("B", 2), ("MTO", 1)], email="driver@example.com")
    original_init = rows.RowWriter.__init__

    def unusable(self: rows.RowWriter, *args: Any) -> None:
        original_init(self, *args)
        self.usable = False

    monkeypatch.setattr(rows.RowWriter, "__init__", unusable)
    monkeypatch.setattr(rows, "_WRITERS", {})
    through_orm = await factories.place(db, [("A", 1), ("B", 2), ("MTO", 1)], email="orm@example.com")
    # then: the same columns, the same values (JSON null vs SQL NULL included), and the objects the caller got agree
    driver_rows, orm_rows = await _rows(db, through_driver.id), await _rows(db, through_orm.id)
    differing = {k: (v, orm_rows["order"][k]) for k, v in driver_rows["order"].items() if orm_rows["order"][k] != v}
    assert driver_rows == orm_rows, differing
    async with db.read() as session:  # JSON null and SQL NULL both read as None: told apart here
        nulls = (await session.execute(text(
            "SELECT id, billing_address IS NULL, risk_facts IS NULL, metadata::text FROM orders WHERE id IN (:a, :b)"
        ), {"a": through_driver.id, "b": through_orm.id})).all()
    assert len({tuple(row[1:]) for row in nulls}) == 1, nulls
    assert through_driver.number.startswith("SO-") and through_driver.serial > 0
    assert through_driver.status == through_orm.status == OrderStatus.PENDING
    assert through_driver.payment_status == PaymentStatus.UNPAID and through_driver.channel == SalesChannel.WEB
    for column in Order.__table__.columns:
        key = Order.__mapper__.get_property_by_column(column).key
        assert key in through_driver.__dict__, key  # every column loaded: nothing lazy-loads after the commit
