"""OFD documents (GB/T 33190-2016) and their signatures (§18; GB/T 38540, GM/T 0031, GM/T 0010): ``verify_ofd``.

    report = verify_ofd(ofd_bytes, TrustBundle.from_file("trust.pem"))

The package is read by ofd.package (safe zip, defusedxml, the paths real producers write); then,
once per file, ``ofd_package`` and ``signatures_present``; then for every Signature of
Signatures.xml, in order, the checks of verify/ofd/checks.py: ``signature_file`` (precondition),
``references`` (every CheckValue against the file it names), ``unprotected_content`` (pages,
templates, annotations, resources and Document.xml that this signature does not protect),
``later_signatures`` (a signature listed after it protects less), ``stamp_annot``, ``seal_file``
(Seal.esl is the seal inside SignedValue.dat); then the checks of the signed value: a GB/T 38540 V4
or GM/T 0031 V1 SES_Signature runs the SES path of verify/ses.py (time-stamp, signature, dataHash =
SM3(Signature.xml), seal maker signature, certList, seal validity, both chains); a GM/T 0010 PKCS#7
SignedData or a bare SM2 value (Type="Sign") runs verify/ofd/sign.py. Vendor deviations
(keys/ses/readings.py) are named in the signature's ``deviations``.

Never raises on bad input: every refusal of ofd.package is an ``ofd_package`` FORMAT_FAILURE, and the
whole file runs within ``policy.limits.seconds``.
"""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime

from verify import report as r
from verify.ofd.checks import OfdJob
from verify.pdf.budget import run_within
from verify.pdf.dss import supplied_revinfo
from verify.policy import DEFAULT, Policy
from verify.trust import as_trust

ZIP_MAGIC = b"PK\x03\x04"


def looks_like_ofd(data: bytes) -> bool:
    """An OFD is a zip package: decided by the content, never by the file name."""
    return data[:4] == ZIP_MAGIC


def is_other_zip(data: bytes) -> bool:
    """A readable zip without OFD.xml at its root (a .docx, an archive): not an OFD at all. A damaged zip is
    not judged here: verify_ofd reports what is wrong with it."""
    if not looks_like_ofd(data):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return not any(name.casefold() == "ofd.xml" for name in archive.namelist())
    except Exception:
        return False


def verify_ofd(data: bytes, trust, policy: Policy = DEFAULT, at: datetime | None = None, online: bool = False, *,
               name: str = "document.ofd", crls=(), ocsps=(), certs=()) -> r.Report:
    """Verify every signature of an OFD against the trust anchors (offline unless ``online``); never raises.

    ``crls``/``ocsps``: revocation data the caller vouches for (the server's own current CRLs), as for PDFs.
    ``certs``: intermediate CA certificates to build paths with (not anchors). A GB/T 38540 SES_Signature
    carries only the signer's certificate, unlike a PDF's CMS, so a seal issued under an intermediate CA
    chains offline only with it here (the server passes its own CAs) or in the trust bundle.
    """
    trust = as_trust(trust)
    data = bytes(data)
    validation_time = at or datetime.now(UTC)
    report = r.Report.start(data, name=name, policy=policy, validation_time=validation_time, trust=trust,
                            online=online, format="ofd")
    if not policy.steps:
        report.add(r.failed(r.CheckName.POLICY, r.SubIndication.POLICY_PROCESSING_ERROR,
                            "the policy has no steps: nothing can pass"))
        return report
    job = OfdJob(data, trust, policy, validation_time, online, report, supplied_revinfo(crls, ocsps, certs))
    run_within(job.run, policy.limits.seconds, report)
    return report


__all__ = ["is_other_zip", "looks_like_ofd", "verify_ofd"]
