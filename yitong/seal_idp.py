"""How the seal API reaches the IdP: wiring done here, since seal/ never imports idp/ (DESIGN.md).

- When the seal API trusts this application's own issuer, its discovery, JWKS and
  introspection requests are handed to the application's WSGI callable in process: the same
  endpoints, client authentication and JSON as over HTTP, without a socket. Over HTTP, a single
  worker whose threads are all busy sealing would wait on itself (issue 12, item 12).
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import TYPE_CHECKING

from flask import Flask
from werkzeug.test import Client

from seal.tokens import IdpGateway, OidcGateway, Transport, over_the_network

if TYPE_CHECKING:
    from yitong.home import Home
    from yitong.settings import Settings


def in_process(app: Flask, issuer: str) -> Transport:
    """A transport that hands requests for ``issuer``'s URLs to ``app`` itself, without a socket."""
    base = issuer.rstrip("/") + "/"

    def exchange(url: str, data: bytes | None, headers: dict[str, str]) -> tuple[int, bytes]:
        if not url.startswith(base):
            raise OSError(f"{url} is not an endpoint of this server's issuer")
        client = Client(app, use_cookies=False)
        # A fresh context: the inner request gets its own application context (g), as a request
        # from another host would, instead of sharing the sealing request's.
        response = contextvars.Context().run(client.open, url[len(base) - 1:], base_url=base,
                                             method="GET" if data is None else "POST", data=data, headers=headers)
        try:
            return response.status_code, response.get_data()
        finally:
            response.close()

    return exchange


def seal_idp_gateway(app: Flask, home: Home, settings: Settings) -> Callable[[], IdpGateway]:
    """The seal API's way to its IdP: in process when it trusts this application's own issuer
    (the idp blueprint is mounted on ``app``), else over the network."""
    issuer = settings.seal_idp_issuer or settings.issuer

    def gateway() -> IdpGateway:
        transport = in_process(app, issuer) if issuer == settings.issuer else over_the_network
        return OidcGateway(issuer, client_id=settings.seal_client_id, client_secret=settings.seal_client_secret,
                           transport=transport)

    return gateway
