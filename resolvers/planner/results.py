"""The planner's answers of one request: each root field's orjson.Fragment with its actual query cost, for what
reads result.data after execution (resolvers/cost.py: the fragments' costs come from the statement itself)."""

from __future__ import annotations

from typing import Any
from weakref import WeakKeyDictionary

import orjson

# context -> {id(fragment): (fragment, its JSON text, its actual cost)}
_ANSWERS: WeakKeyDictionary[Any, dict[int, tuple[orjson.Fragment, str, int]]] = WeakKeyDictionary()


def remember(context: Any, fragment: orjson.Fragment, text: str, cost: int) -> None:
    answers = _ANSWERS.get(context)
    if answers is None:
        answers = _ANSWERS[context] = {}
    answers[id(fragment)] = (fragment, text, cost)


def _answer(context: Any, value: orjson.Fragment) -> tuple[orjson.Fragment, str, int]:
    answers = _ANSWERS.get(context)
    found = answers.get(id(value)) if answers is not None else None
    if found is None or found[0] is not value:
        raise LookupError("not a planned fragment of this request")
    return found


def split(context: Any, data: Any) -> tuple[Any, int]:
    """(data without the planner's root fields, their actual cost)."""
    if not isinstance(data, dict) or not any(type(value) is orjson.Fragment for value in data.values()):
        return data, 0
    rest, cost = {}, 0
    for key, value in data.items():
        if type(value) is orjson.Fragment:
            cost += _answer(context, value)[2]
        else:
            rest[key] = value
    return rest, cost


def loaded(context: Any, data: Any) -> Any:
    """`data` with the planner's root-field fragments read back as Python values (for tests and tools)."""
    if not isinstance(data, dict):
        return data
    return {key: orjson.loads(_answer(context, value)[1]) if type(value) is orjson.Fragment else value for key, value in data.items()}
