"""SSO sessions: in the database (embedded default) or in Redis (production, YITONG_REDIS_URL).

A session is what the ``yitong_sso`` cookie stands for: who signed in, at which level (``acr``),
how (``amr``) and when (``auth_time``). Cookies are random (256 bits) and only their SHA-256 is
stored, in either store. Both stores expire sessions after :data:`SESSION_LIFETIME` and end them
on logout; an ended session still answers :meth:`amr` for a short while so that a code issued
just before a logout yields an ID token that says how the person signed in.

Redis layout (under the runtime's prefix): ``session:cookie:<sha256 hex>`` → sid and
``session:sid:<sid>`` → JSON {sub, acr, amr, auth_time, cookie, ended}, both with the session's TTL,
and ``session:user:<sub>`` → the set of that person's sids (to end them all on a password reset).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from sqlalchemy import Engine, insert, select, update

from idp.models import sessions_table
from keys.runtime import DEFAULT_PREFIX
from keys.storage import utcnow

SESSION_LIFETIME = timedelta(hours=8)
ENDED_KEPT = timedelta(minutes=10)  # longer than an authorization code lives


@dataclass(frozen=True)
class Session:
    sid: str
    sub: str
    acr: str
    amr: list[str]
    auth_time: int


class SessionStore(Protocol):
    def start(self, sub: str, acr: str, amr: list[str]) -> tuple[str, Session]: ...
    def renew(self, sid: str, acr: str, amr: list[str]) -> tuple[str, Session] | None: ...
    def get(self, cookie: str | None) -> Session | None: ...
    def amr(self, sid: str | None) -> list[str] | None: ...
    def end(self, sid: str) -> None: ...
    def end_all(self, sub: str) -> list[str]: ...
    def active(self, sub: str) -> list[Session]: ...


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


def _new(sub: str, acr: str, amr: list[str]) -> tuple[str, Session]:
    return secrets.token_urlsafe(32), Session(secrets.token_urlsafe(16), sub, acr, list(amr), int(time.time()))


class DatabaseSessions:
    """idp_sessions: survives restarts of the embedded single-process default."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def start(self, sub: str, acr: str, amr: list[str]) -> tuple[str, Session]:
        cookie, session = _new(sub, acr, amr)
        with self.engine.begin() as conn:
            conn.execute(insert(sessions_table).values(
                sid_hash=_digest(cookie), sid=session.sid, sub=sub, acr=acr, amr=session.amr,
                auth_time=session.auth_time, expires_at=utcnow() + SESSION_LIFETIME, ended_at=None))
        return cookie, session

    def renew(self, sid: str, acr: str, amr: list[str]) -> tuple[str, Session] | None:
        """The same person signed in again in this session (a step-up, a re-authentication): the
        same sid (what clients hold from ID tokens and back-channel logout names), a new cookie
        (no fixation), the new level, methods and time. None when ``sid`` is not live."""
        cookie, now = secrets.token_urlsafe(32), int(time.time())
        with self.engine.begin() as conn:
            row = conn.execute(select(sessions_table.c.sub).where(
                sessions_table.c.sid == sid, sessions_table.c.ended_at.is_(None),
                sessions_table.c.expires_at > utcnow())).first()
            if row is None:
                return None
            conn.execute(update(sessions_table).where(sessions_table.c.sid == sid).values(
                sid_hash=_digest(cookie), acr=acr, amr=list(amr), auth_time=now,
                expires_at=utcnow() + SESSION_LIFETIME))
        return cookie, Session(sid, row.sub, acr, list(amr), now)

    def get(self, cookie: str | None) -> Session | None:
        if not cookie:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(select(sessions_table).where(
                sessions_table.c.sid_hash == _digest(cookie), sessions_table.c.ended_at.is_(None),
                sessions_table.c.expires_at > utcnow())).first()
        return Session(row.sid, row.sub, row.acr, list(row.amr), row.auth_time) if row else None

    def amr(self, sid: str | None) -> list[str] | None:
        if not sid:
            return None
        with self.engine.connect() as conn:
            amr = conn.execute(select(sessions_table.c.amr).where(sessions_table.c.sid == sid)).scalar()
        return list(amr) if amr else None

    def end(self, sid: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(sessions_table).where(sessions_table.c.sid == sid, sessions_table.c.ended_at.is_(None))
                         .values(ended_at=utcnow()))

    def end_all(self, sub: str) -> list[str]:
        """End every live session of ``sub`` (password reset, account deletion); their sids."""
        with self.engine.begin() as conn:
            sids = conn.execute(select(sessions_table.c.sid).where(
                sessions_table.c.sub == sub, sessions_table.c.ended_at.is_(None))).scalars().all()
            conn.execute(update(sessions_table).where(sessions_table.c.sub == sub, sessions_table.c.ended_at.is_(None))
                         .values(ended_at=utcnow()))
        return list(sids)

    def active(self, sub: str) -> list[Session]:
        """The live sessions of ``sub``, newest first (the account console lists and ends them)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(sessions_table).where(
                sessions_table.c.sub == sub, sessions_table.c.ended_at.is_(None),
                sessions_table.c.expires_at > utcnow()).order_by(sessions_table.c.auth_time.desc())).all()
        return [Session(r.sid, r.sub, r.acr, list(r.amr), r.auth_time) for r in rows]


class RedisSessions:
    """Sessions shared by every worker and host, expiring by themselves (Redis TTLs)."""

    def __init__(self, client, prefix: str = DEFAULT_PREFIX) -> None:
        self._client = client
        self._prefix = prefix + "session:"

    def _cookie_key(self, cookie: str) -> str:
        return f"{self._prefix}cookie:{_digest(cookie).hex()}"

    def _sid_key(self, sid: str) -> str:
        return f"{self._prefix}sid:{sid}"

    def _user_key(self, sub: str) -> str:
        return f"{self._prefix}user:{sub}"

    def start(self, sub: str, acr: str, amr: list[str]) -> tuple[str, Session]:
        cookie, session = _new(sub, acr, amr)
        ttl = int(SESSION_LIFETIME.total_seconds())
        record = {"sub": sub, "acr": acr, "amr": session.amr, "auth_time": session.auth_time,
                  "cookie": _digest(cookie).hex(), "ended": False}
        pipe = self._client.pipeline(transaction=True)
        pipe.set(self._sid_key(session.sid), json.dumps(record), ex=ttl)
        pipe.set(self._cookie_key(cookie), session.sid, ex=ttl)
        pipe.sadd(self._user_key(sub), session.sid)  # so that end_all finds every session of a person
        pipe.expire(self._user_key(sub), ttl)
        pipe.execute()
        return cookie, session

    def renew(self, sid: str, acr: str, amr: list[str]) -> tuple[str, Session] | None:
        """As :meth:`DatabaseSessions.renew`: same sid, new cookie, level, methods and time."""
        record = self._record(sid)
        if record is None or record["ended"]:
            return None
        cookie, now = secrets.token_urlsafe(32), int(time.time())
        ttl = int(SESSION_LIFETIME.total_seconds())
        renewed = {**record, "acr": acr, "amr": list(amr), "auth_time": now, "cookie": _digest(cookie).hex()}
        pipe = self._client.pipeline(transaction=True)
        pipe.delete(f"{self._prefix}cookie:{record['cookie']}")
        pipe.set(self._sid_key(sid), json.dumps(renewed), ex=ttl)
        pipe.set(self._cookie_key(cookie), sid, ex=ttl)
        pipe.sadd(self._user_key(record["sub"]), sid)
        pipe.expire(self._user_key(record["sub"]), ttl)
        pipe.execute()
        return cookie, Session(sid, record["sub"], acr, list(amr), now)

    def _record(self, sid: str) -> dict | None:
        raw = self._client.get(self._sid_key(sid))
        return json.loads(raw) if raw else None

    def get(self, cookie: str | None) -> Session | None:
        if not cookie:
            return None
        sid = self._client.get(self._cookie_key(cookie))
        record = self._record(sid.decode()) if sid else None
        if record is None or record["ended"]:
            return None
        return Session(sid.decode(), record["sub"], record["acr"], list(record["amr"]), record["auth_time"])

    def amr(self, sid: str | None) -> list[str] | None:
        record = self._record(sid) if sid else None
        return list(record["amr"]) if record and record["amr"] else None

    def end(self, sid: str) -> None:
        record = self._record(sid)
        if record is None or record["ended"]:
            return
        pipe = self._client.pipeline(transaction=True)
        pipe.delete(f"{self._prefix}cookie:{record['cookie']}")
        pipe.set(self._sid_key(sid), json.dumps({**record, "ended": True}), ex=int(ENDED_KEPT.total_seconds()))
        pipe.execute()

    def end_all(self, sub: str) -> list[str]:
        ended = []
        for raw in self._client.smembers(self._user_key(sub)):
            sid = raw.decode() if isinstance(raw, bytes) else raw
            record = self._record(sid)
            if record is not None and not record["ended"]:
                self.end(sid)
                ended.append(sid)
        self._client.delete(self._user_key(sub))
        return ended

    def active(self, sub: str) -> list[Session]:
        """The live sessions of ``sub`` (from the per-person index), newest first."""
        sessions = []
        for raw in self._client.smembers(self._user_key(sub)):
            sid = raw.decode() if isinstance(raw, bytes) else raw
            record = self._record(sid)
            if record is not None and not record["ended"] and record["sub"] == sub:
                sessions.append(Session(sid, sub, record["acr"], list(record["amr"]), record["auth_time"]))
        return sorted(sessions, key=lambda s: s.auth_time, reverse=True)


def open_sessions(engine: Engine, runtime) -> SessionStore:
    """Redis when the runtime is shared (YITONG_REDIS_URL), else the database."""
    client = getattr(runtime.store, "client", None) if runtime.shared else None
    if client is not None:
        return RedisSessions(client, runtime.store.prefix)
    return DatabaseSessions(engine)
