"""From a registered seal to a :class:`seal.pdf.Sealer`: key, certificate, chain, TSA and revocation data."""

from __future__ import annotations

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

    def revocation():
        crls = [pki.crl(ca)] + ([pki.crl(parent)] if parent else [])
        responder = pki.ocsp_responder()
        ocsps = [responder.respond(ocsp_request(material.certificate, material.chain[0]))]
        return crls, ocsps

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
