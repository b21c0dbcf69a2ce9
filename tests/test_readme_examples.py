"""Issue 17: every tagged example of the README runs, against the demo data `scripts/serve` loads.

A fenced block whose info string is `<language> example=<name> [role]` is an example:
- `graphql example=NAME`: a document, posted as an admin key; its variables come from the sibling
  `json example=NAME` block, if any. It must answer without top-level errors and without a non-empty
  `userErrors` anywhere in `data`, unless a `json example=NAME response` block gives the exact `data`
  it answers (how the README shows a refusal).
- `python example=NAME`: run in README order in one namespace (a later block uses an earlier one's
  client), in a thread, against the app served over real HTTP on a loopback port; `OMS_URL` and
  `OMS_TOKEN` in the environment, as the README tells a partner to set them.
Untagged blocks (shell, codegen configuration) are shown, not run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from app.demo import seed_demo
from tests.conftest import make_key

README = Path(__file__).resolve().parent.parent / "README.md"
FENCE = re.compile(r"^```(?P<language>\w+) example=(?P<name>[\w-]+)(?: (?P<role>\w+))?\n(?P<body>.*?)^```$", re.M | re.S)


@dataclass(frozen=True, slots=True)
class Example:
    language: str
    name: str
    role: str | None
    body: str
    line: int


def examples(text: str) -> list[Example]:
    return [Example(m["language"], m["name"], m["role"], m["body"], text.count("\n", 0, m.start()) + 1) for m in FENCE.finditer(text)]


EXAMPLES = examples(README.read_text())
GRAPHQL = [e for e in EXAMPLES if e.language == "graphql"]
PYTHON = [e for e in EXAMPLES if e.language == "python"]


def sibling(example: Example, role: str | None) -> Any:
    found = [e for e in EXAMPLES if e.language == "json" and e.name == example.name and e.role == role]
    return json.loads(found[0].body) if found else None


def user_errors(value: Any, path: str = "data") -> list[str]:
    """Every non-empty userErrors list in a response's data, with where it is."""
    if isinstance(value, dict):
        found = [f"{path}.userErrors: {value['userErrors']}"] if value.get("userErrors") else []
        return found + [item for key, inner in value.items() for item in user_errors(inner, f"{path}.{key}")]
    if isinstance(value, list):
        return [item for i, inner in enumerate(value) for item in user_errors(inner, f"{path}[{i}]")]
    return []


def test_the_readme_tags_its_examples_consistently() -> None:
    assert len(GRAPHQL) >= 3 and len(PYTHON) >= 2, [e.name for e in EXAMPLES]
    names = [(e.language, e.name, e.role) for e in EXAMPLES]
    assert len(names) == len(set(names)), "an example name is used twice for the same language and role"
    for example in EXAMPLES:
        assert example.language in ("graphql", "python", "json") and example.role in (None, "response"), example
        if example.language == "json":
            assert any(g.name == example.name for g in GRAPHQL), f"README line {example.line}: no graphql example {example.name}"
            json.loads(example.body)


def test_every_graphql_block_of_the_readme_is_valid_against_the_schema() -> None:
    # The untagged ones too (a subscription is shown, not run over HTTP): none may name a field or argument that is not there.
    from graphql import parse, validate

    from graphql_schema.schema import schema

    blocks = re.findall(r"^```graphql[^\n]*\n(.*?)^```$", README.read_text(), re.M | re.S)
    assert len(blocks) > len(GRAPHQL), "the README shows an untagged GraphQL block (the subscription)"
    for body in blocks:
        assert validate(schema._schema, parse(body)) == [], body


def test_the_example_check_catches_user_errors() -> None:
    data = {"placeOrder": {"order": None, "userErrors": [{"code": "NOT_FOUND"}]}, "other": [{"userErrors": []}]}
    assert user_errors(data) == ["data.placeOrder.userErrors: [{'code': 'NOT_FOUND'}]"]


async def test_every_graphql_example_of_the_readme_runs(db, client) -> None:
    await seed_demo(db)
    token = await make_key(db, "admin", name="readme")
    for example in GRAPHQL:
        response = await client.post("/graphql", json={"query": example.body, "variables": sibling(example, None) or {}},
                                     headers={"Authorization": f"Bearer {token}"})
        where = f"README line {example.line}, example {example.name}"
        assert response.status_code == 200, f"{where}: {response.text}"
        body = response.json()
        assert not body.get("errors"), f"{where}: {body['errors']}"
        expected = sibling(example, "response")
        if expected is not None:
            assert body["data"] == expected, f"{where}: answered {body['data']}"
        else:
            assert not user_errors(body["data"]), f"{where}: {user_errors(body['data'])}"


@contextlib.asynccontextmanager
async def served_examples(app: Any, db: Any, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Callable[..., Awaitable[Any]]]:
    """The README's Python examples run, in order, in one namespace, against the app over real HTTP (its
    lifespan already running; the socket listens before anything connects). Yields `call(name, *args)`,
    which runs a function the examples defined, in a thread, as a partner's program would."""
    monkeypatch.setenv("OMS_TOKEN", await make_key(db, "admin", name="readme"))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    monkeypatch.setenv("OMS_URL", f"http://127.0.0.1:{sock.getsockname()[1]}")
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    namespace: dict[str, Any] = {"__name__": "readme_examples"}

    def run_all() -> None:
        for example in PYTHON:
            exec(compile(example.body, f"README.md example {example.name} (line {example.line})", "exec"), namespace)

    async def call(name: str, *args: Any) -> Any:
        return await asyncio.to_thread(namespace[name], *args)

    try:
        await asyncio.to_thread(run_all)
        yield call
    finally:
        if "OMS" in namespace:
            namespace["OMS"].close()
        server.should_exit = True
        await serving
        sock.close()


async def test_every_python_example_of_the_readme_runs(app, db, monkeypatch: pytest.MonkeyPatch) -> None:
    await seed_demo(db)
    async with served_examples(app, db, monkeypatch):
        pass


async def delivery_recorded(db: Any, timeout: float = 30.0) -> None:
    """Waits until the dispatcher has recorded the outcome of every delivery (it does so just after the receiver answered)."""
    from sqlalchemy import text

    deadline = time.monotonic() + timeout
    while True:
        async with db.read() as session:
            statuses = set((await session.execute(text("SELECT status FROM webhook_deliveries"))).scalars())
        if statuses == {"SUCCEEDED"}:
            return
        assert time.monotonic() < deadline, f"deliveries still {statuses} after {timeout}s"
        await asyncio.sleep(0.02)


async def test_the_readme_webhook_code_verifies_and_replays_a_real_delivery(app, db, monkeypatch: pytest.MonkeyPatch) -> None:
    from standardwebhooks import WebhookVerificationError

    from tests.webhook_receiver import Receiver

    await seed_demo(db)
    receiver = await Receiver().start()
    try:
        async with served_examples(app, db, monkeypatch) as call:
            endpoint_id, secret = await call("create_endpoint", receiver.url, ["PLACED"])
            placed = await call("place_order", {
                "idempotencyKey": "readme-webhook-1", "channel": "WEB", "email": "ana@example.com", "lines": [{"sku": "MUG-LOGO", "quantity": 1}],
                "shippingAddress": {"name": "Ana", "line1": "Calle Mayor 1", "city": "Madrid", "postalCode": "28013", "country": "ES"},
            })
            await receiver.wait_for(lambda: len(receiver.received) >= 1)
            first = receiver.received[0]
            payload = await call("receive", secret, first.body, first.headers)
            assert payload["type"] == "PLACED" and payload["data"]["order"]["number"] == placed["order"]["number"]
            assert payload["data"]["sequence"] == 1
            with pytest.raises(WebhookVerificationError):
                await call("receive", secret, first.body.replace(b"PLACED", b"PLACEd"), first.headers)

            await delivery_recorded(db)  # a delivery still being attempted is not replayed (it is left to finish)
            requeued = await call("replay", endpoint_id, str(int(payload["data"]["cursor"]) - 1))
            assert requeued == 1
            await receiver.wait_for(lambda: len(receiver.received) >= 2)
            again = receiver.received[1]
            assert again.webhook_id == first.webhook_id and again.body == first.body  # the same message, for the receiver to drop
            assert (await call("receive", secret, again.body, again.headers)) == payload
    finally:
        await receiver.stop()
