"""Webhooks (issue 17): the pure rules, without a database: targets, URLs, backoff, payload, signing headers."""

from __future__ import annotations

import ipaddress
import json
import uuid
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook

from app.webhooks import payload
from app.webhooks.dispatcher import MAX_RETRY_DELAY_SECONDS, retry_delay
from app.webhooks.sender import signed_headers
from app.webhooks.service import new_secret
from app.webhooks.targets import TargetRefused, literal_refused, public, resolve_allowed, url_problem
from resolvers.ids import to_global_id


@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "0.0.0.0", "100.64.0.1", "224.0.0.1", "255.255.255.255",
    "::1", "::", "fe80::1", "fc00::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::7f00:1",
])
def test_non_public_addresses_are_refused(address: str) -> None:
    assert not public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2001:4860:4860::8888", "::ffff:8.8.8.8"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert public(ipaddress.ip_address(address))


@pytest.mark.parametrize(("url", "problem"), [
    ("https://hooks.example.com/oms", None),
    ("http://hooks.example.com:8080/oms?x=1", None),
    ("ftp://example.com/", "must start with"),
    ("https://user:secret@example.com/", "user name"),
    ("https:///nohost", "no host"),
    ("https://example.com/#frag", "fragment"),
    ("https://example.com:99999/", "malformed"),
    ("https://example.com/" + "a" * 2000, "longer than"),
])
def test_endpoint_urls(url: str, problem: str | None) -> None:
    found = url_problem(url)
    assert (found is None) if problem is None else (found is not None and problem in found), found


def test_literal_private_hosts_are_refused_only_when_private_targets_are_not_allowed() -> None:
    for url in ("http://127.0.0.1/x", "http://localhost:80/x", "http://api.localhost/x", "http://[::1]:9/x", "http://10.0.0.8/x"):
        assert literal_refused(url, allow_private=False), url
        assert not literal_refused(url, allow_private=True), url
    assert not literal_refused("https://hooks.example.com/x", allow_private=False)


async def test_a_name_resolving_to_loopback_is_refused_at_send_time() -> None:
    with pytest.raises(TargetRefused, match="target not allowed"):
        await resolve_allowed("localhost", 80, allow_private=False)
    assert await resolve_allowed("127.0.0.1", 80, allow_private=True) == [ipaddress.ip_address("127.0.0.1")]


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    assert retry_delay(10, 1, jitter=0.5) == 10
    assert retry_delay(10, 2, jitter=0.5) == 20
    assert retry_delay(10, 4, jitter=0.0) == 40  # x0.5
    assert retry_delay(10, 4, jitter=0.999) == pytest.approx(119.92)  # 80 x 1.499: just under x1.5
    assert retry_delay(0.05, 1, jitter=0.5) == 0.05  # fractions (tests)
    assert retry_delay(10, 30, jitter=0.999) == MAX_RETRY_DELAY_SECONDS
    delays = {retry_delay(10, 3) for _ in range(50)}
    assert all(20 <= d < 60 for d in delays) and len(delays) > 1


def test_the_payload_names_the_order_by_its_global_id_and_number() -> None:
    order_id = uuid.uuid4()
    when = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    body = json.loads(payload.build(seq=42, event_type="STATUS_CHANGED", status="CONFIRMED", previous_status="PENDING", channel="WEB",
                                    occurred_at=when, data={"action": "confirm"}, order_id=order_id, order_number="SO-100001", sequence=2))
    assert payload.order_global_id(order_id) == to_global_id("Order", order_id)  # made exactly as the API makes it
    assert body == {"type": "STATUS_CHANGED", "timestamp": when.isoformat(), "data": {
        "eventId": "evt_42", "order": {"id": to_global_id("Order", order_id), "number": "SO-100001"}, "type": "STATUS_CHANGED",
        "status": "CONFIRMED", "previousStatus": "PENDING", "cursor": "42", "sequence": 2, "channel": "WEB", "occurredAt": when.isoformat(),
        "data": {"action": "confirm"}}}


def test_signed_headers_verify_with_standardwebhooks_and_use_the_wall_clock() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_") and new_secret() != secret
    headers = signed_headers(secret, "msg_abc", '{"a":1}')
    assert Webhook(secret).verify('{"a":1}', headers) == {"a": 1}
    assert abs(int(headers["webhook-timestamp"]) - datetime.now(UTC).timestamp()) < 5
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature", "content-type", "user-agent"}
