"""The passkeys people registered (idp_passkeys): public key, signature counter, a name the person
gave it, and when it was made and last used. Credential ids are kept in base64url (RFC 4648 §5)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, delete, func, insert, select, update

from idp.models import passkeys_table
from keys.storage import single_reads, utcnow

MAX_PER_PERSON = 10


class PasskeyError(ValueError):
    """A passkey cannot be added or used (the message is for the page)."""


@dataclass(frozen=True)
class Passkey:
    credential_id: str  # base64url
    sub: str
    public_key: bytes  # COSE_Key
    sign_count: int
    name: str
    synced: bool  # a multi-device (synced) credential, not bound to one authenticator
    created_at: datetime
    last_used_at: datetime | None


class Passkeys:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._reads = single_reads(engine)  # has_any, on every password sign-in

    def add(self, sub: str, credential_id: str, public_key: bytes, sign_count: int, name: str,
            synced: bool) -> Passkey:
        with self.engine.begin() as conn:
            count = conn.execute(select(func.count()).select_from(passkeys_table)
                                 .where(passkeys_table.c.sub == sub)).scalar()
            if count >= MAX_PER_PERSON:
                raise PasskeyError(f"at most {MAX_PER_PERSON} passkeys per account")
            if conn.execute(select(passkeys_table.c.sub).where(passkeys_table.c.credential_id == credential_id)) \
                    .first() is not None:
                raise PasskeyError("this passkey is already registered")
            conn.execute(insert(passkeys_table).values(
                credential_id=credential_id, sub=sub, public_key=public_key, sign_count=sign_count,
                name=name[:64], synced=synced, created_at=utcnow(), last_used_at=None))
        return self.get(credential_id)

    def get(self, credential_id: str) -> Passkey | None:
        if not isinstance(credential_id, str) or not credential_id or "\x00" in credential_id:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(select(passkeys_table).where(passkeys_table.c.credential_id == credential_id)).first()
        return _passkey(row) if row else None

    def of_person(self, sub: str) -> list[Passkey]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(passkeys_table).where(passkeys_table.c.sub == sub)
                                .order_by(passkeys_table.c.created_at)).all()
        return [_passkey(r) for r in rows]

    def has_any(self, sub: str) -> bool:
        with self._reads.connect() as conn:
            return conn.execute(select(passkeys_table.c.credential_id).where(passkeys_table.c.sub == sub)
                                .limit(1)).first() is not None

    def used(self, credential_id: str, sign_count: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(passkeys_table).where(passkeys_table.c.credential_id == credential_id)
                         .values(sign_count=sign_count, last_used_at=utcnow()))

    def remove(self, sub: str, credential_id: str) -> bool:
        with self.engine.begin() as conn:
            return bool(conn.execute(delete(passkeys_table).where(passkeys_table.c.sub == sub,
                                                                  passkeys_table.c.credential_id == credential_id))
                        .rowcount)

    def remove_all(self, sub: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(passkeys_table).where(passkeys_table.c.sub == sub))


def _passkey(row) -> Passkey:
    return Passkey(row.credential_id, row.sub, bytes(row.public_key), row.sign_count, row.name, row.synced,
                   row.created_at, row.last_used_at)
