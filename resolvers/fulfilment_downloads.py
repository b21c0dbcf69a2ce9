"""Authorised downloads of shipping documents (HTTP, beside /graphql).

Same Bearer API keys as the GraphQL API; both documents need `shipments:read`.
No or bad key: 401. Key without the scope: 403. Unknown or malformed ID: 404.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.auth.service import authenticate
from app.fulfilment import documents
from app.orders import promise as calendar
from resolvers.context import bearer_token
from resolvers.ids import from_global_id, to_global_id

READ_SCOPE = "shipments:read"


def pick_list_csv_path(pick_list_id: object) -> str:
    return f"/documents/pick-lists/{to_global_id('PickList', str(pick_list_id))}.csv"


def packing_slip_path(order_id: object) -> str:
    return f"/documents/orders/{to_global_id('Order', str(order_id))}/packing-slip.pdf"


async def _refusal(request: Request) -> Response | None:
    token = bearer_token(request.headers.get("authorization"))
    principal = None
    if token is not None:
        async with request.app.state.db.read() as session:
            principal = await authenticate(session=session, token=token)
    if principal is None:
        return JSONResponse(
            {"error": "A valid API key is required (Authorization: Bearer <token>)."}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
        )
    if not principal.has(READ_SCOPE):
        return JSONResponse({"error": f"This API key lacks the {READ_SCOPE!r} scope."}, status_code=403)
    return None


def _send(document: documents.Document | None) -> Response:
    if document is None:
        return JSONResponse({"error": "Not found."}, status_code=404)
    return Response(
        document.body, media_type=document.media_type,
        headers={"Content-Disposition": f'attachment; filename="{document.filename}"', "Cache-Control": "private, no-store"},
    )


def _decoded(raw: str, expected: str):  # type: ignore[no-untyped-def]
    decoded = from_global_id(raw)
    return decoded[1] if decoded is not None and decoded[0] == expected else None


async def pick_list_csv(request: Request) -> Response:
    if (refusal := await _refusal(request)) is not None:
        return refusal
    pick_list_id = _decoded(request.path_params["pick_list_id"], "PickList")
    if pick_list_id is None:
        return _send(None)
    async with request.app.state.db.read() as session:
        return _send(await documents.pick_list_csv(session, pick_list_id=pick_list_id))


async def packing_slip_pdf(request: Request) -> Response:
    if (refusal := await _refusal(request)) is not None:
        return refusal
    order_id = _decoded(request.path_params["order_id"], "Order")
    if order_id is None:
        return _send(None)
    async with request.app.state.db.read() as session:
        return _send(await documents.packing_slip_pdf(session, order_id=order_id, printed_at=calendar.utcnow()))


ROUTES = [
    Route("/documents/pick-lists/{pick_list_id}.csv", pick_list_csv, methods=["GET"]),
    Route("/documents/orders/{order_id}/packing-slip.pdf", packing_slip_pdf, methods=["GET"]),
]
