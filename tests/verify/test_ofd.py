"""verify_ofd against the OFD corpus (../shared/corpus/ofd, see its README) and against attacks on it.

Each corpus file must give what the independent checks found (the README's table); our own findings
beyond it (vendor deviations) are asserted by name. Attacks start from a corpus file and change one
thing; none may pass, and the failing check must say what happened.
"""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keys import ses as keys_ses
from ofd import OfdPackage
from tests.ofd.support import OFD_FILES, build, corpus, corpus_ofd, entries, rezip
from verify import DEFAULT, INDETERMINATE, TOTAL_FAILED, TOTAL_PASSED, Limits, TrustBundle, verify_ses_signature
from verify.files import verify_bytes
from verify.ofd import verify_ofd
from verify.ofd.sign import parse_pkcs7


@pytest.fixture(scope="module")
def stranger() -> TrustBundle:
    """A trust bundle that anchors none of the corpus (the iText signer of pdf-sm2/)."""
    return TrustBundle.from_bytes(corpus("pdf-sm2", "itext5-sm2-signer.cer").read_bytes(), "unrelated anchor")


def steps(signature) -> dict[str, object]:
    return {step.name.value: step for step in signature.steps}


def deviations(signature) -> set[str]:
    return {d["name"] for d in signature.deviations}


def failed_step(report, name: str):
    for sig in report.signatures:
        for step in sig.steps:
            if step.name.value == name and not step.passed:
                return step
    for step in report.document_steps:
        if step.name.value == name and not step.passed:
            return step
    raise AssertionError(f"no failed {name}: {report.as_dict()}")


def _verify(data: bytes, trust, name: str = "test.ofd", **kwargs):
    report = verify_ofd(data, trust, name=name, **kwargs)
    assert report.format == "ofd"
    return report


# --- the corpus, file by file (README "ofd/") -----------------------------------------------------
def test_every_corpus_ofd_is_covered():
    assert sorted(p.name for p in corpus("ofd").glob("*.ofd")) == sorted(OFD_FILES)


def test_commercial_vendor_two_seals_verify_and_the_maker_signature_deviation_is_named(stranger):
    report = _verify(corpus_ofd("anzhengtong-v4-two-seals.ofd"), stranger)
    assert report.indication == (INDETERMINATE, "NO_CERTIFICATE_CHAIN_FOUND")
    assert len(report.signatures) == 2
    for sig in report.signatures:
        found = steps(sig)
        assert found["references"].passed and "15 of 15" in found["references"].reason
        for name in ("signature", "data_hash", "seal_maker_signature", "signer_in_cert_list", "seal_file",
                     "unprotected_content", "later_signatures", "stamp_annot"):
            assert found[name].passed, (name, found[name])
        assert "sm2-der-negative-integer" in found["seal_maker_signature"].reason
        assert deviations(sig) == {"sm2-der-negative-integer"}
        assert not found["certificate_chain"].passed
        assert sig.seal["es_id"] == "120106109000000001" and sig.seal["picture"]["data_uri"].startswith(
            "data:image/bmp;base64,")
        assert sig.widget["page"] == 0 and sig.ofd["provider"]["company"] == "AztSign"


@pytest.mark.parametrize("name", ["ofdrw-SESV4SignDoc.ofd", "ofdrw-v4signed.ofd", "ofdrw-1-v4.ofd",
                                  "ofdrw-keyword2-v4.ofd"])
def test_ofdrw_v4_seals_match_every_reference_and_verify(name, stranger):
    report = _verify(corpus_ofd(name), stranger, name=name)
    (sig,) = report.signatures
    found = steps(sig)
    for check in ("references", "signature", "data_hash", "seal_maker_signature", "signer_in_cert_list",
                  "unprotected_content"):
        assert found[check].passed, (check, found[check])
    assert not deviations(sig)
    assert found["certificate_chain"].sub_indication == "NO_CERTIFICATE_CHAIN_FOUND"
    assert report.indication[0] != TOTAL_PASSED
    assert sig.signing_time["proven"] is False and "claimed" in sig.signing_time["source"]


def test_ofdrw_test_seal_is_reported_expired_at_the_signing_time(stranger):
    report = _verify(corpus_ofd("ofdrw-SESV4SignDoc.ofd"), stranger)
    step = failed_step(report, "seal_valid_at_signing_time")
    assert step.sub_indication == "EXPIRED" and "2026-08-04" in step.reason
    assert report.indication == (TOTAL_FAILED, "EXPIRED")


def test_invoice_with_a_changed_document_xml_fails_on_integrity(stranger):
    report = _verify(corpus_ofd("invoice-example-v4.ofd"), stranger)
    step = failed_step(report, "references")
    assert step.sub_indication == "HASH_FAILURE" and "12 of 13" in step.reason and "/Doc_0/Document.xml" in step.reason
    assert report.indication == (TOTAL_FAILED, "HASH_FAILURE")
    (sig,) = report.signatures
    assert [r["file"] for r in sig.ofd["references"] if not r["matches"]] == ["/Doc_0/Document.xml"]
    assert steps(sig)["signature"].passed and steps(sig)["data_hash"].passed


def test_resaved_government_document_fails_both_signatures_on_integrity(stranger):
    report = _verify(corpus_ofd("ofdrw-keyword-pkcs7-and-v4.ofd"), stranger)
    seal, sign = report.signatures
    assert (seal.kind, sign.kind) == ("ofd-seal", "ofd-sign")
    assert "4 of 7" in steps(seal)["references"].reason and "6 of 9" in steps(sign)["references"].reason
    for sig in (seal, sign):
        changed = {r["file"] for r in sig.ofd["references"] if not r["matches"]}
        assert changed == {"/OFD.xml", "/Doc_0/Document.xml", "/Doc_0/Pages/Page_0/Content.xml"}
        assert sig.indication == (TOTAL_FAILED, "HASH_FAILURE")
    # README: dataHash = SM3(Signature.xml), the SM2 value does not verify as DER with the default ID; it is
    # 64 bytes r ‖ s, and read so it verifies: a named deviation. The maker's signature verifies.
    assert steps(seal)["data_hash"].passed and steps(seal)["seal_maker_signature"].passed
    assert steps(seal)["signature"].passed and deviations(seal) == {"sm2-raw-r-s"}
    # GM/T 0010 PKCS#7 (1.2.156.10197.6.1.4.2.2): eContent = SM3(Signature.xml), value r ‖ s too
    assert sign.ofd["value_format"] == "pkcs7"
    assert steps(sign)["data_hash"].passed and steps(sign)["signature"].passed
    assert deviations(sign) == {"sm2-raw-r-s"}
    # Sign_3 was added later and does not protect Sign_1's signFilePaths.dat
    assert "signFilePaths.dat" in steps(seal)["later_signatures"].reason


def test_bare_sm2_signature_matches_references_but_names_no_signer(stranger):
    report = _verify(corpus_ofd("ofdrw-DigitalSign-raw-sm2.ofd"), stranger)
    (sig,) = report.signatures
    assert sig.kind == "ofd-sign" and sig.ofd["value_format"] == "sm2"
    assert "4 of 4" in steps(sig)["references"].reason
    assert report.indication == (INDETERMINATE, "NO_SIGNING_CERTIFICATE_FOUND")


def test_v1_file_its_check_method_and_what_its_signature_signs(stranger):
    report = _verify(corpus_ofd("ofdrw-n-v1.ofd"), stranger)
    (sig,) = report.signatures
    found = steps(sig)
    assert found["ses_structure"].passed and "GM/T 0031-2014 SES_Signature V1" in found["ses_structure"].reason
    # CheckMethod 1.2.156.10197.1.401.2 is SM3(Z ‖ file): the binary Seal.esl matches, the five XML files were
    # re-serialised after signing (every XML file of the package starts with dom4j's blank line)
    assert not found["references"].passed and "1 of 6" in found["references"].reason
    assert [r["file"] for r in sig.ofd["references"] if r["matches"]] == ["/Doc_0/Signs/Sign_0/Seal.esl"]
    assert not found["data_hash"].passed  # Signature.xml was re-serialised too
    assert found["signature"].passed and found["seal_maker_signature"].passed
    assert deviations(sig) == {"check-method-sm3-with-z", "v1-signature-over-datahash"}
    assert report.indication == (TOTAL_FAILED, "HASH_FAILURE")


def test_unsigned_document_says_no_signature(stranger):
    report = _verify(corpus_ofd("ofdrw-helloworld-unsigned.ofd"), stranger)
    step = failed_step(report, "signatures_present")
    assert "no signature" in step.reason and report.indication == (TOTAL_FAILED, "FORMAT_FAILURE")


def _signer_cert(name: str) -> list[bytes]:
    package = OfdPackage.open(corpus_ofd(name))
    certs = []
    for signature in package.signatures():
        value = package.read(signature.signed_value)
        try:
            certs.append(keys_ses.parse_signature(value).signer_cert)
        except keys_ses.SesError:
            parsed = parse_pkcs7(value)
            if parsed is not None:
                certs.append(parsed.signer_cert)
    return certs


@pytest.mark.parametrize("name", ["anzhengtong-v4-two-seals.ofd", "invoice-example-v4.ofd", "ofdrw-1-v4.ofd",
                                  "ofdrw-SESV4SignDoc.ofd", "ofdrw-keyword2-v4.ofd", "ofdrw-v4signed.ofd"])
def test_with_the_signer_certificate_as_the_only_anchor_the_cryptography_is_valid(name):
    certs = _signer_cert(name)
    report = _verify(corpus_ofd(name), TrustBundle.from_bytes(certs[0], "signer"), name=name)
    for sig in report.signatures:
        found = steps(sig)
        assert found["signature"].passed and found["seal_maker_signature"].passed
        assert found["certificate_chain"].passed, found["certificate_chain"]


@pytest.mark.parametrize("name", ["ofdrw-keyword-pkcs7-and-v4.ofd", "ofdrw-n-v1.ofd"])
def test_signer_certificates_with_unreadable_names_cannot_be_anchors_and_the_chain_step_says_so(name, stranger):
    # issuer names asn1crypto cannot read (the Zibo CA writes x500UniqueIdentifier, 2.5.4.45, as a UTF8String
    # where X.520 has a BIT STRING): the key is usable
    # (the signature checks pass above), the certificate cannot enter path validation
    from verify.trust import TrustError

    with pytest.raises(TrustError):
        TrustBundle.from_bytes(_signer_cert(name)[0], "signer")
    report = _verify(corpus_ofd(name), stranger, name=name)
    step = steps(report.signatures[0])["certificate_chain"]
    assert step.sub_indication == "NO_SIGNING_CERTIFICATE_FOUND"


# --- attacks and bad input (issue 14 item 5) ---------------------------------------------------------
def _change(data: bytes, name: str, old: bytes, new: bytes) -> bytes:
    content = dict(entries(data))[name]
    assert old in content, (name, old)
    return rezip(data, replace={name: content.replace(old, new, 1)})


def test_a_changed_referenced_file_fails_naming_it(stranger):
    data = corpus_ofd("anzhengtong-v4-two-seals.ofd")
    page = dict(entries(data))["Doc_0/Pages/Page_2/Content.xml"]
    attacked = rezip(data, replace={"Doc_0/Pages/Page_2/Content.xml": page[:-40] + b" " + page[-39:]})
    report = _verify(attacked, stranger)
    for sig in report.signatures:
        assert steps(sig)["references"].sub_indication == "HASH_FAILURE"
        assert "/Doc_0/Pages/Page_2/Content.xml" in steps(sig)["references"].reason
    assert report.indication == (TOTAL_FAILED, "HASH_FAILURE")


def test_a_page_added_after_signing_is_unprotected(stranger):
    data = corpus_ofd("ofdrw-v4signed.ofd")
    page = dict(entries(data))["Doc_0/Pages/Page_0/Content.xml"]
    attacked = _change(data, "Doc_0/Document.xml", b'<ofd:Page ID="1" BaseLoc="Pages/Page_0/Content.xml"/>',
                       b'<ofd:Page ID="1" BaseLoc="Pages/Page_0/Content.xml"/>'
                       b'<ofd:Page ID="900" BaseLoc="Pages/Page_1/Content.xml"/>')
    attacked = rezip(attacked, add=[("Doc_0/Pages/Page_1/Content.xml", page.replace(b"318.00", b"9318.00"))])
    report = _verify(attacked, stranger)
    assert "/Doc_0/Pages/Page_1/Content.xml" in failed_step(report, "unprotected_content").reason
    assert "/Doc_0/Document.xml" in failed_step(report, "references").reason
    assert report.indication[0] == TOTAL_FAILED


def test_an_annotation_or_resource_added_after_signing_is_unprotected(stranger):
    data = corpus_ofd("ofdrw-v4signed.ofd")
    annotation = dict(entries(data))["Doc_0/Annots/Page_0/Annotation.xml"]
    attacked = _change(data, "Doc_0/Annots/Annotations.xml", b"<ofd:FileLoc>Page_0/Annotation.xml</ofd:FileLoc>",
                       b"<ofd:FileLoc>Page_0/Annotation.xml</ofd:FileLoc></ofd:Page>"
                       b'<ofd:Page PageID="1"><ofd:FileLoc>Page_0/Extra.xml</ofd:FileLoc>')
    attacked = _change(attacked, "Doc_0/PublicRes.xml", b"</ofd:Fonts>",
                       b'<ofd:Font ID="999" FontName="x"><ofd:FontFile>evil.ttf</ofd:FontFile></ofd:Font></ofd:Fonts>')
    attacked = rezip(attacked, add=[("Doc_0/Annots/Page_0/Extra.xml", annotation), ("Doc_0/Res/evil.ttf", b"\0" * 64)])
    report = _verify(attacked, stranger)
    reason = failed_step(report, "unprotected_content").reason
    assert "/Doc_0/Annots/Page_0/Extra.xml" in reason and "/Doc_0/Res/evil.ttf" in reason
    assert report.indication[0] == TOTAL_FAILED


def test_ofd_xml_repointed_to_a_forged_document_is_unprotected(stranger):
    data = corpus_ofd("anzhengtong-v4-two-seals.ofd")  # this vendor does not protect OFD.xml
    files = dict(entries(data))
    forged = [(name.replace("Doc_0/Pages", "Doc_1/Pages"), content.replace(b"\xe6\xb9\x96", b"\xe6\xb1\x9f"))
              for name, content in files.items() if name.startswith("Doc_0/Pages/")]
    document = files["Doc_0/Document.xml"].replace(b"PublicRes.xml", b"/Doc_0/PublicRes.xml")
    attacked = _change(data, "OFD.xml", b"<ofd:DocRoot>Doc_0/Document.xml", b"<ofd:DocRoot>Doc_1/Document.xml")
    attacked = rezip(attacked, add=[("Doc_1/Document.xml", document), *forged])
    report = _verify(attacked, stranger)
    assert "/Doc_1/Pages/Page_0/Content.xml" in failed_step(report, "unprotected_content").reason
    assert report.indication[0] == TOTAL_FAILED


def test_an_edited_signature_xml_fails_the_data_hash(stranger):
    data = corpus_ofd("ofdrw-v4signed.ofd")
    # hide a changed page: drop its Reference from Signature.xml
    attacked = re.sub(rb'<ofd:Reference FileRef="/Doc_0/Pages/Page_0/Content.xml"><ofd:CheckValue>[^<]+'
                      rb'</ofd:CheckValue></ofd:Reference>', b"",
                      dict(entries(data))["Doc_0/Signs/Sign_0/Signature.xml"])
    report = _verify(rezip(data, replace={"Doc_0/Signs/Sign_0/Signature.xml": attacked}), stranger)
    step = failed_step(report, "data_hash")
    assert step.sub_indication == "HASH_FAILURE" and "Signature.xml" in step.reason


def test_a_moved_stamp_fails_the_data_hash(stranger):
    data = corpus_ofd("anzhengtong-v4-two-seals.ofd")
    attacked = _change(data, "Doc_0/Signs/Sign_0/Signature.xml", b'Boundary="33.866667 134.143750',
                       b'Boundary="120.866667 200.143750')
    report = _verify(attacked, stranger)
    assert failed_step(report, "data_hash").sub_indication == "HASH_FAILURE"
    assert report.signatures[0].indication == (TOTAL_FAILED, "HASH_FAILURE")


def test_signed_value_or_seal_swapped_from_another_document_fail(stranger):
    other = dict(entries(corpus_ofd("invoice-example-v4.ofd")))
    data = corpus_ofd("ofdrw-1-v4.ofd")
    swapped = rezip(data, replace={"Doc_0/Signs/Sign_0/SignedValue.dat": other["Doc_0/Signs/Sign_0/SignedValue.dat"]})
    assert failed_step(_verify(swapped, stranger), "data_hash").sub_indication == "HASH_FAILURE"
    seal = dict(entries(corpus_ofd("ofdrw-SESV4SignDoc.ofd")))["Doc_0/Signs/Sign_0/Seal.esl"]
    two = corpus_ofd("anzhengtong-v4-two-seals.ofd")
    report = _verify(rezip(two, replace={"Doc_0/Signs/Sign_0/Seal.esl": seal}), stranger)
    step = failed_step(report, "seal_file")
    assert step.sub_indication == "HASH_FAILURE" and "not the seal that signed" in step.reason
    assert report.indication[0] == TOTAL_FAILED


def test_a_later_signature_that_protects_less_is_flagged(stranger):
    data = corpus_ofd("anzhengtong-v4-two-seals.ofd")
    sign_1 = dict(entries(data))["Doc_0/Signs/Sign_1/Signature.xml"]
    weaker = re.sub(rb'<ofd:Reference FileRef="/Doc_0/Res/font6_797.ttf">\s*<ofd:CheckValue>[^<]+</ofd:CheckValue>'
                    rb'\s*</ofd:Reference>', b"", sign_1)
    report = _verify(rezip(data, replace={"Doc_0/Signs/Sign_1/Signature.xml": weaker}), stranger)
    first = steps(report.signatures[0])["later_signatures"]
    assert not first.passed and "font6_797.ttf" in first.reason
    assert report.indication[0] == TOTAL_FAILED


@pytest.mark.parametrize(("attack", "expected"), [
    ("duplicate", "two entries"), ("traversal", "entry name"), ("dtd", "DTD"), ("entities", "DTD"),
    ("bomb", "inflates"), ("truncated", "zip"), ("not-zip", "zip"), ("no-ofd-xml", "no OFD.xml"),
])
def test_hostile_packages_are_a_clear_format_failure(attack, expected, stranger):
    data = corpus_ofd("ofdrw-1-v4.ofd")
    good = entries(data)
    laughs = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
              b']><ofd:OFD xmlns:ofd="http://www.ofdspec.org/2016">&b;</ofd:OFD>')
    attacked = {
        "duplicate": lambda: build([*good, ("Doc_0/Pages/Page_0/Content.xml", b"<ofd:Page/>")]),
        "traversal": lambda: build([*good, ("Doc_0/../../evil.xml", b"x")]),
        "dtd": lambda: rezip(data, replace={"OFD.xml": b'<!DOCTYPE r SYSTEM "http://example.invalid/x"><r/>'}),
        "entities": lambda: rezip(data, replace={"OFD.xml": laughs}),
        "bomb": lambda: build([*good, ("Doc_0/Res/bomb.bin", b"\0" * (40 * 1024 * 1024))]),
        "truncated": lambda: data[: len(data) // 2],
        "not-zip": lambda: b"PK\x03\x04 but then nothing of a zip file",
        "no-ofd-xml": lambda: rezip(data, drop=("OFD.xml",)),
    }[attack]
    with pytest.warns(UserWarning) if attack == "duplicate" else _quiet():
        hostile = attacked()
    report = _verify(hostile, stranger)
    step = failed_step(report, "ofd_package")
    assert step.sub_indication == "FORMAT_FAILURE" and expected in step.reason, step.reason
    assert report.indication == (TOTAL_FAILED, "FORMAT_FAILURE")


class _quiet:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_a_hundred_megabytes_of_pages_stays_within_the_limits(stranger):
    good = entries(corpus_ofd("ofdrw-helloworld-unsigned.ofd"))
    page = b"<ofd:Page xmlns:ofd='http://www.ofdspec.org/2016'>" + b"<ofd:Content/>" * 70_000 + b"</ofd:Page>"
    report = _verify(build(good + [(f"Doc_0/Pages/Page_{i}/Content.xml", page) for i in range(1, 105)]), stranger)
    assert "limit" in failed_step(report, "ofd_package").reason
    tight = replace(DEFAULT, limits=Limits(max_inflated_bytes=200_000))
    report = _verify(corpus_ofd("anzhengtong-v4-two-seals.ofd"), stranger, policy=tight)
    assert "limit" in failed_step(report, "ofd_package").reason


def test_format_is_decided_by_content_not_name(stranger):
    report = verify_bytes(corpus_ofd("ofdrw-1-v4.ofd"), stranger, name="looks-like.pdf")
    assert report.format == "ofd" and report.signatures[0].kind == "ofd-seal"


def test_reports_validate_against_the_committed_schema(stranger):
    from tests.verify.test_cli import validate
    from verify import document

    reports = [_verify(corpus_ofd(name), stranger, name=name) for name in OFD_FILES]
    validate(document(reports))


# --- fuzzing: every input gets a verdict, within the time budget ----------------------------------
FUZZ_POLICY = replace(DEFAULT, limits=Limits(seconds=10))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(name=st.sampled_from(["ofdrw-1-v4.ofd", "ofdrw-SESV4SignDoc.ofd", "ofdrw-DigitalSign-raw-sm2.ofd"]),
       at=st.integers(min_value=0, max_value=20_000), noise=st.binary(min_size=1, max_size=64))
def test_fuzzed_ofd_always_gets_a_verdict(name, at, noise, stranger):
    data = bytearray(corpus_ofd(name))
    at %= len(data)
    data[at:at + len(noise)] = noise
    report = verify_ofd(bytes(data), stranger, FUZZ_POLICY, name=name)
    assert report.document_steps or report.signatures
    assert not any(step.name.value in ("internal", "time_budget") for step in report.document_steps)
    if report.indication[0] == TOTAL_PASSED:  # cannot happen with an unrelated anchor
        raise AssertionError(report.as_dict())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(at=st.integers(min_value=0, max_value=6_000), noise=st.binary(min_size=1, max_size=32))
def test_fuzzed_ses_values_inside_an_ofd_always_get_a_verdict(at, noise, stranger):
    data = corpus_ofd("ofdrw-1-v4.ofd")
    value = bytearray(dict(entries(data))["Doc_0/Signs/Sign_0/SignedValue.dat"])
    at %= len(value)
    value[at:at + len(noise)] = noise
    report = verify_ofd(rezip(data, replace={"Doc_0/Signs/Sign_0/SignedValue.dat": bytes(value)}), stranger,
                        FUZZ_POLICY)
    assert report.indication[0] != TOTAL_PASSED and report.signatures
    ses_report = verify_ses_signature(bytes(value), stranger, policy=FUZZ_POLICY)
    assert ses_report.indication[0] != TOTAL_PASSED


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(["anzhengtong-v4-two-seals.ofd", "ofdrw-keyword-pkcs7-and-v4.ofd", "ofdrw-n-v1.ofd",
                             "ofdrw-DigitalSign-raw-sm2.ofd"]),
       pick=st.integers(min_value=0, max_value=1_000), at=st.integers(min_value=0, max_value=100_000),
       noise=st.binary(min_size=0, max_size=24), cut=st.booleans())
def test_fuzzed_entries_in_a_valid_zip_always_get_a_verdict(name, pick, at, noise, cut, stranger):
    """Noise inside one entry of a well-formed zip reaches the XML, path and value parsers, not only the zip's."""
    items = entries(corpus_ofd(name))
    files = [index for index, (entry, _) in enumerate(items) if not entry.endswith("/")]
    index = files[pick % len(files)]
    entry, content = items[index]
    content = bytearray(content)
    at %= max(len(content), 1)
    content[at:at + (len(content) if cut else len(noise))] = noise
    items[index] = (entry, bytes(content))
    report = verify_ofd(build(items), stranger, FUZZ_POLICY, name=name)
    everything = list(report.document_steps) + [step for sig in report.signatures for step in sig.steps]
    assert everything and not any(step.name.value in ("internal", "time_budget") for step in everything), \
        report.as_dict()
    assert report.indication[0] != TOTAL_PASSED


def test_a_page_missing_from_the_package_is_a_verdict_not_a_crash(stranger):
    # found by fuzzing: the first page's BaseLoc broken, the stamp on the second page
    data = _change(corpus_ofd("ofdrw-n-v1.ofd"), "Doc_0/Document.xml", b'BaseLoc="Pages/Page_0/Content.xml"',
                   b'BaseLoc="Pages/Page_..0/Content.xml"')
    report = _verify(data, stranger)
    (sig,) = report.signatures
    assert not any(step.name.value == "internal" for step in sig.steps)
    assert steps(sig)["stamp_annot"].passed and sig.widget["page"] == 0
    assert any("/Doc_0/Pages/Page_..0/Content.xml" in note for note in report.notes)
    assert report.indication[0] == TOTAL_FAILED


def test_a_second_document_in_the_package_is_named_as_unverified(stranger):
    data = corpus_ofd("ofdrw-1-v4.ofd")
    body = re.search(rb"<ofd:DocBody>.*</ofd:DocBody>", dict(entries(data))["OFD.xml"], re.S).group(0)
    attacked = _change(data, "OFD.xml", b"</ofd:DocBody>", b"</ofd:DocBody>" + body.replace(b"Doc_0", b"Doc_1"))
    report = _verify(attacked, stranger)
    assert any("2 documents" in note and "only the first" in note for note in report.notes)
    assert "/OFD.xml" in failed_step(report, "references").reason  # this producer protects OFD.xml
