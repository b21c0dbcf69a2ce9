"""Allocation planning (app/orders/allocation.py `plan_allocation`) on in-memory stock figures.

README: allocation prefers one warehouse that fills the whole order (lowest `priority`), otherwise
splits, favouring warehouses that fill most lines; an order that cannot be filled is OUT_OF_STOCK
naming the SKU. (Which warehouses serve the channel is decided by the query in `lock_candidates`;
the plan sees only the candidates it is given.)
"""

from __future__ import annotations

import random
import uuid
from collections import defaultdict

import pytest

from app.errors import DomainError
from app.orders.allocation import Candidate, Pick, plan_allocation

WAREHOUSES = {name: uuid.UUID(int=i + 1) for i, name in enumerate(["MAD", "BCN", "VLC", "SEV", "BIO"])}
NAMES = {v: k for k, v in WAREHOUSES.items()}


def stock(warehouse: str, sku: str, available: int, *, priority: int, reserved: int = 0) -> Candidate:
    return Candidate(
        stock_level_id=uuid.uuid5(uuid.NAMESPACE_OID, f"{warehouse}/{sku}"), sku=sku, warehouse_id=WAREHOUSES[warehouse],
        priority=priority, reserved=reserved, available=available,
    )


def plan(demand: dict[str, int], candidates: list[Candidate]) -> list[Pick]:
    """The one call into the planner (its field paths are the caller's business)."""
    return plan_allocation(demand, candidates, {sku: ["lines", str(i), "sku"] for i, sku in enumerate(demand)})


def shape(picks: list[Pick]) -> set[tuple[str, str, int]]:
    """(warehouse name, sku, quantity) of every pick."""
    return {(NAMES[p.warehouse_id], p.sku, p.quantity) for p in picks}


def test_one_warehouse_that_fills_the_whole_order_beats_a_higher_priority_one_that_fills_part() -> None:
    candidates = [
        stock("MAD", "TSHIRT", 10, priority=0),  # best priority, but has no mugs
        stock("BCN", "TSHIRT", 5, priority=3),
        stock("BCN", "MUG", 5, priority=3),
    ]
    assert shape(plan({"TSHIRT": 2, "MUG": 1}, candidates)) == {("BCN", "TSHIRT", 2), ("BCN", "MUG", 1)}


def test_among_warehouses_that_each_fill_everything_the_lowest_priority_wins() -> None:
    candidates = [
        stock(w, sku, 50, priority=p)
        for w, p in [("VLC", 2), ("BCN", 1), ("SEV", 7)]
        for sku in ("TSHIRT", "MUG")
    ]
    for order in (candidates, list(reversed(candidates))):  # not the order the rows arrive in
        assert shape(plan({"TSHIRT": 3, "MUG": 4}, order)) == {("BCN", "TSHIRT", 3), ("BCN", "MUG", 4)}


def test_split_favours_the_warehouse_that_fills_most_lines_over_priority() -> None:
    candidates = [
        stock("MAD", "A", 9, priority=0),   # fills one line; best priority
        stock("BCN", "A", 9, priority=5),   # fills two lines
        stock("BCN", "B", 9, priority=5),
        stock("VLC", "C", 9, priority=1),   # the only one with C
    ]
    picks = plan({"A": 1, "B": 1, "C": 1}, candidates)
    assert shape(picks) == {("BCN", "A", 1), ("BCN", "B", 1), ("VLC", "C", 1)}


def test_a_warehouse_that_fills_a_line_alone_beats_splitting_that_line() -> None:
    candidates = [
        stock("MAD", "A", 3, priority=0),   # ranks first (fills B, best priority) but holds only 3 of A
        stock("MAD", "B", 1, priority=0),
        stock("BCN", "A", 5, priority=1),
    ]
    assert shape(plan({"A": 5, "B": 1}, candidates)) == {("BCN", "A", 5), ("MAD", "B", 1)}


def test_a_line_no_warehouse_fills_alone_is_split_in_ranking_order() -> None:
    candidates = [stock("BCN", "A", 7, priority=1), stock("MAD", "A", 6, priority=0), stock("VLC", "A", 0, priority=0)]
    picks = plan({"A": 10}, candidates)
    assert [(NAMES[p.warehouse_id], p.quantity) for p in picks] == [("MAD", 6), ("BCN", 4)]  # nothing from empty VLC
    assert [p.stock_level_id for p in picks] == [candidates[1].stock_level_id, candidates[0].stock_level_id]


def test_out_of_stock_names_the_sku_and_plans_nothing() -> None:
    candidates = [stock("MAD", "A", 4, priority=0), stock("BCN", "A", 3, priority=1), stock("MAD", "B", 100, priority=0)]
    with pytest.raises(DomainError) as refused:
        plan({"B": 1, "A": 8}, candidates)  # 7 of A across both warehouses
    assert refused.value.code.value == "OUT_OF_STOCK"
    assert "A" in refused.value.message and "B" not in refused.value.message.replace("Not enough stock", "")


def test_a_sku_no_candidate_holds_is_out_of_stock() -> None:
    with pytest.raises(DomainError) as refused:
        plan({"A": 1, "GHOST": 1}, [stock("MAD", "A", 1, priority=0)])
    assert refused.value.code.value == "OUT_OF_STOCK"
    assert "GHOST" in refused.value.message


def test_the_first_short_sku_is_the_one_named() -> None:
    with pytest.raises(DomainError) as refused:
        plan({"X": 2, "Y": 2}, [stock("MAD", "X", 1, priority=0), stock("MAD", "Y", 1, priority=0)])
    assert "X" in refused.value.message and "Y" not in refused.value.message


def test_exactly_enough_stock_is_not_out_of_stock() -> None:
    picks = plan({"A": 7}, [stock("MAD", "A", 4, priority=0), stock("BCN", "A", 3, priority=1)])
    assert sum(p.quantity for p in picks) == 7


def test_no_demand_plans_nothing() -> None:
    assert plan({}, [stock("MAD", "A", 4, priority=0)]) == []


def test_random_orders_are_filled_exactly_never_beyond_what_is_available() -> None:
    rng = random.Random(20261125)
    skus = ["A", "B", "C", "D"]
    for _ in range(300):
        candidates = [
            stock(w, sku, rng.randint(0, 6), priority=p)
            for w, p in zip(WAREHOUSES, rng.sample(range(10), len(WAREHOUSES)), strict=True)
            for sku in skus
            if rng.random() < 0.7
        ]
        held: dict[str, int] = defaultdict(int)
        for c in candidates:
            held[c.sku] += c.available
        demand = {sku: rng.randint(1, max(1, held[sku])) for sku in rng.sample(skus, rng.randint(1, 4)) if held[sku] > 0}
        picks = plan(demand, candidates)

        taken: dict[str, int] = defaultdict(int)
        by_level = {c.stock_level_id: c for c in candidates}
        for p in picks:
            assert p.quantity > 0
            assert p.quantity <= by_level[p.stock_level_id].available
            assert (by_level[p.stock_level_id].sku, by_level[p.stock_level_id].warehouse_id) == (p.sku, p.warehouse_id)
            taken[p.sku] += p.quantity
        assert dict(taken) == demand
        assert len({p.stock_level_id for p in picks}) == len(picks)  # one pick per stock level

        full = [
            w for w in WAREHOUSES.values()
            if all(any(c.warehouse_id == w and c.sku == sku and c.available >= q for c in candidates) for sku, q in demand.items())
        ]
        if demand and full:
            priority = {c.warehouse_id: c.priority for c in candidates}
            assert {p.warehouse_id for p in picks} == {min(full, key=lambda w: priority[w])}
