"""verify/: third-party verification of sealed documents with only the published trust anchors.

May import keys/ and third-party libraries. Never seal/, idp/, yitong/ or a database: a bank
or another province runs it with nothing but our trust bundle.

    from verify import TrustBundle, verify_pdf
    report = verify_pdf(pdf_bytes, TrustBundle.from_file("trust.pem"))
    report.indication        # ("TOTAL_PASSED", None) | ("TOTAL_FAILED", "HASH_FAILURE") | ...
    report.as_dict()         # one entry of the yitong-verify-report/1 JSON document
"""

from verify.pdf import verify_pdf
from verify.policy import DEFAULT, Limits, Policy
from verify.report import INDETERMINATE, SCHEMA, TOTAL_FAILED, TOTAL_PASSED, Report, SignatureReport, Step, document
from verify.ses import verify_seal, verify_ses_signature
from verify.trust import TrustBundle, TrustError

__all__ = [
    "DEFAULT",
    "INDETERMINATE",
    "SCHEMA",
    "TOTAL_FAILED",
    "TOTAL_PASSED",
    "Limits",
    "Policy",
    "Report",
    "SignatureReport",
    "Step",
    "TrustBundle",
    "TrustError",
    "document",
    "verify_pdf",
    "verify_seal",
    "verify_ses_signature",
]
