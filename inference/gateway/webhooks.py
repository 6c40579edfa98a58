"""User webhooks: only to public https hosts, signed, delivered to the address that was checked.

SSRF defence in three steps:
1. the URL must be `https://host[:port]/...` without credentials;
2. the host is resolved and every address must be globally routable (no private, loopback,
   link-local, shared, multicast or reserved range, including IPv4-mapped IPv6 forms), unless it
   falls in an operator-configured allow list; checked when the job is created and again at every
   delivery, since DNS answers can change;
3. the request is sent to the checked IP itself, with the hostname as Host header and TLS SNI,
   so a DNS answer that changes between check and connect (rebinding) cannot redirect it.
Deliveries never follow redirects. Signatures use the same scheme as the worker's readiness
callback (inference.signing), with the webhook signing secret.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from inference import signing
from inference.gateway.settings import Secret

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]

MAX_URL_LENGTH = 2048


class WebhookRejectedError(ValueError):
    """The URL is not an allowed webhook target. The message is safe to return to the caller."""


@dataclass(frozen=True)
class Target:
    url: str
    host: str
    port: int


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({info[4][0] for info in infos})


def parse_target(url: str) -> Target:
    if len(url) > MAX_URL_LENGTH:
        raise WebhookRejectedError(f"webhook URL is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port or 443
    except ValueError:
        raise WebhookRejectedError("webhook URL is not a valid URL") from None
    if parts.scheme != "https":
        raise WebhookRejectedError("webhook URL must use https")
    if not parts.hostname:
        raise WebhookRejectedError("webhook URL has no host")
    if parts.username is not None or parts.password is not None:
        raise WebhookRejectedError("webhook URL must not carry credentials")
    return Target(url=url, host=parts.hostname.rstrip(".").lower(), port=port)


def is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


class WebhookPolicy:
    def __init__(self, resolver: Resolver = system_resolver, allow: Sequence[Network] = ()):
        self._resolver = resolver
        self._allow = tuple(allow)

    def _allowed(self, address: IPAddress) -> bool:
        return is_public(address) or any(address in net for net in self._allow)

    async def check(self, url: str) -> tuple[Target, list[str]]:
        """The parsed target and the addresses it may be delivered to; raises WebhookRejectedError."""
        target = parse_target(url)
        try:
            literal = ipaddress.ip_address(target.host.strip("[]"))
        except ValueError:
            literal = None
        if literal is not None:
            addresses = [str(literal)]
        else:
            try:
                addresses = await asyncio.wait_for(self._resolver(target.host, target.port), timeout=5)
            except (OSError, TimeoutError):
                raise WebhookRejectedError(f"webhook host {target.host} does not resolve") from None
        if not addresses:
            raise WebhookRejectedError(f"webhook host {target.host} does not resolve")
        for raw in addresses:
            if not self._allowed(ipaddress.ip_address(raw.split("%")[0])):
                raise WebhookRejectedError(
                    f"webhook host {target.host} resolves to a private, loopback, link-local or reserved address"
                )
        return target, addresses


@dataclass(frozen=True)
class Delivery:
    ok: bool
    status: int | None
    error: str | None


class WebhookSender:
    def __init__(self, policy: WebhookPolicy, secret: Secret, client: httpx.AsyncClient, timeout: float = 10.0):
        self.policy = policy
        self._secret = secret
        self._client = client
        self.timeout = timeout

    async def deliver(self, url: str, payload: dict[str, Any], delivery_id: str) -> Delivery:
        try:
            target, addresses = await self.policy.check(url)
        except WebhookRejectedError as exc:
            return Delivery(False, None, str(exc))
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "modelstack-gateway",
            "X-Modelstack-Delivery": delivery_id,
            **signing.sign_headers(self._secret.reveal(), body),
        }
        parts = urlsplit(target.url)
        ip = addresses[0]
        netloc_ip = f"[{ip}]" if ":" in ip else ip
        pinned = urlunsplit(("https", f"{netloc_ip}:{target.port}", parts.path or "/", parts.query, ""))
        headers["Host"] = target.host if target.port == 443 else f"{target.host}:{target.port}"
        try:
            response = await self._client.post(
                pinned, content=body, headers=headers, timeout=self.timeout,
                extensions={"sni_hostname": target.host}, follow_redirects=False,
            )
        except httpx.TimeoutException:
            return Delivery(False, None, "timed out")
        except httpx.TransportError as exc:
            return Delivery(False, None, f"connection failed ({type(exc).__name__})")
        if 200 <= response.status_code < 300:
            return Delivery(True, response.status_code, None)
        return Delivery(False, response.status_code, f"receiver answered {response.status_code}")
