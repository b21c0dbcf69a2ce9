"""`oms import-orders FILE` and `oms export-orders` (issue 17): the bulk import and export, in process (no HTTP).

Import: FILE is JSON Lines (one object a line, the shape of an `importOrders` row: externalReference, marketplace,
channel, email, lines[{sku, quantity, customization}], shippingAddress{name, line1, line2, city, postalCode, region,
country, phone}, billingAddress, payment{method}, paidExternally) or CSV (`.csv`: one order line a row, CSV_COLUMNS;
consecutive rows with the same channel, marketplace and external_reference are one order). Each row goes through
app/flows/imports.py (placeOrder's path), in its own transactions, sequentially.

Resumable: every row's result is appended to FILE.results.jsonl as it is known (one line each, in row order), and
FILE.import-state.json holds the file's sha256 and when the import began. A rerun (after a crash or a kill) skips the
rows already in the results; a row that was placed but whose result line was never written answers ALREADY_IMPORTED
on the rerun and is reported CREATED (its order was placed after the import began). Correctness never depends on
those files: a row already imported is never imported again (its external reference is its idempotency key).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from app.errors import DomainError, ErrorCode, ValidationErrors
from app.flows import imports
from app.infra.database import Database
from app.orders.enums import OrderStatus, SalesChannel
from app.orders.queries import OrderQuery
from app.orders.service import LineRequest, PlaceOrderRequest
from resolvers.errors import input_field

CSV_COLUMNS = ("external_reference", "marketplace", "channel", "email", "sku", "quantity", "ship_name", "ship_line1", "ship_line2",
               "ship_city", "ship_postal_code", "ship_region", "ship_country", "ship_phone", "payment_method", "paid_externally")
ADDRESS_FIELDS = {"name": "name", "line1": "line1", "line2": "line2", "city": "city", "postalCode": "postal_code", "region": "region",
                  "country": "country", "phone": "phone"}
ROW_FIELDS = {"externalReference", "marketplace", "channel", "email", "lines", "shippingAddress", "billingAddress", "payment",
              "paidExternally"}


class RowError(Exception):
    """A row that is not even an import row (bad JSON, a missing or mistyped field): FAILED, like a refused one."""

    def __init__(self, error: DomainError) -> None:
        super().__init__(error.message)
        self.error = error


def _invalid(message: str, *path: str | int) -> RowError:
    return RowError(DomainError(ErrorCode.INVALID_INPUT, message, path))


def _string(value: Any, *path: str | int, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise _invalid("Expected a string.", *path)
    return value


def _address(value: Any, *path: str | int) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _invalid("Expected an address object.", *path)
    unknown = sorted(set(value) - set(ADDRESS_FIELDS))
    if unknown:
        raise _invalid(f"Unknown field {unknown[0]!r}.", *path, unknown[0])
    return {stored: _string(value.get(name), *path, stored, optional=True) for name, stored in ADDRESS_FIELDS.items()}


def row_of(data: Any) -> imports.ImportRow:
    """An importOrders row (camelCase, as the mutation's input) as the domain's ImportRow; RowError when malformed."""
    if not isinstance(data, dict):
        raise _invalid("Each line must be a JSON object.")
    unknown = sorted(set(data) - ROW_FIELDS)
    if unknown:
        raise _invalid(f"Unknown field {unknown[0]!r}.", unknown[0])
    for required in ("externalReference", "channel", "email", "lines", "shippingAddress"):
        if data.get(required) is None:
            raise _invalid(f"{required} is required.", {"externalReference": "external_reference", "shippingAddress": "shipping_address"}
                           .get(required, required))
    lines = data["lines"]
    if not isinstance(lines, list):
        raise _invalid("Expected a list of lines.", "lines")
    requested = []
    for i, line in enumerate(lines):
        if not isinstance(line, dict) or set(line) - {"sku", "quantity", "customization"}:
            raise _invalid("A line is {sku, quantity, customization}.", "lines", i)
        quantity = line.get("quantity")
        if isinstance(quantity, bool) or not isinstance(quantity, int):
            raise _invalid("Expected an integer.", "lines", i, "quantity")
        requested.append(LineRequest(_string(line.get("sku"), "lines", i, "sku") or "", quantity, line.get("customization")))
    payment = data.get("payment")
    if payment is not None and (not isinstance(payment, dict) or set(payment) - {"method", "token"}):
        raise _invalid("payment is {method, token}.", "payment")
    paid = data.get("paidExternally")
    if paid is not None and not isinstance(paid, bool):
        raise _invalid("Expected true or false.", "paid_externally")
    request = PlaceOrderRequest(
        channel=_string(data["channel"], "channel"),  # type: ignore[arg-type]  # checked by the placement (member_of)
        email=_string(data["email"], "email") or "",
        lines=requested,
        shipping_address=_address(data["shippingAddress"], "shipping_address"),
        billing_address=_address(data["billingAddress"], "billing_address") if data.get("billingAddress") is not None else None,
        payment_method=_string(payment.get("method"), "payment", "method") if payment else None,  # type: ignore[arg-type]
        payment_token=_string(payment.get("token"), "payment", "token", optional=True) if payment else None,
    )
    return imports.ImportRow(request=request, external_reference=_string(data["externalReference"], "external_reference") or "",
                             marketplace=_string(data.get("marketplace"), "marketplace", optional=True), paid_externally=bool(paid))


def _csv_rows(text: TextIO) -> Iterator[Any]:
    """CSV lines grouped into importOrders rows (dicts of the JSON shape): consecutive lines of one order."""
    reader = csv.DictReader(text)
    missing = [c for c in ("external_reference", "channel", "email", "sku", "quantity") if c not in (reader.fieldnames or [])]
    if missing:
        raise SystemExit(f"oms import-orders: CSV columns missing: {', '.join(missing)} (expected {', '.join(CSV_COLUMNS)})")
    current: dict[str, Any] | None = None
    key: tuple[str, ...] | None = None
    for record in reader:
        record_key = (record.get("channel") or "", record.get("marketplace") or "", record.get("external_reference") or "")
        quantity: Any = (record.get("quantity") or "").strip()
        with contextlib.suppress(ValueError):  # else refused with its path by row_of
            quantity = int(quantity)
        line = {"sku": record.get("sku") or "", "quantity": quantity}
        if current is not None and record_key == key:
            current["lines"].append(line)
            continue
        if current is not None:
            yield current
        key = record_key
        current = {
            "externalReference": record.get("external_reference") or "", "marketplace": record.get("marketplace") or None,
            "channel": record.get("channel") or "", "email": record.get("email") or "", "lines": [line],
            "shippingAddress": {name: (record.get(f"ship_{stored}") or None) for name, stored in ADDRESS_FIELDS.items()},
        }
        if record.get("payment_method"):
            current["payment"] = {"method": record["payment_method"]}
        if (record.get("paid_externally") or "").strip().lower() in ("1", "true", "yes"):
            current["paidExternally"] = True
    if current is not None:
        yield current


def read_rows(path: Path) -> Iterator[tuple[Any, RowError | None]]:
    """(row data, None) or (raw text, the error) per row, in file order."""
    with path.open(encoding="utf-8", newline="") as text:
        if path.suffix.lower() == ".csv":
            for data in _csv_rows(text):
                yield data, None
            return
        for line in text:
            if not line.strip():
                continue
            try:
                yield json.loads(line), None
            except json.JSONDecodeError as exc:
                yield line.strip()[:200], _invalid(f"Not JSON: {exc.msg}.")


def _errors(exc: DomainError) -> list[dict[str, Any]]:
    errors = exc.errors if isinstance(exc, ValidationErrors) else [exc]
    return [{"field": (input_field(e.path) or ["input"])[1:], "code": str(e.code), "message": e.message} for e in errors]


@dataclass
class Summary:
    created: int = 0
    already_imported: int = 0
    failed: int = 0
    resumed_at: int = 0

    def add(self, outcome: str) -> None:
        if outcome == imports.ImportOutcome.CREATED:
            self.created += 1
        elif outcome == imports.ImportOutcome.ALREADY_IMPORTED:
            self.already_imported += 1
        else:
            self.failed += 1

    def line(self) -> str:
        resumed = f" (resumed after row {self.resumed_at})" if self.resumed_at else ""
        return f"created {self.created}, already imported {self.already_imported}, failed {self.failed}{resumed}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _state(path: Path) -> tuple[Path, dict[str, Any], list[dict[str, Any]]]:
    """The state and results files beside FILE; the results already recorded (for this very file) or a fresh start."""
    state_path, results_path = path.with_name(path.name + ".import-state.json"), path.with_name(path.name + ".results.jsonl")
    sha = _sha256(path)
    state: dict[str, Any] = {}
    if state_path.exists():
        state = json.loads(state_path.read_text())
        if state.get("sha256") != sha:
            raise SystemExit(f"oms import-orders: {path} changed since the import recorded in {state_path}; "
                             f"delete {state_path} and {results_path} to import it afresh")
    done: list[dict[str, Any]] = []
    if state and results_path.exists():
        for line in results_path.read_text(encoding="utf-8").splitlines():
            try:
                done.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a line cut by the kill: that row runs again
    if not state:
        state = {"sha256": sha, "started_at": datetime.now(UTC).isoformat()}
        tmp = state_path.with_name(state_path.name + ".tmp")
        tmp.write_text(json.dumps(state))
        os.replace(tmp, state_path)
    # rewrite the results without a torn last line
    with results_path.open("w", encoding="utf-8") as out:
        out.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in done)
    return results_path, state, done


async def import_file(db: Database, path: Path, *, actor: str, progress: bool = True, stream: TextIO | None = None) -> Summary:
    results_path, state, done = _state(path)
    started_at = datetime.fromisoformat(state["started_at"])
    summary = Summary(resumed_at=len(done))
    imported_here = {r["orderId"] for r in done if r.get("orderId")}  # orders this import's results already name
    for recorded in done:
        summary.add(recorded["outcome"])
    total = sum(1 for _ in read_rows(path))
    bar = tqdm(total=total, initial=len(done), unit="order", desc="import", disable=not progress or None, file=stream or sys.stderr)
    with results_path.open("a", encoding="utf-8") as out:
        for index, (data, malformed) in enumerate(read_rows(path)):
            if index < len(done):
                continue
            reference = data.get("externalReference") if isinstance(data, dict) else None
            try:
                if malformed is not None:
                    raise malformed
                result = await imports.import_order(db, row=row_of(data), actor=actor)
            except RowError as exc:
                result = imports.ImportResult(imports.ImportOutcome.FAILED, None, [exc.error])
            outcome = result.outcome
            if outcome == imports.ImportOutcome.ALREADY_IMPORTED and result.order is not None and result.order.placed_at >= started_at \
                    and str(result.order.id) not in imported_here:
                outcome = imports.ImportOutcome.CREATED  # placed by this import before it was interrupted
            record = {"row": index, "externalReference": reference, "outcome": str(outcome),
                      "orderId": str(result.order.id) if result.order is not None else None,
                      "orderNumber": result.order.number if result.order is not None else None,
                      "userErrors": [e for exc in result.errors for e in _errors(exc)]}
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            out.flush()
            if record["orderId"]:
                imported_here.add(record["orderId"])
            summary.add(str(outcome))
            bar.update(1)
    bar.close()
    return summary


# --- export: the filter both `oms export-orders` and GET /exports/orders.jsonl take -----------------------------


def _times(value: str | None, name: str) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name}: expected an ISO 8601 date-time, not {value!r}") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _members(values: list[str], enum: Any, name: str) -> list[str] | None:
    names = [v.strip() for value in values for v in value.split(",") if v.strip()]
    wrong = [v for v in names if v not in enum.__members__]
    if wrong:
        raise ValueError(f"{name}: unknown value {wrong[0]!r} (one of {', '.join(enum.__members__)})")
    return names or None


def _matches(values: list[str], name: str) -> tuple[tuple[str, str | None], ...]:
    matches = []
    for value in values:
        key, sep, wanted = value.partition("=")
        if not key:
            raise ValueError(f"{name}: expected KEY or KEY=VALUE, not {value!r}")
        matches.append((key, wanted if sep else None))
    if len(matches) > 20:
        raise ValueError(f"{name}: at most 20 conditions")
    return tuple(matches)


def export_query(*, status: list[str], channel: list[str], email: str | None, placed_after: str | None, placed_before: str | None,
                 updated_after: str | None, delivery_at_risk: str | None, external_reference: str | None, marketplace: str | None,
                 metadata: list[str], private_metadata: list[str]) -> OrderQuery:
    """The export's filter as app.orders.queries.OrderQuery (what `orders(filter:)` means); ValueError names a bad option."""
    at_risk = None
    if delivery_at_risk not in (None, ""):
        if delivery_at_risk not in ("true", "false"):
            raise ValueError(f"deliveryAtRisk: expected true or false, not {delivery_at_risk!r}")
        at_risk = delivery_at_risk == "true"
    return OrderQuery(
        status=_members(status, OrderStatus, "status"), channel=_members(channel, SalesChannel, "channel"), email=email or None,
        placed_after=_times(placed_after, "placedAfter"), placed_before=_times(placed_before, "placedBefore"),
        updated_after=_times(updated_after, "updatedAfter"), delivery_at_risk=at_risk, external_reference=external_reference or None,
        marketplace=marketplace or None, metadata=_matches(metadata, "metadata"), private_metadata=_matches(private_metadata, "privateMetadata"),
    )
