"""The order state machine (app/orders/state_machine.py) against the README's lifecycle table:
every pair of statuses is either allowed or refused with INVALID_TRANSITION; hold and release."""

from __future__ import annotations

import itertools

import pytest

from app.errors import DomainError
from app.orders.state_machine import HOLDABLE, OrderStatus, check_transition, release_target

# The README's "Order lifecycle" table, by value. ON_HOLD goes back to the status it was held from
# (any holdable one; `release_target` picks which) or to CANCELLED.
HOLDABLE_VALUES = {"PENDING", "CONFIRMED", "PROCESSING", "PARTIALLY_SHIPPED", "READY_FOR_PICKUP"}
README_TABLE: dict[str, set[str]] = {
    "PENDING": {"CONFIRMED", "ON_HOLD", "CANCELLED"},
    "CONFIRMED": {"PROCESSING", "PARTIALLY_SHIPPED", "SHIPPED", "ON_HOLD", "CANCELLED", "READY_FOR_PICKUP"},
    "PROCESSING": {"PARTIALLY_SHIPPED", "SHIPPED", "ON_HOLD", "CANCELLED", "READY_FOR_PICKUP"},
    "PARTIALLY_SHIPPED": {"PARTIALLY_SHIPPED", "SHIPPED", "ON_HOLD"},
    "ON_HOLD": HOLDABLE_VALUES | {"CANCELLED"},
    "SHIPPED": {"DELIVERED"},
    "DELIVERED": {"PARTIALLY_RETURNED", "RETURNED"},
    "PARTIALLY_RETURNED": {"PARTIALLY_RETURNED", "RETURNED"},
    "RETURNED": set(),
    "CANCELLED": set(),
    "READY_FOR_PICKUP": {"DELIVERED", "CANCELLED", "ON_HOLD"},  # click-and-collect (issue 19)
}
ALL = sorted(README_TABLE)
PAIRS = list(itertools.product(ALL, ALL))


def allowed(current: str, target: str) -> bool:
    try:
        check_transition(OrderStatus(current), OrderStatus(target))
    except DomainError as refused:
        assert refused.code.value == "INVALID_TRANSITION"
        return False
    return True


def test_the_statuses_are_exactly_the_readme_ones() -> None:
    assert {s.value for s in OrderStatus} == set(ALL)


def test_every_status_has_a_row_in_the_state_machine_table() -> None:
    """A status added to OrderStatus without its row (even an empty one, for a final status) is a bug."""
    from app.orders.state_machine import TRANSITIONS

    assert set(TRANSITIONS) == set(OrderStatus)
    assert all(set(targets) <= set(OrderStatus) for targets in TRANSITIONS.values())


@pytest.mark.parametrize(("current", "target"), PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS])
def test_every_transition_is_allowed_exactly_when_the_table_says_so(current: str, target: str) -> None:
    assert allowed(current, target) is (target in README_TABLE[current])


def test_the_table_has_as_many_allowed_transitions_as_the_readme() -> None:
    assert sum(allowed(a, b) for a, b in PAIRS) == sum(len(v) for v in README_TABLE.values()) == 31


def test_a_refused_transition_names_both_statuses() -> None:
    with pytest.raises(DomainError) as refused:
        check_transition(OrderStatus("SHIPPED"), OrderStatus("CANCELLED"))
    assert refused.value.code.value == "INVALID_TRANSITION"
    assert "SHIPPED" in refused.value.message and "CANCELLED" in refused.value.message


def test_returned_and_cancelled_are_final() -> None:
    for final in ("RETURNED", "CANCELLED"):
        assert not any(allowed(final, target) for target in ALL)


def test_holdable_statuses_are_the_ones_that_may_go_on_hold() -> None:
    assert {s.value for s in HOLDABLE} == HOLDABLE_VALUES
    assert {s for s in ALL if allowed(s, "ON_HOLD")} == HOLDABLE_VALUES  # ON_HOLD itself cannot be held again


@pytest.mark.parametrize("held_from", sorted(HOLDABLE_VALUES))
def test_release_goes_back_to_the_status_it_was_held_from(held_from: str) -> None:
    target = release_target(OrderStatus("ON_HOLD"), OrderStatus(held_from))
    assert target == OrderStatus(held_from)
    assert allowed("ON_HOLD", target.value)


@pytest.mark.parametrize("current", [s for s in ALL if s != "ON_HOLD"])
def test_only_an_order_on_hold_can_be_released(current: str) -> None:
    with pytest.raises(DomainError) as refused:
        release_target(OrderStatus(current), "PENDING")
    assert refused.value.code.value == "INVALID_TRANSITION"


def test_an_order_on_hold_with_no_record_of_where_it_was_cannot_be_released() -> None:
    with pytest.raises(DomainError) as refused:
        release_target(OrderStatus("ON_HOLD"), None)
    assert refused.value.code.value == "INVALID_TRANSITION"


def test_an_order_on_hold_can_be_cancelled_but_not_shipped_or_delivered() -> None:
    assert allowed("ON_HOLD", "CANCELLED")
    assert not allowed("ON_HOLD", "SHIPPED")
    assert not allowed("ON_HOLD", "DELIVERED")
