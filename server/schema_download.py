"""`GET /graphql/schema.graphql`: the SDL a partner generates a client from (issue 17).

The body is the served schema's SDL, byte for byte what `oms export-schema` prints and what is committed
as graphql_schema/schema.graphql (tests/test_schema_download.py checks both).

Who may download it: in development anyone, like GraphiQL. `OMS_ENV=production` turns off open
introspection, so there the SDL goes only to a valid API key (any scope): a partner with a key may read the
contract it codes against, an anonymous caller learns nothing it could not learn with introspection on.
"""

from __future__ import annotations

import hashlib

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from strawberry.schema.base import BaseSchema

from app.auth.service import authenticate, bearer_token

PATH = "/graphql/schema.graphql"


def sdl_of(schema: BaseSchema) -> str:
    """What `oms export-schema` prints (its `print` adds the final newline)."""
    return schema.as_str() + "\n"


async def _has_key(request: Request) -> bool:
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        return False
    async with request.app.state.db.read() as session:
        return await authenticate(session=session, token=token) is not None


def route(schema: BaseSchema, *, production: bool) -> Route:
    body = sdl_of(schema)
    etag = '"' + hashlib.sha256(body.encode()).hexdigest()[:32] + '"'

    async def download(request: Request) -> Response:
        if production and not await _has_key(request):
            return JSONResponse({"error": "A valid API key is required (Authorization: Bearer <token>)."}, status_code=401,
                                headers={"WWW-Authenticate": "Bearer"})
        headers = {"ETag": etag, "Cache-Control": "no-cache"}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return PlainTextResponse(body, media_type="text/plain; charset=utf-8", headers=headers)

    return Route(PATH, download, methods=["GET"])
