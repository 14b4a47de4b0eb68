"""Where a webhook may be sent: no loopback, private or link-local receivers unless allowed.

The check resolves the host name, so a public-looking name that points inside (`localhost`, a
DNS record of 10.0.0.5) is refused too; delivery checks again each time, since DNS can change.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

import httpx


class RefusedAddress(ValueError):
    """The URL is not one a webhook may be sent to; the message says why (no secret in it)."""


def parse_url(url: str) -> tuple[str, int]:
    """The host and port of an http(s) URL; RefusedAddress for anything else."""
    try:
        parts = urlsplit(url)
        parts.hostname  # noqa: B018 - raises on a malformed bracketed host
        httpx.URL(url)  # what the client will send to must parse too
    except (ValueError, httpx.InvalidURL) as exc:
        raise RefusedAddress("is not a valid URL") from exc
    if parts.scheme not in ("http", "https"):
        raise RefusedAddress("must be an http or https URL")
    if not parts.hostname:
        raise RefusedAddress("must name a host")
    if parts.username or parts.password:
        raise RefusedAddress("must not carry credentials")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise RefusedAddress("has an invalid port") from exc
    return parts.hostname, port


def is_internal(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


async def check_destination(url: str, allow_private: bool) -> None:
    """RefusedAddress when the URL is malformed, does not resolve, or resolves inside."""
    host, port = parse_url(url)
    if allow_private:
        return
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:  # UnicodeError: a name IDNA cannot encode
        raise RefusedAddress("the host name does not resolve") from exc
    addresses = {str(info[4][0]) for info in infos}
    if not addresses:
        raise RefusedAddress("the host name does not resolve")
    if any(is_internal(address) for address in addresses):
        raise RefusedAddress(
            "resolves to a loopback, private or link-local address (WEBHOOK_ALLOW_PRIVATE=true allows it)"
        )
