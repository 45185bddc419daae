"""Every kind of report — positives, failures, garbage, GB/T 38540 — matches the committed JSON schema."""

from __future__ import annotations

import jsonschema
import pytest

from tests.verify.support import base_pdf, corpus
from tests.verify.test_cli import validate
from verify import document, verify_pdf, verify_seal, verify_ses_signature


def test_reports_of_every_kind_match_the_schema(world):
    sealed = world.doc("visible-sm2", lambda: world.sign(base_pdf(3), world.sm2, page=2))
    reports = [
        verify_pdf(sealed, world.trust),
        verify_pdf(sealed + b"garbage", world.trust),
        verify_pdf(b"", world.trust),
        verify_pdf(base_pdf(), world.trust),
    ]
    folder = corpus("ses", "SESV4SignDoc")
    reports.append(verify_ses_signature((folder / "SignedValue.dat").read_bytes(), world.trust,
                                        (folder / "Signature.xml").read_bytes()))
    reports.append(verify_seal((folder / "Seal.esl").read_bytes(), world.trust))
    reports.append(verify_seal(b"\x30\x00", world.trust))
    validate(document(reports))


def test_the_schema_rejects_a_report_that_claims_a_pass_it_cannot_have(world):
    report = verify_pdf(base_pdf(), world.trust).as_dict()
    report["indication"] = "PASSED"
    with pytest.raises(jsonschema.ValidationError):
        validate({"schema": "yitong-verify-report/1", "files": [report]})
