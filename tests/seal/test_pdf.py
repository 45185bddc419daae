"""Sealed PDFs validate with pyhanko offline against the exported trust bundle; stamps are where asked."""

from __future__ import annotations

import dataclasses
import subprocess

import pytest
from asn1crypto import x509
from pyhanko.pdf_utils.reader import PdfFileReader

from keys import ses
from keys.cms import seseal_from_signer_info
from seal.pdf import MM, PdfRefused, Placement, parse_page_list, seal_pdf
from seal.registry import sealer_for
from tests.helpers import require_tool
from tests.seal.pdfs import A4, make_pdf
from tests.seal.support import red_fraction, render, validate_all

DPI = 36
SCALE = DPI / 72


def _pixel_box(box, margin: float = 0.2) -> tuple[int, int, int, int]:
    """The inner part of a PDF box (bottom-left origin, points) in rendered-page pixels."""
    x1, y1, x2, y2 = box
    dx, dy = (x2 - x1) * margin, (y2 - y1) * margin
    return (round((x1 + dx) * SCALE), round((A4[1] - y2 + dy) * SCALE),
            round((x2 - dx) * SCALE), round((A4[1] - y1 - dy) * SCALE))


@pytest.fixture(scope="module")
def sealers(seal_home, sm2_seal, p256_seal):
    registry = seal_home.registry
    return {"sm2": sealer_for(registry, sm2_seal.esid), "p256": sealer_for(registry, p256_seal.esid)}


@pytest.mark.parametrize("algorithm", ["sm2", "p256"])
def test_visible_b_lt_seal_validates_offline_and_carries_the_seal(seal_home, sealers, algorithm, tmp_path):
    sealer = sealers[algorithm]
    result = seal_pdf(sealer, make_pdf(1, tag=algorithm), Placement(page=1, x_mm=150, y_mm=230))
    [status] = validate_all(result.pdf, seal_home.trust_pem, hard_fail=True)
    assert status.bottom_line, status.pretty_print_details()
    assert status.intact and status.valid and status.trusted
    assert status.timestamp_validity is not None and status.timestamp_validity.trusted

    embedded = PdfFileReader(__import__("io").BytesIO(result.pdf)).embedded_signatures[0]
    assert embedded.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
    signer_info = embedded.signer_info
    expected = ("sm2_sm3", "sm3") if algorithm == "sm2" else ("sha256_ecdsa", "sha256")
    assert (signer_info["signature_algorithm"]["algorithm"].native,
            signer_info["digest_algorithm"]["algorithm"].native) == expected
    # The SESeal in the signed attribute is the registry's .esl; its maker signature verifies and
    # its certList holds the signer certificate.
    seal_der = seseal_from_signer_info(signer_info)
    assert seal_der == seal_home.registry.blob(sealer.esid, "seseal_der")
    seal = ses.parse_seal(seal_der)
    assert seal.es_id == sealer.esid and ses.verify_maker_signature(seal).passed
    assert embedded.signer_cert.dump() in seal.certs
    x509.Certificate.load(seal.maker_cert)  # the maker certificate is a certificate

    # Where it was asked: centre 150 mm from the left, 230 mm from the top.
    x1, y1, x2, y2 = result.box
    assert ((x1 + x2) / 2, (y1 + y2) / 2) == pytest.approx((150 * MM, A4[1] - 230 * MM))
    out = tmp_path / "sealed.pdf"
    out.write_bytes(result.pdf)
    subprocess.run([require_tool("qpdf"), "--check", str(out)], check=True, capture_output=True)
    [page] = render(require_tool("pdftoppm"), out, tmp_path / "page", DPI)
    assert red_fraction(page, _pixel_box(result.box)) > 0.05
    assert red_fraction(page, _pixel_box((72, 72, 200, 200))) == 0  # and nowhere else


def test_b_b_and_b_t_levels(seal_home, sealers):
    sealer = sealers["sm2"]
    plain = seal_pdf(sealer, make_pdf(1, tag="bb"), Placement(), level="B-B")
    [status] = validate_all(plain.pdf, seal_home.trust_pem, hard_fail=False)
    assert status.bottom_line and status.timestamp_validity is None
    # Without embedded revocation data, an offline hard-fail validation cannot decide.
    [strict] = validate_all(plain.pdf, seal_home.trust_pem, hard_fail=True)
    assert not strict.trusted

    stamped = seal_pdf(sealer, make_pdf(1, tag="bt"), Placement(), level="B-T")
    [status] = validate_all(stamped.pdf, seal_home.trust_pem, hard_fail=False)
    assert status.bottom_line and status.timestamp_validity is not None and status.timestamp_validity.trusted
    assert b"/DSS" not in stamped.pdf


def test_pkcs7_subfilter(seal_home, sealers):
    result = seal_pdf(sealers["sm2"], make_pdf(1), Placement(), level="B-T", pades=False)
    embedded = PdfFileReader(__import__("io").BytesIO(result.pdf)).embedded_signatures[0]
    assert embedded.sig_object["/SubFilter"] == "/adbe.pkcs7.detached"
    [status] = validate_all(result.pdf, seal_home.trust_pem, hard_fail=False)
    assert status.bottom_line


def test_keyword_anchored_seal(seal_home, sealers, tmp_path):
    data = make_pdf(2, keyword_page=2, keyword="（盖章）", keyword_at=(380, 250))
    result = seal_pdf(sealers["sm2"], data, Placement(keyword="（盖章）"))
    assert result.page == 2
    x1, y1, x2, y2 = result.box
    # STSong at 14 pt: four glyphs of 14 pt from x=380, baseline 250.
    assert (x1 + x2) / 2 == pytest.approx(380 + 28, abs=3)
    assert (y1 + y2) / 2 == pytest.approx(250 + 5, abs=6)
    [status] = validate_all(result.pdf, seal_home.trust_pem, hard_fail=True)
    assert status.bottom_line
    out = tmp_path / "kw.pdf"
    out.write_bytes(result.pdf)
    pages = render(require_tool("pdftoppm"), out, tmp_path / "kw", DPI)
    assert red_fraction(pages[1], _pixel_box(result.box)) > 0.05
    assert red_fraction(pages[0], _pixel_box(result.box)) == 0

    with pytest.raises(PdfRefused) as refused:
        seal_pdf(sealers["sm2"], data, Placement(keyword="（签字）"))
    assert refused.value.kind == "keyword-not-found"


def test_several_pages_and_riding_seam_in_the_signed_revision(seal_home, sealers, tmp_path):
    data = make_pdf(3, tag="riding")
    result = seal_pdf(sealers["sm2"], data, Placement(page=1, x_mm=100, y_mm=200, pages="all", riding=True))
    [status] = validate_all(result.pdf, seal_home.trust_pem, hard_fail=True)
    assert status.bottom_line, status.pretty_print_details()
    # The stamps drawn into page content are in the revision the one signature covers.
    assert status.coverage.name == "ENTIRE_REVISION" and status.modification_level.name == "LTA_UPDATES"
    out = tmp_path / "riding.pdf"
    out.write_bytes(result.pdf)
    subprocess.run([require_tool("qpdf"), "--check", str(out)], check=True, capture_output=True)
    pages = render(require_tool("pdftoppm"), out, tmp_path / "riding", DPI)
    assert len(pages) == 3
    width = sealers["sm2"].width_mm * MM
    for number, page in enumerate(pages):
        assert red_fraction(page, _pixel_box(result.box)) > 0.05, f"no stamp on page {number + 1}"
        # a slice of the seal on the right edge, around the middle of the page
        edge = (A4[0] - width / 3, A4[1] / 2 - width / 2, A4[0], A4[1] / 2 + width / 2)
        assert red_fraction(page, _pixel_box(edge, margin=0.05)) > 0.02, f"no riding slice on page {number + 1}"


def test_two_successive_seals_both_validate(seal_home, sealers):
    first = seal_pdf(sealers["sm2"], make_pdf(2, tag="two"), Placement(page=1, x_mm=60, y_mm=240, riding=True))
    second = seal_pdf(sealers["p256"], first.pdf, Placement(page=2, x_mm=150, y_mm=240))
    assert second.pdf.startswith(first.pdf)  # an incremental update
    statuses = validate_all(second.pdf, seal_home.trust_pem, hard_fail=True)
    assert len(statuses) == 2
    for status in statuses:
        assert status.bottom_line, status.pretty_print_details()
    with pytest.raises(PdfRefused) as refused:
        seal_pdf(sealers["sm2"], second.pdf, Placement(riding=True))
    assert refused.value.kind == "already-sealed"


def test_sealing_an_itext_signed_hybrid_xref_pdf(seal_home, sealers):
    """The corpus's iText 5 SM2-signed PDF has hybrid cross-reference sections: valid, sealed as is."""
    import os
    from pathlib import Path

    from tests.helpers import CI

    repo = Path(__file__).resolve().parents[2]
    corpus = Path(os.environ.get("YITONG_CORPUS") or repo.parent / "shared" / "corpus")
    source = corpus / "pdf-sm2" / "itext5-sm2-signed.pdf"
    if not source.is_file():
        message = f"{source} is absent (set YITONG_CORPUS to the shared corpus)"
        if CI:
            pytest.fail(message)
        pytest.skip(message)
    data = source.read_bytes()
    result = seal_pdf(sealers["sm2"], data, Placement(page=1, x_mm=100, y_mm=100))
    assert result.pdf.startswith(data)
    statuses = validate_all(result.pdf, seal_home.trust_pem, hard_fail=True, strict=False)
    ours = statuses[-1]
    assert ours.bottom_line, ours.pretty_print_details()
    assert statuses[0].intact and statuses[0].valid  # iText's signature (not our trust) still holds


def test_bad_pdfs_are_refused_with_a_kind(sealers, tmp_path):
    sealer = sealers["sm2"]
    good = make_pdf(1)

    def kind(data, placement=None, **kwargs):
        with pytest.raises(PdfRefused) as refused:
            seal_pdf(sealer, data, placement or Placement(), **kwargs)
        return refused.value.kind

    assert kind(b"hello, not a pdf") == "not-a-pdf"
    broken = good.replace(b"startxref", b"startxrex")
    assert kind(broken) == "broken-pdf"
    assert kind(good[: len(good) // 2]) == "broken-pdf"
    assert kind(good, max_bytes=100) == "too-large"
    assert kind(good, Placement(page=2)) == "page-out-of-range"
    assert kind(good, Placement(page=1, x_mm=500, y_mm=10)) == "position-out-of-page"
    assert kind(good, Placement(pages=(1, 7))) == "page-out-of-range"
    assert kind(make_pdf(1, rotate=90)) == "rotated-page"
    source, encrypted = tmp_path / "plain.pdf", tmp_path / "encrypted.pdf"
    source.write_bytes(good)
    subprocess.run([require_tool("qpdf"), "--encrypt", "user", "owner", "256", "--", str(source), str(encrypted)],
                   check=True)
    assert kind(encrypted.read_bytes()) == "encrypted-pdf"


def test_page_lists():
    assert parse_page_list("all") == "all"
    assert parse_page_list("1,3-5") == (1, 3, 4, 5)
    assert parse_page_list("") == ()
    for bad in ("0", "x", "5-3"):
        with pytest.raises(ValueError):
            parse_page_list(bad)


@pytest.mark.parametrize("level", ["B-B", "B-T"])
def test_sealer_is_reusable_for_many_documents(seal_home, sealers, level):
    """After the first document the CMS comes from a template: every one must still validate."""
    sealer = dataclasses.replace(sealers["sm2"])
    outputs = [seal_pdf(sealer, make_pdf(1, tag=f"{level}-{i}"), Placement(), level=level) for i in range(3)]
    assert len({o.sm3_after for o in outputs}) == 3
    assert sealer.signer._templates  # the fast path was taken
    signatures = set()
    for output in outputs:
        [status] = validate_all(output.pdf, seal_home.trust_pem, hard_fail=False)
        assert status.bottom_line, status.pretty_print_details()
        assert (status.timestamp_validity is not None) == (level == "B-T")
        embedded = PdfFileReader(__import__("io").BytesIO(output.pdf)).embedded_signatures[0]
        assert seseal_from_signer_info(embedded.signer_info) == sealer.seseal
        signatures.add(embedded.signer_info["signature"].native)
    assert len(signatures) == 3
