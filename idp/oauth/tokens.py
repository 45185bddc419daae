"""Grants and tokens: JWT access tokens (RFC 9068), ID tokens, rotating refresh tokens.

A *grant* is one user's (or client's) authorisation of one client; every code, refresh token and
access token belongs to one. Reusing a rotated refresh token or replaying a code revokes the
whole grant (as node-oidc-provider does; no grace window: a concurrent double refresh by the
same client also revokes, which is the safe reading of RFC 9700 §4.14.2).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Connection, Engine, insert, select, update

from idp.models import access_tokens_table, grants_table, refresh_tokens_table
from keys import jose
from keys.auditchain import Link
from keys.keystore import Keystore
from keys.storage import single_reads, utcnow

ACCESS_TOKEN_LIFETIME = timedelta(minutes=5)  # DESIGN.md: ≤ 5 min for the seal audience
ID_TOKEN_LIFETIME = timedelta(minutes=10)
REFRESH_TOKEN_LIFETIME = timedelta(days=14)
_ALG_TO_KEY = {"ES256": "p256", "SM2": "sm2"}


class Issuing:
    """One token request's writes (Tokens.issuing()): what the token endpoint must commit together
    with its audit row, before its response leaves.

    - A client-credentials access token's row waits in ``deferred`` (nothing needs it sooner).
    - A refresh token's use (marked used, checked for reuse) opens ``connection``, one
      transaction that the rotated token's rows, the grant's revocation on reuse and the audit
      row join: a worker killed before the commit leaves the presented refresh token unused,
      never used up without its successor stored and answered.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.deferred: list[dict] = []
        self.jtis: list[str] = []  # every access token minted in the request, for its audit row
        self.connection: Connection | None = None

    def open(self) -> Connection:
        if self.connection is None:
            self.connection = self.engine.connect()
            self.connection.begin()
        return self.connection

    def write(self, append: Callable[[Connection], None]) -> None:
        """Run ``append`` (the endpoint's audit record: a link of the audit chain, which locks the
        chain's head) atomically with the request's token writes: in the transaction a refresh
        opened (committed at the end of Tokens.issuing()), else with the deferred access-token rows
        in the chain's group commit (several requests' rows and links in one transaction,
        keys/auditchain/group.py), which has committed when this returns."""
        deferred, self.deferred = self.deferred, []
        if self.connection is not None:
            if deferred:
                self.connection.execute(insert(access_tokens_table), deferred)
            append(self.connection)
        elif isinstance(append, Link):  # with other requests' records (keys/auditchain/group.py)
            append.chain.group.commit(append, [(access_tokens_table, deferred)] if deferred else ())
        else:
            with self.engine.begin() as conn:
                if deferred:
                    conn.execute(insert(access_tokens_table), deferred)
                append(conn)


_ISSUING: ContextVar[Issuing | None] = ContextVar("yitong_issuing", default=None)


def token_hash(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


@dataclass(frozen=True)
class Grant:
    grant_id: str
    client_id: str
    sub: str | None
    sid: str | None
    scope: str
    resource: str | None
    acr: str | None
    auth_time: int | None
    dpop_jkt: str | None = None


class SigningKeys:
    """The active token-signing key per algorithm, unwrapped at most once a minute per process.

    ``stamp``: the shared keys.runtime.ChangeStamp of keys (Runtime.change_stamp("keys"), Redis
    only), which `yitong keys generate/rotate` bump: every process then reads the keystore again at
    once instead of when its minute is up. Without it (or when Redis does not answer) the minute
    holds."""

    def __init__(self, keystore: Keystore, ttl_seconds: float = 60, stamp=None) -> None:
        self._keystore = keystore
        self._ttl = ttl_seconds
        self._cache: dict[str, tuple[float, str, object]] = {}
        self._lock = threading.Lock()
        self._stamp = stamp
        self._seen: int | None = None

    def _follow_stamp(self) -> None:
        if self._stamp is None:
            return
        try:
            current = self._stamp.read()
        except Exception:  # Redis away: the minute's TTL still bounds how stale a key can be
            return
        with self._lock:
            if current != self._seen:
                self._cache.clear()
                self._seen = current

    @property
    def keystore(self) -> Keystore:
        return self._keystore

    def refresh(self) -> None:
        """Forget what is cached: the next signature and JWKS read the keystore again."""
        with self._lock:
            self._cache.clear()

    def get(self, alg: str):
        self._follow_stamp()
        with self._lock:
            cached = self._cache.get(alg)
            if cached and time.monotonic() - cached[0] < self._ttl:
                return cached[1], cached[2]
        record, key = self._keystore.signing_key("token", _ALG_TO_KEY[alg])
        with self._lock:
            self._cache[alg] = (time.monotonic(), record.kid, key)
        return record.kid, key

    def sign(self, claims: dict, alg: str, typ: str) -> str:
        kid, key = self.get(alg)
        return jose.sign_jwt(claims, key, kid, typ=typ)

    def jwks(self, *, refresh: bool = False) -> dict:
        """The published token keys, read at most once per TTL: Keystore.published() also promotes
        due keys (a write transaction), which must not run on every token check."""
        self._follow_stamp()
        with self._lock:
            cached = self._cache.get("jwks")
            if cached and not refresh and time.monotonic() - cached[0] < self._ttl:
                return cached[2]
        value = jose.jwks(self._keystore.published("token"))
        with self._lock:
            self._cache["jwks"] = (time.monotonic(), "", value)
        return value

    def verification_keys(self, token: str) -> list[dict]:
        """The keys to check ``token`` with; re-read once if its kid is not among the cached ones
        (a key generated moments ago in another worker)."""
        keys = self.jwks()["keys"]
        try:
            kid = jose.decode_header(token).get("kid")
        except Exception:  # a malformed token fails verification anyway
            return keys
        if kid and all(k.get("kid") != kid for k in keys):
            keys = self.jwks(refresh=True)["keys"]
        return keys


class Tokens:
    def __init__(self, engine: Engine, keys: SigningKeys, issuer: str, pairwise_key: bytes | None = None) -> None:
        self.engine = engine
        self.reads = single_reads(engine)  # the code's lookup at /token (idp/oauth/server.py)
        self.keys = keys
        self.issuer = issuer
        self.pairwise_key = pairwise_key  # OIDC Core §8.1 pairwise subjects (idp/oauth/pairwise.py)

    def subject_for(self, client, sub: str) -> str:
        """The ``sub`` a client sees in ID tokens and userinfo (pairwise when it opted in);
        access tokens always carry the stable ``sub``."""
        from idp.oauth.pairwise import subject_for

        return subject_for(self.pairwise_key, client, sub)

    # -- grants ------------------------------------------------------------------------------------
    def new_grant(self, *, client_id: str, sub: str | None, sid: str | None, scope: str,
                  resource: str | None = None, acr: str | None = None, auth_time: int | None = None,
                  dpop_jkt: str | None = None) -> Grant:
        grant = Grant(secrets.token_urlsafe(16), client_id, sub, sid, scope, resource, acr, auth_time, dpop_jkt)
        with self.engine.begin() as conn:
            conn.execute(insert(grants_table).values(**grant.__dict__, created_at=utcnow(), revoked_at=None))
        return grant

    def grant(self, grant_id: str) -> Grant | None:
        with self.engine.connect() as conn:
            return self._grant(conn, grant_id)

    @staticmethod
    def _grant(conn: Connection, grant_id: str) -> Grant | None:
        row = conn.execute(select(grants_table).where(grants_table.c.grant_id == grant_id,
                                                      grants_table.c.revoked_at.is_(None))).first()
        if row is None:
            return None
        return Grant(row.grant_id, row.client_id, row.sub, row.sid, row.scope, row.resource, row.acr, row.auth_time,
                     row.dpop_jkt)

    def revoke_grant(self, grant_id: str) -> None:
        now = utcnow()
        with self._writing() as conn:
            conn.execute(update(grants_table).where(grants_table.c.grant_id == grant_id,
                                                    grants_table.c.revoked_at.is_(None)).values(revoked_at=now))
            conn.execute(update(access_tokens_table).where(access_tokens_table.c.grant_id == grant_id,
                                                           access_tokens_table.c.revoked_at.is_(None))
                         .values(revoked_at=now))

    def revoke_session_grants(self, sid: str) -> list[Grant]:
        """Revoke every grant made in SSO session ``sid`` (logout); returns them."""
        with self.engine.connect() as conn:
            ids = conn.execute(select(grants_table.c.grant_id).where(
                grants_table.c.sid == sid, grants_table.c.revoked_at.is_(None))).scalars().all()
        grants = [g for g in (self.grant(i) for i in ids) if g]
        for grant in grants:
            self.revoke_grant(grant.grant_id)
        return grants

    # -- access tokens (RFC 9068) ---------------------------------------------------------------------
    def access_token(self, grant: Grant | None, *, client_id: str, scope: str, resource: str | None,
                     acr: str | None = None, auth_time: int | None = None, sub: str | None = None,
                     dpop_jkt: str | None = None, org: dict | None = None) -> str:
        now = int(time.time())
        jti = secrets.token_urlsafe(16)
        claims = {
            "iss": self.issuer, "sub": sub or client_id, "aud": resource or self.issuer,
            "client_id": client_id, "scope": scope, "iat": now,
            "exp": now + int(ACCESS_TOKEN_LIFETIME.total_seconds()), "jti": jti,
        }
        if acr:
            claims["acr"] = acr
        if auth_time:
            claims["auth_time"] = auth_time
        if dpop_jkt:
            claims["cnf"] = {"jkt": dpop_jkt}  # RFC 9449 §6.1: only the holder of that key may use it
        if org:
            claims["org"] = org  # DESIGN.md: acting for an organisation (idp/agents/store.py)
        if "yitong:admin" in scope.split():
            role = _operator_role(self.engine, claims["sub"])
            if role:  # issue 17: resource servers (the seal API) enforce the operator's role from here
                claims["yitong_role"] = role
        row = dict(jti=jti, grant_id=grant.grant_id if grant else None, client_id=client_id,
                   expires_at=utcnow() + ACCESS_TOKEN_LIFETIME, revoked_at=None)
        issuing = _ISSUING.get()
        if issuing is not None:
            issuing.jtis.append(jti)
        if grant is None and issuing is not None:
            issuing.deferred.append(row)  # written with the endpoint's audit row (Issuing)
        else:  # a grant's token: revoke_grant() must find its row from now on
            with self._writing() as conn:
                conn.execute(insert(access_tokens_table).values(**row))
        return self.keys.sign(claims, "ES256", typ="at+jwt")

    @contextmanager
    def issuing(self) -> Iterator[Issuing]:
        """The token endpoint's unit of work (see :class:`Issuing`): committed when the block ends
        without an exception, rolled back otherwise."""
        issuing = Issuing(self.engine)
        reset = _ISSUING.set(issuing)
        try:
            yield issuing
            if issuing.connection is not None:
                issuing.connection.commit()
        finally:
            _ISSUING.reset(reset)
            if issuing.connection is not None:
                issuing.connection.close()  # rolls back what was not committed

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        """The token request's open transaction when a refresh opened one (its writes commit
        together), else a transaction of their own."""
        issuing = _ISSUING.get()
        if issuing is not None and issuing.connection is not None:
            yield issuing.connection
        else:
            with self.engine.begin() as conn:
                yield conn

    def check_access_token(self, token: str, audience: str | None = None, *, any_audience: bool = False) -> dict | None:
        """The claims of a valid, unrevoked access token of ours, else None.

        The token must be for ``audience`` (default: this issuer), or, with ``any_audience``
        (introspection answers resource servers of every audience), for whichever it names.
        """
        try:
            header, claims = jose.verify_jwt(token, self.keys.verification_keys(token), algorithms=["ES256", "SM2"])
            if any_audience:
                aud = claims.get("aud")
                audience = aud if isinstance(aud, str) else (aud or [None])[0]
            jose.check_claims(claims, issuer=self.issuer, audience=audience or self.issuer)
        except Exception:  # any failure is "not a valid token"
            return None
        if header.get("typ") != "at+jwt":
            return None
        with self.engine.connect() as conn:
            row = conn.execute(select(access_tokens_table.c.revoked_at).where(
                access_tokens_table.c.jti == claims.get("jti"))).first()
        return claims if row is not None and row.revoked_at is None else None

    def revoke_access_token(self, jti: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(access_tokens_table).where(access_tokens_table.c.jti == jti)
                         .values(revoked_at=utcnow()))

    # -- refresh tokens ---------------------------------------------------------------------------------
    def refresh_token(self, grant: Grant) -> str:
        value = secrets.token_urlsafe(32)
        with self._writing() as conn:
            conn.execute(insert(refresh_tokens_table).values(
                token_hash=token_hash(value), grant_id=grant.grant_id,
                expires_at=utcnow() + REFRESH_TOKEN_LIFETIME, used_at=None))
        return value

    def use_refresh_token(self, value: str, client_id: str, dpop_jkt: str | None = None) -> Grant | None:
        """The grant of a fresh refresh token, marking it used; reuse revokes the grant.

        A grant bound to a DPoP key (RFC 9449 §5) refreshes only with a proof from that key; a
        request without it is refused before the token is used up.
        """
        now = utcnow()
        issuing = _ISSUING.get()
        if issuing is not None:
            issuing.open()  # the use commits with the rotated token and the audit row (Issuing)
        with self._writing() as conn:
            row = conn.execute(select(refresh_tokens_table).where(
                refresh_tokens_table.c.token_hash == token_hash(value))).first()
            if row is None:
                return None
            bound = conn.execute(select(grants_table.c.dpop_jkt).where(
                grants_table.c.grant_id == row.grant_id)).scalar()
            if bound and bound != dpop_jkt:
                return None
            claimed = conn.execute(update(refresh_tokens_table).where(
                refresh_tokens_table.c.token_hash == row.token_hash, refresh_tokens_table.c.used_at.is_(None))
                .values(used_at=now)).rowcount
            grant = self._grant(conn, row.grant_id)
        if grant is None or grant.client_id != client_id:
            return None
        if not claimed:  # RFC 9700 §4.14.2: a rotated token came back — someone has a copy
            self.revoke_grant(grant.grant_id)
            return None
        if row.expires_at <= now:
            return None
        return grant

    def peek_refresh_token(self, value: str) -> tuple[Grant | None, bool]:
        """(grant, active) without using the token: for introspection and revocation."""
        with self.engine.connect() as conn:
            row = conn.execute(select(refresh_tokens_table).where(
                refresh_tokens_table.c.token_hash == token_hash(value))).first()
        if row is None:
            return None, False
        grant = self.grant(row.grant_id)
        return grant, grant is not None and row.used_at is None and row.expires_at > utcnow()

    # -- ID tokens -------------------------------------------------------------------------------------
    def id_token(self, *, client_id: str, alg: str, sub: str, claims: dict, nonce: str | None,
                 auth_time: int | None, acr: str | None, sid: str | None, at_hash: str | None) -> str:
        now = int(time.time())
        body = {"iss": self.issuer, "sub": sub, "aud": client_id, "iat": now,
                "exp": now + int(ID_TOKEN_LIFETIME.total_seconds()), **claims}
        for name, value in (("nonce", nonce), ("auth_time", auth_time), ("acr", acr), ("sid", sid),
                            ("at_hash", at_hash)):
            if value:
                body[name] = value
        return self.keys.sign(body, alg, typ="JWT")


def _operator_role(engine, sub: str) -> str | None:
    from idp.operators import Operators

    return Operators(engine).role_of(sub)
