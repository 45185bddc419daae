"""The client's address behind reverse proxies (``YITONG_TRUSTED_PROXIES``).

A client writes ``X-Forwarded-For`` itself, so the header is believed only hop by hop from the
right: while the address that handed us the request is a configured proxy, the entry that proxy
appended is the next hop back. The first address that is not a configured proxy is the client
(the "rightmost untrusted" rule of nginx ``real_ip_recursive``). A request that does not come
from a configured proxy keeps its socket address, whatever it claims.

gunicorn gets the same list as ``forwarded_allow_ips`` (``X-Forwarded-Proto``), so one setting
decides which peers may speak for a client. Everything that keys on ``request.remote_addr`` (login
throttling, the /verify/ and SMS limits, audit records, the access log) sees the resolved address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

# werkzeug's ProxyFix keeps the socket's own values under this key; so do we, so that a check
# that must see the immediate peer (mutual-TLS certificate login) reads the same key with either.
ORIGINAL_ENVIRON_KEY = "werkzeug.proxy_fix.orig"


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().removeprefix("[").removesuffix("]"))
    except ValueError:
        return None


class TrustedProxies:
    """The configured proxy networks; an empty list trusts nobody."""

    def __init__(self, networks: Iterable[str]) -> None:
        self.networks = tuple(ipaddress.ip_network(n) for n in networks)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, address: str) -> bool:
        parsed = _address(address)
        if parsed is None:
            return False
        if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
            parsed = parsed.ipv4_mapped
        return any(parsed in network for network in self.networks)

    def client_address(self, peer: str, forwarded_for: str) -> str:
        """Walk ``X-Forwarded-For`` from the right while the current hop is a configured proxy."""
        client = peer
        for hop in reversed([item.strip() for item in forwarded_for.split(",") if item.strip()]):
            if not self.trusts(client):
                break
            parsed = _address(hop)
            if parsed is None:  # garbage in the chain: the last proxy we trust is all we know
                break
            client = str(parsed)
        return client


class ForwardedFor:
    """WSGI middleware: REMOTE_ADDR becomes the client's address when a configured proxy says so."""

    def __init__(self, app, proxies: TrustedProxies) -> None:
        self.app = app
        self.proxies = proxies

    def __call__(self, environ, start_response):
        peer = environ.get("REMOTE_ADDR", "")
        forwarded_for = environ.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded_for and self.proxies.trusts(peer):
            environ.setdefault(ORIGINAL_ENVIRON_KEY, {"REMOTE_ADDR": peer})
            environ["REMOTE_ADDR"] = self.proxies.client_address(peer, forwarded_for)
        return self.app(environ, start_response)
