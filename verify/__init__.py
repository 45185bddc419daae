"""verify/: third-party verification of sealed documents with only the published trust anchors.

May import keys/ and third-party libraries. Never seal/, idp/, yitong/ or a database: a bank
or another province runs it with nothing but our trust bundle.

    from verify import TrustBundle, verify_pdf
    report = verify_pdf(pdf_bytes, TrustBundle.from_file("trust.pem"))
    report = verify_ofd(ofd_bytes, TrustBundle.from_file("trust.pem"))   # an OFD (GB/T 33190)
    report.indication        # ("TOTAL_PASSED", None) | ("TOTAL_FAILED", "HASH_FAILURE") | ...
    report.as_dict()         # one entry of the yitong-verify-report/1 JSON document

Where things are: every check name, indication and sub-indication is an enum in keys/verdict.py
(CheckName, Indication, SubIndication, Step); a check is a ``verify.checks.Check`` (a name and
``run(context) -> Step``) listed in its path's tuple: verify/pdf/document.py (once per file),
verify/pdf/signature.py (PDF signatures and document time-stamps), verify/ses.py (GB/T 38540),
verify/ofd/checks.py and verify/ofd/sign.py (OFD documents and their signatures);
verify/timestamp.py is the one RFC 3161 time-stamp check; keys/ses/checks.py holds the seal rules that
need no trust anchor (signatures, dataHash, certList, validity). A policy (verify/policy.py)
names the checks that run.
"""

from keys.verdict import CheckName, Indication, SubIndication
from verify.checks import Check
from verify.errors import TrustError, VerifyError
from verify.ofd import verify_ofd
from verify.pdf import verify_pdf
from verify.policy import DEFAULT, Limits, Policy
from verify.report import INDETERMINATE, SCHEMA, TOTAL_FAILED, TOTAL_PASSED, Report, SignatureReport, Step, document
from verify.ses import verify_seal, verify_ses_signature
from verify.trust import TrustBundle

__all__ = [
    "DEFAULT",
    "INDETERMINATE",
    "SCHEMA",
    "TOTAL_FAILED",
    "TOTAL_PASSED",
    "Check",
    "CheckName",
    "Indication",
    "Limits",
    "Policy",
    "Report",
    "SignatureReport",
    "Step",
    "SubIndication",
    "TrustBundle",
    "TrustError",
    "VerifyError",
    "document",
    "verify_ofd",
    "verify_pdf",
    "verify_seal",
    "verify_ses_signature",
]
