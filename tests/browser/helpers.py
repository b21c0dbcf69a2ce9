"""Shared bits of the browser tests."""

from __future__ import annotations

import os
from typing import Any

from tests.live_server import LiveServer

OPENED = "oms_live_subscriptions_opened_total"
HOLD = "mutation H($id: ID!) { holdOrder(input: {orderId: $id}) { userErrors { code } eventCursor } }"
RELEASE = "mutation R($id: ID!) { releaseOrder(input: {orderId: $id}) { userErrors { code } eventCursor } }"


async def move(server: LiveServer, token: str, mutation: str, order_id: str) -> str:
    body = await server.gql(mutation, {"id": order_id}, token=token)
    payload = next(iter(body["data"].values()))
    assert payload["userErrors"] == [], body
    return str(payload["eventCursor"])


async def screenshot(page: Any, name: str) -> None:
    """With OMS_SCREENSHOTS_DIR set (README screenshots: OMS_SCREENSHOTS_DIR=docs scripts/test tests/browser), save one."""
    directory = os.environ.get("OMS_SCREENSHOTS_DIR")
    if directory:
        os.makedirs(directory, exist_ok=True)
        await page.screenshot(path=os.path.join(directory, name), full_page=True)
