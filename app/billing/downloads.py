"""HTTP downloads of invoice documents: GET /documents/invoices/{number}.pdf|.html.

Bearer API key with `invoices:read`; 401 without a valid key, 403 without the scope, 404 for an unknown number.
"""

from __future__ import annotations

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.auth.service import authenticate
from app.billing import documents
from models.billing import Invoice

SCOPE = "invoices:read"


def _bearer(value: str | None) -> str | None:
    scheme, _, token = (value or "").strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def _invoice_or_error(request: Request) -> tuple[Invoice | None, str | None, Response | None]:
    db = request.app.state.db
    token = _bearer(request.headers.get("authorization"))
    async with db.read() as session:
        principal = await authenticate(session=session, token=token) if token else None
        if principal is None:
            return None, None, JSONResponse({"error": "A valid API key is required (Authorization: Bearer <token>)."}, status_code=401,
                                            headers={"WWW-Authenticate": "Bearer"})
        if not principal.has(SCOPE):
            return None, None, JSONResponse({"error": f"This API key lacks the {SCOPE!r} scope."}, status_code=403)
        invoice = (await session.execute(select(Invoice).where(Invoice.number == request.path_params["number"]))).scalar_one_or_none()
        if invoice is None:
            return None, None, JSONResponse({"error": "No such invoice."}, status_code=404)
        corrects = None
        if invoice.corrects_id is not None:
            corrects = (await session.execute(select(Invoice.number).where(Invoice.id == invoice.corrects_id))).scalar_one()
    return invoice, corrects, None


def _disposition(invoice: Invoice, extension: str) -> dict[str, str]:
    return {"Content-Disposition": f'inline; filename="{invoice.number}.{extension}"', "Cache-Control": "private, no-store"}


async def invoice_pdf(request: Request) -> Response:
    invoice, corrects, error = await _invoice_or_error(request)
    if error is not None:
        return error
    assert invoice is not None
    return Response(documents.render_pdf(invoice, corrects_number=corrects), media_type="application/pdf", headers=_disposition(invoice, "pdf"))


async def invoice_html(request: Request) -> Response:
    invoice, corrects, error = await _invoice_or_error(request)
    if error is not None:
        return error
    assert invoice is not None
    return Response(documents.render_html(invoice, corrects_number=corrects), media_type="text/html; charset=utf-8",
                    headers=_disposition(invoice, "html"))
