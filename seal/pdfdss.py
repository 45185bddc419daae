"""The DSS (PAdES B-LT): the chain, CRLs and OCSP responses appended as one more incremental update."""

from __future__ import annotations

import hashlib
import io
from typing import TYPE_CHECKING

from asn1crypto import ocsp, x509
from pyhanko.pdf_utils.reader import PdfFileReader

from seal.pdfcms import *  # noqa: F403
from seal.pdfcms import InProcessTimeStamper
from seal.pdfplace import *  # noqa: F403
from seal.pdfstamp import *  # noqa: F403

if TYPE_CHECKING:
    from seal.pdf import Sealer


def _add_dss(out: io.BytesIO, sealer: Sealer, *, strict: bool = True) -> None:
    from pyhanko.sign.validation.dss import DocumentSecurityStore

    crls, ocsps = sealer.revocation() if sealer.revocation else ([], [])
    certs = [sealer.certificate, *sealer.chain, *sealer.roots]
    if isinstance(sealer.timestamper, InProcessTimeStamper):
        # The token carries exactly the TSA's certificates (certReq is set): no need to read
        # the document just written back and parse its signature to find them.
        certs.extend(sealer.timestamper.certificates)
    else:
        reader = PdfFileReader(out, strict=strict)
        token = reader.embedded_signatures[-1].signer_info["unsigned_attrs"]
        for attr in token or []:
            if attr["type"].native == "signature_time_stamp_token":
                for value in attr["values"]:
                    for cert in value["content"]["certificates"] or []:
                        certs.append(cert.chosen)
    DocumentSecurityStore.add_dss(out, None, certs=certs, crls=[_as_crl(c) for c in crls],
                                  ocsps=[ocsp.OCSPResponse.load(o) for o in ocsps], strict=strict)


def _as_crl(der: bytes):
    from asn1crypto import crl

    return crl.CertificateList.load(der)


def ocsp_request(certificate: x509.Certificate, issuer: x509.Certificate) -> bytes:
    """A one-certificate RFC 6960 request (SHA-1 CertID, as every responder understands)."""
    cert_id = ocsp.CertId({
        "hash_algorithm": {"algorithm": "sha1"},
        "issuer_name_hash": hashlib.sha1(issuer.subject.dump()).digest(),  # noqa: S324 - RFC 6960 CertID
        "issuer_key_hash": hashlib.sha1(issuer.public_key["public_key"].contents[1:]).digest(),  # noqa: S324
        "serial_number": certificate.serial_number,
    })
    return ocsp.OCSPRequest({"tbs_request": {"request_list": [{"req_cert": cert_id}]}}).dump()
