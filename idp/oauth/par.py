"""Pushed authorization requests (RFC 9126): the client posts the request, the browser carries a handle.

Authlib has no PAR. The pushed parameters are checked as an authorization request would be
(client authentication, redirect URI, response type, PKCE for public clients, resource), kept
in idp_par_requests, and replayed into /authorize when the browser arrives with
``request_uri``; the handle works only for the client that pushed it, only until it expires,
and only until it has produced a code (§4: one-time use).
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import Engine, insert, select, update

from idp.models import par_table
from idp.oauth.tokens import token_hash
from keys.storage import utcnow

URN_PREFIX = "urn:ietf:params:oauth:request_uri:"
LIFETIME = timedelta(seconds=120)  # long enough to sign in (with a second factor) and consent


class PushedRequests:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def push(self, client_id: str, params: dict[str, str]) -> tuple[str, int]:
        request_uri = URN_PREFIX + secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(insert(par_table).values(
                request_uri_hash=token_hash(request_uri), client_id=client_id, params=params,
                expires_at=utcnow() + LIFETIME, used_at=None))
        return request_uri, int(LIFETIME.total_seconds())

    def resolve(self, request_uri: str, client_id: str) -> dict[str, str] | None:
        """The pushed parameters, or None (unknown, another client's, expired or already used)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(par_table).where(
                par_table.c.request_uri_hash == token_hash(request_uri))).first()
        if row is None or row.client_id != client_id or row.used_at is not None or row.expires_at <= utcnow():
            return None
        return dict(row.params)

    def mark_used(self, request_uri: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(par_table).where(par_table.c.request_uri_hash == token_hash(request_uri))
                         .values(used_at=utcnow()))
