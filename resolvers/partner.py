"""Bulk import (issue 17): `importOrders` runs each row through app/flows/imports.py (placeOrder's path, its own
transactions per row), so a bad row never blocks the others; one result per row, its userErrors' paths naming the
row (["input", "orders", "<i>", ...])."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.errors import DomainError, ErrorCode
from app.flows import imports
from app.infra.faults import Unavailable
from models import Order
from resolvers.errors import MutationOutcome, UserError, input_field, user_errors
from resolvers.inputs import ImportOrderRowArgs, ImportOrdersArgs
from resolvers.orders import placement_request
from resolvers.types import Info, MutationPayload


@dataclass(frozen=True, slots=True)
class ImportOrderResult:
    index: int
    external_reference: str
    outcome: imports.ImportOutcome
    order: Order | None
    user_errors: list[UserError] = field(default_factory=list)


def _row_errors(index: int, exc: DomainError) -> list[UserError]:
    prefix = ["input", "orders", str(index)]
    return [UserError(field=prefix + (e.field or ["input"])[1:], code=e.code, message=e.message) for e in user_errors(exc)]


def import_row(row: ImportOrderRowArgs) -> imports.ImportRow:
    return imports.ImportRow(request=placement_request(row, None), external_reference=row.external_reference,
                             marketplace=row.marketplace, paid_externally=bool(row.paid_externally))


async def import_orders(info: Info, input: ImportOrdersArgs) -> MutationPayload:
    actor = (await info.context.require("orders:write")).actor
    rows = list(input.orders)
    empty = {"results": [], "created": 0, "already_imported": 0, "failed": 0}
    if len(rows) > imports.MAX_ROWS:
        return MutationOutcome(empty, [UserError(input_field(("orders",)), ErrorCode.LIMIT_EXCEEDED,
                                                 f"At most {imports.MAX_ROWS} orders per call ({len(rows)} given).")], None)
    results: list[ImportOrderResult] = []
    for index, row in enumerate(rows):  # sequential: the placement's advisory lock makes concurrent importers safe anyway
        try:
            result = await imports.import_order(info.context.db, row=import_row(row), actor=actor)
        except Unavailable:  # the database, not the row: this row is not written; a rerun is safe (idempotent)
            result = imports.ImportResult(imports.ImportOutcome.FAILED, None, [
                DomainError(ErrorCode.UNAVAILABLE, "The service was unavailable; this row was not imported. Retry it.")])
        errors = [e for exc in result.errors for e in _row_errors(index, exc)]
        results.append(ImportOrderResult(index, row.external_reference, result.outcome, result.order, errors))
    counts = {outcome: sum(r.outcome == outcome for r in results) for outcome in imports.ImportOutcome}
    return MutationOutcome({"results": results, "created": counts[imports.ImportOutcome.CREATED],
                            "already_imported": counts[imports.ImportOutcome.ALREADY_IMPORTED],
                            "failed": counts[imports.ImportOutcome.FAILED]}, [], None)
