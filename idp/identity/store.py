"""Verified identities (idp_identities): who a person really is, with the least PII we can keep.

- The ID number is SM4-GCM encrypted under a key from the keystore (``Keystore.secret``, itself
  wrapped under the master key, so `yitong keys rewrap` moves it); the AAD binds the account and
  the format version, so a ciphertext copied onto another account does not decrypt.
- A keyed hash (HMAC-SM3 under a second keystore secret) finds an account by ID number without
  decrypting anything; it is UNIQUE, so one ID number belongs to one account even under races.
- The name is kept in clear (it is shown to the person, and is what a verified claim will release).
- Nothing here logs an ID number; callers show it only through :func:`mask_id_number`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from idp.errors import IdpError
from idp.identity.numbers import mask_id_number, normalise
from idp.models import identities_table
from keys.sm3 import hmac_sm3
from keys.sm4 import SM4GCM
from keys.storage import utcnow

ENCRYPTION_SECRET = "idp-identity-sm4"  # 16 bytes: an SM4 key
LOOKUP_SECRET = "idp-identity-lookup"  # 32 bytes: the HMAC-SM3 key of the lookup hash
_FORMAT = b"\x01"


class IdentityTaken(IdpError):
    """The ID number is already bound to another account (or this account already has one)."""


@dataclass(frozen=True)
class VerifiedIdentity:
    sub: str
    id_type: str
    name: str
    id_number_masked: str
    trust_framework: str
    evidence: dict
    verified_at: datetime


class Identities:
    def __init__(self, engine: Engine, keystore) -> None:
        self.engine = engine
        self._cipher = SM4GCM(keystore.secret(ENCRYPTION_SECRET, 16))
        self._lookup_key = keystore.secret(LOOKUP_SECRET, 32)

    # -- keyed hash and encryption --------------------------------------------------------------------
    def lookup_hash(self, id_number: str) -> bytes:
        return hmac_sm3(self._lookup_key, b"yitong-id-number/1|" + normalise(id_number).encode())

    @staticmethod
    def _aad(sub: str) -> bytes:
        return f"yitong-identity/1|{sub}".encode()

    def _encrypt(self, sub: str, id_number: str) -> bytes:
        return _FORMAT + self._cipher.seal(normalise(id_number).encode(), self._aad(sub))

    def _decrypt(self, sub: str, blob: bytes) -> str:
        if blob[:1] != _FORMAT:
            raise ValueError("unknown identity ciphertext format")
        return self._cipher.open(blob[1:], self._aad(sub)).decode()

    # -- records ------------------------------------------------------------------------------------------
    def bind(self, sub: str, *, id_type: str, name: str, id_number: str, trust_framework: str,
             evidence: dict, verified_at: datetime | None = None) -> VerifiedIdentity:
        """Record a verified identity; :class:`IdentityTaken` if the number or the account is taken."""
        values = {
            "sub": sub, "id_type": id_type, "name": name, "id_number_enc": self._encrypt(sub, id_number),
            "id_number_hash": self.lookup_hash(id_number), "trust_framework": trust_framework,
            "evidence": evidence, "verified_at": verified_at or utcnow(),
        }
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(identities_table).values(**values))
        except IntegrityError:
            raise IdentityTaken("this ID number or account already has a verified identity") from None
        return self.get(sub)

    def add_evidence(self, sub: str, evidence: dict) -> bool:
        """Append a further proofing step (e.g. the bank-card 4-factor check of loa:3) to the identity's
        OIDC4IA evidence, which becomes a list; False when the account has no verified identity."""
        with self.engine.begin() as conn:
            current = conn.execute(select(identities_table.c.evidence).where(identities_table.c.sub == sub)
                                   .with_for_update()).first()
            if current is None:
                return False
            before = current.evidence
            steps = list(before) if isinstance(before, list) else ([before] if before else [])
            conn.execute(update(identities_table).where(identities_table.c.sub == sub)
                         .values(evidence=[*steps, evidence]))
        return True

    def get(self, sub: str) -> VerifiedIdentity | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(identities_table).where(identities_table.c.sub == sub)).first()
        if row is None:
            return None
        masked = mask_id_number(self._decrypt(row.sub, row.id_number_enc))
        return VerifiedIdentity(row.sub, row.id_type, row.name, masked, row.trust_framework, row.evidence,
                                row.verified_at)

    def id_number(self, sub: str) -> str | None:
        """The full ID number (decrypted) — for release to clients allowed to see it, never for logs."""
        with self.engine.connect() as conn:
            blob = conn.execute(select(identities_table.c.id_number_enc)
                                .where(identities_table.c.sub == sub)).scalar()
        return self._decrypt(sub, blob) if blob is not None else None

    def sub_for_id_number(self, id_number: str) -> str | None:
        """The account an ID number is bound to (found by its keyed hash; nothing is decrypted)."""
        with self.engine.connect() as conn:
            return conn.execute(select(identities_table.c.sub).where(
                identities_table.c.id_number_hash == self.lookup_hash(id_number))).scalar()
