"""Headless Debian chromium driven by Playwright for Python (async API: the suite runs on pytest-asyncio's session
loop) against real `oms serve` subprocesses. Nothing downloads a browser: scripts/test installs Debian's chromium.

Every page runs as if the machine had no internet: requests to anything but loopback are aborted (and recorded
in `page.blocked`), and the host resolver maps every other name to nothing (covers WebSockets too)."""

from __future__ import annotations

import asyncio
import functools
import http.server
import os
import shutil
import tempfile
import threading
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.live_server import free_port

CHROMIUM = os.environ.get("OMS_CHROMIUM") or next(
    (p for p in ("/usr/lib/chromium/chromium", shutil.which("chromium") or "") if p and os.path.exists(p)), None
)
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}
HERE = Path(__file__).parent
BROWSER_CLOSE_SECONDS = 30
STATIC = HERE.parent.parent / "server" / "static"


@pytest_asyncio.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    if not CHROMIUM:
        pytest.fail("Debian's chromium is missing: apt-get install -y chromium (scripts/test does it)")  # fail, never skip
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--disable-dev-shm-usage", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"],
        )
        yield launched
        # Bounded, so a stuck browser shows up as an error at teardown instead of a suite that never ends.
        await asyncio.wait_for(launched.close(), BROWSER_CLOSE_SECONDS)


async def new_page(browser: Any, **context_options: Any) -> Any:
    context = await browser.new_context(**context_options)
    blocked: list[str] = []

    async def handle(route: Any) -> None:
        url = route.request.url
        if (urllib.parse.urlsplit(url).hostname or "") in LOCAL_HOSTS or url.startswith(("data:", "blob:")):
            await route.continue_()
        else:
            blocked.append(url)
            await route.abort("internetdisconnected")

    await context.route("**/*", handle)
    page = await context.new_page()
    page.blocked = blocked
    page.console = []
    page.on("console", lambda message: page.console.append(message.text))
    return page


@pytest_asyncio.fixture
async def page(browser: Any) -> AsyncIterator[Any]:
    """A fresh browser context per test (desktop size)."""
    opened = await new_page(browser)
    yield opened
    await opened.context.close()


@pytest_asyncio.fixture
async def phone(browser: Any) -> AsyncIterator[Any]:
    """A phone-sized viewport."""
    opened = await new_page(browser, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    yield opened
    await opened.context.close()


@pytest.fixture(scope="session")
def other_origin() -> Iterator[int]:
    """A static server on another port: the reference pages' files plus tests/browser/pages, served as a frontend
    team's own site would be. Opened as http://localhost:<port> (allowed) and http://127.0.0.1:<port> (a different,
    disallowed origin)."""
    root = Path(tempfile.mkdtemp(prefix="oms-site-"))
    shutil.copytree(STATIC, root / "static")
    for page_file in (HERE / "pages").iterdir():
        shutil.copy(page_file, root / page_file.name)
    port = free_port()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield port
    server.shutdown()
    server.server_close()
    thread.join(5)
    shutil.rmtree(root, ignore_errors=True)
