"""The licence sharing service (证照共享, issue 15 item 6), shaped after GB/T 36906's operations:
list a holder's licences, get a licence's data, get its file, check its status.

A business system of another department reads a holder's licences in exactly two ways:

- **the holder's consent**: an access token from the authorization code flow whose ``sub`` is the
  holder and whose scopes ``licence:read:<TYPECODE>`` name the licence types the holder agreed to
  (the IdP's consent page names each type and the requesting department; the holder withdraws it
  on the account page). Rule for sensitive items: **consent never releases them** — a holder
  agrees on a page that lists types, not items, so items the catalogue marks sensitive need a
  legal sharing grant that says so.
- **a legal sharing grant** (:class:`ShareGrants`): an operator lets a client read these types for
  this purpose (``yitong licence share-grant add``), and says whether the sensitive items are
  released. The client's own token (client credentials, scope ``licence:share``) names the holder
  (ID number or USCC) and the purpose on every request; a type or purpose not granted is refused.

Every use — client, purpose, time, licence, operation — is a ``licence_uses`` row (event
``shared``), listed to the holder in the wallet's record of uses (用证记录) beside the showings,
and a link of the audit trail (keys/auditchain), committed before the answer leaves (in a group
commit with other requests' records). A refused request writes nothing. A revoked, expired or
superseded licence is still answered, and its status is part of every answer (its data only ever
comes with its status), as a verifier expects: the status is the very thing they must see.
"""

from __future__ import annotations

import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, insert, select, update

from keys.auditchain import AuditChain
from keys.storage import utcnow
from licence.catalogue import Catalogue, CatalogueError, LicenceType
from licence.data import check_holder
from licence.library import Licence, LicenceError, LicenceLibrary
from licence.models import events_table, share_grants_table, uses_table
from licence.trail import prepared

CONSENT_SCOPE_PREFIX = "licence:read:"  # + a licence type code: the holder's consent for that type
SHARE_SCOPE = "licence:share"  # a client's own token under a legal sharing grant
OPERATIONS = ("list", "data", "file", "status")
MAX_PURPOSE = 200
MAX_LISTED = 100


def consent_scope(type_code: str) -> str:
    return f"{CONSENT_SCOPE_PREFIX}{type_code}"


def consented_types(scopes) -> frozenset[str]:
    """The licence types a consent token's scopes name."""
    return frozenset(s[len(CONSENT_SCOPE_PREFIX):] for s in scopes
                     if s.startswith(CONSENT_SCOPE_PREFIX) and len(s) > len(CONSENT_SCOPE_PREFIX))


def clean_purpose(value: Any) -> str:
    """A purpose: 1-200 characters of text, no control characters; LicenceError otherwise."""
    if not isinstance(value, str) or not value.strip():
        raise LicenceError("name the purpose of the use (purpose)", kind="purpose-required")
    text = unicodedata.normalize("NFC", value).strip()
    if len(text) > MAX_PURPOSE or any(unicodedata.category(c).startswith("C") for c in text):
        raise LicenceError(f"a purpose is at most {MAX_PURPOSE} characters of text", kind="bad-purpose")
    return text


def check_holder_id(value: Any) -> tuple[str, str]:
    """(holder kind, normalised number) of a resident ID number or a USCC that passes its check
    character; LicenceError naming the problem otherwise."""
    if not isinstance(value, str) or not value.strip():
        raise LicenceError("name the holder (holder_id: a resident ID number or a USCC)", kind="holder-required")
    for kind in ("person", "org"):
        errors: dict[str, str] = {}
        number, _ = check_holder(kind, value, "-", errors)
        if not errors:
            return kind, number
    raise LicenceError("holder_id is neither a valid resident ID number nor a valid USCC (check character)",
                       kind="bad-holder")


@dataclass(frozen=True)
class ShareGrant:
    grant_id: str
    client_id: str
    type_codes: tuple[str, ...]
    purpose: str
    sensitive: bool
    basis: str | None
    created_at: datetime
    created_by: str
    revoked_at: datetime | None

    def as_dict(self) -> dict:
        return {"grant_id": self.grant_id, "client_id": self.client_id, "types": list(self.type_codes),
                "purpose": self.purpose, "sensitive": self.sensitive, "basis": self.basis,
                "created_at": self.created_at.isoformat(), "created_by": self.created_by,
                "status": "revoked" if self.revoked_at else "active",
                "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None}


def _grant(row) -> ShareGrant:
    return ShareGrant(row.grant_id, row.client_id, tuple(row.type_codes), row.purpose, bool(row.sensitive), row.basis,
                      row.created_at, row.created_by, row.revoked_at)


class ShareGrants:
    """Legal sharing grants (licence_share_grants); adding and revoking one is a licence_events row,
    chained through ``audit_chain`` (needed to add or revoke, not to read)."""

    def __init__(self, engine: Engine, audit_chain: AuditChain | None = None) -> None:
        self.engine = engine
        self.audit_chain = audit_chain

    def add(self, client_id: str, type_codes: list[str], purpose: str, *, sensitive: bool, basis: str | None,
            actor: str, catalogue: Catalogue) -> ShareGrant:
        if not isinstance(client_id, str) or not 0 < len(client_id) <= 128:
            raise LicenceError("a client id is 1-128 characters", kind="bad-client")
        if not type_codes:
            raise LicenceError("name at least one licence type", kind="type-required")
        codes = list(dict.fromkeys(type_codes))
        for code in codes:
            try:
                catalogue.get(code)
            except CatalogueError as exc:
                raise LicenceError(str(exc), status=exc.status, kind=exc.kind) from None
        purpose = clean_purpose(purpose)
        basis = basis.strip()[:500] if isinstance(basis, str) and basis.strip() else None
        now = utcnow()
        grant_id = secrets.token_hex(8)
        chain = prepared(self.audit_chain)
        with self.engine.begin() as conn:
            conn.execute(insert(share_grants_table).values(
                grant_id=grant_id, client_id=client_id, type_codes=codes, purpose=purpose, sensitive=sensitive,
                basis=basis, created_at=now, created_by=actor))
            chain.append(conn, events_table, {
                "licence_id": None, "type_code": None, "at": now, "event": "share-granted", "actor": actor,
                "reason": basis, "detail": {"grant_id": grant_id, "client_id": client_id, "types": codes,
                                            "purpose": purpose, "sensitive": sensitive}})
        return self.get(grant_id)

    def get(self, grant_id: str) -> ShareGrant:
        with self.engine.connect() as conn:
            row = conn.execute(select(share_grants_table).where(share_grants_table.c.grant_id == grant_id)).first()
        if row is None:
            raise LicenceError(f"no sharing grant {grant_id}", status=404, kind="grant-not-found")
        return _grant(row)

    def list(self, *, client_id: str | None = None, active_only: bool = False) -> list[ShareGrant]:
        query = select(share_grants_table).order_by(share_grants_table.c.created_at, share_grants_table.c.grant_id)
        if client_id:
            query = query.where(share_grants_table.c.client_id == client_id)
        if active_only:
            query = query.where(share_grants_table.c.revoked_at.is_(None))
        with self.engine.connect() as conn:
            return [_grant(r) for r in conn.execute(query)]

    def revoke(self, grant_id: str, *, actor: str, reason: str | None = None) -> ShareGrant:
        now = utcnow()
        chain = prepared(self.audit_chain)
        with self.engine.begin() as conn:
            changed = conn.execute(update(share_grants_table).where(
                share_grants_table.c.grant_id == grant_id, share_grants_table.c.revoked_at.is_(None)).values(
                revoked_at=now, revoked_by=actor)).rowcount
            if changed != 1:
                self.get(grant_id)  # 404 when unknown
                raise LicenceError(f"sharing grant {grant_id} is already revoked", status=409, kind="grant-revoked")
            chain.append(conn, events_table, {"licence_id": None, "type_code": None, "at": now,
                                              "event": "share-revoked", "actor": actor, "reason": reason,
                                              "detail": {"grant_id": grant_id}})
        return self.get(grant_id)


@dataclass(frozen=True)
class Access:
    """What one request may read, and why: ``basis`` consent or grant."""

    client_id: str
    basis: str
    holder_kind: str
    holder_id: str
    types: frozenset[str]
    sensitive_types: frozenset[str]  # the types whose sensitive items are released (grants that say so)
    purpose: str | None
    grant_ids: tuple[str, ...] = ()


def by_consent(client_id: str, holder: tuple[str, str], scopes, purpose: Any = None) -> Access:
    """The access a consent token gives: the holder's licences of the consented types, no sensitive items."""
    types = consented_types(scopes)
    if not types:
        raise LicenceError("the token names no licence type the holder consented to (licence:read:<type>)",
                           status=403, kind="no-consent")
    return Access(client_id, "consent", holder[0], holder[1], types, frozenset(),
                  clean_purpose(purpose) if purpose not in (None, "") else None)


def by_grant(grants: ShareGrants, client_id: str, holder_id: Any, purpose: Any) -> Access:
    """The access the client's active grants for this purpose give; 403 when it has none."""
    kind, number = check_holder_id(holder_id)
    purpose = clean_purpose(purpose)
    active = [g for g in grants.list(client_id=client_id, active_only=True) if g.purpose == purpose]
    if not active:
        raise LicenceError(f"client {client_id} has no sharing grant for the purpose {purpose!r}", status=403,
                           kind="purpose-not-granted")
    types = frozenset(code for g in active for code in g.type_codes)
    sensitive = frozenset(code for g in active if g.sensitive for code in g.type_codes)
    return Access(client_id, "grant", kind, number, types, sensitive, purpose, tuple(g.grant_id for g in active))


class Sharing:
    """The four operations over the library; each records its use, each refusal writes nothing."""

    def __init__(self, library: LicenceLibrary) -> None:
        self.library = library

    def _type(self, code: str) -> LicenceType:
        return self.library.catalogue.get(code)

    def _record(self, access: Access, licences: list[Licence], operation: str) -> None:
        """One chained use per licence answered, committed before the answer is sent: a single use in
        the chain's group commit (one transaction and one head update for concurrent requests), a list
        in one transaction of its own (one head update for all its licences)."""
        if not licences:
            return
        now = utcnow()
        detail = {"basis": access.basis, **({"grants": list(access.grant_ids)} if access.grant_ids else {})}
        uses = [{"licence_id": lic.licence_id, "showing_id": None, "at": now, "event": "shared", "detail": detail,
                 "client_id": access.client_id, "purpose": access.purpose, "operation": operation}
                for lic in licences]
        chain = self.library.audit_chain
        chain.prepare()
        if len(uses) == 1:
            chain.group.commit(chain.pending(uses_table, uses[0]))
            return
        with self.library.engine.begin() as conn:
            chain.append_many(conn, uses_table, uses)

    def _check_type(self, access: Access, type_code: str) -> None:
        if type_code not in access.types:
            why = "the holder did not consent to" if access.basis == "consent" else "no grant for this purpose covers"
            raise LicenceError(f"{why} licence type {type_code}", status=403, kind="type-not-granted")

    def licence(self, access: Access, licence_id: Any) -> Licence:
        """The holder's licence of an allowed type: 404 for another holder's (or no) licence, 403 for a
        type not allowed."""
        if not isinstance(licence_id, str) or not 0 < len(licence_id) <= 96:
            raise LicenceError("not a licence identifier", kind="bad-identifier")
        try:
            found = self.library.get(licence_id)
        except LicenceError:
            found = None
        if found is None or (found.holder_kind, found.holder_id) != (access.holder_kind, access.holder_id):
            raise LicenceError(f"the holder has no licence {licence_id}", status=404, kind="licence-not-found")
        self._check_type(access, found.type_code)
        return found

    def list(self, access: Access, type_code: str | None = None) -> list[dict]:
        if type_code:
            self._check_type(access, type_code)
        types = [type_code] if type_code else sorted(access.types)
        found = [lic for code in types
                 for lic in self.library.list(type_code=code, holder_id=access.holder_id, limit=MAX_LISTED)
                 if lic.holder_kind == access.holder_kind][:MAX_LISTED]
        self._record(access, found, "list")
        return [self._summary(lic) for lic in found]

    def _summary(self, lic: Licence) -> dict:
        kind = self._type(lic.type_code)
        return {"licence_id": lic.licence_id, "type": lic.type_code, "type_name": kind.name,
                "type_name_en": kind.name_en, "number": lic.number, "version": lic.version, "status": lic.status,
                "valid_from": lic.valid_from.isoformat(),
                "valid_to": lic.valid_to.isoformat() if lic.valid_to else None,
                "issuer": {"name": kind.authority_name, "uscc": kind.authority_uscc},
                "holder": {"kind": lic.holder_kind, "name": lic.holder_name, "id": lic.holder_id}}

    def data(self, access: Access, licence_id: Any) -> dict:
        """The licence's data items, sensitive ones only under a grant that releases them for its type;
        ``withheld`` names the items left out. The status is always part of the answer."""
        lic = self.licence(access, licence_id)
        kind = self._type(lic.type_code)
        release = lic.type_code in access.sensitive_types  # empty under consent
        withheld = [i.name for i in kind.items if i.sensitive and not release and i.name in lic.data]
        data = {k: v for k, v in lic.data.items() if k not in withheld}
        self._record(access, [lic], "data")
        return self._summary(lic) | {"data": data, "withheld": withheld, "issued_at": lic.issued_at.isoformat(),
                                     "sha256": lic.sha256, "format": lic.format, "supersedes": lic.supersedes,
                                     "superseded_by": lic.superseded_by}

    def file(self, access: Access, licence_id: Any) -> tuple[Licence, bytes]:
        """The sealed file (its face never prints a sensitive item: licence/library.py)."""
        lic = self.licence(access, licence_id)
        _, data = self.library.file(lic.licence_id)
        self._record(access, [lic], "file")
        return lic, data

    def status(self, access: Access, licence_id: Any) -> dict:
        lic = self.licence(access, licence_id)
        self._record(access, [lic], "status")
        return {"licence_id": lic.licence_id, "status": lic.status, "superseded_by": lic.superseded_by}
