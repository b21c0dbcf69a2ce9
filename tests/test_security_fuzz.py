"""Issue 13: a schema-driven fuzz (hypothesis-graphql) of every root query and mutation field, for an admin
key, a single-scope key and no key: no 5xx, no masked internal error, no object outside the caller's reach.

Bounded: OMS_FUZZ_EXAMPLES documents per field and caller (default 12: 41 fields x 3 callers, about 1,500
requests, well under a minute). Derandomized (the same documents every run); a failure is shrunk by
Hypothesis to the smallest document and reported with it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from decimal import Decimal
from typing import Any

from graphql import build_schema
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import from_schema, nodes

from resolvers import access
from resolvers.node import NODE_TYPES
from tests import factories
from tests.conftest import make_key
from tests.test_returns import delivered_order

EXAMPLES = int(os.environ.get("OMS_FUZZ_EXAMPLES", "12"))
SDL = (__import__("pathlib").Path(__file__).resolve().parent.parent / "graphql_schema" / "schema.graphql").read_text()

CUSTOM_SCALARS = {
    "Decimal": st.one_of(
        st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=Decimal("-1e6"), max_value=Decimal("1e6")).map(str),
        st.sampled_from(["1e999999", "NaN", "sNaN", "-Infinity", "0." + "0" * 40 + "1", "9" * 60, "", "1,5"]),
    ).map(nodes.String),
    "Date": st.sampled_from(["2026-01-31", "2026-02-30", "0000-00-00", "x", "9999-12-31"]).map(nodes.String),
    "DateTime": st.sampled_from(["2026-01-31T10:00:00Z", "2026-01-31T10:00:00", "x", "9999-12-31T23:59:59+14:00"]).map(nodes.String),
    "JSON": st.sampled_from(["x", ""]).map(nodes.String),
}
SINGLE_SCOPE = "orders:read"
PUBLIC_TYPES = {"Shipment", "Return", "Inquiry", "Warehouse"}  # what a public view may show (tracking pair)


class Failure(Exception):
    pass


def _ids(value: Any) -> list[str]:
    found: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                if key == "id" and isinstance(child, str):
                    found.append(child)
                else:
                    stack.append(child)
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _type_of(global_id: str) -> str | None:
    try:
        decoded = base64.urlsafe_b64decode(global_id + "=" * (-len(global_id) % 4)).decode()
    except Exception:
        return None
    return decoded.split(":", 1)[0] if ":" in decoded else None


def check(status: int, text: str, query: str, caller: str, field: str) -> None:
    if status >= 500:
        raise Failure(f"{status} for {query!r}")
    try:
        body = json.loads(text)
    except ValueError:
        raise Failure(f"non-JSON {status} for {query!r}: {text[:200]}") from None
    for error in body.get("errors") or ():
        if (error.get("extensions") or {}).get("code") == "INTERNAL_SERVER_ERROR":
            raise Failure(f"masked internal error for {query!r}: {error}")
    data = body.get("data") or {}
    public = access.ROOT_POLICIES.get(f"Query.{field}", access.ROOT_POLICIES.get(f"Mutation.{field}")) == access.PUBLIC
    for global_id in _ids(data):
        kind = _type_of(global_id)
        if kind not in NODE_TYPES:
            continue
        if caller == "admin":
            continue
        if caller == "none":
            allowed = public and kind in PUBLIC_TYPES
        else:
            allowed = NODE_TYPES[kind].scope == SINGLE_SCOPE or kind == "Warehouse" or (public and kind in PUBLIC_TYPES)
        if not allowed:
            raise Failure(f"{caller} reached a {kind} through {query!r}")
    if caller == "none" and not public and any(v not in (None, [], {}) for v in data.values()):
        raise Failure(f"no key got data from {query!r}: {data}")


def root_fields() -> list[str]:
    schema = build_schema(SDL)
    return [*schema.query_type.fields, *schema.mutation_type.fields]  # type: ignore[union-attr]


def one_fuzz(loop: asyncio.AbstractEventLoop, client: Any, field: str, caller: str, headers: dict[str, str]) -> Any:
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck), phases=[Phase.generate, Phase.shrink])
    @given(query=from_schema(SDL, fields=[field], custom_scalars=CUSTOM_SCALARS))
    def run(query: str) -> None:
        post = client.post("/graphql", json={"query": query}, headers=headers)
        response = asyncio.run_coroutine_threadsafe(post, loop).result(60)
        check(response.status_code, response.text, query, caller, field)

    return run


def fuzz_all(loop: asyncio.AbstractEventLoop, client: Any, callers: dict[str, dict[str, str]]) -> dict[tuple[str, str], str]:
    failures: dict[tuple[str, str], str] = {}
    for field in root_fields():
        for caller, headers in callers.items():
            try:
                one_fuzz(loop, client, field, caller, headers)()
            except Failure as failure:
                failures[(field, caller)] = str(failure)
    return failures


async def test_fuzz_every_root_field_for_admin_single_scope_and_no_key(client, db, admin_token) -> None:
    await factories.basic_catalog(db)
    await delivered_order(db, [("A", 1)])
    single = await make_key(db, SINGLE_SCOPE)
    callers = {"admin": {"Authorization": f"Bearer {admin_token}"}, "single": {"Authorization": f"Bearer {single}"}, "none": {}}
    failures = await asyncio.to_thread(fuzz_all, asyncio.get_running_loop(), client, callers)
    assert not failures, "\n".join(f"{field} as {caller}: {message}" for (field, caller), message in failures.items())


def test_the_checks_catch_what_they_look_for() -> None:
    """The fuzz's own checks fail on a 5xx, a masked error and an object outside the caller's reach."""
    order_id = base64.urlsafe_b64encode(b"Order:00000000-0000-0000-0000-000000000000").decode().rstrip("=")
    invoice_id = base64.urlsafe_b64encode(b"Invoice:00000000-0000-0000-0000-000000000000").decode().rstrip("=")
    cases = [
        (500, "oops", "invoices"),
        (200, json.dumps({"errors": [{"message": "x", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}]}), "invoices"),
        (200, json.dumps({"data": {"order": {"invoices": [{"id": invoice_id}]}}}), "invoice"),
        (200, json.dumps({"data": {"trackOrder": {"shipments": [{"id": invoice_id}]}}}), "trackOrder"),
    ]
    for status, text, field in cases:
        caller = "none" if field == "trackOrder" else "single" if field == "invoice" else "admin"
        try:
            check(status, text, "{ … }", caller if field != "invoice" else "single", field)
        except Failure:
            continue
        raise AssertionError(f"not caught: {status} {text}")
    check(200, json.dumps({"data": {"invoice": {"order": {"id": order_id}}}}), "{ … }", "single", "order")  # orders:read may
