"""The certificate authorities: hierarchy set-up, issuance, revocation, CRLs, trust bundle.

State lives in keys_cas / keys_certificates / keys_crls; CA, OCSP-responder and TSA keys live
in the keystore (purposes "ca", "ocsp", "tsa", owner = the CA's name). Bytes in, bytes out:
the HTTP face is yitong/'s /pki/ blueprint.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from asn1crypto import pem, x509
from asn1crypto.keys import PublicKeyInfo
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from keys.asymmetric import PrivateKey
from keys.keystore import Keystore, KeystoreError
from keys.pki import crl as crl_module
from keys.pki.certificates import (
    CheckedRequest,
    Issuer,
    build_certificate,
    certificate_pem,
    key_identifier,
    parse_serial,
    serial_hex,
)
from keys.pki.models import cas_table, certificates_table, crls_table
from keys.pki.profiles import END_ENTITY_PROFILES, PkiError, parse_subject, profile
from keys.storage import utcnow

FAMILIES = ("sm2", "p256")  # rsa3072 on request (`yitong pki init --rsa`)
CRL_VALIDITY = timedelta(hours=24)
CRL_REFRESH_AFTER = timedelta(hours=12)  # regenerate at half-life, long before nextUpdate
_ORGANISATION = "Yitong Government Service Platform"


def family_of(key_algorithm: str) -> str:
    return "rsa" if key_algorithm.startswith("rsa") else key_algorithm


@dataclass(frozen=True)
class IssuedCertificate:
    serial: str  # upper-case hex
    ca: str
    not_after: datetime
    certificate: x509.Certificate

    def as_dict(self) -> dict:
        return {"serial": self.serial, "ca": self.ca, "not_after": self.not_after.isoformat()}


@dataclass(frozen=True)
class CertificateRecord:
    ca: str
    serial: str
    profile: str
    subject: str
    status: str
    not_after: datetime
    revoked_at: datetime | None
    reason: str | None


class Pki:
    def __init__(self, engine: Engine, keystore: Keystore, base_url: str, pki_dir: Path) -> None:
        self.engine = engine
        self.keystore = keystore
        self.base_url = base_url.rstrip("/")  # $YITONG_ISSUER/pki
        self.pki_dir = pki_dir

    # -- set-up --------------------------------------------------------------------------------
    def ca_names(self) -> list[str]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(cas_table.c.name).order_by(cas_table.c.name)).scalars())

    def init(self, families: tuple[str, ...] = FAMILIES) -> list[str]:
        """Create missing CAs (root → issuing per family), responder and TSA certificates."""
        made = []
        for family in families:
            algorithm = "rsa3072" if family == "rsa" else family
            root, issuing = f"{family}-root", f"{family}-issuing"
            if root not in self.ca_names():
                self._create_ca(root, algorithm, parent=None)
                made.append(root)
            if issuing not in self.ca_names():
                self._create_ca(issuing, algorithm, parent=root)
                made.append(issuing)
            for ca in (root, issuing):
                if delegates_ocsp(algorithm) and not self._service_certificates(ca, "ocsp"):
                    self._issue_service_certificate(ca, "ocsp", algorithm)
            if not self._service_certificates(issuing, "tsa"):
                self._issue_service_certificate(issuing, "tsa", algorithm)
        self.write_trust_bundle()
        return made

    def _create_ca(self, name: str, algorithm: str, parent: str | None) -> None:
        record = self.keystore.generate("ca", algorithm, owner=name)
        key = self.keystore.private_key(record.kid)
        public_key_info = PublicKeyInfo.load(record.public_key_der)
        kind = "Root" if parent is None else "Issuing"
        subject = parse_subject(f"CN=Yitong {algorithm.upper()} {kind} CA,O={_ORGANISATION},C=CN")
        now = utcnow()
        if parent is None:
            issuer = Issuer(subject, key, key_identifier(public_key_info), name, None)
            ca_profile = profile("root-ca")
        else:
            issuer = self.issuer(parent)
            ca_profile = profile("issuing-ca")
        certificate = build_certificate(
            subject=subject, public_key_info=public_key_info, issuer=issuer, profile=ca_profile,
            not_before=now - timedelta(minutes=5), not_after=now + timedelta(days=ca_profile.default_days),
        )
        with self.engine.begin() as conn:
            conn.execute(insert(cas_table).values(name=name, algorithm=algorithm, parent=parent, kid=record.kid,
                                                  cert_der=certificate.dump(), created_at=now))
        if parent is not None:
            self._record(parent, "issuing-ca", certificate, record.kid)

    def _service_certificates(self, ca: str, purpose: str) -> list:
        return [r for r in self.keystore.list(purpose=purpose, owner=ca, states=("active",))]

    def _issue_service_certificate(self, ca: str, purpose: str, algorithm: str) -> IssuedCertificate:
        record = self.keystore.generate(purpose, algorithm, owner=ca)
        label = {"ocsp": "OCSP Responder", "tsa": "Time-Stamp Authority"}[purpose]
        subject = f"CN=Yitong {label} ({ca}),O={_ORGANISATION},C=CN"
        return self.issue(purpose, kid=record.kid, subject=subject, ca=ca,
                          days=profile(purpose).default_days)

    # -- CA material -----------------------------------------------------------------------------
    def ca_certificate(self, name: str) -> x509.Certificate:
        with self.engine.connect() as conn:
            der = conn.execute(select(cas_table.c.cert_der).where(cas_table.c.name == name)).scalar()
        if der is None:
            raise PkiError(f"no CA named {name!r}; known: {', '.join(self.ca_names()) or 'none (run yitong pki init)'}")
        return x509.Certificate.load(der)

    def parent_ca(self, name: str) -> str | None:
        """The name of the CA that issued CA ``name`` (None for a root); PkiError if there is no such CA."""
        with self.engine.connect() as conn:
            row = conn.execute(select(cas_table.c.parent).where(cas_table.c.name == name)).first()
        if row is None:
            raise PkiError(f"no CA named {name!r}")
        return row.parent

    def issuer(self, name: str) -> Issuer:
        with self.engine.connect() as conn:
            row = conn.execute(select(cas_table).where(cas_table.c.name == name)).first()
        if row is None:
            raise PkiError(f"no CA named {name!r}")
        certificate = x509.Certificate.load(row.cert_der)
        key = self.keystore.private_key(row.kid)
        return Issuer(certificate.subject, key, key_identifier(certificate.public_key), name, self.base_url)

    def roots(self) -> list[x509.Certificate]:
        with self.engine.connect() as conn:
            ders = conn.execute(select(cas_table.c.cert_der).where(cas_table.c.parent.is_(None))
                                .order_by(cas_table.c.name)).scalars().all()
        return [x509.Certificate.load(der) for der in ders]

    def trust_bundle(self) -> bytes:
        """The PEM roots a relying party needs, each preceded by its name and SHA-256 fingerprint."""
        parts = []
        for root in self.roots():
            parts.append(f"# {root.subject.human_friendly}\n# SHA-256 {fingerprint(root)}\n".encode())
            parts.append(certificate_pem(root))
        return b"".join(parts)

    def intermediates(self) -> list[x509.Certificate]:
        with self.engine.connect() as conn:
            ders = conn.execute(select(cas_table.c.cert_der).where(cas_table.c.parent.is_not(None))
                                .order_by(cas_table.c.name)).scalars().all()
        return [x509.Certificate.load(der) for der in ders]

    def intermediates_bundle(self) -> bytes:
        """The issuing CAs as PEM, for building paths, not as anchors: a GB/T 38540 signature in an OFD
        carries only the signer's certificate, so a relying party needs these beside the roots."""
        parts = []
        for ca in self.intermediates():
            parts.append(f"# {ca.subject.human_friendly}\n# SHA-256 {fingerprint(ca)}\n".encode())
            parts.append(certificate_pem(ca))
        return b"".join(parts)

    def write_trust_bundle(self) -> Path:
        """Write pki/trust.pem (the roots) and pki/intermediates.pem (the issuing CAs) atomically."""
        self.pki_dir.mkdir(parents=True, exist_ok=True)
        for name, content in (("intermediates.pem", self.intermediates_bundle()), ("trust.pem", self.trust_bundle())):
            path = self.pki_dir / name
            tmp = path.with_suffix(".pem.tmp")
            tmp.write_bytes(content)
            tmp.replace(path)
        return self.pki_dir / "trust.pem"

    # -- issuance ----------------------------------------------------------------------------------
    def default_ca(self, key_algorithm: str) -> str:
        family = family_of(key_algorithm)
        wanted = f"{family}-issuing"
        if wanted in self.ca_names():
            return wanted
        if family == "rsa" and "p256-issuing" in self.ca_names():
            return "p256-issuing"
        raise PkiError(f"no issuing CA for {key_algorithm} keys; run `yitong pki init`")

    def issue(
        self,
        profile_name: str,
        *,
        request: CheckedRequest | None = None,
        kid: str | None = None,
        subject: str | None = None,
        ca: str | None = None,
        days: int | None = None,
    ) -> IssuedCertificate:
        """Issue an end-entity certificate from a checked CSR or from a keystore key."""
        if profile_name not in END_ENTITY_PROFILES:
            raise PkiError(f"unknown profile {profile_name!r}; choose one of {', '.join(END_ENTITY_PROFILES)}")
        cert_profile = profile(profile_name)
        if (request is None) == (kid is None):
            raise PkiError("give exactly one of a CSR or a keystore kid")
        if request is not None:
            public_key_info, key_algorithm = request.public_key_info, request.key_algorithm
            san = request.subject_alt_name
            name = parse_subject(subject) if subject else request.subject
        else:
            try:
                record = self.keystore.get(kid)
            except KeystoreError as exc:
                raise PkiError(str(exc)) from None
            public_key_info, key_algorithm, san = PublicKeyInfo.load(record.public_key_der), record.algorithm, None
            if not subject:
                raise PkiError("--subject is needed when issuing for a keystore key")
            name = parse_subject(subject)
        days = days or cert_profile.default_days
        if not 1 <= days <= cert_profile.max_days:
            raise PkiError(f"--days must be between 1 and {cert_profile.max_days} for {profile_name}")
        ca = ca or self.default_ca(key_algorithm)
        issuer = self.issuer(ca)
        issuer_certificate = self.ca_certificate(ca)
        now = utcnow()
        not_after = min(now + timedelta(days=days), issuer_certificate.not_valid_after)
        certificate = build_certificate(subject=name, public_key_info=public_key_info, issuer=issuer,
                                        profile=cert_profile, not_before=now - timedelta(minutes=5),
                                        not_after=not_after, subject_alt_name=san)
        self._record(ca, profile_name, certificate, kid)
        return IssuedCertificate(serial_hex(certificate.serial_number), ca, not_after.replace(microsecond=0),
                                 certificate)

    def _record(self, ca: str, profile_name: str, certificate: x509.Certificate, kid: str | None) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(certificates_table).values(
                ca=ca, serial=serial_hex(certificate.serial_number), profile=profile_name,
                subject=certificate.subject.human_friendly, kid=kid,
                not_before=certificate.not_valid_before, not_after=certificate.not_valid_after,
                cert_der=certificate.dump(), status="good", revoked_at=None, reason=None, issued_at=utcnow(),
            ))

    def certificates(self, ca: str | None = None) -> list[CertificateRecord]:
        query = select(certificates_table).order_by(certificates_table.c.issued_at)
        if ca:
            query = query.where(certificates_table.c.ca == ca)
        with self.engine.connect() as conn:
            return [CertificateRecord(r.ca, r.serial, r.profile, r.subject, r.status, r.not_after, r.revoked_at,
                                      r.reason) for r in conn.execute(query)]

    def service_certificate(self, ca: str, purpose: str) -> tuple[PrivateKey, x509.Certificate]:
        """The key and newest certificate of the OCSP responder or TSA of ``ca``."""
        record, key = self.keystore.signing_key(purpose, self._ca_algorithm(ca), owner=ca)
        with self.engine.connect() as conn:
            der = conn.execute(
                select(certificates_table.c.cert_der)
                .where(certificates_table.c.kid == record.kid, certificates_table.c.status == "good")
                .order_by(certificates_table.c.issued_at.desc())
            ).scalar()
        if der is None:
            raise PkiError(f"no {purpose} certificate for {ca}; run `yitong pki init`")
        return key, x509.Certificate.load(der)

    def ocsp_signer(self, ca: str) -> tuple[PrivateKey, x509.Certificate]:
        """Who signs OCSP responses about ``ca``'s certificates: see :func:`delegates_ocsp`."""
        if delegates_ocsp(self._ca_algorithm(ca)):
            return self.service_certificate(ca, "ocsp")
        return self.issuer(ca).key, self.ca_certificate(ca)

    def ocsp_responder(self):
        """An RFC 6960 responder for every CA here; statuses are read live from the database."""
        from keys.pki.ocsp import OcspResponder, Responder

        responders = []
        for ca in self.ca_names():
            key, certificate = self.ocsp_signer(ca)
            responders.append(Responder(ca, self.ca_certificate(ca), key, certificate))
        return OcspResponder(responders, self.status)

    def time_stamp_authority(self, algorithm: str):
        """The RFC 3161 TSA whose certificate ``{algorithm}-issuing`` issued."""
        from keys.pki.tsa import TimeStampAuthority

        ca = f"{family_of(algorithm)}-issuing"
        key, certificate = self.service_certificate(ca, "tsa")
        return TimeStampAuthority(key, certificate, chain=[self.ca_certificate(ca)])

    def _ca_algorithm(self, ca: str) -> str:
        with self.engine.connect() as conn:
            algorithm = conn.execute(select(cas_table.c.algorithm).where(cas_table.c.name == ca)).scalar()
        if algorithm is None:
            raise PkiError(f"no CA named {ca!r}")
        return algorithm

    # -- revocation --------------------------------------------------------------------------------
    def revoke(self, ca: str, serial: str, reason: str, *, at: datetime | None = None) -> CertificateRecord:
        """Revoke, put on hold (certificateHold) or lift a hold (removeFromCRL); the CRL follows.

        ``at`` is the revocation date recorded (default: now); tests set it to place a revocation
        before or after a signing time without waiting out the one-second resolution of the dates.
        """
        key = serial_hex(parse_serial(serial))
        with self.engine.begin() as conn:
            row = conn.execute(select(certificates_table).where(
                certificates_table.c.ca == ca, certificates_table.c.serial == key).with_for_update()).first()
            if row is None:
                raise PkiError(f"{ca} has issued no certificate with serial {key}")
            if reason == crl_module.REMOVE_FROM_CRL:
                if row.status != "hold":
                    raise PkiError(f"certificate {key} is not on hold ({row.status}); removeFromCRL lifts holds only")
                values = {"status": "good", "revoked_at": None, "reason": None}
            elif reason in crl_module.REASONS:
                if row.status == "revoked":
                    raise PkiError(f"certificate {key} is already revoked ({row.reason})")
                hold = reason == "certificateHold"
                values = {"status": "hold" if hold else "revoked", "reason": crl_module.REASONS[reason],
                          "revoked_at": row.revoked_at if row.status == "hold" else at or utcnow()}
            else:
                raise PkiError(f"unknown reason {reason!r}; use one of "
                               f"{', '.join([*crl_module.REASONS, crl_module.REMOVE_FROM_CRL])}")
            conn.execute(update(certificates_table).where(
                certificates_table.c.ca == ca, certificates_table.c.serial == key).values(**values))
        self.refresh_crl(ca, force=True)
        return next(r for r in self.certificates(ca) if r.serial == key)

    def status(self, ca: str, serial: int):
        """OCSP view of one certificate (good / revoked / unknown)."""
        from keys.pki.ocsp import CertificateStatus

        with self.engine.connect() as conn:
            row = conn.execute(select(certificates_table.c.status, certificates_table.c.revoked_at,
                                      certificates_table.c.reason).where(
                certificates_table.c.ca == ca, certificates_table.c.serial == serial_hex(serial))).first()
        if row is None:
            return CertificateStatus("unknown")
        if row.status == "good":
            return CertificateStatus("good")
        return CertificateStatus("revoked", revoked_at=row.revoked_at, reason=row.reason)

    # -- CRLs --------------------------------------------------------------------------------------
    def crl(self, ca: str) -> bytes:
        """The current CRL of ``ca``, regenerated first when it is past half its validity."""
        return self.refresh_crl(ca, force=False)

    def refresh_crl(self, ca: str, *, force: bool) -> bytes:
        issuer = self.issuer(ca)  # also checks that the CA exists
        now = utcnow()
        with self.engine.begin() as conn:
            # The row lock serialises regeneration between workers (PostgreSQL); SQLite
            # serialises writers by itself. There is no row to lock before the first CRL: see below.
            current = self._locked_crl_row(conn, ca)
            if current is None:
                der = self._build_crl(conn, issuer, ca, number=1, now=now)
                try:
                    with conn.begin_nested():
                        conn.execute(insert(crls_table).values(ca=ca, **_crl_values(1, now, der)))
                    return der
                except IntegrityError:  # another worker made the first CRL meanwhile: go on from theirs
                    current = self._locked_crl_row(conn, ca)
            if not force and now < current.this_update + CRL_REFRESH_AFTER:
                return current.crl_der
            der = self._build_crl(conn, issuer, ca, number=current.number + 1, now=now)
            conn.execute(update(crls_table).where(crls_table.c.ca == ca).values(
                **_crl_values(current.number + 1, now, der)))
        return der

    @staticmethod
    def _locked_crl_row(conn, ca: str):
        return conn.execute(select(crls_table).where(crls_table.c.ca == ca).with_for_update()).first()

    @staticmethod
    def _build_crl(conn, issuer: Issuer, ca: str, *, number: int, now: datetime) -> bytes:
        revoked = [
            crl_module.RevokedEntry(parse_serial(r.serial), r.revoked_at, r.reason)
            for r in conn.execute(select(certificates_table).where(
                certificates_table.c.ca == ca, certificates_table.c.status.in_(("hold", "revoked"))))
        ]
        return crl_module.build_crl(issuer, number=number, this_update=now, next_update=now + CRL_VALIDITY,
                                    revoked=revoked)

    def refresh_crls(self) -> dict[str, int]:
        """Regenerate every CA's CRL (for cron: `yitong pki crl-refresh`); returns CRL numbers."""
        numbers = {}
        for ca in self.ca_names():
            self.refresh_crl(ca, force=True)
            with self.engine.connect() as conn:
                numbers[ca] = conn.execute(select(crls_table.c.number).where(crls_table.c.ca == ca)).scalar()
        return numbers


def _crl_values(number: int, now: datetime, der: bytes) -> dict:
    return {"number": number, "this_update": now, "next_update": now + CRL_VALIDITY, "crl_der": der}


def delegates_ocsp(algorithm: str) -> bool:
    """Whether a CA of this algorithm answers OCSP through a delegated responder certificate.

    ECDSA/RSA CAs do (profile "ocsp": id-kp-OCSPSigning + id-pkix-ocsp-nocheck, RFC 6960
    §4.2.2.2). SM2 CAs sign their responses themselves, the other form §4.2.2.2 allows:
    pyhanko-certvalidator 0.33 checks a nocheck responder certificate in a fresh
    ValidationContext without the caller's signature_validator (revinfo/validate_ocsp.py,
    _validate_delegated_ocsp_provenance), so no relying party using it could check an SM2
    delegated responder without monkeypatching.
    """
    return algorithm != "sm2"


def fingerprint(certificate: x509.Certificate) -> str:
    return hashlib.sha256(certificate.dump()).hexdigest().upper()


def pem_bundle(certificates: list[x509.Certificate]) -> bytes:
    return b"".join(pem.armor("CERTIFICATE", c.dump()) for c in certificates)
