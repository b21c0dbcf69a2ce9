"""/dashboard in Chromium: counters move when an order is placed; the live feed resumes after a server restart
with no missing and no duplicated event."""

from __future__ import annotations

from typing import Any

import pytest_asyncio
from sqlalchemy import select

from models import OrderEvent
from resolvers.ids import to_global_id
from tests import factories
from tests.browser.helpers import HOLD, OPENED, move, screenshot
from tests.conftest import make_key
from tests.live_server import LiveServer


@pytest_asyncio.fixture
async def server(database_url: str, app: Any):
    holder = {"live": await LiveServer(database_url).start()}
    yield holder
    await holder["live"].stop()


async def restart(holder: dict[str, LiveServer], database_url: str, while_down: Any) -> LiveServer:
    """Stops the server, runs `while_down()`, then starts a new one on the same port."""
    old = holder["live"]
    await old.stop()
    await while_down()
    new = LiveServer(database_url)
    new.port = old.port
    holder["live"] = await new.start()
    return new


async def status_changes(db) -> list[str]:
    async with db.read() as session:
        events = (await session.execute(select(OrderEvent).order_by(OrderEvent.seq))).scalars().all()
    return [str(e.seq) for e in events if e.previous_status != e.status]


async def counter(page, group: str, name: str) -> str:
    return (await page.locator(f'#{group} [data-name="{name}"] dd').text_content() or "").strip()


async def test_dashboard_counters_move_and_the_feed_resumes_after_a_restart(page, server, database_url, db):
    # given: a catalog, one order, and an operator with a key
    await factories.basic_catalog(db)
    first = await factories.place(db, [("A", 1)], channel="PHONE")
    key = await make_key(db, "orders:read", "orders:write", "stock:read", name="ops")
    live: LiveServer = server["live"]
    opened = await live.metric(OPENED)
    await page.goto(live.http_url + "/dashboard")
    await page.get_by_label("API key", exact=False).fill(key)
    await page.get_by_role("button", name="Connect").click()
    await page.locator("#live[data-state=live]").wait_for()
    await live.until_metric(OPENED, opened + 1)
    assert await counter(page, "status-counts", "PENDING") == "1"
    assert await counter(page, "channel-counts", "WEB") == "0"
    assert await page.evaluate("() => sessionStorage.getItem('oms.apiKey')") == key
    # when: an order is placed
    second = await factories.place(db, [("A", 1)], channel="WEB")
    # then: it shows in the feed and the counters follow
    await page.locator("#feed li").first.filter(has_text=second.number).wait_for()
    await page.wait_for_function("() => document.querySelector('#channel-counts [data-name=WEB] dd')?.textContent === '1'")
    assert await counter(page, "status-counts", "PENDING") == "2"
    assert await page.locator("#total").text_content() == "2"

    # when: the server restarts, and changes are made while it is down
    async def changes_while_down() -> None:
        await factories.place(db, [("B", 1)], channel="STORE")
        await factories.place(db, [("A", 1)], channel="WEB")

    live = await restart(server, database_url, changes_while_down)
    await page.locator("#feed li").nth(2).wait_for()  # the two missed placements were replayed
    await page.locator("#live[data-state=live]").wait_for()
    # and one more change after the resume
    await live.until_metric(OPENED, 1)
    await move(live, key, HOLD, to_global_id("Order", first.id))
    await page.locator("#feed li").nth(3).wait_for()
    await page.wait_for_function("() => document.querySelector('#status-counts [data-name=ON_HOLD] dd')?.textContent === '1'")
    # then: every change after the first one the page saw, newest first, each exactly once
    shown = await page.locator("#feed li").evaluate_all("items => items.map(li => li.dataset.cursor)")
    expected = await status_changes(db)
    assert shown == list(reversed(expected[1:])), (shown, expected)
    assert len(set(shown)) == len(shown) == 4  # placed WEB, two while down, the hold
    assert await page.evaluate("() => document.body.dataset.duplicates") is None  # and none arrived twice
    assert await counter(page, "channel-counts", "STORE") == "1"
    await screenshot(page, "dashboard.png")
    assert page.blocked == []
