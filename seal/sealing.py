"""From a registered seal to a :class:`seal.pdf.Sealer`: key, certificate, chain, TSA and revocation data."""

from __future__ import annotations

import hashlib
import threading
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from seal.registry import SealRegistry


def sealer_for(registry: SealRegistry, esid: str, *, tsa: bool = True):
    """A :class:`seal.pdf.Sealer` for an active seal, with the keys/ TSA and revocation data."""
    from seal.pdf import InProcessTimeStamper, Sealer, ocsp_request

    material = registry.material(esid)
    pki = registry.pki
    algorithm = material.record.algorithm
    ca = material.record.cert_ca
    parent = pki.parent_ca(ca)

    def fresh():
        crls = [pki.crl(ca)] + ([pki.crl(parent)] if parent else [])
        responder = pki.ocsp_responder()
        ocsps = [responder.respond(ocsp_request(material.certificate, material.chain[0]))]
        return crls, ocsps

    def revocation():
        return _REVOCATION.get(pki, ca, material.certificate, fresh)

    timestamper = InProcessTimeStamper(pki.time_stamp_authority(algorithm)) if tsa else None
    roots = [pki.ca_certificate(parent)] if parent else []
    roots += _maker_chain(pki, material.seseal, known=[material.certificate, *material.chain, *roots])
    return Sealer(key=material.key, certificate=material.certificate, chain=material.chain, seseal=material.seseal,
                  png=material.png, width_mm=material.record.width_mm, height_mm=material.record.height_mm,
                  esid=esid, name=material.record.name, timestamper=timestamper, revocation=revocation, roots=roots)


def _maker_chain(pki, seseal: bytes, known) -> list:
    """The CA certificates above the seal maker's certificate that the seal's own chain lacks.

    The maker is always SM2 (GB/T 38540): a P-256 seal's chain does not reach the SM2 issuing CA,
    so without these a B-LT document's DSS cannot take the maker's certificate to its anchor.
    """
    from asn1crypto import x509

    from keys import ses as keys_ses

    try:
        maker = x509.Certificate.load(keys_ses.parse_seal(seseal).maker_cert)
    except (keys_ses.SesError, ValueError, TypeError):
        return []
    have = {cert.dump() for cert in known}
    cas = [pki.ca_certificate(name) for name in pki.ca_names()]
    extra, current = [], maker
    while current.issuer != current.subject:
        issuer = next((ca for ca in cas if ca.subject == current.issuer), None)
        if issuer is None or issuer in extra:
            break
        if issuer.dump() not in have:
            extra.append(issuer)
        current = issuer
    return extra


class _RevocationMaterial:
    """The CRLs and OCSP response a B-LT seal embeds, reused across sealings while they stay current.

    Making them unwraps the CA and responder keys and signs an OCSP response: most of a B-LT
    sealing (issue 19). An entry is reused only while (a) no item has passed half of its remaining
    validity (nextUpdate) and at most ``MAX_SECONDS``, and (b) the seal certificate's status in the
    PKI is still "good", looked up on every reuse: a certificate revoked or put on hold gets a
    fresh OCSP response saying so at once, so the cache never embeds "good" for a revoked seal.
    Keyed by the database, the CA and the SHA-256 of the seal certificate.
    """

    MAX_SECONDS = 300.0

    def __init__(self) -> None:
        self._entries: dict[tuple, tuple[float, list[bytes], list[bytes]]] = {}
        self._lock = threading.Lock()

    def get(self, pki, ca: str, certificate, make):
        key = (str(pki.engine.url), ca, hashlib.sha256(certificate.dump()).digest())
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None and now < entry[0] and pki.status(ca, certificate.serial_number).status == "good":
            return list(entry[1]), list(entry[2])
        crls, ocsps = make()
        expires = now + min([self.MAX_SECONDS, *(_half_remaining(crls, ocsps))])
        with self._lock:
            self._entries[key] = (expires, list(crls), list(ocsps))
            if len(self._entries) > 1024:  # many seals: forget the oldest-expiring
                del self._entries[min(self._entries, key=lambda k: self._entries[k][0])]
        return crls, ocsps


def _half_remaining(crls: list[bytes], ocsps: list[bytes]) -> list[float]:
    """Half the seconds each item has left before its nextUpdate (0 when one has none or is unreadable)."""
    from asn1crypto import crl as asn1_crl
    from asn1crypto import ocsp as asn1_ocsp

    now = datetime.now(UTC)
    updates = []
    try:
        for der in crls:
            updates.append(asn1_crl.CertificateList.load(der)["tbs_cert_list"]["next_update"].native)
        for der in ocsps:
            basic = asn1_ocsp.OCSPResponse.load(der)["response_bytes"]["response"].parsed
            updates.extend(single["next_update"].native for single in basic["tbs_response_data"]["responses"])
    except (KeyError, TypeError, ValueError, AttributeError):
        return [0.0]
    return [max(0.0, (update - now).total_seconds() / 2) if update is not None else 0.0 for update in updates]


_REVOCATION = _RevocationMaterial()
