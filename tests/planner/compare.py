"""Running one request against both apps (read planner off and on) and comparing the answers.

Identical means: the same HTTP status and the same JSON body, compared as text after decoding with the
key order kept (a response's field order is part of GraphQL's answer), so a different value, type, key,
key order, error message, path, location or extension all count. The planner app is asked twice (a cold
and a warm plan cache); both answers must equal the ordinary executor's.
"""

from __future__ import annotations

import asyncio
import difflib
import json
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    text: str  # the body re-encoded from its decoded JSON (key order kept), or the raw body if it is not JSON

    @classmethod
    def of(cls, response: httpx.Response) -> Answer:
        try:
            body = json.loads(response.text)
        except ValueError:
            return cls(response.status_code, "NOT JSON: " + response.text)
        return cls(response.status_code, canonical(body))

    def json(self) -> Any:
        return json.loads(self.text)


def canonical(body: Any) -> str:
    return json.dumps(body, ensure_ascii=False, indent=1)


def difference(off: Answer, on: Answer) -> str | None:
    """None when the two answers are identical, else a readable diff (status line first)."""
    if off == on:
        return None
    lines = [f"HTTP status off={off.status} on={on.status}"] if off.status != on.status else []
    lines += difflib.unified_diff(off.text.splitlines(), on.text.splitlines(), "planner off", "planner on", lineterm="", n=2)
    return "\n".join(lines)


@dataclass(slots=True)
class Request:
    query: str
    variables: dict[str, Any] = field(default_factory=dict)
    key: str = "admin"  # a name in Pair.tokens; "public" sends no key
    operation: str | None = None  # operationName

    def describe(self) -> str:
        return f"key={self.key} operationName={self.operation}\nquery: {self.query}\nvariables: {json.dumps(self.variables, ensure_ascii=False)}"


@dataclass(slots=True)
class Outcome:
    request: Request
    off: Answer
    on: Answer
    on_warm: Answer

    @property
    def diff(self) -> str | None:
        return difference(self.off, self.on) or difference(self.off, self.on_warm)

    def report(self) -> str:
        shown = self.on if difference(self.off, self.on) else self.on_warm
        which = "cold" if shown is self.on else "warm (second run)"
        return (f"{self.request.describe()}\n--- diff ({which} plan) ---\n{self.diff}\n--- off ---\n{self.off.text[:4000]}\n"
                f"--- on ---\n{shown.text[:4000]}")


class Pair:
    """Two clients of two apps over one database: `off` runs the ordinary resolvers, `on` the read planner."""

    def __init__(self, off: httpx.AsyncClient, on: httpx.AsyncClient, tokens: dict[str, str], *, planner: bool) -> None:
        self.off, self.on, self.tokens = off, on, tokens
        self.planner = planner  # False on a branch where Settings has no read_planner: both apps run the same mode
        self.compared = 0  # requests asked both ways
        self.planned = 0  # statements the planner app's database ran through Database.read_json (see conftest.count_planned)

    async def _post(self, client: httpx.AsyncClient, request: Request) -> Answer:
        token = self.tokens.get(request.key)
        assert token is not None or request.key == "public", f"unknown key {request.key}"
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        payload: dict[str, Any] = {"query": request.query, "variables": request.variables}
        if request.operation is not None:
            payload["operationName"] = request.operation
        response = await client.post("/graphql", json=payload, headers=headers)
        return Answer.of(response)

    async def run(self, request: Request) -> Outcome:
        self.compared += 1
        off, on = await asyncio.gather(self._post(self.off, request), self._post(self.on, request))
        warm = await self._post(self.on, request)  # after the cold one: its plan is cached now
        return Outcome(request, off, on, warm)

    async def run_all(self, requests: list[Request], concurrency: int = 4) -> list[Outcome]:
        """Every request both ways, `concurrency` at a time (the data is only read); outcomes in request order."""
        gate = asyncio.Semaphore(concurrency)

        async def one(request: Request) -> Outcome:
            async with gate:
                return await self.run(request)

        return list(await asyncio.gather(*(one(r) for r in requests)))

    async def same(self, query: str, variables: dict[str, Any] | None = None, *, key: str = "admin") -> Any:
        """Asserts both ways answer identically; returns the decoded answer (for the test to check what it expects)."""
        outcome = await self.run(Request(query, variables or {}, key))
        assert outcome.diff is None, outcome.report()
        return outcome.off.json()
