"""OpenID Connect Back-Channel Logout 1.0: tell every RP of an ended session, server to server.

For each client with a ``backchannel_logout_uri`` that holds a grant of the ended session, a
logout token (§2.4: a JWT with ``events``, ``sid`` and ``sub``, no ``nonce``, ``typ``
logout+jwt per §2.4 / RFC 8417 practice) is POSTed as ``logout_token``. Delivery runs on the
job queue (RQ with Redis, a thread pool in the embedded default) so a slow RP never holds a
browser's logout; each attempt has a short timeout and no retries beyond the queue's.
"""

from __future__ import annotations

import logging
import secrets
import time
import urllib.error
import urllib.request
from urllib.parse import urlencode

log = logging.getLogger("yitong.backchannel")
EVENT = "http://schemas.openid.net/event/backchannel-logout"
TIMEOUT_SECONDS = 5


def logout_token_claims(issuer: str, client_id: str, sub: str | None, sid: str | None) -> dict:
    now = int(time.time())
    claims = {"iss": issuer, "aud": client_id, "iat": now, "exp": now + 120, "jti": secrets.token_urlsafe(16),
              "events": {EVENT: {}}}
    if sub:
        claims["sub"] = sub
    if sid:
        claims["sid"] = sid
    return claims


def deliver(uri: str, logout_token: str) -> int:
    """POST the token (§2.5); returns the RP's status. Runs inside a job, never in a request."""
    if not uri.startswith(("https://", "http://")):  # registration allows only these; never file: etc.
        raise ValueError(f"refusing back-channel logout URI {uri!r}")
    body = urlencode({"logout_token": logout_token}).encode()
    request = urllib.request.Request(uri, data=body, method="POST",  # noqa: S310 (scheme checked above)
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as error:
        log.warning("back-channel logout to %s answered %s", uri, error.code)
        return error.code
