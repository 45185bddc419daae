"""The reference e-business-licence system's sign-in by licence (电子营业执照扫码登录), a stand-in.

In the real system a relying party asks for a presentation and shows its QR code; the licence
holder scans it with the e-licence app, which authenticates them (face, PIN) and asks them to
confirm; the relying party then reads who presented which licence. Here the app is the page
``/baselib/licence/present/<id>``, and the holder is the legal representative on record: they
type the USCC, their name and ID number, which must match the legal-person record (the stand-in
has no face or PIN check — a relying party must not take more from it than "this person says
they hold this licence", and Yitong's IdP takes exactly that: see idp/certlogin/routes.py).

A presentation lives :data:`LIFETIME_SECONDS`; its result can be read once when confirmed
(then ``used``), so a result cannot be replayed.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import Engine, insert, select, update

from baselib.models import legal_persons_table
from baselib.models import licence_presentations_table as table
from keys.storage import utcnow

LIFETIME_SECONDS = 300
PENDING, CONFIRMED, DECLINED, USED, EXPIRED = "pending", "confirmed", "declined", "used", "expired"


class PresentationRefused(Exception):
    """The holder's confirmation cannot be accepted; the message is for the holder's page."""


class Presentations:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def start(self, relying_party: str) -> tuple[str, object]:
        presentation_id, now = secrets.token_urlsafe(32), utcnow()
        expires_at = now + timedelta(seconds=LIFETIME_SECONDS)
        with self.engine.begin() as conn:
            conn.execute(insert(table).values(presentation_id=presentation_id, relying_party=relying_party[:200],
                                              status=PENDING, created_at=now, expires_at=expires_at))
        return presentation_id, expires_at

    def get(self, presentation_id: str):
        with self.engine.connect() as conn:
            return conn.execute(select(table).where(table.c.presentation_id == presentation_id)).first()

    @staticmethod
    def state(row) -> str:
        return EXPIRED if row.status in (PENDING, CONFIRMED) and row.expires_at <= utcnow() else row.status

    def confirm(self, presentation_id: str, uscc: str, holder_name: str, holder_id_number: str) -> None:
        row = self.get(presentation_id)
        if row is None or self.state(row) != PENDING:
            raise PresentationRefused("这次出示已失效 · This presentation has expired or was already answered")
        with self.engine.connect() as conn:
            licence = conn.execute(select(legal_persons_table).where(legal_persons_table.c.uscc == uscc)).first()
        if licence is None or licence.status != "active":
            raise PresentationRefused("没有这个有效的营业执照 · No valid business licence has this code")
        if not licence.legal_representative_id_number or licence.legal_representative != holder_name or \
                licence.legal_representative_id_number != holder_id_number:
            raise PresentationRefused("您不是这份营业执照的持照人 · You do not hold this licence")
        self._decide(presentation_id, CONFIRMED, uscc=uscc, holder_name=holder_name,
                     holder_id_number=holder_id_number)

    def decline(self, presentation_id: str) -> None:
        self._decide(presentation_id, DECLINED)

    def _decide(self, presentation_id: str, status: str, **values) -> None:
        with self.engine.begin() as conn:
            changed = conn.execute(update(table).where(
                table.c.presentation_id == presentation_id, table.c.status == PENDING,
                table.c.expires_at > utcnow()).values(status=status, decided_at=utcnow(), **values)).rowcount
        if not changed:
            raise PresentationRefused("这次出示已失效 · This presentation has expired or was already answered")

    def read(self, presentation_id: str):
        """(state, row) for the relying party; a confirmed result is handed out once (then used)."""
        row = self.get(presentation_id)
        if row is None:
            return None, None
        state = self.state(row)
        if state == CONFIRMED:
            with self.engine.begin() as conn:
                taken = conn.execute(update(table).where(
                    table.c.presentation_id == presentation_id, table.c.status == CONFIRMED)
                    .values(status=USED)).rowcount
            state = CONFIRMED if taken else USED
        return state, row
