"""verify/ against documents made by other implementations (../shared/corpus; see its README)."""

from __future__ import annotations

import pytest

from tests.verify.support import corpus
from verify import (
    DEFAULT,
    INDETERMINATE,
    TOTAL_FAILED,
    TOTAL_PASSED,
    TrustBundle,
    verify_pdf,
    verify_seal,
    verify_ses_signature,
)

ATTACKS = ["dss-2236_hide.pdf", "dss-2236_replace.pdf", "dss-2236_annotation-and-visible-change.pdf",
           "pdf-spoofing-attack.pdf", "pades-spoofing-replaced-reason.pdf", "pdf-byterange-overlap.pdf",
           "pdf-signed-out-of-byteRange.pdf", "pdf-eof.pdf", "pdf-signed-added-page.pdf", "pdf-removed-pages.pdf",
           "signature-referenced-from-multiple-fields.pdf"]
# What the README says each must be flagged on: integrity, coverage or modification checks (never the chain).
INTEGRITY_STEPS = {"parse", "trailing_bytes", "signatures_present", "signature_references", "byte_ranges_disjoint",
                   "cms_structure", "byte_range", "coverage", "message_digest", "signature_value", "modifications"}


@pytest.fixture(scope="module")
def itext_trust():
    return TrustBundle.from_bytes(corpus("pdf-sm2", "itext5-sm2-signer.cer").read_bytes(), "iText signer certificate")


def test_every_attack_file_of_the_readme_is_tested():
    folder = corpus("pdf-attacks-dss")
    assert sorted(p.name for p in folder.glob("*.pdf")) == sorted(ATTACKS)


@pytest.mark.parametrize("name", ATTACKS)
def test_dss_attack_pdfs_are_flagged_on_integrity_coverage_or_modification(name, itext_trust):
    report = verify_pdf(corpus("pdf-attacks-dss", name).read_bytes(), itext_trust, name=name)
    assert report.indication[0] == TOTAL_FAILED, report.as_dict()
    flagged = [s.name for s in report.document_steps if not s.passed]
    for sig in report.signatures:
        flagged += [s.name for s in sig.steps if not s.passed and s.indication == TOTAL_FAILED]
    assert set(flagged) & INTEGRITY_STEPS, (name, flagged)


def test_dss_replace_is_failed_on_modifications():
    report = verify_pdf(corpus("pdf-attacks-dss", "dss-2236_replace.pdf").read_bytes(),
                        TrustBundle.from_bytes(corpus("pdf-sm2", "itext5-sm2-signer.cer").read_bytes()))
    assert any(not s.step("modifications").passed for s in report.signatures)


def test_itext_sm2_pdf_signature_is_valid_and_trusted_with_its_certificate_as_anchor(itext_trust):
    report = verify_pdf(corpus("pdf-sm2", "itext5-sm2-signed.pdf").read_bytes(), itext_trust)
    assert all(s.passed for s in report.document_steps), report.document_steps
    sig = report.signatures[0]
    for name in ("cms_structure", "byte_range", "coverage", "message_digest", "signature_value",
                 "certificate_chain", "key_usage", "modifications"):
        assert sig.step(name).passed, sig.step(name)
    assert "SM2-with-SM3" in sig.step("signature_value").reason
    assert "whole file" in sig.step("coverage").reason
    # Its CFCA time-stamp verifies but CFCA is not an anchor here; the certificate has expired since.
    assert report.indication[0] == INDETERMINATE


def test_itext_sm2_pdf_without_its_anchor_is_untrusted_but_still_intact(world):
    report = verify_pdf(corpus("pdf-sm2", "itext5-sm2-signed.pdf").read_bytes(), world.trust)
    sig = report.signatures[0]
    assert sig.step("signature_value").passed and sig.step("message_digest").passed
    step = sig.step("certificate_chain")
    assert not step.passed and step.sub_indication == "NO_CERTIFICATE_CHAIN_FOUND"


@pytest.fixture(scope="module")
def any_trust(world):
    return world.trust  # our roots: none of the corpus chains lead to them


def test_v4signed_cryptography_verifies_and_its_chain_is_untrusted(any_trust):
    folder = corpus("ses", "v4signed")
    report = verify_ses_signature((folder / "SignedValue.dat").read_bytes(), any_trust,
                                  (folder / "Signature.xml").read_bytes())
    sig = report.signatures[0]
    for name in ("ses_structure", "signature", "data_hash", "seal_maker_signature", "signer_in_cert_list",
                 "seal_valid_at_signing_time"):
        assert sig.step(name).passed, sig.step(name)
    assert report.indication == (INDETERMINATE, "NO_CERTIFICATE_CHAIN_FOUND")
    assert sig.seal["name"].startswith("全国统一发票监制章") or "发票监制章" in sig.seal["name"]
    assert sig.seal["picture"]["type"] == "ofd" and sig.seal["picture"]["data_uri"] is None


def test_sesv4signdoc_seal_is_reported_expired_at_signing_time(any_trust):
    folder = corpus("ses", "SESV4SignDoc")
    report = verify_ses_signature((folder / "SignedValue.dat").read_bytes(), any_trust,
                                  (folder / "Signature.xml").read_bytes())
    sig = report.signatures[0]
    assert sig.step("signature").passed and sig.step("seal_maker_signature").passed
    step = sig.step("seal_valid_at_signing_time")
    assert not step.passed and step.sub_indication == "EXPIRED"
    assert report.indication == (TOTAL_FAILED, "EXPIRED")
    assert sig.seal["picture"]["data_uri"].startswith("data:image/png;base64,")


def test_v1_signature_is_parsed_and_reported_as_v1(any_trust):
    folder = corpus("ses", "n")
    report = verify_ses_signature((folder / "SignedValue.dat").read_bytes(), any_trust,
                                  (folder / "Signature.xml").read_bytes())
    sig = report.signatures[0]
    assert sig.seal["version"] == 1
    assert "V1" in sig.step("ses_structure").reason and sig.step("ses_structure").passed
    assert report.indication[0] != "TOTAL_PASSED"
    # verified since issue 14: iOFD's V1 value is an SM2 signature with e = dataHash (a named deviation); the
    # maker's over SEQUENCE{esealInfo, cert, signatureAlgorithm} (GM/T 0031); Signature.xml was re-serialised
    assert sig.step("signature").passed and sig.step("seal_maker_signature").passed
    assert [d["name"] for d in sig.deviations] == ["v1-signature-over-datahash"]
    assert sig.step("data_hash").sub_indication == "HASH_FAILURE"


@pytest.mark.parametrize("folder", ["SESV4SignDoc", "n"])
def test_seal_files_verify_on_their_own(any_trust, folder):
    report = verify_seal(corpus("ses", folder, "Seal.esl").read_bytes(), any_trust)
    sig = report.signatures[0]
    assert sig.step("ses_structure").passed
    if folder == "SESV4SignDoc":
        assert sig.step("seal_maker_signature").passed
        assert sig.seal["version"] == 4
    else:
        assert sig.seal["version"] == 1 and sig.step("seal_maker_signature").passed


def test_a_tampered_ses_signature_fails(any_trust):
    folder = corpus("ses", "v4signed")
    report = verify_ses_signature((folder / "SignedValue.dat").read_bytes(), any_trust,
                                  (folder / "Signature.xml").read_bytes() + b" ")
    assert report.indication == (TOTAL_FAILED, "HASH_FAILURE")
    garbage = verify_ses_signature(b"\x30\x03\x02\x01\x04", any_trust)
    assert garbage.indication == (TOTAL_FAILED, "FORMAT_FAILURE")


@pytest.mark.parametrize("name", ["pdf-spoofing-attack.pdf", "pades-spoofing-replaced-reason.pdf"])
def test_a_signature_dictionary_changed_later_fails_coverage(name, itext_trust):
    report = verify_pdf(corpus("pdf-attacks-dss", name).read_bytes(), itext_trust)
    steps = [sig.step("coverage") for sig in report.signatures]
    assert steps and any(not step.passed and step.sub_indication == "FORMAT_FAILURE" for step in steps)


def test_a_policy_selects_the_checks_of_a_seal_signature(any_trust):
    folder = corpus("ses", "v4signed")
    report = verify_ses_signature((folder / "SignedValue.dat").read_bytes(), any_trust,
                                  (folder / "Signature.xml").read_bytes(),
                                  policy=DEFAULT.with_steps("data_hash", "signer_in_cert_list"))
    sig = report.signatures[0]
    assert [s.name for s in sig.steps] == ["data_hash", "signer_in_cert_list"]  # the untrusted chain is not run
    assert report.indication == (TOTAL_PASSED, None)
