"""The HTTP view's memoised header parsing (server/app.py, issue 15): Content-Type and Accept are parsed once per
distinct text, and each text still gets strawberry's answer — asked cold and again from the memo."""

from __future__ import annotations

from typing import Any

import httpx
from strawberry.http.async_base_view import AsyncBaseHTTPView
from strawberry.http.parse_content_type import parse_content_type

from server import app as server_app
from tests.http_streams import MULTIPART_ACCEPT, SSE_ACCEPT

QUERY = '{"query": "{ __typename }"}'


async def post(client: httpx.AsyncClient, token: str, content_type: str, accept: str | None = None) -> tuple[int, str]:
    headers = {"Content-Type": content_type, "Authorization": f"Bearer {token}", **({"Accept": accept} if accept else {})}
    response = await client.post("/graphql", content=QUERY, headers=headers)
    return response.status_code, response.text if response.status_code != 200 else response.json()["data"]["__typename"]


async def test_each_content_type_gets_strawberrys_answer_cold_and_memoised(client: httpx.AsyncClient, admin_token: str):
    cases = [("application/json", "Query"), ("application/json; charset=utf-8", "Query"), ("Application/JSON", 400),
             ("text/plain", 400), ("application/x-www-form-urlencoded", 400), ("", 400)]
    for content_type, expected in cases:
        answers = [await post(client, admin_token, content_type) for _ in range(2)]
        assert answers[0] == answers[1], content_type
        status, body = answers[0]
        assert (body if status == 200 else status) == expected, (content_type, answers)
        assert server_app._content_type(content_type) == parse_content_type(content_type)


async def test_each_accept_text_gets_the_transport_strawberry_picks(app: Any):
    view = next(route.endpoint for route in app.router.routes if isinstance(getattr(route, "endpoint", None), server_app.GraphQLApp))
    texts = ["application/json", SSE_ACCEPT, MULTIPART_ACCEPT, "text/event-stream, application/json", "*/*", "", "application/graphql-response+json"]
    for text in texts * 2:  # cold, then from the memo
        found = view._get_stream_transport_from_headers(_headers(text))
        expected = AsyncBaseHTTPView._get_stream_transport_from_headers(view, {"accept": text})
        assert (found and found.protocol) == (expected and expected.protocol), text


def _headers(text: str) -> Any:
    from starlette.datastructures import Headers

    return Headers(raw=[(b"accept", text.encode("latin-1"))] if text else [])
