"""Authorised document downloads beside /graphql: pick lists (CSV), packing slips (PDF), invoices (PDF, HTML).

The same Bearer API keys as the GraphQL API, each document behind the read scope of what it shows:
no or bad key 401, a key without the scope 403, an unknown or malformed id 404.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from app.auth.service import authenticate, bearer_token
from app.billing import documents as invoice_documents
from app.fulfilment import documents as shipping_documents
from app.orders import export as order_export
from app.orders import promise as calendar
from models.billing import Invoice
from resolvers.ids import from_global_id, to_global_id
from server import bulk

NO_STORE = "private, no-store"


async def _refusal(request: Request, scope: str) -> Response | None:
    """None when the request carries a valid key with `scope`; otherwise the 401 or 403 to send."""
    token = bearer_token(request.headers.get("authorization"))
    principal = None
    if token is not None:
        async with request.app.state.db.read() as session:
            principal = await authenticate(session=session, token=token)
    if principal is None:
        return JSONResponse(
            {"error": "A valid API key is required (Authorization: Bearer <token>)."}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
        )
    if not principal.has(scope):
        return JSONResponse({"error": f"This API key lacks the {scope!r} scope."}, status_code=403)
    return None


def _not_found(what: str = "Not found.") -> Response:
    return JSONResponse({"error": what}, status_code=404)


def _decoded(raw: str, expected: str) -> uuid.UUID | None:
    decoded = from_global_id(raw)
    return decoded[1] if decoded is not None and decoded[0] == expected else None


def _send(document: shipping_documents.Document | None) -> Response:
    if document is None:
        return _not_found()
    return Response(
        document.body, media_type=document.media_type,
        headers={"Content-Disposition": f'attachment; filename="{document.filename}"', "Cache-Control": NO_STORE},
    )


async def pick_list_csv(request: Request) -> Response:
    if (refusal := await _refusal(request, "shipments:read")) is not None:
        return refusal
    pick_list_id = _decoded(request.path_params["pick_list_id"], "PickList")
    if pick_list_id is None:
        return _send(None)
    async with request.app.state.db.read() as session:
        return _send(await shipping_documents.pick_list_csv(session, pick_list_id=pick_list_id))


async def packing_slip_pdf(request: Request) -> Response:
    if (refusal := await _refusal(request, "shipments:read")) is not None:
        return refusal
    order_id = _decoded(request.path_params["order_id"], "Order")
    if order_id is None:
        return _send(None)
    async with request.app.state.db.read() as session:
        return _send(await shipping_documents.packing_slip_pdf(session, order_id=order_id, printed_at=calendar.utcnow()))


async def _invoice(request: Request) -> tuple[Invoice, str | None] | Response:
    if (refusal := await _refusal(request, "invoices:read")) is not None:
        return refusal
    async with request.app.state.db.read() as session:
        invoice = (await session.execute(select(Invoice).where(Invoice.number == request.path_params["number"]))).scalar_one_or_none()
        if invoice is None:
            return _not_found("No such invoice.")
        corrects = None
        if invoice.corrects_id is not None:
            corrects = (await session.execute(select(Invoice.number).where(Invoice.id == invoice.corrects_id))).scalar_one()
    return invoice, corrects


def _inline(invoice: Invoice, extension: str) -> dict[str, str]:
    return {"Content-Disposition": f'inline; filename="{invoice.number}.{extension}"', "Cache-Control": NO_STORE}


def _invoice_route(render: Callable[..., bytes | str], media_type: str, extension: str) -> Callable[[Request], Awaitable[Response]]:
    async def download(request: Request) -> Response:
        found = await _invoice(request)
        if isinstance(found, Response):
            return found
        invoice, corrects = found
        return Response(render(invoice, corrects_number=corrects), media_type=media_type, headers=_inline(invoice, extension))

    return download


invoice_pdf = _invoice_route(invoice_documents.render_pdf, "application/pdf", "pdf")
invoice_html = _invoice_route(invoice_documents.render_html, "text/html; charset=utf-8", "html")


async def orders_jsonl(request: Request) -> Response:
    """GET /exports/orders.jsonl (issue 17): every matching order as JSON Lines, streamed (`oms export-orders`' bytes).
    Needs orders:read; privateMetadata (its lines and its filter) needs orders:write too. Filters as `orders(filter:)`:
    status, channel (repeatable or comma-separated), email, placedAfter, placedBefore, updatedAfter, deliveryAtRisk,
    externalReference, marketplace, metadata / privateMetadata (KEY or KEY=VALUE, repeatable). A bad value: 400."""
    if (refusal := await _refusal(request, "orders:read")) is not None:
        return refusal
    params = request.query_params
    unknown = sorted(set(params) - EXPORT_PARAMETERS)
    if unknown:
        return JSONResponse({"error": f"Unknown parameter {unknown[0]!r}."}, status_code=400)
    private = await _refusal(request, "orders:write") is None
    if params.getlist("privateMetadata") and not private:
        return JSONResponse({"error": "Filtering on privateMetadata needs the 'orders:write' scope."}, status_code=403)
    try:
        query = bulk.export_query(
            status=params.getlist("status"), channel=params.getlist("channel"), email=params.get("email"), placed_after=params.get("placedAfter"),
            placed_before=params.get("placedBefore"), updated_after=params.get("updatedAfter"), delivery_at_risk=params.get("deliveryAtRisk"),
            external_reference=params.get("externalReference"), marketplace=params.get("marketplace"), metadata=params.getlist("metadata"),
            private_metadata=params.getlist("privateMetadata"),
        )
    except ValueError as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    lines = order_export.iter_orders_jsonl(request.app.state.db, query, private=private, global_id=to_global_id)
    return StreamingResponse(lines, media_type="application/x-ndjson",
                             headers={"Content-Disposition": 'attachment; filename="orders.jsonl"', "Cache-Control": NO_STORE})


EXPORT_PARAMETERS = frozenset({"status", "channel", "email", "placedAfter", "placedBefore", "updatedAfter", "deliveryAtRisk", "externalReference",
                               "marketplace", "metadata", "privateMetadata"})

ROUTES = [
    Route("/documents/pick-lists/{pick_list_id}.csv", pick_list_csv, methods=["GET"]),
    Route("/documents/orders/{order_id}/packing-slip.pdf", packing_slip_pdf, methods=["GET"]),
    Route("/documents/invoices/{number}.pdf", invoice_pdf, methods=["GET"]),
    Route("/documents/invoices/{number}.html", invoice_html, methods=["GET"]),
    Route("/exports/orders.jsonl", orders_jsonl, methods=["GET"]),  # partner, issue 17
]
