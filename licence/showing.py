"""Showing a licence (亮证) from the holder's wallet, and the record of its uses (用证记录).

A showing is a row naming one licence, the items the holder allowed and an expiry
(:data:`SHOWING_MINUTES`); its QR code carries ``showing id . expiry . HMAC-SM3`` under a key of
the keystore, so a forged or altered code is refused before the database is asked and an expired
one is refused even if its row is gone. Every showing and every view is a ``licence_uses`` row,
a link of the audit trail (keys/auditchain) committed in the chain's group commit.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, select

from keys.auditchain import AuditChain
from keys.clock import utcnow
from keys.sm3 import hmac_sm3
from licence.catalogue import LicenceType
from licence.metrics import counted_showing
from licence.models import showings_table, uses_table
from licence.trail import prepared

SHOWING_MINUTES = 5
FACE = "_face"  # the pseudo-item "show the face image" (it prints the items on the face)


class ShowingRefused(Exception):
    """A code that is forged, altered, expired or unknown; the message is for the clerk's page."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Showing:
    showing_id: str
    licence_id: str
    items: list[str]
    created_at: datetime
    expires_at: datetime
    token: str


def default_items(kind: LicenceType) -> list[str]:
    """What a showing reveals unless the holder changes it: the items on the face, sensitive ones off."""
    if any(i.on_face and i.sensitive for i in kind.items):  # the image would show a sensitive item
        return [i.name for i in kind.items if i.on_face and not i.sensitive]
    return [FACE, *(i.name for i in kind.items if i.on_face and not i.sensitive)]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Showings:
    def __init__(self, engine: Engine, key: bytes, clock: Callable[[], datetime] = utcnow, *,
                 audit_chain: AuditChain | None = None) -> None:
        self.engine, self._key, self._clock = engine, key, clock
        self.audit_chain = audit_chain  # records the uses (needed to show and open, not to list)

    def _record_use(self, use: dict, showing: dict | None = None) -> None:
        """The use (and the showing it records) stored and chained in one transaction, shared with
        other threads' records (the chain's group commit); returns once committed."""
        chain = prepared(self.audit_chain)
        chain.group.commit(chain.pending(uses_table, use), [(showings_table, [showing])] if showing else ())

    def _mac(self, body: str) -> str:
        return _b64(hmac_sm3(self._key, b"yitong-licence-showing/1|" + body.encode()))[:32]

    @counted_showing("made")
    def show(self, licence_id: str, kind: LicenceType, *, holder_sub: str, items: list[str]) -> Showing:
        known = {i.name for i in kind.items} | {FACE}
        chosen = [name for name in dict.fromkeys(items) if name in known]
        now = self._clock()
        expires = now + timedelta(minutes=SHOWING_MINUTES)
        showing_id = secrets.token_hex(12)
        body = f"{showing_id}.{int(expires.timestamp())}"
        self._record_use({"licence_id": licence_id, "showing_id": showing_id, "at": now, "event": "shown",
                          "detail": {"items": chosen}},
                         {"showing_id": showing_id, "licence_id": licence_id, "holder_sub": holder_sub,
                          "items": chosen, "created_at": now, "expires_at": expires})
        return Showing(showing_id, licence_id, chosen, now, expires, f"{body}.{self._mac(body)}")

    def _row(self, token: str):
        parts = token.split(".") if isinstance(token, str) and len(token) <= 128 else []
        if len(parts) != 3 or not secrets.compare_digest(parts[2], self._mac(f"{parts[0]}.{parts[1]}")):
            raise ShowingRefused("这个二维码不是本站出示的证照码，或已被改动。"
                                 " This code was not made by this site, or it was altered.", "forged")
        now = self._clock()
        if not parts[1].isdigit() or int(parts[1]) <= now.timestamp():
            raise ShowingRefused("这个亮证码已过期，请持证人重新出示。"
                                 " This code has expired; ask the holder to show the licence again.", "expired")
        with self.engine.connect() as conn:
            row = conn.execute(select(showings_table).where(showings_table.c.showing_id == parts[0])).first()
        if row is None:
            raise ShowingRefused("找不到这次亮证。 This showing is unknown.", "unknown")
        return row, now

    def peek(self, token: str) -> Showing:
        """The showing a valid code names, without recording a view (the face image of the page)."""
        row, _ = self._row(token)
        return Showing(row.showing_id, row.licence_id, list(row.items), row.created_at, row.expires_at, token)

    @counted_showing("scanned")
    def open(self, token: str, *, viewer: str = "") -> Showing:
        """The showing a scanned code names, recorded as viewed; ShowingRefused otherwise."""
        row, now = self._row(token)
        self._record_use({"licence_id": row.licence_id, "showing_id": row.showing_id, "at": now, "event": "viewed",
                          "detail": {"viewer": viewer[:120]}})
        return Showing(row.showing_id, row.licence_id, list(row.items), row.created_at, row.expires_at, token)

    def uses(self, licence_ids: list[str], limit: int = 100) -> list[dict]:
        """The record of uses of these licences, newest first."""
        if not licence_ids:
            return []
        query = (select(uses_table).where(uses_table.c.licence_id.in_(licence_ids))
                 .order_by(uses_table.c.at.desc(), uses_table.c.id.desc()).limit(limit))
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]
