"""Bulk import (issue 17): importOrders and `oms import-orders`.

Done means: 1,000 rows with 100 duplicates of earlier rows and 50 bad rows give exactly 850 new orders, 100 results
"already imported" pointing at the first order, 50 rows of userErrors; nothing lost or doubled when the CLI is
killed mid-import and run again."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from models import Order
from models.billing import Payment
from resolvers.cost import OMS_POLICY
from resolvers.ids import to_global_id
from tests import factories
from tests.conftest import make_key
from tests.factories import ADDRESS_INPUT

OMS = str(Path(sys.executable).with_name("oms"))
IMPORT = """mutation($input: ImportOrdersInput!) { importOrders(input: $input) {
  created alreadyImported failed userErrors { code field message }
  results { index externalReference outcome order { id number status paymentStatus externalReference marketplace channel }
            userErrors { code field message } } } }"""
PLACE = """mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { order { id } userErrors { code field } } }"""


def row(ref: str, *, sku: str = "A", quantity: int = 1, country: str = "ES", marketplace: str | None = "amazon-es", **extra: Any) -> dict:
    return {"externalReference": ref, "marketplace": marketplace, "channel": "MARKETPLACE", "email": f"{ref.lower()}@example.com",
            "lines": [{"sku": sku, "quantity": quantity}], "shippingAddress": {**ADDRESS_INPUT, "country": country}, **extra}


async def catalog(db: Any, units: int = 5000) -> None:
    await factories.basic_catalog(db)
    await factories.stock(db, "A", "BCN", units)


async def count_orders(db: Any) -> int:
    async with db.read() as session:
        return int((await session.execute(select(func.count()).select_from(Order))).scalar_one())


def thousand_rows(seed: int = 17) -> tuple[list[dict], dict[int, int], set[int]]:
    """850 distinct orders, 100 exact duplicates of earlier rows, 50 bad rows (unknown SKU, bad quantity, bad country),
    shuffled, each duplicate after its original. Returns (rows, duplicate index -> original index, bad indexes)."""
    rng = random.Random(seed)
    entries: list[dict] = [row(f"AMZ-{n:04d}", quantity=rng.randint(1, 2)) for n in range(850)]
    entries += [row(f"BAD-{n:04d}", **[{"sku": "NOPE"}, {"quantity": 0}, {"country": "XX"}][n % 3]) for n in range(50)]
    rng.shuffle(entries)
    for original in rng.sample([e for e in entries if e["externalReference"].startswith("AMZ")], 100):
        position = entries.index(original)
        entries.insert(rng.randint(position + 1, len(entries)), dict(original))
    first: dict[str, int] = {}
    duplicates: dict[int, int] = {}
    for index, entry in enumerate(entries):
        if entry["externalReference"] in first:
            duplicates[index] = first[entry["externalReference"]]
        else:
            first[entry["externalReference"]] = index
    bad = {i for i, e in enumerate(entries) if e["externalReference"].startswith("BAD")}
    assert len(entries) == 1000 and len(duplicates) == 100 and len(bad) == 50
    return entries, duplicates, bad


def check_outcomes(results: list[dict], rows: list[dict], duplicates: dict[int, int], bad: set[int]) -> None:
    by_index = {r["index"]: r for r in results}
    assert sorted(by_index) == list(range(1000))
    outcomes = [by_index[i]["outcome"] for i in range(1000)]
    assert outcomes.count("CREATED") == 850 and outcomes.count("ALREADY_IMPORTED") == 100 and outcomes.count("FAILED") == 50
    for index, original in duplicates.items():
        assert by_index[index]["outcome"] == "ALREADY_IMPORTED"
        assert by_index[original]["outcome"] == "CREATED"
        assert by_index[index]["orderId"] == by_index[original]["orderId"] is not None
    for index in bad:
        assert by_index[index]["outcome"] == "FAILED" and by_index[index]["userErrors"], by_index[index]
        assert by_index[index]["orderId"] is None
    for index, result in by_index.items():
        assert result["externalReference"] == rows[index]["externalReference"]


async def check_database(db: Any, rows: list[dict], bad: set[int]) -> None:
    async with db.read() as session:
        refs = (await session.execute(select(Order.external_reference, func.count()).group_by(Order.external_reference))).all()
    counted = dict(refs)
    expected = {r["externalReference"] for i, r in enumerate(rows) if i not in bad}
    assert len(expected) == 850 and set(counted) == expected and set(counted.values()) == {1}  # every reference once


async def test_rows_are_independent_idempotent_and_report_their_own_paths(gql, db):
    await catalog(db)
    rows = [row("R-1"), row("R-1"), row("R-1", quantity=2), row("R-2", sku="NOPE"), row("R-3", quantity=0, country="XX"),
            row("R-4", payment={"method": "CARD", "token": "tok_visa"}), row("R-5", marketplace=None),
            row("R-6", marketplace="Bad Code"), row("R-7", paidExternally=True, payment={"method": "OTHER"}), row("")]
    body = await gql(IMPORT, {"input": {"orders": rows}})
    assert "errors" not in body, body
    payload = body["data"]["importOrders"]
    results = payload["results"]
    assert [r["outcome"] for r in results] == ["CREATED", "ALREADY_IMPORTED", "FAILED", "FAILED", "FAILED", "FAILED", "CREATED", "FAILED",
                                               "CREATED", "FAILED"]
    assert (payload["created"], payload["alreadyImported"], payload["failed"], payload["userErrors"]) == (3, 1, 6, [])
    first = results[0]["order"]
    assert first["externalReference"] == "R-1" and first["marketplace"] == "amazon-es" and first["channel"] == "MARKETPLACE"
    assert results[1]["order"] == first  # the first order, nothing new
    assert results[2]["order"]["id"] == first["id"]  # the same reference with another content: refused, with the first order
    errors = {r["index"]: [(e["code"], e["field"]) for e in r["userErrors"]] for r in results if r["userErrors"]}
    assert errors == {
        2: [("IDEMPOTENCY_CONFLICT", ["input", "orders", "2", "externalReference"])],
        3: [("NOT_FOUND", ["input", "orders", "3", "lines", "0", "sku"])],
        4: [("INVALID_INPUT", ["input", "orders", "4", "lines", "0", "quantity"]),
            ("INVALID_INPUT", ["input", "orders", "4", "shippingAddress", "country"])],
        5: [("INVALID_INPUT", ["input", "orders", "5", "payment", "method"]), ("INVALID_INPUT", ["input", "orders", "5", "payment", "token"])],
        7: [("INVALID_INPUT", ["input", "orders", "7", "marketplace"])],
        9: [("INVALID_INPUT", ["input", "orders", "9", "externalReference"])],
    }
    assert results[6]["order"]["marketplace"] is None  # the channel alone
    assert results[8]["order"]["paymentStatus"] == "PAID" and results[8]["order"]["status"] == "CONFIRMED"  # paid at the marketplace
    assert await count_orders(db) == 3
    # again, whole: nothing new, and the payment recorded once
    again = (await gql(IMPORT, {"input": {"orders": [rows[0], rows[8]]}}))["data"]["importOrders"]
    assert [r["outcome"] for r in again["results"]] == ["ALREADY_IMPORTED", "ALREADY_IMPORTED"]
    assert again["results"][1]["order"]["id"] == results[8]["order"]["id"]
    async with db.read() as session:
        payments = (await session.execute(select(func.count()).select_from(Payment).where(Payment.order_id.in_(
            select(Order.id).where(Order.external_reference == "R-7"))))).scalar_one()
    assert payments == 1 and await count_orders(db) == 3
    # the imported orders are found by their reference and marketplace
    found = await gql('{ orders(filter: {externalReference: "R-1", marketplace: "amazon-es"}) { edges { node { id } } } }')
    assert [e["node"]["id"] for e in found["data"]["orders"]["edges"]] == [first["id"]]


async def test_limits_scope_and_reserved_keys(gql, db):
    await catalog(db)
    too_many = (await gql(IMPORT, {"input": {"orders": [row(f"L-{i}") for i in range(501)]}}))["data"]["importOrders"]
    assert too_many["results"] == [] and too_many["userErrors"][0]["code"] == "LIMIT_EXCEEDED"
    assert too_many["userErrors"][0]["field"] == ["input", "orders"]
    reader = await make_key(db, "orders:read")
    refused = await gql(IMPORT, {"input": {"orders": [row("S-1")]}}, token=reader)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # placeOrder cannot take an import's key (nor a draft's)
    for key in ("import:MARKETPLACE:amazon-es:S-1", "draft:1"):
        place = await gql(PLACE, {"input": {"channel": "WEB", "email": "a@example.com", "lines": [{"sku": "A", "quantity": 1}],
                                            "shippingAddress": ADDRESS_INPUT, "idempotencyKey": key}})
        assert place["data"]["placeOrder"]["userErrors"] == [{"code": "INVALID_INPUT", "field": ["input", "idempotencyKey"]}]
    assert await count_orders(db) == 0


async def test_a_thousand_rows_through_the_mutation_in_two_batches(gql, db):
    await catalog(db)
    rows, duplicates, bad = thousand_rows()
    results: list[dict] = []
    for start in (0, 500):
        body = await gql(IMPORT, {"input": {"orders": rows[start:start + 500]}})
        assert "errors" not in body, body
        results += [{"index": r["index"] + start, "outcome": r["outcome"], "externalReference": r["externalReference"],
                     "orderId": r["order"]["id"] if r["order"] else None, "userErrors": r["userErrors"]}
                    for r in body["data"]["importOrders"]["results"]]
    check_outcomes(results, rows, duplicates, bad)
    assert all(e["field"][:3] == ["input", "orders", str(r["index"] % 500)] for r in results for e in r["userErrors"])
    assert await count_orders(db) == 850
    await check_database(db, rows, bad)


def oms(*args: str) -> list[str]:
    return [OMS, *args]


async def test_the_cli_killed_mid_import_and_run_again_loses_and_doubles_nothing(db, tmp_path):
    await catalog(db)
    rows, duplicates, bad = thousand_rows(seed=18)
    path = tmp_path / "orders.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    env = {**os.environ, "DATABASE_URL": os.environ["OMS_TEST_DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")}
    # when: the import is killed once 300 orders exist (a condition polled in the database)
    with (tmp_path / "first.log").open("w") as log:
        first = await asyncio.create_subprocess_exec(*oms("import-orders", str(path), "--no-progress"), env=env, stdout=log,
                                                     stderr=subprocess.STDOUT)
        try:
            while await count_orders(db) < 300:
                assert first.returncode is None, (tmp_path / "first.log").read_text()
                await asyncio.sleep(0.05)  # polling the database for the condition, not waiting a fixed time
            first.send_signal(signal.SIGKILL)
        finally:
            await asyncio.wait_for(first.wait(), 60)
    assert first.returncode == -signal.SIGKILL
    interrupted = await count_orders(db)
    assert 300 <= interrupted < 850
    # and run again
    second = await asyncio.to_thread(subprocess.run, oms("import-orders", str(path), "--no-progress"), env=env, capture_output=True,
                                     text=True, timeout=600)
    # then: exactly the file's orders, each once; every row has one result
    assert second.returncode == 1, second.stderr  # 1: some rows failed (the 50 bad ones)
    assert "created 850, already imported 100, failed 50" in second.stdout, second.stdout
    assert "resumed after row" in second.stdout
    results = [json.loads(line) for line in (tmp_path / "orders.jsonl.results.jsonl").read_text().splitlines()]
    check_outcomes([{**r, "index": r["row"]} for r in results], rows, duplicates, bad)
    assert await count_orders(db) == 850
    await check_database(db, rows, bad)
    # a third run: nothing left to do, nothing imported twice
    third = await asyncio.to_thread(subprocess.run, oms("import-orders", str(path), "--no-progress"), env=env, capture_output=True, text=True,
                                    timeout=600)
    assert "created 850, already imported 100, failed 50" in third.stdout and await count_orders(db) == 850


async def test_the_cli_reads_csv_and_reports_bad_lines(db, tmp_path):
    await catalog(db)
    path = tmp_path / "batch.csv"
    header = "external_reference,marketplace,channel,email,sku,quantity,ship_name,ship_line1,ship_city,ship_postal_code,ship_country,paid_externally"
    lines = [header,
             "C-1,zalando,MARKETPLACE,c1@example.com,A,1,Ana,Calle 1,Madrid,28013,ES,true",
             "C-1,zalando,MARKETPLACE,c1@example.com,C,1,Ana,Calle 1,Madrid,28013,ES,true",  # the same order's second line
             "C-2,zalando,MARKETPLACE,c2@example.com,A,x,Ana,Calle 1,Madrid,28013,ES,",  # not a quantity
             "C-1,zalando,MARKETPLACE,c1@example.com,A,1,Ana,Calle 1,Madrid,28013,ES,true"]  # another order under C-1: a conflict
    path.write_text("\n".join(lines) + "\n")
    env = {**os.environ, "DATABASE_URL": os.environ["OMS_TEST_DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")}
    done = await asyncio.to_thread(subprocess.run, oms("import-orders", str(path)), env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "created 1, already imported 0, failed 2" in done.stdout, (done.stdout, done.stderr)
    results = [json.loads(line) for line in (tmp_path / "batch.csv.results.jsonl").read_text().splitlines()]
    assert [r["outcome"] for r in results] == ["CREATED", "FAILED", "FAILED"]
    assert results[1]["userErrors"][0]["field"] == ["lines", "0", "quantity"]
    assert results[2]["userErrors"][0]["code"] == "IDEMPOTENCY_CONFLICT" and results[2]["orderId"] == results[0]["orderId"]
    async with db.read() as session:
        order = (await session.execute(select(Order).where(Order.external_reference == "C-1"))).scalar_one()
    assert order.marketplace == "zalando" and order.payment_status == "PAID" and to_global_id("Order", order.id)


async def test_a_row_placed_whose_result_line_was_lost_is_reported_created_on_the_rerun(db, tmp_path):
    # given: a finished import whose last result lines are lost (the process died between placing and writing them)
    await catalog(db)
    rows = [row(f"Q-{i}") for i in range(12)] + [row("Q-3")]
    path = tmp_path / "q.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    env = {**os.environ, "DATABASE_URL": os.environ["OMS_TEST_DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")}
    first = await asyncio.to_thread(subprocess.run, oms("import-orders", str(path)), env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0 and "created 12, already imported 1, failed 0" in first.stdout, first.stdout + first.stderr
    results = tmp_path / "q.jsonl.results.jsonl"
    kept = results.read_text().splitlines()[:9]
    results.write_text("\n".join(kept) + "\n" + '{"row": 9, "outcome": "CRE')  # and a line torn in the middle
    # when: it runs again
    again = await asyncio.to_thread(subprocess.run, oms("import-orders", str(path)), env=env, capture_output=True, text=True, timeout=300)
    # then: the same outcomes (rows 9-11 were placed by this import: CREATED; row 12 repeats row 3), nothing placed twice
    assert "created 12, already imported 1, failed 0 (resumed after row 9)" in again.stdout, again.stdout + again.stderr
    outcomes = [json.loads(line)["outcome"] for line in results.read_text().splitlines()]
    assert outcomes == ["CREATED"] * 12 + ["ALREADY_IMPORTED"]
    assert await count_orders(db) == 12
    # a changed file is not resumed against the old results
    path.write_text(path.read_text() + json.dumps(row("Q-99")) + "\n")
    changed = await asyncio.to_thread(subprocess.run, oms("import-orders", str(path)), env=env, capture_output=True, text=True, timeout=300)
    assert changed.returncode != 0 and "changed since the import" in changed.stderr


async def test_each_row_costs_what_a_placement_costs(gql, db):
    await catalog(db)
    document = "mutation($input: ImportOrdersInput!) { importOrders(input: $input) { created } }"
    one = await gql(document, {"input": {"orders": [row("K-1")]}})
    three = await gql(document, {"input": {"orders": [row("K-2"), row("K-3"), row("K-4")]}})
    weight = OMS_POLICY.mutation_cost  # a placeOrder's own weight, per row
    assert three["extensions"]["cost"]["requestedQueryCost"] - one["extensions"]["cost"]["requestedQueryCost"] == 2 * weight
    assert three["extensions"]["cost"]["actualQueryCost"] - one["extensions"]["cost"]["actualQueryCost"] == 2 * weight
