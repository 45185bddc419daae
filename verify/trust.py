"""Trust anchors: the published bundle (PEM, e.g. ``/pki/trust.pem``) or any certificates given."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import pem, x509

from verify.errors import TrustError

MAX_BUNDLE_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class TrustBundle:
    certificates: tuple[x509.Certificate, ...]
    source: str

    @classmethod
    def from_bytes(cls, data: bytes, source: str = "given") -> TrustBundle:
        """PEM (one or more CERTIFICATE blocks; comments allowed) or one DER certificate."""
        if len(data) > MAX_BUNDLE_BYTES:
            raise TrustError(f"trust bundle {source} is larger than {MAX_BUNDLE_BYTES} bytes")
        certificates = []
        try:
            if pem.detect(data):
                for kind, _headers, der in pem.unarmor(data, multiple=True):
                    if kind == "CERTIFICATE":
                        certificates.append(_load(der))
            else:
                certificates.append(_load(data))
        except (ValueError, TypeError) as exc:
            raise TrustError(f"trust bundle {source} is not PEM or DER certificates: {exc}") from None
        if not certificates:
            raise TrustError(f"trust bundle {source} holds no certificate")
        return cls(tuple(certificates), source)

    @classmethod
    def from_file(cls, path: str | Path) -> TrustBundle:
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise TrustError(f"cannot read trust bundle {path}: {exc.strerror or exc}") from None
        return cls.from_bytes(data, str(path))

    @classmethod
    def from_certificates(cls, certificates, source: str = "given") -> TrustBundle:
        certificates = tuple(c if isinstance(c, x509.Certificate) else _load(bytes(c)) for c in certificates)
        if not certificates:
            raise TrustError("no trust anchor given")
        return cls(certificates, source)

    @property
    def fingerprints(self) -> list[dict[str, str]]:
        return [{"subject": c.subject.human_friendly, "sha256": hashlib.sha256(c.dump()).hexdigest().upper()}
                for c in self.certificates]

    def as_dict(self) -> dict:
        return {"source": self.source, "anchors": self.fingerprints}


def _load(der: bytes) -> x509.Certificate:
    certificate = x509.Certificate.load(der, strict=True)
    certificate.native  # noqa: B018  (parse every field now: a broken anchor fails here)
    return certificate


def as_trust(trust) -> TrustBundle:
    """Accept a TrustBundle, PEM/DER bytes, a path, or an iterable of certificates."""
    if isinstance(trust, TrustBundle):
        return trust
    if isinstance(trust, bytes | bytearray):
        return TrustBundle.from_bytes(bytes(trust))
    if isinstance(trust, str | Path):
        return TrustBundle.from_file(trust)
    if isinstance(trust, x509.Certificate):
        return TrustBundle.from_certificates([trust])
    return TrustBundle.from_certificates(list(trust))
