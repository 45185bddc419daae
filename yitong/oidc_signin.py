"""Signing a person in to one of this application's own pages as an OIDC client of its IdP:
authorization code with PKCE (RFC 7636), the code exchanged in process (yitong/seal_idp.py).

One mechanism for every first-party page that needs a signed-in person: the operator console
(yitong/console.py) and the holder's wallet (yitong/wallet.py). The pages never read the IdP's
session; they hold the tokens the IdP issued them, as any relying party would.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from urllib.parse import urlencode

from flask import current_app, redirect, request, session

from yitong.seal_idp import in_process


def issuer() -> str:
    return current_app.config["YITONG_SETTINGS"].issuer


def transport():
    return in_process(current_app._get_current_object(), issuer())


def start(flow_key: str, *, client_id: str, redirect_uri: str, scope: str, extra: dict | None = None,
          remember: dict | None = None):
    """Redirect to /authorize; the state and verifier wait in the session under ``flow_key``."""
    verifier = secrets.token_urlsafe(48)
    state = secrets.token_urlsafe(16)
    session[flow_key] = {"state": state, "verifier": verifier, **(remember or {})}
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": scope,
             "state": state, "code_challenge": challenge, "code_challenge_method": "S256", **(extra or {})}
    return redirect(f"/authorize?{urlencode(query)}")


def finish(flow_key: str, *, client_id: str, redirect_uri: str) -> tuple[dict | None, dict | None, str | None]:
    """At the callback: (token response, the flow remembered, None) or (None, flow, why) where why is
    ``expired`` (no or another flow), ``refused:<error>`` (the IdP said no) or ``exchange``."""
    flow = session.pop(flow_key, None)
    if not flow or not secrets.compare_digest(request.args.get("state", ""), flow["state"]):
        return None, flow, "expired"
    if "code" not in request.args:
        return None, flow, "refused:" + request.args.get("error", "?")[:64]
    form = urlencode({"grant_type": "authorization_code", "code": request.args["code"], "redirect_uri": redirect_uri,
                      "client_id": client_id, "code_verifier": flow["verifier"]}).encode()
    status, body = transport()(f"{issuer()}/token", form, {"Content-Type": "application/x-www-form-urlencoded"})
    if status != 200:
        return None, flow, "exchange"
    return json.loads(body), flow, None


def token_claims(token: str) -> dict:
    """The payload of an access token just received from our own token endpoint (no other path)."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
