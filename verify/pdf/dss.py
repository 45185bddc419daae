"""Long-term validation material: revocation evidence from the CMS, the /DSS and the caller, and the
proof of existence a document time-stamp gives earlier signatures (PAdES B-LTA)."""

from __future__ import annotations

import contextlib
import threading
from datetime import datetime

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.decode_limits import DecodePurpose
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.general import find_unique_cms_attribute
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature

from keys.budget import BudgetExceeded
from keys.verdict import CheckName as N
from keys.verdict import SubIndication as Sub
from verify import certs as c
from verify import report as r


def supplied_revinfo(crls=(), ocsps=(), certs=()) -> c.Revinfo:
    """Revocation data the caller vouches for (e.g. the server's own current CRLs), and certificates to build
    paths with (intermediate CAs: not anchors); unreadable items are skipped."""
    supplied = c.Revinfo()
    for item in certs:
        with contextlib.suppress(ValueError, TypeError):
            supplied.certs.append(item if isinstance(item, x509.Certificate) else x509.Certificate.load(bytes(item)))
    for item in crls:
        with contextlib.suppress(ValueError, TypeError):
            supplied.crls.append((item if isinstance(item, asn1_crl.CertificateList)
                                  else asn1_crl.CertificateList.load(bytes(item)), "supplied"))
    for item in ocsps:
        with contextlib.suppress(ValueError, TypeError):
            supplied.ocsps.append((item if isinstance(item, asn1_ocsp.OCSPResponse)
                                   else asn1_ocsp.OCSPResponse.load(bytes(item)), "supplied"))
    return supplied


def cms_revinfo(sig: EmbeddedPdfSignature) -> c.Revinfo:
    revinfo = c.Revinfo()
    signed_attrs = sig.signer_info["signed_attrs"]
    try:
        archival = find_unique_cms_attribute(signed_attrs, "adobe_revocation_info_archival")
        for item in archival["crl"] or []:
            revinfo.crls.append((item, "cms adbe-revocationInfoArchival"))
        for item in archival["ocsp"] or []:
            revinfo.ocsps.append((item, "cms adbe-revocationInfoArchival"))
    except (KeyError, IndexError, TypeError, ValueError, AttributeError):
        pass
    except Exception:  # noqa: S110 - unreadable archival attribute: no evidence from it
        pass
    try:
        for choice in sig.signed_data["crls"] or []:
            if choice.name == "crl":
                revinfo.crls.append((choice.chosen, "cms SignedData.crls"))
    except (KeyError, TypeError, ValueError):
        pass
    return revinfo


def read_dss(reader: PdfFileReader) -> c.Revinfo:
    """/DSS certificates, CRLs and OCSP responses, each decoded within pyhanko's per-purpose limits."""
    revinfo = c.Revinfo()
    try:
        dss = reader.root["/DSS"]
    except (KeyError, TypeError):
        return revinfo
    if not isinstance(dss, generic.DictionaryObject):
        return revinfo
    for key, purpose in (("/Certs", DecodePurpose.CERTIFICATE), ("/CRLs", DecodePurpose.CRL),
                         ("/OCSPs", DecodePurpose.OCSP_RESPONSE)):
        try:
            entries = dss.get(key) or []
            entries = list(entries)[:1000]
        except Exception:  # noqa: S112
            continue
        for ref in entries:
            try:
                stream = ref.get_object()
                der = stream.read_data(purpose)
                parsed = _parsed(key, der)
                if key == "/Certs":
                    revinfo.certs.append(parsed)
                elif key == "/CRLs":
                    revinfo.crls.append((parsed, "dss"))
                else:
                    revinfo.ocsps.append((parsed, "dss"))
            except (BudgetExceeded, MemoryError):
                raise
            except Exception:  # noqa: S112 - an unreadable entry is no evidence
                continue
    return revinfo


_PARSED: dict[tuple[str, bytes], object] = {}
_PARSED_LOCK = threading.Lock()
_LOADERS = {"/Certs": x509.Certificate.load, "/CRLs": asn1_crl.CertificateList.load,
            "/OCSPs": asn1_ocsp.OCSPResponse.load}


def _parsed(key: str, der: bytes):
    """The DSS entry ``der`` fully parsed (a malformed one raises here, not later in a check).

    Documents sealed by one seal carry the same certificates and, for a while, the same CRLs and
    OCSP responses: the parse is remembered by the exact bytes (bounded), and the objects are only
    ever read.
    """
    with _PARSED_LOCK:
        found = _PARSED.get((key, der))
    if found is not None:
        return found
    parsed = _LOADERS[key](der)
    if key != "/Certs":
        parsed.native  # noqa: B018 - parse every field now
    with _PARSED_LOCK:
        if len(_PARSED) >= 512:
            _PARSED.pop(next(iter(_PARSED)))
        _PARSED[(key, der)] = parsed
    return parsed


def apply_document_timestamps(stamps, pending) -> None:
    """A trusted document time-stamp over a later revision proves the signature existed at its time
    (PAdES B-LTA): it settles OUT_OF_BOUNDS_NO_POE and REVOKED_NO_POE of an unproven signing time.

    ``stamps``: (signed revision, report) of document time-stamps; ``pending``: (revision, report,
    signer certificate, path, revinfo) of signatures whose signing time no time-stamp proves.
    """
    stamps = [(revision, report) for revision, report in stamps if report.passed]
    for revision, report, signer_cert, path, revinfo in pending:
        later = [(stamp.signing_time["time"], stamp.name) for stamp_revision, stamp in stamps
                 if stamp_revision > revision and stamp.signing_time and stamp.signing_time.get("time")]
        if not later:
            continue
        when_text, stamp_name = min(later)
        poe = datetime.fromisoformat(when_text)
        for index, step in enumerate(report.steps):
            if step.name == N.VALIDITY_AT_SIGNING_TIME and step.sub_indication == Sub.OUT_OF_BOUNDS_NO_POE:
                if poe <= signer_cert.not_valid_after:
                    report.steps[index] = r.passed(step.name, f"the document time-stamp {stamp_name} at "
                                                              f"{when_text} proves the signature existed while "
                                                              f"the certificate was valid (to "
                                                              f"{signer_cert.not_valid_after.isoformat()})")
            if step.name == N.REVOCATION and step.sub_indication == Sub.REVOKED_NO_POE and path:
                if c.revoked_after(path, revinfo, poe) is None:
                    report.steps[index] = r.passed(step.name, f"revoked only after the document time-stamp "
                                                              f"{stamp_name} at {when_text}, which proves the "
                                                              f"signature existed before")
