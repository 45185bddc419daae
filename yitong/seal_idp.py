"""How the seal API reaches the IdP: wiring done here, since seal/ never imports idp/ (DESIGN.md).

- The seal API's own client for token introspection (RFC 7662) is provisioned with the home
  (``yitong db upgrade``): client ``yitong-seal-api`` in idp_clients, its secret a keystore
  secret (keys_meta, wrapped under the master key). ``YITONG_SEAL_CLIENT_ID`` and
  ``YITONG_SEAL_CLIENT_SECRET`` override it (an IdP elsewhere has its own clients).
- When the seal API trusts this application's own issuer, its discovery, JWKS and
  introspection requests are handed to the application's WSGI callable in process: the same
  endpoints, client authentication and JSON as over HTTP, without a socket. Over HTTP, a single
  worker whose threads are all busy sealing would wait on itself (issue 12, item 12).
"""

from __future__ import annotations

import base64
import contextvars
from collections.abc import Callable
from typing import TYPE_CHECKING

from flask import Flask
from sqlalchemy.exc import IntegrityError
from werkzeug.test import Client

from idp.oauth.clients import ClientRegistry, build_metadata
from seal.tokens import IdpGateway, OidcGateway, Transport, over_the_network

if TYPE_CHECKING:  # yitong.home provisions through this module
    from yitong.home import Home
    from yitong.settings import Settings

SEAL_CLIENT_ID = "yitong-seal-api"
SEAL_CLIENT_NAME = "Yitong seal API (token introspection)"
SEAL_CLIENT_SECRET = "seal-api-client-secret"  # keystore secret the client secret is made from


def _clients(home: Home) -> ClientRegistry:
    return ClientRegistry(home.engine, home.keystore().secret("client-secret-pepper"),
                          home.runtime.change_stamp("clients"))


def _provisioned_secret(home: Home) -> str:
    return base64.urlsafe_b64encode(home.keystore().secret(SEAL_CLIENT_SECRET, 32)).rstrip(b"=").decode()


def provision_seal_client(home: Home) -> list[str]:
    """Register the seal API's introspection client if absent (what `db upgrade` made, for its report).

    Client credentials only, no scope: it asks introspection and nothing else. An operator who
    deleted it gets it back, with the same secret, from the next `yitong db upgrade`.
    """
    clients = _clients(home)
    if clients.get(SEAL_CLIENT_ID) is not None:
        return []
    metadata = build_metadata(redirect_uris=[], grant_types=["client_credentials"], scope="",
                              token_endpoint_auth_method="client_secret_basic", public=False)
    try:
        clients.create(SEAL_CLIENT_NAME, metadata, client_id=SEAL_CLIENT_ID, secret=_provisioned_secret(home))
    except IntegrityError:  # another `db upgrade` registered it at the same moment
        return []
    return [f"client {SEAL_CLIENT_ID}"]


def introspection_credentials(home: Home, settings: Settings) -> tuple[str | None, str | None]:
    """The seal API's client credentials: the settings when given, else the home's own client."""
    if settings.seal_client_id or settings.seal_client_secret:
        return settings.seal_client_id, settings.seal_client_secret
    if _clients(home).get(SEAL_CLIENT_ID) is None:  # a home set up before provisioning: `db upgrade`
        return None, None
    return SEAL_CLIENT_ID, _provisioned_secret(home)


def in_process(app: Flask, issuer: str) -> Transport:
    """A transport that hands requests for ``issuer``'s URLs to ``app`` itself, without a socket."""
    base = issuer.rstrip("/") + "/"

    def exchange(url: str, data: bytes | None, headers: dict[str, str], method: str | None = None) -> tuple[int, bytes]:
        """``method``: GET without data, POST with it, unless named (the console's DELETE)."""
        if not url.startswith(base):
            raise OSError(f"{url} is not an endpoint of this server's issuer")
        client = Client(app, use_cookies=False)
        # A fresh context: the inner request gets its own application context (g), as a request
        # from another host would, instead of sharing the sealing request's.
        response = contextvars.Context().run(client.open, url[len(base) - 1:], base_url=base,
                                             method=method or ("GET" if data is None else "POST"), data=data,
                                             headers=headers)
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
        client_id, client_secret = introspection_credentials(home, settings)
        transport = in_process(app, issuer) if issuer == settings.issuer else over_the_network
        return OidcGateway(issuer, client_id=client_id, client_secret=client_secret, transport=transport)

    return gateway
