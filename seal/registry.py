"""The seal registry: holders, lifecycle, seal making, grants and the usage log.

Lifecycle (every transition is a row in ``seal_events`` with who and why)::

    apply → approved → (make) → active ⇄ suspended (挂失: certificate on hold, certificateHold)
                                  ↓          ↓
                               revoked (certificate revoked with a final reason)
    active/suspended past valid_to → expired (recorded lazily, on the next read)

Making a seal: an SM2 (or P-256) key in the keystore (purpose "seal", owner = the esID, so
that each seal has its own key), a ``seal`` certificate from keys/ PKI whose subject
serialNumber carries the holder's USCC (organisations) or IdP subject (persons), the image,
and a GB/T 38540 V4 SESeal signed by the seal-making authority's SM2 ``seal-maker`` key.

esID: the 6-digit region code (``YITONG_SEAL_REGION``) followed by an 8-digit serial.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from asn1crypto import x509
from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from keys import ses
from keys.asymmetric import PrivateKey
from keys.keystore import Keystore
from keys.pki.authority import Pki
from keys.pki.profiles import PkiError
from keys.storage import utcnow
from seal import image as images
from seal.models import events_table, grants_table, makers_table, seals_table, usage_table

HOLDER_KINDS = ("org", "person")
ALGORITHMS = ("sm2", "p256")


class SealStatus(StrEnum):
    """Where a seal is in its lifecycle (the ``status`` column holds the value)."""

    APPLIED = "applied"
    APPROVED = "approved"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Transition:
    """A lifecycle action: the statuses it may start from, the status it leads to, the event it records."""

    sources: tuple[SealStatus, ...]
    target: SealStatus
    event: str


# The one table of which lifecycle action is allowed from which status.
TRANSITIONS = {
    "approve": Transition((SealStatus.APPLIED,), SealStatus.APPROVED, "approved"),
    "make": Transition((SealStatus.APPROVED,), SealStatus.ACTIVE, "made"),
    "suspend": Transition((SealStatus.ACTIVE,), SealStatus.SUSPENDED, "suspended"),
    "resume": Transition((SealStatus.SUSPENDED,), SealStatus.ACTIVE, "resumed"),
    "revoke": Transition((SealStatus.APPLIED, SealStatus.APPROVED, SealStatus.ACTIVE, SealStatus.SUSPENDED),
                         SealStatus.REVOKED, "revoked"),
    "expire": Transition((SealStatus.ACTIVE, SealStatus.SUSPENDED), SealStatus.EXPIRED, "expired"),
}
REVOKE_REASONS = ("unspecified", "keyCompromise", "affiliationChanged", "superseded", "cessationOfOperation",
                  "privilegeWithdrawn")
_USCC = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")
_SUB = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")
_REGION = re.compile(r"^\d{6}$")
_ESID = re.compile(r"^\d{14}$")
_FORBIDDEN_IN_NAME = re.compile(r"[,=+<>#;\\\"\x00-\x1f]")
DEFAULT_DAYS = 1095


class SealError(Exception):
    """A seal request that cannot be honoured; ``status`` is the HTTP status it maps to."""

    status = 400
    kind = "invalid-request"

    def __init__(self, message: str, *, status: int | None = None, kind: str | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status
        if kind is not None:
            self.kind = kind


class SealNotFound(SealError):
    status = 404
    kind = "seal-not-found"


class SealUnusable(SealError):
    """The seal exists but is not active (suspended, revoked, expired, not yet made)."""

    status = 409
    kind = "seal-not-active"


@dataclass(frozen=True)
class SealRecord:
    esid: str
    holder_kind: str
    holder_id: str
    holder_name: str
    type: int
    name: str
    algorithm: str
    status: str
    cert_ca: str | None
    cert_serial: str | None
    valid_from: datetime | None
    valid_to: datetime | None
    width_mm: int
    height_mm: int
    created_at: datetime

    def as_cli(self) -> dict:
        """The `yitong seal create --json` shape (DESIGN.md, Operator CLI)."""
        return {
            "esid": self.esid,
            "holder": {"kind": self.holder_kind, "id": self.holder_id, "name": self.holder_name},
            "type": self.type,
            "algorithm": self.algorithm,
            "status": self.status,
            "cert_serial": self.cert_serial,
            "valid_to": self.valid_to.isoformat() if self.valid_to else None,
        }

    def as_api(self) -> dict:
        return {
            **self.as_cli(),
            "name": self.name,
            "type_label": images.SEAL_TYPES.get(self.type, images.SEAL_TYPES[99])[0],
            "cert_ca": self.cert_ca,
            "valid_from": self.valid_from.isoformat() if self.valid_from else None,
            "width_mm": self.width_mm,
            "height_mm": self.height_mm,
            "created_at": self.created_at.isoformat(),
        }


@dataclass
class SealMaterial:
    """What signing needs, loaded once per seal: key, certificate, chain, SESeal, image."""

    record: SealRecord
    key: PrivateKey = field(repr=False)
    certificate: x509.Certificate
    chain: list[x509.Certificate]
    seseal: bytes = field(repr=False)
    png: bytes = field(repr=False)


def _record(row) -> SealRecord:
    return SealRecord(**{name: row._mapping[name] for name in SealRecord.__dataclass_fields__})


def check_esid(esid: str) -> str:
    esid = (esid or "").strip()
    if not _ESID.match(esid):
        raise SealError(f"{esid!r} is not an esID (6-digit region code + 8-digit serial)", kind="bad-esid")
    return esid


class SealRegistry:
    def __init__(self, engine: Engine, keystore: Keystore, pki: Pki, *, region: str = "120000",
                 font: str | None = None) -> None:
        if not _REGION.match(region):
            raise SealError(f"the region code must be 6 digits, got {region!r}")
        self.engine = engine
        self.keystore = keystore
        self.pki = pki
        self.region = region
        self.font = font

    # -- reading ------------------------------------------------------------------------------------
    def get(self, esid: str) -> SealRecord:
        esid = check_esid(esid)
        with self.engine.connect() as conn:
            row = conn.execute(select(seals_table).where(seals_table.c.esid == esid)).first()
        if row is None:
            raise SealNotFound(f"no seal {esid}")
        record = _record(row)
        return self._expire_if_due(record)

    def list(self, *, holder_kind: str | None = None, holder_id: str | None = None,
             esids: list[str] | None = None) -> list[SealRecord]:
        query = select(seals_table).order_by(seals_table.c.esid)
        if holder_kind:
            query = query.where(seals_table.c.holder_kind == holder_kind)
        if holder_id:
            query = query.where(seals_table.c.holder_id == holder_id)
        if esids is not None:
            query = query.where(seals_table.c.esid.in_(esids))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [self._expire_if_due(_record(row)) for row in rows]

    def blob(self, esid: str, column: str) -> bytes | str:
        record = self.get(esid)
        with self.engine.connect() as conn:
            value = conn.execute(select(seals_table.c[column]).where(seals_table.c.esid == record.esid)).scalar()
        if value is None:
            raise SealUnusable(f"seal {esid} has not been made yet ({record.status})")
        return value

    def events(self, esid: str) -> list[dict]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(events_table).where(events_table.c.esid == esid)
                                .order_by(events_table.c.id)).all()
        return [{"at": r.at.isoformat(), "event": r.event, "from": r.from_status, "to": r.to_status,
                 "actor": r.actor, "reason": r.reason} for r in rows]

    def _expire_if_due(self, record: SealRecord) -> SealRecord:
        if record.status in TRANSITIONS["expire"].sources and record.valid_to and record.valid_to <= utcnow():
            self._transition(record.esid, "expire", actor="system", reason="validity period ended",
                             only_from=record.status)
            with self.engine.connect() as conn:
                return _record(conn.execute(select(seals_table).where(seals_table.c.esid == record.esid)).first())
        return record

    # -- lifecycle ---------------------------------------------------------------------------------
    def apply(self, *, holder_kind: str, holder_id: str, holder_name: str, seal_type: int, algorithm: str,
              actor: str, reason: str | None = None, name: str | None = None, diameter_mm: int = 40) -> SealRecord:
        """Record an application for a seal; returns it with its new esID (status applied)."""
        if holder_kind not in HOLDER_KINDS:
            raise SealError(f"holder kind must be org or person, got {holder_kind!r}")
        holder_id = (holder_id or "").strip()
        if holder_kind == "org" and not _USCC.match(holder_id):
            raise SealError(f"{holder_id!r} is not a unified social credit code (18 characters, GB 32100)")
        if holder_kind == "person" and not _SUB.match(holder_id):
            raise SealError(f"{holder_id!r} is not an IdP subject identifier")
        holder_name = (holder_name or "").strip()
        name = (name or holder_name).strip()
        for label, value in (("holder name", holder_name), ("seal name", name)):
            if not 1 <= len(value) <= 64 or _FORBIDDEN_IN_NAME.search(value):
                raise SealError(f"the {label} must be 1-64 characters without , = + < > # ; \\ or quotes")
        if seal_type not in images.SEAL_TYPES:
            raise SealError(f"unknown seal type {seal_type}; known: "
                            + ", ".join(f"{code:02d} {label}" for code, (label, _, _) in images.SEAL_TYPES.items()))
        if holder_kind == "person" and seal_type not in (5, 99):
            raise SealError("a person's seal is a name seal: type 05 (法定代表人名章) or 99 (其他)")
        if algorithm not in ALGORITHMS:
            raise SealError(f"algorithm must be sm2 or p256, got {algorithm!r}")
        shape = "square" if holder_kind == "person" else images.SEAL_TYPES[seal_type][2]
        if diameter_mm not in (40, 42):
            raise SealError("a round official seal is 40 or 42 mm across")
        width, height = {"square": (20, 20), "oval": (40, 30), "round": (diameter_mm, diameter_mm)}[shape]
        now = utcnow()
        for _attempt in range(10):
            esid = self._next_esid()
            try:
                with self.engine.begin() as conn:
                    conn.execute(insert(seals_table).values(
                        esid=esid, holder_kind=holder_kind, holder_id=holder_id, holder_name=holder_name,
                        type=seal_type, name=name, algorithm=algorithm, status=SealStatus.APPLIED.value, width_mm=width,
                        height_mm=height, created_at=now, updated_at=now))
                    conn.execute(insert(events_table).values(esid=esid, at=now, event="applied", from_status=None,
                                                             to_status=SealStatus.APPLIED.value, actor=actor,
                                                             reason=reason))
                break
            except IntegrityError:
                continue  # another worker took that serial; take the next
        else:
            raise SealError("could not allocate an esID; try again", status=503)
        return self.get(esid)

    def _next_esid(self) -> str:
        with self.engine.connect() as conn:
            top = conn.execute(select(func.max(seals_table.c.esid))
                               .where(seals_table.c.esid.like(f"{self.region}%"))).scalar()
        serial = int(top[6:]) + 1 if top else 1
        if serial > 99_999_999:
            raise SealError(f"region {self.region} has used all esID serials", status=503)
        return f"{self.region}{serial:08d}"

    def approve(self, esid: str, *, actor: str, reason: str | None = None) -> SealRecord:
        self._transition(esid, "approve", actor=actor, reason=reason)
        return self.get(esid)

    def make(self, esid: str, *, actor: str, reason: str | None = None, days: int = DEFAULT_DAYS,
             image: images.SealImage | None = None) -> SealRecord:
        """Make an approved seal: key, certificate, image, SESeal; the seal becomes active."""
        record = self.get(esid)
        made = TRANSITIONS["make"]
        if record.status not in made.sources:
            raise SealUnusable(f"seal {esid} is {record.status}; only an approved seal can be made")
        if image is None:
            image = images.make_image(record.type, record.holder_kind, record.name, code=record.esid,
                                      tax_number=record.holder_id if record.holder_kind == "org" else "",
                                      font=self.font,
                                      diameter_mm=record.width_mm if record.width_mm in (40, 42) else 40)
        maker_key, maker_cert = self.maker()
        key_record = self.keystore.generate("seal", record.algorithm, owner=f"seal:{esid}")
        serial_number = record.holder_id
        organisation = f",O={record.holder_name}" if record.holder_kind == "org" else ""
        subject = f"CN={record.name}{organisation},serialNumber={serial_number},C=CN"
        try:
            issued = self.pki.issue("seal", kid=key_record.kid, subject=subject, days=days)
        except PkiError as exc:
            raise SealError(f"cannot issue the seal certificate: {exc}") from None
        valid_from = utcnow().replace(microsecond=0)
        valid_to = issued.not_after
        seseal = ses.make_seal(
            es_id=esid, seal_type=record.type, name=record.name, certs=[issued.certificate.dump()],
            picture_type="png", picture=image.png, width_mm=image.width_mm, height_mm=image.height_mm,
            valid_start=valid_from, valid_end=valid_to, maker_key=maker_key, maker_cert=maker_cert)
        now = utcnow()
        with self.engine.begin() as conn:
            changed = conn.execute(update(seals_table).where(
                seals_table.c.esid == esid, seals_table.c.status.in_([status.value for status in made.sources])).values(
                status=made.target.value, kid=key_record.kid, cert_ca=issued.ca, cert_serial=issued.serial,
                cert_der=issued.certificate.dump(), seseal_der=seseal, image_png=image.png, image_svg=image.svg,
                width_mm=image.width_mm, height_mm=image.height_mm, valid_from=valid_from, valid_to=valid_to,
                updated_at=now)).rowcount
            if changed != 1:
                raise SealUnusable(f"seal {esid} changed while it was being made")
            conn.execute(insert(events_table).values(
                esid=esid, at=now, event=made.event, from_status=record.status, to_status=made.target.value,
                actor=actor, reason=reason,
                detail={"kid": key_record.kid, "cert_ca": issued.ca, "cert_serial": issued.serial}))
        return self.get(esid)

    def create(self, *, actor: str, reason: str | None = None, days: int = DEFAULT_DAYS,
               image: images.SealImage | None = None, **application) -> SealRecord:
        """apply + approve + make in one step, for operators."""
        if image is None:  # fail on a missing font before anything is written
            images.find_font(self.font)
        record = self.apply(actor=actor, reason=reason, **application)
        self.approve(record.esid, actor=actor, reason="operator-created")
        try:
            return self.make(record.esid, actor=actor, reason=reason, days=days, image=image)
        except Exception as exc:
            # No half-made seal stays usable or approved: the failed application is closed, audited.
            self._transition(record.esid, "revoke", actor=actor, reason=f"making failed: {type(exc).__name__}: {exc}",
                             only_from=SealStatus.APPROVED)
            raise

    def suspend(self, esid: str, *, actor: str, reason: str) -> SealRecord:
        """挂失: the certificate goes on hold (certificateHold) in CRL and OCSP."""
        record = self.get(esid)
        self._require(record, "suspend")
        self.pki.revoke(record.cert_ca, record.cert_serial, "certificateHold")
        self._transition(esid, "suspend", actor=actor, reason=reason)
        return self.get(esid)

    def resume(self, esid: str, *, actor: str, reason: str) -> SealRecord:
        """Lift a suspension: the hold is removed (removeFromCRL)."""
        record = self.get(esid)
        self._require(record, "resume")
        self.pki.revoke(record.cert_ca, record.cert_serial, "removeFromCRL")
        self._transition(esid, "resume", actor=actor, reason=reason)
        return self.get(esid)

    def revoke(self, esid: str, *, actor: str, reason: str, crl_reason: str = "cessationOfOperation") -> SealRecord:
        if crl_reason not in REVOKE_REASONS:
            raise SealError(f"the CRL reason must be one of {', '.join(REVOKE_REASONS)}")
        record = self.get(esid)
        self._require(record, "revoke")
        if record.cert_serial:
            self.pki.revoke(record.cert_ca, record.cert_serial, crl_reason)
        self._transition(esid, "revoke", actor=actor, reason=reason, detail={"crl_reason": crl_reason},
                         only_from=record.status)
        return self.get(esid)

    @staticmethod
    def _require(record: SealRecord, action: str) -> None:
        if record.status not in TRANSITIONS[action].sources:
            raise SealUnusable(f"seal {record.esid} is {record.status}; cannot {action} it")

    def _transition(self, esid: str, action: str, *, actor: str, reason: str | None, detail: dict | None = None,
                    only_from: str | None = None) -> None:
        """Move a seal by ``action`` (:data:`TRANSITIONS`); ``only_from`` narrows the start to the status read."""
        transition = TRANSITIONS[action]
        allowed = (only_from,) if only_from is not None else transition.sources
        to, event = transition.target.value, transition.event
        now = utcnow()
        with self.engine.begin() as conn:
            row = conn.execute(select(seals_table.c.status).where(seals_table.c.esid == esid)).first()
            if row is None:
                raise SealNotFound(f"no seal {esid}")
            if row.status not in allowed:
                raise SealUnusable(f"seal {esid} is {row.status}; cannot move it to {to}")
            changed = conn.execute(update(seals_table).where(
                seals_table.c.esid == esid, seals_table.c.status == row.status).values(
                status=to, updated_at=now)).rowcount
            if changed != 1:
                raise SealUnusable(f"seal {esid} changed concurrently; try again")
            conn.execute(insert(events_table).values(esid=esid, at=now, event=event, from_status=row.status,
                                                     to_status=to, actor=actor, reason=reason, detail=detail))

    # -- the seal-making authority --------------------------------------------------------------------
    def maker(self) -> tuple[PrivateKey, bytes]:
        """The seal maker's SM2 key and certificate (DER), created on first use."""
        with self.engine.connect() as conn:
            row = conn.execute(select(makers_table).order_by(makers_table.c.created_at.desc())).first()
        if row is not None:
            return self.keystore.private_key(row.kid), row.cert_der
        record = self.keystore.generate("seal-maker", "sm2", owner="seal-maker")
        issued = self.pki.issue("seal-maker", kid=record.kid,
                                subject="CN=Yitong Seal Maker,O=Yitong Government Service Platform,C=CN")
        with self.engine.begin() as conn:
            conn.execute(insert(makers_table).values(kid=record.kid, cert_der=issued.certificate.dump(),
                                                     created_at=utcnow()))
        return self.keystore.private_key(record.kid), issued.certificate.dump()

    # -- signing material ----------------------------------------------------------------------------
    def material(self, esid: str) -> SealMaterial:
        """Key, certificate, chain, SESeal and image of an active seal; refuses any other status."""
        record = self.get(esid)
        if record.status != "active":
            raise SealUnusable(f"seal {esid} is {record.status}; only an active seal can seal documents")
        with self.engine.connect() as conn:
            row = conn.execute(select(seals_table).where(seals_table.c.esid == record.esid)).first()
        now = utcnow()
        if record.valid_from and now < record.valid_from - timedelta(minutes=5):
            raise SealUnusable(f"seal {esid} is not valid before {record.valid_from.isoformat()}")
        certificate = x509.Certificate.load(row.cert_der)
        return SealMaterial(record, self.keystore.private_key(row.kid), certificate,
                            [self.pki.ca_certificate(record.cert_ca)], row.seseal_der, row.image_png)

    # -- grants ----------------------------------------------------------------------------------
    def grant(self, esid: str, grantee_kind: str, grantee: str, *, actor: str) -> None:
        record = self.get(esid)
        if grantee_kind not in ("client", "person"):
            raise SealError("grantee kind must be client or person")
        if not _SUB.match(grantee or ""):
            raise SealError(f"{grantee!r} is not a client id or subject")
        now = utcnow()
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(grants_table).values(esid=record.esid, grantee_kind=grantee_kind, grantee=grantee,
                                                         created_at=now, created_by=actor))
                conn.execute(insert(events_table).values(esid=record.esid, at=now, event="granted",
                                                         from_status=None, to_status=None, actor=actor,
                                                         reason=f"{grantee_kind} {grantee}"))
        except IntegrityError:
            pass  # already granted

    def revoke_grant(self, esid: str, grantee_kind: str, grantee: str, *, actor: str) -> None:
        from sqlalchemy import delete

        now = utcnow()
        with self.engine.begin() as conn:
            gone = conn.execute(delete(grants_table).where(
                grants_table.c.esid == esid, grants_table.c.grantee_kind == grantee_kind,
                grants_table.c.grantee == grantee)).rowcount
            if gone:
                conn.execute(insert(events_table).values(esid=esid, at=now, event="ungranted", from_status=None,
                                                         to_status=None, actor=actor,
                                                         reason=f"{grantee_kind} {grantee}"))

    def granted(self, esid: str, grantee_kind: str, grantee: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(grants_table.c.esid).where(
                grants_table.c.esid == esid, grants_table.c.grantee_kind == grantee_kind,
                grants_table.c.grantee == grantee)).first() is not None

    def grants(self, esid: str) -> list[dict]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(grants_table).where(grants_table.c.esid == esid)).all()
        return [{"kind": r.grantee_kind, "grantee": r.grantee, "created_at": r.created_at.isoformat(),
                 "created_by": r.created_by} for r in rows]

    # -- usage log (append-only) --------------------------------------------------------------------
    def log_use(self, esid: str, *, caller: str, subject: str | None, org_uscc: str | None, sm3_before: str,
                sm3_after: str, request_id: str | None, client_ip: str | None, detail: dict | None = None) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(usage_table).values(
                esid=esid, at=utcnow(), caller=caller, subject=subject, org_uscc=org_uscc, sm3_before=sm3_before,
                sm3_after=sm3_after, request_id=request_id, client_ip=client_ip, detail=detail))

    def usage(self, esid: str, limit: int = 100) -> list[dict]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(usage_table).where(usage_table.c.esid == esid)
                                .order_by(usage_table.c.id.desc()).limit(limit)).all()
        return [{"at": r.at.isoformat(), "caller": r.caller, "subject": r.subject, "org_uscc": r.org_uscc,
                 "sm3_before": r.sm3_before, "sm3_after": r.sm3_after, "request_id": r.request_id,
                 "client_ip": r.client_ip, "detail": r.detail} for r in rows]

    def usage_count(self, esid: str | None = None) -> int:
        query = select(func.count()).select_from(usage_table)
        if esid:
            query = query.where(usage_table.c.esid == esid)
        with self.engine.connect() as conn:
            return conn.execute(query).scalar()


def sealer_for(registry: SealRegistry, esid: str, *, tsa: bool = True):
    """A :class:`seal.pdf.Sealer` for an active seal, with the keys/ TSA and revocation data."""
    from seal.pdf import InProcessTimeStamper, Sealer, ocsp_request

    material = registry.material(esid)
    pki = registry.pki
    algorithm = material.record.algorithm
    ca = material.record.cert_ca
    parent = pki.parent_ca(ca)

    def revocation():
        crls = [pki.crl(ca)] + ([pki.crl(parent)] if parent else [])
        responder = pki.ocsp_responder()
        ocsps = [responder.respond(ocsp_request(material.certificate, material.chain[0]))]
        return crls, ocsps

    timestamper = InProcessTimeStamper(pki.time_stamp_authority(algorithm)) if tsa else None
    roots = [pki.ca_certificate(parent)] if parent else []
    return Sealer(key=material.key, certificate=material.certificate, chain=material.chain, seseal=material.seseal,
                  png=material.png, width_mm=material.record.width_mm, height_mm=material.record.height_mm,
                  esid=esid, name=material.record.name, timestamper=timestamper, revocation=revocation, roots=roots)
