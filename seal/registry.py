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

By job: this module reads seals and moves them through the lifecycle; ``seal.records`` holds the
record types, statuses, transition table and errors; ``seal.making`` makes seals,
``seal.grants`` and ``seal.usage`` keep grants and the usage log, ``seal.sealing`` turns a seal
into a PDF sealer. Every name stays importable from here.
"""

from __future__ import annotations

from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from keys import observe
from keys.auditchain import AuditChain, open_chain
from keys.keystore import Keystore
from keys.pki.authority import Pki
from keys.storage import utcnow
from seal import image as images
from seal.errors import SealError, SealNotFound, SealUnusable
from seal.grants import SealGrants
from seal.making import SealMaking
from seal.models import events_table, seals_table
from seal.records import (
    _FORBIDDEN_IN_NAME,
    _REGION,
    _SUB,
    _USCC,
    ALGORITHMS,
    DEFAULT_DAYS,
    HOLDER_KINDS,
    REVOKE_REASONS,
    TRANSITIONS,
    SealMaterial,
    SealRecord,
    SealStatus,
    Transition,
    _record,
    check_esid,
)
from seal.sealing import sealer_for
from seal.usage import SealUsage


class SealRegistry(SealMaking, SealGrants, SealUsage):
    def __init__(self, engine: Engine, keystore: Keystore, pki: Pki, *, region: str = "120000",
                 font: str | None = None, audit_chain: AuditChain | None = None) -> None:
        if not _REGION.match(region):
            raise SealError(f"the region code must be 6 digits, got {region!r}")
        self.engine = engine
        self.keystore = keystore
        self.pki = pki
        self.region = region
        self.font = font
        # Usage records are chained (keys/auditchain) with the same key and TSA as the IdP's audit.
        self.audit_chain = audit_chain or open_chain(keystore, pki)

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

    def all_events(self, *, event: str | None = None, esid: str | None = None, actor: str | None = None,
                   before: int | None = None, limit: int = 50) -> list[dict]:
        """Lifecycle events of every seal, newest first (the audit trail's seal actions); ``before``
        is the ``id`` of the last event seen (a cursor)."""
        query = select(events_table).order_by(events_table.c.id.desc()).limit(limit)
        if event:
            query = query.where(events_table.c.event == event)
        if esid:
            query = query.where(events_table.c.esid == esid)
        if actor:
            query = query.where(events_table.c.actor == actor)
        if before is not None:
            query = query.where(events_table.c.id < before)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [{"id": r.id, "chain_seq": r.chain_seq, "esid": r.esid, "at": r.at.isoformat(), "event": r.event,
                 "from": r.from_status, "to": r.to_status, "actor": r.actor, "reason": r.reason, "detail": r.detail}
                for r in rows]

    def applicant(self, esid: str) -> str | None:
        """Who applied for the seal: the subject of its ``applied`` event's actor (``idp:SUB``,
        ``operator:SUB``), so that an approver can be told apart from the applicant."""
        with self.engine.connect() as conn:
            actor = conn.execute(select(events_table.c.actor).where(
                events_table.c.esid == esid, events_table.c.event == "applied").order_by(events_table.c.id)).scalar()
        return actor.split(":", 1)[1] if actor and ":" in actor else actor

    def record_event(self, esid: str, event: str, *, actor: str, status: str, detail: dict | None = None) -> None:
        """An event in the seal's history that moves nothing (a refused operator action)."""
        self.audit_chain.prepare()
        with self.engine.begin() as conn:
            self.log_event(conn, esid=esid, at=utcnow(), event=event, from_status=status, to_status=status,
                           actor=actor, reason=None, detail=detail)

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
        self.audit_chain.prepare()
        for _attempt in range(10):
            esid = self._next_esid()
            try:
                with self.engine.begin() as conn:
                    conn.execute(insert(seals_table).values(
                        esid=esid, holder_kind=holder_kind, holder_id=holder_id, holder_name=holder_name,
                        type=seal_type, name=name, algorithm=algorithm, status=SealStatus.APPLIED.value, width_mm=width,
                        height_mm=height, created_at=now, updated_at=now))
                    self.log_event(conn, esid=esid, at=now, event="applied", from_status=None,
                                   to_status=SealStatus.APPLIED.value, actor=actor, reason=reason)
                break
            except IntegrityError:
                continue  # another worker took that serial; take the next
        else:
            raise SealError("could not allocate an esID; try again", status=503)
        observe.seal_event("applied")
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
        self.audit_chain.prepare()
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
            self.log_event(conn, esid=esid, at=now, event=event, from_status=row.status, to_status=to, actor=actor,
                           reason=reason, detail=detail)
        observe.seal_event(event)


__all__ = ["ALGORITHMS", "DEFAULT_DAYS", "HOLDER_KINDS", "REVOKE_REASONS", "TRANSITIONS", "SealError",
           "SealMaterial", "SealNotFound", "SealRecord", "SealRegistry", "SealStatus", "SealUnusable", "Transition",
           "check_esid", "sealer_for"]
