"""The licence library (证照库): issuance, the lifecycle, reading, the public status.

Lifecycle (every change is a ``licence_events`` row with who and why)::

    valid → revoked     (吊销/注销, with a reason)
    valid → superseded  (a change: the next version is issued and linked both ways)
    valid → expired     (recorded lazily when read after valid_to)

Issuance checks the data against the type, allocates the serial (its own short transaction, so
a crash leaves a gap, never a twin), renders the face and seals it with the authority's seal in
memory, and only then writes the licence row, its audit event, the seal's usage row and the
idempotency key in ONE transaction: a crash leaves a complete licence or nothing.

Every ``licence_events`` row is a link of the tamper-evident audit trail (keys/auditchain), appended
in the transaction of the change it records, through the seal registry's chain (same key, same TSA
checkpoints).
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from keys.auditchain import AuditChain
from keys.idnumbers import mask_id_number, mask_name
from keys.sm3 import sm3
from keys.storage import utcnow
from licence.catalogue import Catalogue, CatalogueError, LicenceType
from licence.data import DataInvalid, check_data, check_dates, check_holder
from licence.face import FaceContent, FaceRenderer
from licence.identifier import IdentifierError, LicenceIdentifier, make_identifier, parse_identifier
from licence.metrics import counted_issuance, counted_status
from licence.models import events_table, idempotency_table, licences_table, serials_table
from licence.ofd_face import OfdFace
from licence.payload import data_digest, sign_payload, status_url, verification_url
from licence.pdf_face import PdfFace
from seal.pdfread import PdfRefused
from seal.registry import SealError, SealRegistry, sealer_for

STATUSES = ("valid", "revoked", "expired", "superseded")
HOLDER_CODE_TYPES = {"person": "111", "org": "001"}  # 111 居民身份证 (GB/T 36902); 001 统一社会信用代码
SEALER_TTL = 300.0


class LicenceError(Exception):
    def __init__(self, message: str, *, status: int = 400, kind: str = "licence-error") -> None:
        super().__init__(message)
        self.status, self.kind = status, kind


class LicenceNotFound(LicenceError):
    def __init__(self, licence_id: str) -> None:
        super().__init__(f"no licence {licence_id}", status=404, kind="licence-not-found")


class IdempotencyConflict(LicenceError):
    def __init__(self) -> None:
        super().__init__("this Idempotency-Key was used with a different request body", status=409,
                         kind="idempotency-key-reused")


@dataclass(frozen=True)
class Licence:
    licence_id: str
    type_code: str
    number: str
    version: int
    holder_kind: str
    holder_id: str
    holder_name: str
    data: dict
    status: str
    valid_from: date
    valid_to: date | None
    issued_at: Any
    format: str
    sha256: str
    esid: str
    supersedes: str | None
    superseded_by: str | None

    def summary(self) -> dict:
        """The issuance answer: no full ID number (masked), no data items."""
        return {"licence_id": self.licence_id, "type": self.type_code, "number": self.number,
                "holder": {"kind": self.holder_kind, "name": self.holder_name,
                           "id": mask_id_number(self.holder_id)},
                "status": self.status, "valid_from": self.valid_from.isoformat(),
                "valid_to": self.valid_to.isoformat() if self.valid_to else None, "version": self.version,
                "sha256": self.sha256, "format": self.format}

    def details(self) -> dict:
        return self.summary() | {"data": self.data, "issued_at": self.issued_at.isoformat(), "esid": self.esid,
                                 "supersedes": self.supersedes, "superseded_by": self.superseded_by}


def _licence(row) -> Licence:
    return Licence(row.licence_id, row.type_code, row.number, row.version, row.holder_kind, row.holder_id,
                   row.holder_name, row.data, row.status, row.valid_from, row.valid_to, row.issued_at, row.format,
                   row.sha256, row.esid, row.supersedes, row.superseded_by)


@dataclass(frozen=True)
class IssueRequest:
    type_code: str
    holder_id: Any
    holder_name: Any
    data: Any
    valid_from: Any = None
    valid_to: Any = None
    format: str = "pdf"


def face_lines(kind: LicenceType, holder_name: str, holder_id: str, data: dict, valid_from: date,
               valid_to: date | None) -> list[tuple[str, str]]:
    """The (label, value) lines a face prints, in order (the sealed file's, and licence/display.py's masks)."""
    holder_label = "持证人" if kind.holder_kind == "person" else "持证单位"
    code_label = "身份证号码" if kind.holder_kind == "person" else "统一社会信用代码"
    lines = [(holder_label, holder_name), (code_label, holder_id)]
    lines += [(item.label, str(data[item.name])) for item in kind.items
              if item.on_face and not item.sensitive and item.name in data]
    validity = (f"{valid_from.isoformat()} 至 {valid_to.isoformat()}" if valid_to
                else f"{valid_from.isoformat()} 起长期有效")
    lines.append(("有效期", validity))
    return lines


def _add_years(start: date, years: int) -> date:
    try:
        return start.replace(year=start.year + years) - timedelta(days=1)
    except ValueError:  # 29 February
        return start.replace(year=start.year + years, day=28) - timedelta(days=1)


class LicenceLibrary:
    def __init__(self, engine: Engine, seals: SealRegistry, *, issuer: str,
                 renderers: dict[str, FaceRenderer] | None = None, audit_chain: AuditChain | None = None) -> None:
        self.engine = engine
        self.seals = seals
        self.issuer = issuer.rstrip("/")
        # licence_events and licence_uses are chained with the seals' usage records' chain.
        self.audit_chain = audit_chain or seals.audit_chain
        self.catalogue = Catalogue(engine, self.audit_chain)
        self.renderers = renderers or {"pdf": PdfFace(), "ofd": OfdFace()}
        self._sealers: dict[tuple[str, str], tuple[float, Any]] = {}
        self._lock = threading.Lock()

    # -- issuance -----------------------------------------------------------------------------------------
    def validate(self, request: IssueRequest) -> tuple[LicenceType, dict]:
        """The type and the checked values; DataInvalid (per field) or a LicenceError."""
        try:
            kind = self.catalogue.get(request.type_code) if isinstance(request.type_code, str) else None
        except CatalogueError as exc:
            raise LicenceError(str(exc), status=exc.status, kind=exc.kind) from None
        if kind is None:
            raise LicenceError("type must be a licence type code", kind="bad-type")
        if request.format not in self.renderers:
            known = ", ".join(sorted(self.renderers))
            raise LicenceError(f"format {request.format!r} is not available here (available: {known})",
                               kind="bad-format")
        errors: dict[str, str] = {}
        holder_id, holder_name = check_holder(kind.holder_kind, request.holder_id, request.holder_name, errors)
        values = check_data(kind, request.data, errors)
        start, end, end_given = check_dates(request.valid_from, request.valid_to, errors)
        if errors:
            raise DataInvalid(errors)
        start = start or utcnow().date()
        if not end_given and kind.validity_years:
            end = _add_years(start, kind.validity_years)
        return kind, {"holder_id": holder_id, "holder_name": holder_name, "data": values, "valid_from": start,
                      "valid_to": end}

    def _sealer(self, esid: str):
        record = self.seals.get(esid)
        if record.status != "active":
            raise LicenceError(f"the authority's seal {esid} is {record.status}", status=409, kind="seal-not-active")
        key = (esid, record.cert_serial)
        now = time.monotonic()
        with self._lock:
            hit = self._sealers.get(key)
            if hit and now - hit[0] < SEALER_TTL:
                return hit[1]
        sealer = sealer_for(self.seals, esid)  # its revocation data is reused by seal/ while current
        with self._lock:
            self._sealers[key] = (now, sealer)
        return sealer

    def _next_serial(self, type_code: str) -> int:
        with self.engine.begin() as conn:
            changed = conn.execute(update(serials_table).where(serials_table.c.type_code == type_code)
                                   .values(last=serials_table.c.last + 1)).rowcount
            if changed == 0:
                try:
                    with conn.begin_nested():
                        conn.execute(insert(serials_table).values(type_code=type_code, last=1))
                except IntegrityError:  # another issuer made the row just now
                    conn.execute(update(serials_table).where(serials_table.c.type_code == type_code)
                                 .values(last=serials_table.c.last + 1))
            return conn.execute(select(serials_table.c.last).where(serials_table.c.type_code == type_code)).scalar()

    def _face(self, kind: LicenceType, ident: LicenceIdentifier, number: str, values: dict, sealer) -> FaceContent:
        valid_from, valid_to = values["valid_from"], values["valid_to"]
        record = {"licence_id": str(ident), "type": kind.code, "number": number, "holder_id": values["holder_id"],
                  "holder_name": values["holder_name"], "data": values["data"],
                  "valid_from": valid_from.isoformat(), "valid_to": valid_to.isoformat() if valid_to else None}
        shown_name = mask_name(values["holder_name"]) if kind.holder_kind == "person" else values["holder_name"]
        payload = sign_payload(sealer.key, {"i": str(ident), "t": kind.code, "h": shown_name,
                                            "f": record["valid_from"], "u": record["valid_to"],
                                            "d": data_digest(record), "e": kind.esid})
        lines = face_lines(kind, values["holder_name"], values["holder_id"], values["data"], valid_from, valid_to)
        issued_on = utcnow().date()
        metadata = {
            "LicenceIdentifier": str(ident), "LicenceNumber": number, "LicenceName": kind.name,
            "LicenceTypeCode": kind.code, "IssuerName": kind.authority_name, "IssuerCode": kind.authority_uscc,
            "IssueDate": issued_on.isoformat(), "ValidFrom": record["valid_from"],
            "ValidTo": record["valid_to"] or "长期", "HolderName": values["holder_name"],
            "HolderCode": values["holder_id"], "HolderCodeType": HOLDER_CODE_TYPES[kind.holder_kind],
            # not a GB/T 36903 item: where `yitong verify --online` asks the licence's current status
            "StatusService": status_url(self.issuer, str(ident)),
        }
        return FaceContent(template=kind.face, title=kind.face.title or kind.name,
                           title_en=kind.face.title_en or kind.name_en, number=number, lines=tuple(lines),
                           issuer_name=kind.authority_name,
                           issued_on=f"{issued_on.year}年{issued_on.month}月{issued_on.day}日",
                           qr_text=verification_url(self.issuer, payload), metadata=metadata)

    @counted_issuance
    def issue(self, request: IssueRequest, *, actor: str, client_id: str | None = None, reason: str | None = None,
              idempotency: tuple[str, str] | None = None, row_key: str | None = None,
              supersedes: Licence | None = None, caller_detail: dict | None = None) -> Licence:
        """Issue one licence; ``idempotency`` = (key, SHA-256 of the request body) for API retries."""
        if idempotency and client_id:
            earlier = self._idempotent(client_id, *idempotency)
            if earlier is not None:
                return earlier
        if row_key is not None:
            earlier = self.by_row_key(request.type_code, row_key)
            if earlier is not None:
                return earlier
        kind, values = self.validate(request)
        if not kind.esid:
            raise LicenceError(f"licence type {kind.code} has no seal (esid) to issue with", status=409,
                               kind="type-without-seal")
        try:
            sealer = self._sealer(kind.esid)
        except SealError as exc:
            raise LicenceError(f"the authority's seal cannot be used: {exc}", status=409,
                               kind="seal-unusable") from None
        if supersedes is not None:
            ident = parse_identifier(supersedes.licence_id).next_version()
        else:
            ident = make_identifier(kind.code, kind.authority_uscc, self._next_serial(kind.code))
        number = f"{kind.number_prefix}{kind.authority_region}{ident.serial}"
        face = self._face(kind, ident, number, values, sealer)
        renderer = self.renderers[request.format]
        try:
            unsealed = renderer.render(face)
            document = renderer.seal(sealer, unsealed, face)
        except (PdfRefused, SealError) as exc:
            raise LicenceError(f"sealing the licence failed: {exc}", status=500, kind="sealing-failed") from None
        caller_detail = {**(caller_detail or {}), "sm3_before": sm3(unsealed).hex()}
        return self._store(kind, ident, number, values, request.format, document, actor=actor, client_id=client_id,
                           reason=reason, idempotency=idempotency, row_key=row_key, supersedes=supersedes,
                           caller_detail=caller_detail)

    def _store(self, kind, ident, number, values, fmt, document, *, actor, client_id, reason, idempotency, row_key,
               supersedes, caller_detail) -> Licence:
        now = utcnow()
        digest = hashlib.sha256(document).hexdigest()
        licence_id = str(ident)
        events = [{"licence_id": licence_id, "type_code": kind.code, "at": now, "event": "issued", "from_status": None,
                   "to_status": "valid", "actor": actor, "reason": reason,
                   "detail": {"client_id": client_id, "sha256": digest, "format": fmt,
                              "request_id": caller_detail.get("request_id")}}]
        if supersedes is not None:
            events.insert(0, {"licence_id": supersedes.licence_id, "type_code": kind.code, "at": now,
                              "event": "superseded", "from_status": "valid", "to_status": "superseded",
                              "actor": actor, "reason": reason, "detail": {"by": licence_id}})
        self.audit_chain.prepare()
        try:
            with self.engine.begin() as conn:
                if supersedes is not None:
                    changed = conn.execute(update(licences_table).where(
                        licences_table.c.licence_id == supersedes.licence_id,
                        licences_table.c.status == "valid").values(
                        status="superseded", superseded_by=licence_id, updated_at=now)).rowcount
                    if changed != 1:
                        raise LicenceError(f"licence {supersedes.licence_id} is no longer valid", status=409,
                                           kind="not-valid")
                conn.execute(insert(licences_table).values(
                    licence_id=licence_id, type_code=kind.code, issuer_uscc=kind.authority_uscc, serial=ident.serial,
                    version=ident.version, number=number, holder_kind=kind.holder_kind,
                    holder_id=values["holder_id"], holder_name=values["holder_name"], data=values["data"],
                    status="valid", valid_from=values["valid_from"], valid_to=values["valid_to"], issued_at=now,
                    format=fmt, file=document, sha256=digest, esid=kind.esid,
                    supersedes=supersedes.licence_id if supersedes else None, client_id=client_id, row_key=row_key,
                    updated_at=now))
                # The chains' heads are locked last and in one order (licence_events, then seal_usage),
                # so concurrent issuances wait on them only for the rest of this transaction.
                self.audit_chain.append_many(conn, events_table, events)
                self.seals.log_use(kind.esid, caller=client_id or actor, subject=None, org_uscc=None,
                                   sm3_before=caller_detail["sm3_before"], sm3_after=sm3(document).hex(),
                                   request_id=caller_detail.get("request_id"), client_ip=caller_detail.get("client_ip"),
                                   detail={"licence_id": licence_id}, conn=conn)
                if idempotency and client_id:
                    conn.execute(insert(idempotency_table).values(
                        client_id=client_id, key=idempotency[0], body_sha256=idempotency[1], licence_id=licence_id,
                        created_at=now))
        except IntegrityError:
            # A concurrent retry with the same Idempotency-Key or row key won: answer with its licence.
            if idempotency and client_id:
                earlier = self._idempotent(client_id, *idempotency)
                if earlier is not None:
                    return earlier
            if row_key is not None:
                earlier = self.by_row_key(kind.code, row_key)
                if earlier is not None:
                    return earlier
            raise LicenceError("the licence could not be stored (a concurrent change); try again", status=409,
                               kind="conflict") from None
        return self.get(licence_id)

    def replayed(self, client_id: str, idempotency: tuple[str, str]) -> Licence | None:
        """The licence an earlier request with this Idempotency-Key issued; IdempotencyConflict when
        that request had another body."""
        return self._idempotent(client_id, *idempotency)

    def _idempotent(self, client_id: str, key: str, body_sha256: str) -> Licence | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(idempotency_table).where(idempotency_table.c.client_id == client_id,
                                                               idempotency_table.c.key == key)).first()
        if row is None:
            return None
        if row.body_sha256 != body_sha256:
            raise IdempotencyConflict()
        return self.get(row.licence_id)

    def by_row_key(self, type_code: str, row_key: str) -> Licence | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(licences_table.c.licence_id).where(
                licences_table.c.type_code == type_code, licences_table.c.row_key == row_key)).first()
        return self.get(row.licence_id) if row else None

    # -- reading --------------------------------------------------------------------------------------------
    def get(self, licence_id: str) -> Licence:
        with self.engine.connect() as conn:
            row = conn.execute(select(*[c for c in licences_table.c if c.name != "file"])
                               .where(licences_table.c.licence_id == licence_id)).first()
        if row is None:
            raise LicenceNotFound(licence_id)
        return self._expire_if_due(_licence(row))

    def file(self, licence_id: str) -> tuple[Licence, bytes]:
        licence = self.get(licence_id)
        with self.engine.connect() as conn:
            data = conn.execute(select(licences_table.c.file)
                                .where(licences_table.c.licence_id == licence_id)).scalar()
        return licence, data

    def list(self, *, type_code: str | None = None, holder_id: str | None = None, status: str | None = None,
             limit: int = 100) -> list[Licence]:
        query = select(*[c for c in licences_table.c if c.name != "file"]).order_by(
            licences_table.c.issued_at.desc(), licences_table.c.licence_id).limit(limit)
        if type_code:
            query = query.where(licences_table.c.type_code == type_code)
        if holder_id:
            query = query.where(licences_table.c.holder_id == holder_id)
        if status:
            query = query.where(licences_table.c.status == status)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [self._expire_if_due(_licence(r)) for r in rows]

    def count(self, type_code: str | None = None) -> int:
        query = select(func.count()).select_from(licences_table)
        if type_code:
            query = query.where(licences_table.c.type_code == type_code)
        with self.engine.connect() as conn:
            return conn.execute(query).scalar()

    def events(self, licence_id: str) -> list[dict]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(events_table).where(events_table.c.licence_id == licence_id)
                                .order_by(events_table.c.id)).all()
        return [{"at": r.at.isoformat(), "event": r.event, "from": r.from_status, "to": r.to_status,
                 "actor": r.actor, "reason": r.reason} for r in rows]

    @counted_status
    def status(self, licence_id: str) -> dict:
        """The public answer: identifier and status only (no holder, no data)."""
        try:
            parse_identifier(licence_id)
        except IdentifierError as exc:
            raise LicenceError(str(exc), kind="bad-identifier") from None
        with self.engine.connect() as conn:
            row = conn.execute(select(licences_table.c.status, licences_table.c.valid_to).where(
                licences_table.c.licence_id == licence_id)).first()
        if row is None:
            raise LicenceNotFound(licence_id)
        status = row.status
        if status == "valid" and row.valid_to and row.valid_to < utcnow().date():
            status = self.get(licence_id).status
        return {"licence_id": licence_id, "status": status}

    # -- lifecycle ------------------------------------------------------------------------------------------
    def _expire_if_due(self, licence: Licence) -> Licence:
        if licence.status == "valid" and licence.valid_to and licence.valid_to < utcnow().date():
            try:
                self._transition(licence.licence_id, "expired", actor="system", reason="validity period ended")
            except LicenceError:
                pass  # another reader recorded it first
            return self.get(licence.licence_id)
        return licence

    def revoke(self, licence_id: str, *, actor: str, reason: str) -> Licence:
        if not reason or not reason.strip():
            raise LicenceError("revoking a licence needs a reason", kind="reason-required")
        self.get(licence_id)
        self._transition(licence_id, "revoked", actor=actor, reason=reason.strip())
        return self.get(licence_id)

    def supersede(self, licence_id: str, request: IssueRequest, *, actor: str, reason: str,
                  client_id: str | None = None) -> Licence:
        """A change: the next version with the new data; the old one becomes superseded, linked both ways."""
        old = self.get(licence_id)
        if old.status != "valid":
            raise LicenceError(f"licence {licence_id} is {old.status}; only a valid licence can be changed",
                               status=409, kind="not-valid")
        if request.type_code != old.type_code:
            raise LicenceError("a new version keeps the licence type", kind="type-changed")
        return self.issue(request, actor=actor, client_id=client_id, reason=reason, supersedes=old)

    def _transition(self, licence_id: str, to: str, *, actor: str, reason: str) -> None:
        now = utcnow()
        self.audit_chain.prepare()
        with self.engine.begin() as conn:
            row = conn.execute(select(licences_table.c.status, licences_table.c.type_code).where(
                licences_table.c.licence_id == licence_id)).first()
            if row is None:
                raise LicenceNotFound(licence_id)
            if row.status != "valid":
                raise LicenceError(f"licence {licence_id} is {row.status}; cannot make it {to}", status=409,
                                   kind="not-valid")
            changed = conn.execute(update(licences_table).where(
                licences_table.c.licence_id == licence_id, licences_table.c.status == "valid").values(
                status=to, updated_at=now)).rowcount
            if changed != 1:
                raise LicenceError(f"licence {licence_id} changed concurrently; try again", status=409,
                                   kind="conflict")
            self.record_event(conn, licence_id=licence_id, type_code=row.type_code, at=now, event=to,
                              from_status="valid", to_status=to, actor=actor, reason=reason)

    def record_event(self, conn, **values) -> None:
        """Append one row to licence_events, chained, inside ``conn``'s transaction (the caller has run
        ``audit_chain.prepare()`` before opening it)."""
        self.audit_chain.append(conn, events_table, {"detail": None, **values})
