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
    return Sealer(key=material.key, certificate=material.certificate, chain=material.chain, seseal=material.seseal,
                  png=material.png, width_mm=material.record.width_mm, height_mm=material.record.height_mm,
                  esid=esid, name=material.record.name, timestamper=timestamper, revocation=revocation, roots=roots)
