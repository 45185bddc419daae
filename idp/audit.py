"""Audit events (idp_audit): who did what, when, from where, through which client.

Append-only by construction: this module only inserts and reads, and every event is chained
(keys/auditchain: its position and HMAC-SM3 link), so an edit, deletion, insertion or
reordering made directly in the database shows in `yitong audit verify`. Events never carry secrets,
tokens or ID numbers; login names are kept as typed only for failures of unknown accounts,
masked to their first and last character.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, select

from idp.models import audit_table
from keys import observe
from keys.auditchain import AuditChain
from keys.storage import utcnow

log = logging.getLogger("yitong.audit")
EVENTS = (
    "login.success", "login.failure", "login.throttled", "login.certificate", "logout", "token.issued", "token.refused",
    "token.revoked", "grant.revoked", "client.created", "client.updated", "client.deleted",
    "client.secret_rotated", "user.created", "mfa.enrolled", "mfa.success", "mfa.failure", "consent.given",
    "passkey.added", "passkey.removed", "passkey.refused",
    "consent.denied", "authorize.refused", "user.level_set",
    "realname.verified", "realname.no_match", "realname.unavailable", "realname.throttled", "realname.refused",
    "organisation.verified", "organisation.no_match", "organisation.unavailable", "organisation.throttled",
    "organisation.refused",
    # self-service accounts (issue 5): sign-up, SMS codes, password reset, phone change, privacy
    "sms.sent", "sms.throttled", "sms.code_failed", "user.registered", "privacy.consented", "password.reset",
    "phone.changed", "reauth.failure", "user.data_exported", "user.deleted",
    "agent.granted", "agent.accepted", "agent.declined", "agent.revoked", "agent.refused", "acting.chosen",
    # proving an organisation: its certificate or its e-licence (idp/certlogin)
    "acting.proven", "acting.refused", "org_certificate.presented", "licence.unavailable",
    "cas.validated", "cas.refused",  # CAS service tickets (idp/oauth/cas.py)
    "federation.login", "federation.refused", "federation.unavailable", "federation.upstream_added",
    "federation.upstream_removed",
    # loa:3 and step-up (issue 5 items 1 and 6): strong real name, raising a sign-in at /authorize
    "strong_realname.verified", "strong_realname.no_match", "strong_realname.unavailable",
    "strong_realname.throttled", "strong_realname.refused", "authorize.step_up", "strong_realname.lowered",
    # account console (issue 5 item 9)
    "session.revoked", "consent.withdrawn",
    # operators (issue 17): roles granted and revoked, admin calls refused for the caller's role
    "operator.granted", "operator.revoked", "admin.refused", "user.locked", "user.unlocked",
)


@dataclass(frozen=True)
class AuditEvent:
    id: int
    at: datetime
    event: str
    sub: str | None
    client_id: str | None
    ip: str | None
    user_agent: str | None
    detail: dict | None

    def as_dict(self) -> dict:
        return {**self.__dict__, "at": self.at.isoformat()}


def _storable(value):
    """Request input is recorded as sent, except NUL, which PostgreSQL text and JSON cannot hold."""
    return value.replace("\x00", "\ufffd") if isinstance(value, str) else value


def mask_login(name: str) -> str:
    return name if len(name) <= 2 else f"{name[0]}{'*' * (len(name) - 2)}{name[-1]}"


class Audit:
    """Records and reads audit events; ``chain`` (built by the composition root from the keystore
    and the TSA) is needed to record, not to read."""

    def __init__(self, engine: Engine, chain: AuditChain | None = None) -> None:
        self.engine = engine
        self.chain = chain

    def record(self, event: str, *, sub: str | None = None, client_id: str | None = None, ip: str | None = None,
               user_agent: str | None = None,
               write: Callable[[Callable[[Connection], None]], None] | None = None, **detail) -> None:
        """Append one event to the chain, committed when this returns (in a group commit with other
        threads' events, keys/auditchain/group.py), or through ``write``, which runs the append in
        the transaction of what the event is about (the token endpoint's tokens: both are stored,
        or neither)."""
        if event not in EVENTS:
            raise ValueError(f"unknown audit event {event!r}")
        sub, client_id, ip, user_agent = (_storable(v) for v in (sub, client_id, ip, user_agent))
        detail = {name: _storable(value) for name, value in detail.items()}
        if self.chain is None:
            raise RuntimeError("audit events are chained: open Audit with its AuditChain to record")
        self.chain.prepare()
        if observe.request_id():  # the same id as the response header and the request's log lines
            detail.setdefault("request_id", observe.request_id())
        observe.note(client_id=client_id, sub=sub)
        observe.audit_event(event, detail)
        row = dict(at=utcnow(), event=event, sub=sub, client_id=client_id, ip=ip,
                   user_agent=(user_agent or "")[:256] or None, detail=detail or None)

        append = self.chain.pending(audit_table, row)
        if write is not None:
            write(append)
        else:  # in a transaction of its own, or shared with other threads' events (group commit)
            self.chain.group.commit(append)
        log.info("audit event=%s sub=%s client_id=%s ip=%s", event, sub, client_id, ip)

    def tail(self, limit: int = 50, event: str | None = None) -> list[AuditEvent]:
        query = select(audit_table).order_by(audit_table.c.id.desc()).limit(limit)
        if event:
            query = query.where(audit_table.c.event == event)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [AuditEvent(r.id, r.at, r.event, r.sub, r.client_id, r.ip, r.user_agent, r.detail)
                for r in reversed(rows)]

    def for_subject(self, sub: str, limit: int = 200) -> list[AuditEvent]:
        """The latest ``limit`` events about one person, oldest first (for their data export)."""
        query = select(audit_table).where(audit_table.c.sub == sub).order_by(audit_table.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [AuditEvent(r.id, r.at, r.event, r.sub, r.client_id, r.ip, r.user_agent, r.detail)
                for r in reversed(rows)]

    def session_starts(self, sub: str, limit: int = 500) -> dict[str, AuditEvent]:
        """sid -> the ``login.success`` event that started it (where from, which browser), for the
        person's latest ``limit`` sign-ins: sessions themselves keep no address or user agent."""
        query = select(audit_table).where(audit_table.c.sub == sub, audit_table.c.event == "login.success") \
            .order_by(audit_table.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        starts = {}
        for r in rows:
            sid = (r.detail or {}).get("sid")
            if sid and sid not in starts:
                starts[sid] = AuditEvent(r.id, r.at, r.event, r.sub, r.client_id, r.ip, r.user_agent, r.detail)
        return starts
