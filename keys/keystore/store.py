"""The keystore: key records in ``keys_keys``, private keys held by a :class:`KeyCustody`.

Lifecycle (per purpose, owner and algorithm): ``pending → active → retiring → retired``.
A pending key is published (so that token verifiers can fetch it before it signs anything)
but never used to sign; at ``activate_at`` it becomes active and the previous active key
becomes retiring — still published, no longer signing — until ``retire_at``. Promotion is
lazy (on the next read) and written with conditional UPDATEs, so several workers may race.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from keys.asymmetric import ALGORITHMS, PrivateKey, PublicKey, load_public_key
from keys.errors import DecryptionError, KeysError
from keys.keystore.custody import KeyCustody, MasterKey, MasterKeyError, SoftwareCustody
from keys.keystore.models import keys_table, meta_table
from keys.storage import utcnow

# Purposes and whether `keys rotate` may replace their keys. CA and seal keys change only
# through PKI rollover and seal re-making (their certificates name the key); TSA and OCSP
# keys likewise need a new certificate from the CA.
PURPOSES = {
    "token": True,  # JWS signing of ID tokens and access tokens
    "ca": False,
    "seal": False,
    "seal-maker": False,
    "tsa": False,
    "ocsp": False,
}
PUBLISHED_STATES = ("pending", "active", "retiring")
DEFAULT_RETIRE_AFTER = timedelta(days=1)
_MASTER_CHECK = "master_key_check_value"
_SECRET_PREFIX = "secret:"  # keys_meta rows holding wrapped symmetric secrets (base64)


class KeystoreError(KeysError):
    """A keystore request that cannot be honoured (unknown key, wrong state, refused rotation)."""


@dataclass(frozen=True)
class KeyRecord:
    kid: str
    algorithm: str
    purpose: str
    owner: str | None
    state: str
    public_key_der: bytes
    custody: str
    created_at: datetime
    activate_at: datetime | None
    activated_at: datetime | None
    retire_at: datetime | None
    retired_at: datetime | None

    def public_key(self) -> PublicKey:
        return load_public_key(self.public_key_der)

    def as_dict(self) -> dict:
        def iso(value):
            return value.isoformat() if value else None

        return {
            "kid": self.kid,
            "algorithm": self.algorithm,
            "purpose": self.purpose,
            "owner": self.owner,
            "state": self.state,
            "custody": self.custody,
            "created_at": iso(self.created_at),
            "activate_at": iso(self.activate_at),
            "activated_at": iso(self.activated_at),
            "retire_at": iso(self.retire_at),
            "retired_at": iso(self.retired_at),
        }


def _record(row) -> KeyRecord:
    return KeyRecord(**{name: row._mapping[name] for name in KeyRecord.__dataclass_fields__})


def _check_purpose(purpose: str) -> None:
    if purpose not in PURPOSES:
        raise KeystoreError(f"unknown key purpose {purpose!r}; known: {', '.join(PURPOSES)}")


def _check_algorithm(algorithm: str) -> None:
    if algorithm not in ALGORITHMS:
        raise KeystoreError(f"unknown algorithm {algorithm!r}; choose one of {', '.join(ALGORITHMS)}")


class Keystore:
    def __init__(self, engine: Engine, custody: KeyCustody) -> None:
        self.engine = engine
        self.custody = custody

    @classmethod
    def open(cls, engine: Engine, master: MasterKey) -> Keystore:
        """A software-custody keystore; refuses a master key other than the one recorded."""
        store = cls(engine, SoftwareCustody(master))
        store.check_master_key()
        return store

    # -- master key ------------------------------------------------------------------------
    def check_master_key(self) -> None:
        """Record the master key's check value on first use; afterwards insist on a match."""
        master = self._master()
        with self.engine.begin() as conn:
            stored = conn.execute(select(meta_table.c.value).where(meta_table.c.name == _MASTER_CHECK)).scalar()
            if stored is None:
                has_keys = conn.execute(select(keys_table.c.kid).limit(1)).first() is not None
                if has_keys:
                    raise MasterKeyError("the keystore holds keys but no master-key check value; refusing to guess")
                conn.execute(insert(meta_table).values(name=_MASTER_CHECK, value=master.check_value))
            elif stored != master.check_value:
                raise MasterKeyError(
                    "the master key does not match the keystore (its check value differs); "
                    "after `yitong keys rewrap`, point YITONG_MASTER_KEY_FILE at the new key"
                )

    def _master(self) -> MasterKey:
        if not isinstance(self.custody, SoftwareCustody):
            raise KeystoreError(f"{self.custody.name} custody has no master key")
        return self.custody.master

    def rewrap(self, new_master: MasterKey) -> int:
        """Re-wrap every software key and named secret under ``new_master`` in one transaction.

        Returns the number of keys re-wrapped.

        Any failure (a key that does not unwrap under the current master key, a database
        error) rolls the whole transaction back: the old state stays intact.
        """
        custody = self.custody
        if not isinstance(custody, SoftwareCustody):
            raise KeystoreError("only software custody can be re-wrapped")
        count = 0
        with self.engine.begin() as conn:
            stored = conn.execute(select(meta_table.c.value).where(meta_table.c.name == _MASTER_CHECK)).scalar()
            if stored != custody.master.check_value:
                raise MasterKeyError("the current master key does not match the keystore; nothing was changed")
            rows = conn.execute(
                select(keys_table.c.kid, keys_table.c.algorithm, keys_table.c.private_key_ref).where(
                    keys_table.c.custody == "software"
                )
            ).all()
            for kid, algorithm, reference in rows:
                try:
                    new_reference = custody.rewrap(kid, algorithm, reference, new_master)
                except DecryptionError as exc:
                    raise MasterKeyError(
                        f"key {kid} does not unwrap under the current master key; nothing was changed"
                    ) from exc
                conn.execute(update(keys_table).where(keys_table.c.kid == kid).values(private_key_ref=new_reference))
                count += 1
            secrets = conn.execute(select(meta_table.c.name, meta_table.c.value).where(
                meta_table.c.name.like(f"{_SECRET_PREFIX}%"))).all()
            for name, value in secrets:
                plain = custody.master.unwrap(base64.b64decode(value), name.encode())
                conn.execute(update(meta_table).where(meta_table.c.name == name).values(
                    value=base64.b64encode(new_master.wrap(plain, name.encode())).decode()))
            conn.execute(
                update(meta_table).where(meta_table.c.name == _MASTER_CHECK).values(value=new_master.check_value)
            )
        self.custody = SoftwareCustody(new_master)
        return count

    def secret(self, name: str, length: int = 32) -> bytes:
        """A named random secret (HMAC pepper, cookie-signing key), made on first use.

        Stored in keys_meta wrapped under the master key like private keys, so it survives
        restarts, is shared by every worker and host, and moves with `keys rewrap`.
        """
        row_name = f"{_SECRET_PREFIX}{name}"
        master = self._master()
        with self.engine.begin() as conn:
            stored = conn.execute(select(meta_table.c.value).where(meta_table.c.name == row_name)).scalar()
            if stored is None:
                value = os.urandom(length)
                wrapped = base64.b64encode(master.wrap(value, row_name.encode())).decode()
                try:
                    with conn.begin_nested():
                        conn.execute(insert(meta_table).values(name=row_name, value=wrapped))
                    return value
                except IntegrityError:  # another worker made it first: use theirs
                    stored = conn.execute(select(meta_table.c.value).where(meta_table.c.name == row_name)).scalar()
        return master.unwrap(base64.b64decode(stored), row_name.encode())

    # -- creating keys ---------------------------------------------------------------------------
    def generate(
        self,
        purpose: str,
        algorithm: str,
        owner: str | None = None,
        *,
        activate_at: datetime | None = None,
    ) -> KeyRecord:
        """A new key: pending until ``activate_at`` if given (and in the future), else active."""
        _check_purpose(purpose)
        _check_algorithm(algorithm)
        kid, public_key, reference = self.custody.create(algorithm)
        return self._insert(kid, algorithm, purpose, owner, public_key, reference, activate_at)

    def adopt(
        self, private_key: PrivateKey, purpose: str, owner: str | None = None, *, activate_at: datetime | None = None
    ) -> KeyRecord:
        """Take custody of a key made elsewhere (e.g. imported for a CA migration)."""
        _check_purpose(purpose)
        kid, reference = self.custody.adopt(private_key)
        public_key = private_key.public_key()
        return self._insert(kid, private_key.algorithm, purpose, owner, public_key, reference, activate_at)

    def _insert(self, kid, algorithm, purpose, owner, public_key, reference, activate_at) -> KeyRecord:
        now = utcnow()
        pending = activate_at is not None and activate_at > now
        values = {
            "kid": kid,
            "algorithm": algorithm,
            "purpose": purpose,
            "owner": owner,
            "state": "pending" if pending else "active",
            "public_key_der": public_key.public_bytes_der(),
            "custody": self.custody.name,
            "private_key_ref": reference,
            "created_at": now,
            "activate_at": activate_at if pending else None,
            "activated_at": None if pending else now,
            "retire_at": None,
            "retired_at": None,
        }
        with self.engine.begin() as conn:
            if not pending:
                self._demote_active(conn, purpose, owner, algorithm, except_kid=kid, now=now)
            conn.execute(insert(keys_table).values(**values))
        return self.get(kid)

    def _demote_active(self, conn, purpose, owner, algorithm, except_kid, now, retire_after=DEFAULT_RETIRE_AFTER):
        conn.execute(
            update(keys_table)
            .where(*_active_of_kind(purpose, owner, algorithm), keys_table.c.kid != except_kid)
            .values(state="retiring", retire_at=now + retire_after)
        )

    def rotate(
        self,
        purpose: str,
        *,
        activate_after: timedelta,
        owner: str | None = None,
        algorithm: str | None = None,
    ) -> list[KeyRecord]:
        """A pending successor for each active key of ``purpose`` (optionally one algorithm)."""
        _check_purpose(purpose)
        if not PURPOSES[purpose]:
            raise KeystoreError(
                f"{purpose} keys are not rotated here: they change through PKI rollover "
                "(yitong pki) or by re-making the seal, because a certificate names them"
            )
        if activate_after < timedelta(0):
            raise KeystoreError("--activate-after cannot be negative")
        current = [r for r in self.list(purpose=purpose, owner=owner, states=("active",))
                   if algorithm is None or r.algorithm == algorithm]
        if not current:
            raise KeystoreError(f"no active {algorithm or ''} {purpose} key to rotate".replace("  ", " "))
        activate_at = utcnow() + activate_after
        return [self.generate(purpose, record.algorithm, record.owner, activate_at=activate_at) for record in current]

    # -- reading ------------------------------------------------------------------------------
    def get(self, kid: str) -> KeyRecord:
        with self.engine.connect() as conn:
            row = conn.execute(select(keys_table).where(keys_table.c.kid == kid)).first()
        if row is None:
            raise KeystoreError(f"no key with kid {kid!r}")
        return _record(row)

    def list(
        self, *, purpose: str | None = None, owner: str | None = None, states: tuple[str, ...] | None = None
    ) -> list[KeyRecord]:
        self.promote_due()
        query = select(keys_table).order_by(keys_table.c.purpose, keys_table.c.created_at)
        if purpose is not None:
            query = query.where(keys_table.c.purpose == purpose)
        if owner is not None:
            query = query.where(keys_table.c.owner == owner)
        if states is not None:
            query = query.where(keys_table.c.state.in_(states))
        with self.engine.connect() as conn:
            return [_record(row) for row in conn.execute(query)]

    def published(self, purpose: str, owner: str | None = None) -> list[KeyRecord]:
        """Keys verifiers should know (pending, active, retiring): what a JWKS lists."""
        return self.list(purpose=purpose, owner=owner, states=PUBLISHED_STATES)

    def signing_key(self, purpose: str, algorithm: str, owner: str | None = None) -> tuple[KeyRecord, PrivateKey]:
        """The active key for (purpose, owner, algorithm) and its private key."""
        self.promote_due()
        query = (
            select(keys_table)
            .where(*_active_of_kind(purpose, owner, algorithm))
            .order_by(keys_table.c.activated_at.desc())
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise KeystoreError(f"no active {algorithm} key for {purpose}" + (f" of {owner}" if owner else ""))
        record = _record(row)
        return record, self.custody.load(record.kid, record.algorithm, row.private_key_ref)

    def private_key(self, kid: str) -> PrivateKey:
        """The private key of an active key (pending, retiring and retired keys do not sign)."""
        self.promote_due()
        with self.engine.connect() as conn:
            row = conn.execute(select(keys_table).where(keys_table.c.kid == kid)).first()
        if row is None:
            raise KeystoreError(f"no key with kid {kid!r}")
        if row.state != "active":
            raise KeystoreError(f"key {kid} is {row.state}; only active keys sign")
        return self.custody.load(row.kid, row.algorithm, row.private_key_ref)

    # -- lifecycle ------------------------------------------------------------------------------
    def promote_due(self, now: datetime | None = None) -> None:
        """Activate pending keys whose time has come and retire retiring keys past retire_at."""
        now = now or utcnow()
        with self.engine.begin() as conn:
            due = conn.execute(
                select(keys_table.c.kid, keys_table.c.purpose, keys_table.c.owner, keys_table.c.algorithm).where(
                    keys_table.c.state == "pending", keys_table.c.activate_at <= now
                ).order_by(keys_table.c.activate_at)
            ).all()
            for kid, purpose, owner, algorithm in due:
                promoted = conn.execute(
                    update(keys_table)
                    .where(keys_table.c.kid == kid, keys_table.c.state == "pending")
                    .values(state="active", activated_at=now)
                ).rowcount
                if promoted:
                    self._demote_active(conn, purpose, owner, algorithm, except_kid=kid, now=now)
            conn.execute(
                update(keys_table)
                .where(keys_table.c.state == "retiring", keys_table.c.retire_at <= now)
                .values(state="retired", retired_at=now)
            )


def _active_of_kind(purpose: str, owner: str | None, algorithm: str) -> list:
    """WHERE clauses for the active key(s) of one kind: (purpose, owner, algorithm)."""
    owner_is = keys_table.c.owner.is_(None) if owner is None else keys_table.c.owner == owner
    return [keys_table.c.purpose == purpose, owner_is, keys_table.c.algorithm == algorithm,
            keys_table.c.state == "active"]


__all__ = ["PURPOSES", "KeyRecord", "Keystore", "KeystoreError"]
