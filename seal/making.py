"""Making seals: key, certificate, image and SESeal; the seal-making authority's key; signing material."""

from __future__ import annotations

from datetime import timedelta

from asn1crypto import x509
from sqlalchemy import insert, select, update

from keys import observe, ses
from keys.asymmetric import PrivateKey
from keys.pki.profiles import PkiError
from keys.storage import utcnow
from seal import image as images
from seal.errors import SealError, SealUnusable
from seal.models import makers_table, seals_table
from seal.records import (
    DEFAULT_DAYS,
    TRANSITIONS,
    SealMaterial,
    SealRecord,
    SealStatus,
)


class SealMaking:
    """The making half of :class:`seal.registry.SealRegistry` (a mixin: it uses the registry's stores)."""

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
        self.audit_chain.prepare()
        with self.engine.begin() as conn:
            changed = conn.execute(update(seals_table).where(
                seals_table.c.esid == esid, seals_table.c.status.in_([status.value for status in made.sources])).values(
                status=made.target.value, kid=key_record.kid, cert_ca=issued.ca, cert_serial=issued.serial,
                cert_der=issued.certificate.dump(), seseal_der=seseal, image_png=image.png, image_svg=image.svg,
                width_mm=image.width_mm, height_mm=image.height_mm, valid_from=valid_from, valid_to=valid_to,
                updated_at=now)).rowcount
            if changed != 1:
                raise SealUnusable(f"seal {esid} changed while it was being made")
            self.log_event(
                conn, esid=esid, at=now, event=made.event, from_status=record.status, to_status=made.target.value,
                actor=actor, reason=reason,
                detail={"kid": key_record.kid, "cert_ca": issued.ca, "cert_serial": issued.serial})
        observe.seal_event(made.event)
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
