"""Accounts (idp_users), and the SSO sessions of idp/accounts/sessions.py.

A person's ``sub`` is random and stable (DESIGN.md token contract); usernames and phone numbers
are login names that can change. Session cookies are random; only their SHA-256 is stored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from idp.accounts.sessions import DatabaseSessions, Session, SessionStore
from idp.acr import LEVELS, LOA_1
from idp.errors import IdpError
from idp.models import users_table
from idp.security.passwords import check_password_policy, dummy_verify, hash_password, needs_rehash, verify_password
from idp.security.totp import hash_recovery_code, new_recovery_codes, use_recovery_code
from keys.ids import new_id
from keys.keystore import MasterKey
from keys.storage import single_reads, utcnow

PHONE = re.compile(r"^1[3-9]\d{9}$")  # mainland mobile numbers (DESIGN.md, "Identity numbers")
USERNAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{2,63}$")


class AccountError(IdpError, ValueError):
    """A request about accounts that cannot be honoured (taken username, weak password...)."""


@dataclass(frozen=True)
class User:
    sub: str
    username: str | None
    phone: str | None
    acr: str
    name: str | None
    has_totp: bool = False

    def get_user_id(self) -> str:  # what Authlib calls
        return self.sub

    def as_dict(self) -> dict:
        return {"sub": self.sub, "username": self.username, "phone": self.phone, "acr": self.acr}




def _user(row) -> User:
    return User(row.sub, row.username, row.phone, row.acr, row.name, row.totp_secret_wrapped is not None)


def _check_level(acr: str) -> None:
    if acr not in LEVELS:
        raise AccountError(f"unknown assurance level {acr!r}; use one of {', '.join(LEVELS)}")


class Accounts:
    def __init__(self, engine: Engine, master: MasterKey | None = None, sessions: SessionStore | None = None) -> None:
        self.engine = engine
        self._reads = single_reads(engine)  # the sign-in path's one-statement reads
        self._master = master  # wraps TOTP secrets; None where MFA is not used (CLI account creation)
        self.sessions = sessions or DatabaseSessions(engine)

    # -- second factor (TOTP, RFC 6238) ------------------------------------------------------------
    def _aad(self, sub: str) -> bytes:
        return f"yitong-totp/1|{sub}".encode()

    def enrol_totp(self, sub: str, secret: str) -> list[str]:
        """Store a confirmed TOTP secret (wrapped) and fresh recovery codes; returns the codes once."""
        codes = new_recovery_codes()
        with self.engine.begin() as conn:
            conn.execute(update(users_table).where(users_table.c.sub == sub).values(
                totp_secret_wrapped=self._master.wrap(secret.encode(), self._aad(sub)),
                recovery_hashes=[hash_recovery_code(c) for c in codes]))
        return codes

    def totp_secret(self, sub: str) -> str | None:
        with self.engine.connect() as conn:
            wrapped = conn.execute(select(users_table.c.totp_secret_wrapped).where(users_table.c.sub == sub)).scalar()
        return self._master.unwrap(wrapped, self._aad(sub)).decode() if wrapped else None

    def use_recovery_code(self, sub: str, code: str) -> bool:
        """Single use: the row is locked while the remaining hashes are written back."""
        with self.engine.begin() as conn:
            stored = conn.execute(select(users_table.c.recovery_hashes).where(users_table.c.sub == sub)
                                  .with_for_update()).scalar() or []
            ok, remaining = use_recovery_code(list(stored), code)
            if ok:
                conn.execute(update(users_table).where(users_table.c.sub == sub).values(recovery_hashes=remaining))
        return ok

    def create(self, *, username: str | None, password: str, phone: str | None = None, name: str | None = None) -> User:
        if not username and not phone:
            raise AccountError("an account needs a username or a phone number")
        if username and not USERNAME.match(username):
            raise AccountError("usernames are 3-64 letters, digits, '_', '.', '-', starting with a letter")
        if phone and not PHONE.match(phone):
            raise AccountError("phone numbers are mainland mobile numbers: 11 digits starting 13-19")
        problems = check_password_policy(password, username=username, phone=phone)
        if problems:
            raise AccountError("password refused: " + "; ".join(problems))
        sub = new_id()
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(users_table).values(
                    sub=sub, username=username, phone=phone, password_hash=hash_password(password), acr=LOA_1,
                    name=name, disabled=False, created_at=utcnow()))
        except IntegrityError:
            raise AccountError("that username or phone number is already registered") from None
        return self.get(sub)

    def set_level(self, sub: str, acr: str) -> None:
        """Record the assurance level the person's identity proofing reached (urn:yitong:loa:1..4).

        Takes effect at the next sign-in: a running session keeps the level it was started with.
        """
        _check_level(acr)
        with self.engine.begin() as conn:
            if not conn.execute(update(users_table).where(users_table.c.sub == sub).values(acr=acr)).rowcount:
                raise AccountError("no such account")

    def raise_level(self, sub: str, acr: str) -> bool:
        """Set ``acr`` only if the account's level is lower (one conditional UPDATE, so a concurrent
        higher level — an operator's loa:4, say — is never overwritten). True if it was raised."""
        _check_level(acr)
        lower = list(LEVELS[:LEVELS.index(acr)])
        with self.engine.begin() as conn:
            return bool(conn.execute(update(users_table).where(users_table.c.sub == sub, users_table.c.acr.in_(lower))
                                     .values(acr=acr)).rowcount)

    def get(self, sub: str) -> User | None:
        return self._active(users_table.c.sub, sub)

    def find_by_username(self, username: str) -> User | None:
        return self._active(users_table.c.username, username)

    def _active(self, column, value: str) -> User | None:
        """The account (not disabled) whose ``column`` is ``value``."""
        with self._reads.connect() as conn:
            row = conn.execute(select(users_table).where(column == value, users_table.c.disabled.is_(False))).first()
        return _user(row) if row else None

    def authenticate(self, login: str, password: str) -> User | None:
        """The account for a username or phone number and password, else None (same timing)."""
        with self._reads.connect() as conn:
            row = conn.execute(select(users_table).where(
                or_(users_table.c.username == login, users_table.c.phone == login),
                users_table.c.disabled.is_(False))).first()
        if row is None or not row.password_hash:
            dummy_verify(password)
            return None
        if not verify_password(row.password_hash, password):
            return None
        if needs_rehash(row.password_hash):
            with self.engine.begin() as conn:
                conn.execute(update(users_table).where(users_table.c.sub == row.sub)
                             .values(password_hash=hash_password(password)))
        return _user(row)

    # -- self-service (issue 5): phone sign-up, password reset, phone change, deletion ---------------
    def find_by_phone(self, phone: str) -> User | None:
        return self._active(users_table.c.phone, phone)

    def check_password(self, sub: str, password: str) -> bool:
        """Re-authentication of a signed-in person (same timing for accounts without a password)."""
        with self.engine.connect() as conn:
            stored = conn.execute(select(users_table.c.password_hash).where(
                users_table.c.sub == sub, users_table.c.disabled.is_(False))).scalar()
        if not stored:
            dummy_verify(password)
            return False
        return verify_password(stored, password)

    def set_password(self, sub: str, password: str) -> None:
        user = self.get(sub)
        if user is None:
            raise AccountError("no such account")
        problems = check_password_policy(password, username=user.username, phone=user.phone)
        if problems:
            raise AccountError("password refused: " + "; ".join(problems))
        with self.engine.begin() as conn:
            conn.execute(update(users_table).where(users_table.c.sub == sub)
                         .values(password_hash=hash_password(password)))

    def change_phone(self, sub: str, phone: str) -> None:
        if not PHONE.match(phone):
            raise AccountError("phone numbers are mainland mobile numbers: 11 digits starting 13-19")
        try:
            with self.engine.begin() as conn:
                changed = conn.execute(update(users_table).where(users_table.c.sub == sub,
                                                                 users_table.c.disabled.is_(False))
                                       .values(phone=phone)).rowcount
        except IntegrityError:
            raise AccountError("that phone number is already registered") from None
        if not changed:
            raise AccountError("no such account")

    def created_at(self, sub: str) -> datetime | None:
        with self.engine.connect() as conn:
            return conn.execute(select(users_table.c.created_at).where(users_table.c.sub == sub)).scalar()

    def erase(self, sub: str) -> None:
        """Account deletion: erase the login names, name, password and second factor; keep the row
        (disabled, ``deleted_at``) as a tombstone so that audit records still name a subject."""
        with self.engine.begin() as conn:
            conn.execute(update(users_table).where(users_table.c.sub == sub).values(
                username=None, phone=None, name=None, password_hash=None, totp_secret_wrapped=None,
                recovery_hashes=None, disabled=True, deleted_at=utcnow()))

    # -- locking (issue 17: the security administrator) ----------------------------------------------
    def set_locked(self, sub: str, locked: bool) -> None:
        """Lock (no sign-in of any kind; the caller ends the sessions) or unlock an account."""
        with self.engine.begin() as conn:
            done = conn.execute(update(users_table).where(users_table.c.sub == sub, users_table.c.disabled.is_(False))
                                .values(locked_at=utcnow() if locked else None)).rowcount
        if not done:
            raise AccountError("no such account")

    def locked(self, sub: str) -> bool:
        with self._reads.connect() as conn:
            return conn.execute(select(users_table.c.locked_at).where(users_table.c.sub == sub)).scalar() is not None

    def end_all_sessions(self, sub: str) -> list[str]:
        return self.sessions.end_all(sub)

    # -- SSO sessions (idp/accounts/sessions.py: database or Redis) ----------------------------------------
    def start_session(self, user: User, amr: list[str], acr: str | None = None,
                      renew: str | None = None) -> tuple[str, Session]:
        """A session at the level this sign-in reaches (idp/acr.py ``sign_in_level``: the
        person's level, but loa:3 and above only with a second factor), or at ``acr`` when the
        method itself decides (a certificate login is loa:4, a federated one what the upstream
        asserts, capped); returns the cookie value (shown once) and the session. ``renew``: the
        sid of this person's live session in this browser, which continues (same sid, new cookie)."""
        from idp.acr import sign_in_level

        level = acr or sign_in_level(user.acr, amr)
        renewed = self.sessions.renew(renew, level, amr) if renew else None
        return renewed or self.sessions.start(user.sub, level, amr)

    def session(self, cookie: str | None) -> Session | None:
        return self.sessions.get(cookie)

    def session_amr(self, sid: str | None) -> list[str] | None:
        """How the person authenticated in session ``sid`` (OIDC Core §2 ``amr``), for ID tokens."""
        return self.sessions.amr(sid)

    def end_session(self, sid: str) -> None:
        self.sessions.end(sid)
