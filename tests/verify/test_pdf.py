"""verify_pdf on real sealed PDFs: positives (SM2, P-256) and generated attacks, each with its sub-indication."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from tests.verify.support import OtherUserId, World, base_pdf, draw_on_pages
from verify import DEFAULT, INDETERMINATE, TOTAL_FAILED, TOTAL_PASSED, TrustBundle, verify_pdf


def assert_passed(report) -> None:
    failures = [(s.name, s.reason) for s in report.document_steps if not s.passed]
    for sig in report.signatures:
        failures += [(f"{sig.name}.{s.name}", s.reason) for s in sig.steps if not s.passed]
    assert report.indication == (TOTAL_PASSED, None), failures
    assert report.signatures and all(sig.passed for sig in report.signatures)


def verdict(report) -> tuple[str, str | None]:
    return report.indication


# -- positives ---------------------------------------------------------------------------------------
def _sealed(world: World, algorithm: str, **options) -> bytes:
    who = world.sm2 if algorithm == "sm2" else world.p256
    return world.sign(base_pdf(options.pop("pages", 1)), who, **options)


@pytest.mark.parametrize("algorithm", ["sm2", "p256"])
def test_visible_seal_on_a_multi_page_pdf_passes_offline(world, algorithm):
    data = world.doc(f"visible-{algorithm}", lambda: _sealed(world, algorithm, pages=3, page=2))
    report = verify_pdf(data, world.trust)
    assert_passed(report)
    sig = report.signatures[0]
    assert sig.widget["page"] == 2 and sig.widget["visible"]
    assert sig.signer["uscc"] == "91120000MA05JX3B3T" and sig.signer["organisation"] == "天津示例有限公司"
    assert sig.signing_time["proven"] is False and "claimed" in sig.signing_time["source"]
    if algorithm == "sm2":
        assert sig.seal["es_id"] == "12010020261128000001" and sig.seal["type_name"] == "公章"
        assert sig.seal["picture"]["data_uri"].startswith("data:image/png;base64,")
        assert "certList" in sig.step("seal").reason
    names = [s.name for s in sig.steps]
    assert names == ["cms_structure", "byte_range", "coverage", "message_digest", "signature_value", "timestamp",
                     "certificate_chain", "validity_at_signing_time", "revocation", "key_usage", "seal",
                     "modifications"]
    assert [f["sha256"] for f in report.trust["anchors"]] == [f["sha256"] for f in world.trust.fingerprints]


def test_riding_seam_stamps_drawn_before_sealing_pass(world):
    def build():
        writer = IncrementalPdfFileWriter(io.BytesIO(base_pdf(4)), strict=False)
        draw_on_pages(writer, 4, seam=True)
        out = io.BytesIO()
        writer.write(out)
        return world.sign(out.getvalue(), world.sm2, box=(500, 300, 595, 420))

    assert_passed(verify_pdf(world.doc("seam", build), world.trust))


@pytest.mark.parametrize("algorithm", ["sm2", "p256"])
def test_two_successive_seals_and_a_timestamp_pass(world, algorithm):
    def build():
        first = _sealed(world, algorithm, timestamp=True)
        return world.sign(first, world.p256 if algorithm == "sm2" else world.sm2, field="Seal2",
                          box=(100, 80, 220, 200), timestamp=True)

    report = verify_pdf(world.doc(f"two-{algorithm}", build), world.trust)
    assert_passed(report)
    assert [s.name for s in report.signatures] == ["Seal1", "Seal2"]
    for sig in report.signatures:
        assert sig.signing_time["proven"] is True and sig.signing_time["source"] == "timestamp"
        assert any(e["type"] == "timestamp" for e in sig.evidence)
    assert "signatures were added" in report.signatures[0].step("modifications").reason


@pytest.mark.parametrize("algorithm", ["sm2", "p256"])
def test_b_lt_with_dss_crls_and_ocsp_passes_and_lists_the_evidence(world, algorithm):
    who = world.sm2 if algorithm == "sm2" else world.p256

    def build():
        signed = world.sign(base_pdf(), who, timestamp=True, pades=True)
        return world.add_dss(signed, crls=world.crls(who), ocsps=[world.ocsp_response(who)],
                             certs=who.chain)

    report = verify_pdf(world.doc(f"blt-{algorithm}", build), world.trust)
    assert_passed(report)
    sig = report.signatures[0]
    kinds = sorted({(e["type"], e.get("source")) for e in sig.evidence})
    assert ("crl", "dss") in kinds and ("ocsp", "dss") in kinds and ("timestamp", "signature-time-stamp-token") in kinds
    assert "according to 2 CRL(s) and 1 OCSP response(s)" in sig.step("revocation").reason
    assert "lta updates" in sig.step("modifications").reason


# -- negatives ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sealed(world) -> bytes:
    return world.doc("plain-p256", lambda: _sealed(world, "p256"))


def _sig_step(report, name):
    return report.signatures[0].step(name)


def test_a_byte_flipped_inside_the_signed_ranges_is_a_hash_failure(world, sealed):
    data = sealed.replace(b"Business licence page 1", b"Business licence page 7", 1)
    assert data != sealed
    report = verify_pdf(data, world.trust)
    assert verdict(report) == (TOTAL_FAILED, "HASH_FAILURE")
    assert not _sig_step(report, "message_digest").passed


def test_an_edited_byte_range_is_a_format_failure(world, sealed):
    match = re.search(rb"/ByteRange\s*\[\s*0\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", sealed)
    a, b, c = (int(x) for x in match.groups())
    replacement = f"/ByteRange [0 {a} {b} {c - 10}]".encode()
    replacement = replacement.ljust(len(match.group(0)))
    data = sealed[:match.start()] + replacement + sealed[match.end():]
    report = verify_pdf(data, world.trust)
    assert verdict(report) == (TOTAL_FAILED, "FORMAT_FAILURE")
    failing = {s.name for s in report.signatures[0].steps if not s.passed}
    assert "coverage" in failing or "byte_range" in failing


def _incremental(data: bytes, change) -> bytes:
    writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
    change(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_an_incremental_update_changing_page_content_fails_modifications(world, sealed):
    data = _incremental(sealed, lambda w: draw_on_pages(w, 1, seam=False))
    report = verify_pdf(data, world.trust)
    assert verdict(report) == (TOTAL_FAILED, "FORMAT_FAILURE")
    step = _sig_step(report, "modifications")
    assert not step.passed and ("no rule allows" in step.reason or "suspicious" in step.reason)
    assert _sig_step(report, "message_digest").passed  # the signature itself is intact


def test_shadow_hide_an_annotation_added_after_sealing_fails(world, sealed):
    def hide(writer):
        page_ref = writer.find_page_for_modification(0)[0]
        page = page_ref.get_object()
        annot = writer.add_object(generic.DictionaryObject({
            generic.NameObject("/Type"): generic.NameObject("/Annot"),
            generic.NameObject("/Subtype"): generic.NameObject("/Square"),
            generic.NameObject("/Rect"): generic.ArrayObject([generic.NumberObject(n) for n in (60, 660, 560, 760)]),
            generic.NameObject("/IC"): generic.ArrayObject([generic.FloatObject(1)] * 3),
        }))
        annots = page.get("/Annots")
        items = list(annots) if annots is not None else []
        page[generic.NameObject("/Annots")] = generic.ArrayObject([*items, annot])
        writer.update_container(page)

    report = verify_pdf(_incremental(sealed, hide), world.trust)
    assert verdict(report) == (TOTAL_FAILED, "FORMAT_FAILURE")
    assert not _sig_step(report, "modifications").passed


def test_shadow_replace_regenerating_a_form_field_appearance_fails_though_pyhanko_allows_it(world):
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature

    from verify.certs import validation_context

    signed = world.doc("with-field", lambda: world.sign(base_pdf(text_field=True), world.p256))

    def replace(writer):
        field = writer.root["/AcroForm"]["/Fields"][0].get_object()
        field[generic.NameObject("/V")] = generic.TextStringObject("Forged Holder Ltd.")
        ap = writer.add_object(generic.StreamObject(
            {generic.NameObject("/Type"): generic.NameObject("/XObject"),
             generic.NameObject("/Subtype"): generic.NameObject("/Form"),
             generic.NameObject("/BBox"): generic.ArrayObject([generic.NumberObject(n) for n in (0, 0, 300, 30)])},
            stream_data=b"BT /Helv 14 Tf 2 8 Td (Forged Holder Ltd.) Tj ET"))
        field[generic.NameObject("/AP")] = generic.DictionaryObject({generic.NameObject("/N"): ap})
        writer.update_container(field)

    data = _incremental(signed, replace)
    # pyhanko's default policy calls this FORM_FILLING and keeps the signature valid ...
    embedded = PdfFileReader(io.BytesIO(data), strict=False).embedded_signatures[0]
    status = validate_pdf_signature(embedded, validation_context(world.trust))
    assert status.intact and status.valid and status.docmdp_ok
    # ... ours fails it.
    report = verify_pdf(data, world.trust)
    assert verdict(report) == (TOTAL_FAILED, "FORMAT_FAILURE")
    step = _sig_step(report, "modifications")
    assert not step.passed and "Fields[0]" in step.reason  # the text field is what changed


def test_a_second_field_reusing_the_signature_dictionary_fails(world, sealed):
    def reuse(writer):
        form = writer.root["/AcroForm"]
        first = form["/Fields"][0].get_object()
        page_ref = writer.find_page_for_modification(0)[0]
        field = writer.add_object(generic.DictionaryObject({
            generic.NameObject("/FT"): generic.NameObject("/Sig"),
            generic.NameObject("/T"): generic.TextStringObject("Seal2"),
            generic.NameObject("/V"): first.raw_get("/V"),
            generic.NameObject("/Type"): generic.NameObject("/Annot"),
            generic.NameObject("/Subtype"): generic.NameObject("/Widget"),
            generic.NameObject("/Rect"): generic.ArrayObject([generic.NumberObject(0)] * 4),
            generic.NameObject("/P"): page_ref,
        }))
        form["/Fields"].append(field)
        writer.update_container(form)

    report = verify_pdf(_incremental(sealed, reuse), world.trust)
    assert verdict(report) == (TOTAL_FAILED, "FORMAT_FAILURE")
    step = next(s for s in report.document_steps if s.name == "signature_references")
    assert not step.passed and "referenced by two fields" in step.reason


def test_garbage_after_the_last_eof_fails(world, sealed):
    report = verify_pdf(sealed + b"\n<script>garbage that is not a revision</script>\n", world.trust)
    assert verdict(report) == (TOTAL_FAILED, "FORMAT_FAILURE")
    step = next(s for s in report.document_steps if s.name == "trailing_bytes")
    assert not step.passed


def test_a_chain_to_an_untrusted_ca_is_indeterminate(world, sealed):
    sm2_root_only = TrustBundle.from_certificates([world.pki.ca_certificate("sm2-root")], "sm2 root only")
    report = verify_pdf(sealed, sm2_root_only)
    assert verdict(report) == (INDETERMINATE, "NO_CERTIFICATE_CHAIN_FOUND")
    assert _sig_step(report, "signature_value").passed


@pytest.fixture(scope="module")
def revoked_before_sealing(world) -> dict:
    """Two seals whose certificates were revoked two seconds before they sealed (CRL, OCSP evidence)."""
    who = {kind: world.identity("p256") for kind in ("crl", "ocsp")}
    # Revocation times have one-second resolution: revoked strictly before the seals, without waiting for it.
    revoked_at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=2)
    for identity in who.values():
        world.pki.revoke(identity.ca, identity.serial, "keyCompromise", at=revoked_at)
    return {kind: world.sign(base_pdf(), identity) for kind, identity in who.items()} | {"who": who}


@pytest.mark.parametrize("evidence", ["crl", "ocsp"])
def test_a_certificate_revoked_before_sealing_is_revoked(world, revoked_before_sealing, evidence):
    who = revoked_before_sealing["who"][evidence]
    signed = revoked_before_sealing[evidence]
    data = (world.add_dss(signed, crls=world.crls(who)) if evidence == "crl"
            else world.add_dss(signed, ocsps=[world.ocsp_response(who)]))
    report = verify_pdf(data, world.trust)
    assert verdict(report) == (TOTAL_FAILED, "REVOKED")
    assert "key_compromise" in _sig_step(report, "revocation").reason


def test_a_certificate_revoked_after_its_claimed_signing_time_is_revoked_no_poe(world):
    who = world.identity("p256")
    signed = world.sign(base_pdf(), who)
    world.pki.revoke(who.ca, who.serial, "keyCompromise")
    report = verify_pdf(world.add_dss(signed, crls=world.crls(who)), world.trust)
    assert verdict(report) == (INDETERMINATE, "REVOKED_NO_POE")


def test_a_seal_on_hold_is_try_later(world):
    who = world.identity("sm2")
    world.pki.revoke(who.ca, who.serial, "certificateHold")
    data = world.add_dss(world.sign(base_pdf(), who), crls=world.crls(who))
    report = verify_pdf(data, world.trust)
    assert verdict(report) == (INDETERMINATE, "TRY_LATER")
    assert "on hold" in _sig_step(report, "revocation").reason


def test_an_expired_certificate_is_expired(world):
    now = datetime.now(UTC)
    who = world.custom_identity("p256", not_before=now - timedelta(days=60), not_after=now - timedelta(days=30))
    report = verify_pdf(world.sign(base_pdf(), who), world.trust)
    assert verdict(report) == (TOTAL_FAILED, "EXPIRED")
    assert not _sig_step(report, "validity_at_signing_time").passed


def test_a_signature_valid_at_signing_but_expired_now_without_a_timestamp_is_out_of_bounds(world, sealed):
    later = datetime.now(UTC) + timedelta(days=3 * 366)
    report = verify_pdf(sealed, world.trust, at=later)
    assert verdict(report) == (INDETERMINATE, "OUT_OF_BOUNDS_NO_POE")


def test_an_sm2_signature_made_with_another_user_id_is_a_crypto_failure(world):
    data = world.sign(base_pdf(), world.sm2, key=OtherUserId(world.sm2.key))
    report = verify_pdf(data, world.trust)
    assert verdict(report) == (TOTAL_FAILED, "SIG_CRYPTO_FAILURE")
    assert _sig_step(report, "message_digest").passed and not _sig_step(report, "signature_value").passed


def test_a_certificate_without_signing_key_usage_fails_key_usage(world):
    who = world.custom_identity("p256", key_usage=("key_encipherment",))
    report = verify_pdf(world.sign(base_pdf(), who), world.trust)
    assert verdict(report) == (INDETERMINATE, "CHAIN_CONSTRAINTS_FAILURE")
    assert not _sig_step(report, "key_usage").passed


def test_a_tsa_certificate_cannot_seal(world):
    key, certificate = world.pki.service_certificate("p256-issuing", "tsa")
    from tests.verify.support import Identity

    who = Identity(key, certificate, [world.pki.ca_certificate("p256-issuing")], "p256-issuing")
    report = verify_pdf(world.sign(base_pdf(), who), world.trust)
    assert not _sig_step(report, "key_usage").passed


def test_a_document_without_signature_fails(world):
    report = verify_pdf(base_pdf(), world.trust)
    assert verdict(report) == (TOTAL_FAILED, "FORMAT_FAILURE")
    assert report.document_steps[-1].name == "signatures_present" and not report.document_steps[-1].passed


@pytest.mark.parametrize("data", [b"", b"not a pdf", b"%PDF-1.7\n" + b"\x00" * 100, b"%PDF-1.4\n1 0 obj <<"])
def test_garbage_is_a_format_failure_not_an_exception(world, data):
    report = verify_pdf(data, world.trust)
    assert verdict(report) == (TOTAL_FAILED, "FORMAT_FAILURE")


def test_a_seal_whose_signer_is_not_in_its_cert_list_fails(world):
    other = world.identity("sm2")
    who = world.identity("sm2")
    who.seal = world.make_seal(other.certificate)
    report = verify_pdf(world.sign(base_pdf(), who), world.trust)
    assert verdict(report) == (INDETERMINATE, "SIG_CONSTRAINTS_FAILURE")
    assert "certList" in _sig_step(report, "seal").reason


def test_an_empty_policy_cannot_pass(world, sealed):
    report = verify_pdf(sealed, world.trust, policy=DEFAULT.with_steps())
    assert verdict(report) == (INDETERMINATE, "POLICY_PROCESSING_ERROR")


def test_a_policy_runs_only_the_checks_it_names(world, sealed):
    garbage = sealed + b"\n<script>garbage that is not a revision</script>\n"  # trailing_bytes fails it by default
    report = verify_pdf(garbage, world.trust, policy=DEFAULT.with_steps("message_digest", "signature_value"))
    assert report.document_steps == []  # parse and signatures_present passed: preconditions, not named
    assert [s.name for s in report.signatures[0].steps] == ["message_digest", "signature_value"]
    assert verdict(report) == (TOTAL_PASSED, None)
    assert report.as_dict()["policy"]["steps"] == ["message_digest", "signature_value"]


def test_a_policy_naming_an_undeclared_check_is_refused():
    with pytest.raises(ValueError, match="signature_valu"):
        DEFAULT.with_steps("message_digest", "signature_valu")


def test_a_policy_can_allow_form_filling(world):
    signed = world.doc("with-field", lambda: world.sign(base_pdf(text_field=True), world.p256))

    def fill(writer):
        field = writer.root["/AcroForm"]["/Fields"][0].get_object()
        field[generic.NameObject("/V")] = generic.TextStringObject("Updated")
        writer.update_container(field)

    from dataclasses import replace

    data = _incremental(signed, fill)
    assert verdict(verify_pdf(data, world.trust))[0] == TOTAL_FAILED
    assert_passed(verify_pdf(data, world.trust, policy=replace(DEFAULT, allow_form_filling=True)))


def _b_lta(world) -> bytes:
    from pyhanko.sign.signers.pdf_signer import PdfTimeStamper

    from tests.verify.support import LocalTimeStamper

    def build():
        who = world.p256
        signed = world.sign(base_pdf(), who, timestamp=True, pades=True)
        lt = world.add_dss(signed, crls=world.crls(who), ocsps=[world.ocsp_response(who)], certs=who.chain)
        stamper = LocalTimeStamper(world.pki.time_stamp_authority("p256"))
        writer = IncrementalPdfFileWriter(io.BytesIO(lt), strict=False)
        return PdfTimeStamper(stamper).timestamp_pdf(writer, "sha256", validation_context=None,
                                                     timestamper=stamper).getvalue()

    return world.doc("blta-p256", build)


def test_b_lta_document_timestamp_over_a_b_lt_seal_passes(world):
    report = verify_pdf(_b_lta(world), world.trust)
    assert_passed(report)
    kinds = [s.kind for s in report.signatures]
    assert kinds == ["pdf-signature", "document-timestamp"]
    stamp = report.signatures[1]
    assert stamp.signing_time["proven"] and stamp.step("certificate_chain").passed


def test_a_document_timestamp_with_a_flipped_byte_fails(world):
    tampered = _b_lta(world).replace(b"Business licence page 1", b"Business licence page 2", 1)
    report = verify_pdf(tampered, world.trust)
    assert report.indication == (TOTAL_FAILED, "HASH_FAILURE")
    assert not report.signatures[1].step("message_digest").passed


def test_a_forged_crl_added_after_sealing_changes_nothing(world, sealed):
    from keys.asymmetric import generate_private_key
    from keys.pki.certificates import Issuer
    from keys.pki.crl import RevokedEntry, build_crl

    real = world.pki.issuer("p256-issuing")
    forger = Issuer(real.name, generate_private_key("p256"), real.key_identifier, "p256-issuing", None)
    now = datetime.now(UTC)
    crl = build_crl(forger, number=99, this_update=now, next_update=now + timedelta(days=1),
                    revoked=[RevokedEntry(world.p256.certificate.serial_number, now + timedelta(minutes=1),
                                          "key_compromise")])
    report = verify_pdf(world.add_dss(sealed, crls=[crl]), world.trust)
    assert_passed(report)
    assert any("not signed by a known CA" in w for w in report.signatures[0].warnings)
    assert not any(e["type"] == "crl" for e in report.signatures[0].evidence)


def test_revocation_data_of_cas_outside_the_chain_is_no_warning(world):
    """Every CA's CRL and another CA's OCSP response beside an SM2 seal: nothing forged, nothing to warn of."""
    sealed = world.doc("plain-sm2", lambda: _sealed(world, "sm2"))
    report = verify_pdf(sealed, world.trust, crls=[world.pki.crl(ca) for ca in world.pki.ca_names()],
                        ocsps=[world.ocsp_response(world.p256)])
    assert_passed(report)
    assert report.signatures[0].warnings == []


def test_a_document_timestamp_proves_a_seal_existed_before_its_certificate_expired(world):
    from pyhanko.sign.signers.pdf_signer import PdfTimeStamper

    from tests.verify.support import LocalTimeStamper

    def build():
        who = world.p256
        signed = world.sign(base_pdf(), who, pades=True)  # no signature time-stamp: the signing time is a claim
        lt = world.add_dss(signed, crls=world.crls(who), certs=who.chain)
        stamper = LocalTimeStamper(world.pki.time_stamp_authority("p256"))
        writer = IncrementalPdfFileWriter(io.BytesIO(lt), strict=False)
        return lt, PdfTimeStamper(stamper).timestamp_pdf(writer, "sha256", timestamper=stamper).getvalue()

    lt, lta = build()
    years_later = datetime.now(UTC) + timedelta(days=4 * 365)  # the seal certificate (3 years) has expired
    assert verify_pdf(lt, world.trust, at=years_later).indication == (INDETERMINATE, "OUT_OF_BOUNDS_NO_POE")
    report = verify_pdf(lta, world.trust, at=years_later)
    assert_passed(report)
    assert "document time-stamp" in report.signatures[0].step("validity_at_signing_time").reason


def test_an_rsa_seal_certified_by_the_p256_ca_passes(world):
    who = world.custom_identity("rsa2048")
    report = verify_pdf(world.sign(base_pdf(), who), world.trust)
    assert_passed(report)
    assert "sha256_rsa" in report.signatures[0].step("signature_value").reason
