"""The comparison helper itself: it must see a one-character difference, a key order, a status, and nothing else."""

from __future__ import annotations

import json

import httpx

from tests.planner.compare import Answer, difference


def answer(body: str, status: int = 200) -> Answer:
    return Answer.of(httpx.Response(status, text=body))


def test_identical_answers_have_no_difference() -> None:
    body = json.dumps({"data": {"orders": {"edges": [{"node": {"number": "SO-100001", "total": {"amount": "19.99"}}}]}}})
    assert difference(answer(body), answer(body)) is None
    assert difference(answer(body), answer(json.dumps(json.loads(body), indent=2))) is None  # whitespace is not a difference


def test_a_one_character_difference_is_found_and_shown() -> None:
    off = json.dumps({"data": {"order": {"placedAt": "2026-12-01T10:00:00.123456+00:00", "total": {"amount": "19.99"}}}})
    for on in (off.replace("19.99", "19.90"), off.replace(".123456", ".12345"), off.replace("placedAt", "placedAT")):
        found = difference(answer(off), answer(on))
        assert found is not None and "-" in found and "+" in found, on


def test_types_key_order_nulls_errors_and_status_count() -> None:
    base = {"data": {"a": 1, "b": None}, "errors": [{"message": "Invalid cursor.", "path": ["a"]}]}
    variants = [
        {"data": {"a": "1", "b": None}, "errors": base["errors"]},          # a number as a string
        {"data": {"a": 1.0, "b": None}, "errors": base["errors"]},          # an int as a float
        {"data": {"b": None, "a": 1}, "errors": base["errors"]},            # key order
        {"data": {"a": 1}, "errors": base["errors"]},                       # a missing null
        {"data": {"a": 1, "b": None}},                                      # no errors
        {"data": {"a": 1, "b": None}, "errors": [{"message": "Invalid cursor.", "path": ["b"]}]},  # another path
    ]
    for variant in variants:
        assert difference(answer(json.dumps(base)), answer(json.dumps(variant))) is not None, variant
    status = difference(answer(json.dumps(base)), answer(json.dumps(base), status=400))
    assert status is not None and status.startswith("HTTP status off=200 on=400")
    assert difference(answer("not json"), answer("not json!")) is not None
