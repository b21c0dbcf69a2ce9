"""Where a webhook may be sent (the SSRF guard): never to a private, loopback, link-local, multicast, reserved or
unspecified address, unless the installation allows private targets (OMS_WEBHOOK_ALLOW_PRIVATE, for tests and
on-premises receivers).

The check runs at every attempt, on the addresses the host resolves to right then (a DNS answer can change
between the endpoint's creation and a delivery: DNS rebinding), and the request then goes to the address that
was checked, not to a second resolution."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
MAX_URL_LENGTH = 2000


class TargetRefused(Exception):
    """The URL's host is (or resolves to) an address webhooks may not reach."""


def literal_ip(host: str) -> IPAddress | None:
    """The address a URL's host names literally (brackets of an IPv6 literal removed), else None."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def public(address: IPAddress) -> bool:
    """Whether `address` is an ordinary global unicast address (an IPv4-mapped IPv6 address is judged as its IPv4)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not (address.is_private or address.is_loopback or address.is_link_local or address.is_multicast
                or address.is_reserved or address.is_unspecified or not address.is_global)


def url_problem(url: str) -> str | None:
    """Why `url` cannot be an endpoint's URL (None: it can): http(s), a host, no user info, at most 2000 characters."""
    if len(url) > MAX_URL_LENGTH:
        return f"The URL is longer than {MAX_URL_LENGTH} characters."
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "The URL is malformed."
    if parts.scheme not in ("http", "https"):
        return "The URL must start with https:// or http://."
    if not parts.hostname:
        return "The URL has no host."
    if parts.username is not None or parts.password is not None:
        return "The URL may not carry a user name or password."
    if parts.fragment:
        return "The URL may not carry a #fragment."
    if port == 0:
        return "The URL's port is invalid."
    return None


def literal_refused(url: str, allow_private: bool) -> bool:
    """A URL whose host is a literal non-public address (or `localhost`), when private targets are not allowed."""
    if allow_private:
        return False
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    address = literal_ip(host)
    return address is not None and not public(address)


async def resolve_allowed(host: str, port: int, allow_private: bool) -> list[IPAddress]:
    """The addresses `host` resolves to now; TargetRefused if there are none or any of them is not public
    (when private targets are not allowed)."""
    address = literal_ip(host)
    if address is not None:
        addresses = [address]
    else:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise TargetRefused(f"cannot resolve {host}: {exc}") from exc
        addresses = list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos))
    if not addresses:
        raise TargetRefused(f"cannot resolve {host}")
    if not allow_private and not all(public(a) for a in addresses):
        raise TargetRefused("target not allowed: the host resolves to a private, loopback or reserved address")
    return addresses
