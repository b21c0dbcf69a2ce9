"""The offline provider held in its authorisation call until the test lets it answer: for tests of what happens
while a card placement waits on its provider (no transaction open, units held)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.billing.providers.test import OfflineProvider


def pause_authorisation(monkeypatch: pytest.MonkeyPatch) -> tuple[asyncio.Event, asyncio.Event]:
    """(entered, release): `entered` is set when a placement reaches the provider; it answers once `release` is set."""
    entered, release = asyncio.Event(), asyncio.Event()
    original = OfflineProvider.authorize

    async def authorize(gateway: OfflineProvider, **kwargs: Any) -> Any:
        entered.set()
        await release.wait()
        return await original(gateway, **kwargs)

    monkeypatch.setattr(OfflineProvider, "authorize", authorize)
    return entered, release
