"""Sealing OFDs (GB/T 33190 §18 + GB/T 38540 V4) with registry seals: what is written, where, and
what breaks it. The corpus document is ofdrw's hello world; the others are made with ofd.make."""

from __future__ import annotations

import io
import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keys import ses
from ofd.make import Page, Text, make_ofd
from ofd.package import OfdPackage
from seal.document import document_format, seal_document
from seal.ofd import OfdRefused, seal_ofd
from seal.pdf import Placement
from seal.registry import sealer_for
from tests.ofd.support import OFD_FILES, corpus_ofd, rezip
from tests.seal.ofd_checks import check_sealed, mismatched_references

HELLO = "ofdrw-helloworld-unsigned.ofd"


@pytest.fixture(scope="module")
def sealer(seal_home, sm2_seal):
    return sealer_for(seal_home.registry, sm2_seal.esid)


@pytest.fixture(scope="module")
def tsa_certificate(seal_home):
    return seal_home.registry.pki.time_stamp_authority("sm2").certificate


@pytest.fixture(scope="module")
def three_pages() -> bytes:
    return make_ofd([Page(210, 297, [Text(20, 20 + 10 * n, f"第{n + 1}页 审批意见")]) for n in range(2)]
                    + [Page(210, 297, [Text(20, 200, "天津市测试科技有限公司（盖章）", size_mm=5)])])


def test_a_sealed_corpus_ofd_has_the_standard_files_and_every_check_holds(sealer, tsa_certificate):
    data = corpus_ofd(HELLO)
    result = seal_document(sealer, data, Placement(page=1, x_mm=150, y_mm=230), level="B-T")
    assert (result.format, result.media_type, result.level, result.page) == ("ofd", "application/ofd", "B-T", 1)
    assert result.box == (130.0, 210.0, 40.0, 40.0)  # the seal's 40 mm box centred on (150, 230)
    checked = check_sealed(result.document, tsa_certificate=tsa_certificate)
    package = checked.package
    [signature] = checked.signatures
    assert package.document().signatures == "Doc_0/Signs/Signatures.xml"
    assert signature.path == "Doc_0/Signs/Sign_0/Signature.xml" and signature.type == "Seal"
    assert signature.seal == "Doc_0/Signs/Sign_0/Seal.esl"
    assert signature.signed_value == "Doc_0/Signs/Sign_0/SignedValue.dat"
    # one Reference per file but the signature list and this signature's own Signature.xml / SignedValue.dat
    assert sorted(ref.path for ref in signature.references) == sorted(
        set(package.names()) - {"Doc_0/Signs/Signatures.xml", signature.path, signature.signed_value})
    [stamp] = signature.stamp_annots
    assert (stamp.page_ref, stamp.boundary) == (package.document().pages[0].id, (130.0, 210.0, 40.0, 40.0))
    value = ses.parse_signature(package.read(signature.signed_value))
    assert value.version == 4 and value.has_timestamp and value.seal.es_id == sealer.esid
    assert value.property_info == "/" + signature.path
    assert value.time_info == signature.claimed_time
    # entries the seal does not change keep their bytes
    original = OfdPackage.open(data)
    for name in original.names():
        if name != "OFD.xml":
            assert package.read(name) == original.read(name), name


def test_b_b_has_no_time_stamp_and_b_lt_is_sealed_as_b_t(sealer):
    data = corpus_ofd(HELLO)
    plain = seal_ofd(sealer, data, Placement(), level="B-B")
    package = check_sealed(plain.document).package
    [signature] = package.signatures()
    assert not ses.parse_signature(package.read(signature.signed_value)).has_timestamp
    assert seal_ofd(sealer, data, Placement(), level="B-LT").level == "B-T"


def test_keyword_centres_the_stamp_on_the_text(sealer, three_pages):
    result = seal_ofd(sealer, three_pages, Placement(keyword="（盖章）"), level="B-B")
    assert result.page == 3
    x, y, w, h = result.box
    # "天津市测试科技有限公司" is 11 characters of 5 mm from x = 20; "（盖章）" spans 75..95 mm
    assert abs(x + w / 2 - 85) < 0.5 and 200 < y + h / 2 < 205
    with pytest.raises(OfdRefused) as refused:
        seal_ofd(sealer, three_pages, Placement(keyword="不存在的字"), level="B-B")
    assert refused.value.kind == "keyword-not-found"


def test_a_stamp_is_moved_onto_the_page_rather_than_cut_and_a_seal_larger_than_the_page_is_refused(sealer):
    edge = make_ofd([Page(210, 297, [Text(195, 2, "盖章", size_mm=4)])])
    x, y, w, _h = seal_ofd(sealer, edge, Placement(keyword="盖章"), level="B-B").box
    assert (x + w, y) == (210, 0)  # centred on the text it would stick out at the top right
    tiny = make_ofd([Page(30, 30, [Text(2, 2, "小")])])
    with pytest.raises(OfdRefused) as refused:
        seal_ofd(sealer, tiny, Placement(page=1, x_mm=15, y_mm=15), level="B-B")
    assert refused.value.kind == "position-out-of-page" and "does not fit" in str(refused.value)


def test_riding_seam_puts_one_slice_of_the_image_on_each_page_edge(sealer, three_pages):
    result = seal_ofd(sealer, three_pages, Placement(riding=True), level="B-B")
    package = check_sealed(result.document).package
    [signature] = package.signatures()
    pages = package.document().pages
    riding = [s for s in signature.stamp_annots if s.clip is not None]
    assert [s.page_ref for s in riding] == [p.id for p in pages]
    width = sealer.width_mm
    slices = []
    for stamp in riding:
        x, _y, w, h = stamp.boundary
        cx, _cy, cw, _ch = (float(v) for v in stamp.clip.split())
        assert (w, h) == (width, sealer.height_mm) and abs(cw - width / 3) < 5e-3
        assert abs(x + cx + cw - 210) < 5e-3  # the visible slice ends at the page's right edge
        slices.append((cx, cx + cw))
    assert slices[0][0] == 0 and abs(slices[-1][1] - width) < 5e-3
    assert all(abs(a[1] - b[0]) < 5e-3 for a, b in itertools.pairwise(slices))
    ids = [s.id for s in signature.stamp_annots] + [signature.entry.id]
    assert len(set(ids)) == len(ids)


def test_a_second_seal_protects_the_first_so_removing_the_first_breaks_it(seal_home, sealer, three_pages):
    first = seal_ofd(sealer, three_pages, Placement(page=1), level="B-B")
    second = seal_ofd(sealer, first.document, Placement(page=2, pages=(3,)), level="B-B")
    checked = check_sealed(second.document)
    one, two = checked.signatures
    assert (one.path, two.path) == ("Doc_0/Signs/Sign_0/Signature.xml", "Doc_0/Signs/Sign_1/Signature.xml")
    protected = {ref.path for ref in two.references}
    assert {one.path, one.seal, one.signed_value} <= protected
    assert int(two.entry.id) > max(int(s.id) for s in one.stamp_annots)
    # strip the first seal: its files and its entry in the list (the list itself is not protected)
    package = checked.package
    listing = package.read("Doc_0/Signs/Signatures.xml").decode()
    start = listing.index('<ofd:Signature ID="1"')
    listing = listing[:start] + listing[listing.index("/>", start) + 2:]
    stripped = rezip(second.document, replace={"Doc_0/Signs/Signatures.xml": listing.encode()},
                     drop=(one.path, one.seal, one.signed_value))
    remaining = OfdPackage.open(stripped)
    [only] = remaining.signatures()
    assert sorted(mismatched_references(remaining, only)) == sorted([one.path, one.seal, one.signed_value])


def test_changing_one_byte_of_a_page_breaks_the_reference_to_it(sealer):
    sealed = seal_ofd(sealer, corpus_ofd(HELLO), Placement(), level="B-B").document
    package = OfdPackage.open(sealed)
    content = "Doc_0/Pages/Page_0/Content.xml"
    changed = package.read(content).replace("你好".encode(), "您好".encode())
    tampered = OfdPackage.open(rezip(sealed, replace={content: changed}))
    [signature] = tampered.signatures()
    assert mismatched_references(tampered, signature) == [content]


def test_a_p256_seal_is_refused_for_ofd(seal_home, p256_seal):
    with pytest.raises(OfdRefused) as refused:
        seal_document(sealer_for(seal_home.registry, p256_seal.esid), corpus_ofd(HELLO), Placement())
    assert refused.value.kind == "ofd-needs-sm2" and "SM2" in str(refused.value)


@pytest.mark.parametrize("data, kind", [
    (b"PK\x03\x04 truncated", "bad-ofd"),
    ("zip without OFD.xml", "bad-ofd"),
    ("page out of range", "page-out-of-range"),
])
def test_bad_input_is_refused_with_a_reason(sealer, data, kind):
    placement = Placement()
    if data == "zip without OFD.xml":
        data = rezip(corpus_ofd(HELLO), drop=("OFD.xml",))
    elif data == "page out of range":
        data, placement = corpus_ofd(HELLO), Placement(page=2)
    assert document_format(data) == "ofd"
    with pytest.raises(OfdRefused) as refused:
        seal_ofd(sealer, data, placement, level="B-B")
    assert refused.value.kind == kind and str(refused.value)


def test_verify_ofd_passes_our_two_seals_and_fails_a_changed_page(seal_home, sealer):
    from verify.ofd import verify_ofd

    trust, certs = seal_home.trust_pem, list(sealer.chain)  # the SES_Signature carries only the signer's cert
    first = seal_ofd(sealer, corpus_ofd(HELLO), Placement(riding=True), level="B-T").document
    both = seal_ofd(sealer, first, Placement(page=1, x_mm=50, y_mm=50), level="B-T").document
    report = verify_ofd(both, trust, certs=certs).as_dict()
    assert report["indication"] == "TOTAL_PASSED", report
    assert [s["indication"] for s in report["signatures"]] == ["TOTAL_PASSED", "TOTAL_PASSED"]
    # a riding seam over three pages: each page shows only its Clip of the full image box
    pages = make_ofd([Page(210, 297, [Text(20, 20, f"第{n}页")]) for n in (1, 2, 3)])
    riding = seal_ofd(sealer, pages, Placement(keyword="第3页", riding=True), level="B-T").document
    assert verify_ofd(riding, trust, certs=certs).as_dict()["indication"] == "TOTAL_PASSED"
    content = "Doc_0/Pages/Page_0/Content.xml"
    changed = OfdPackage.open(both).read(content).replace(b"OFD", b"0FD")
    report = verify_ofd(rezip(both, replace={content: changed}), trust, certs=certs).as_dict()
    assert report["indication"] == "TOTAL_FAILED"
    assert {s["sub_indication"] for s in report["signatures"]} == {"HASH_FAILURE"}


def _red(image, box_mm) -> int:
    """Red pixels (the seal's ink) inside a box of a page image rendered at 4 px/mm."""
    crop = image.crop(tuple(round(v * 4) for v in box_mm))
    return sum(count for count, (r, g, _b) in crop.getcolors(1 << 20) if r > 150 and g < 100)


def test_the_page_image_shows_the_stamp_in_its_box_and_the_riding_seam_only_inside_its_clip(sealer):
    from PIL import Image as PilImage

    from ofd.render import render_page, stamp_boxes

    pages = make_ofd([Page(210, 297, [Text(20, 20, "第一页")]), Page(210, 297, [Text(20, 20, "第二页")])])
    sealed = seal_ofd(sealer, pages, Placement(page=1, x_mm=60, y_mm=150, riding=True), level="B-B").document
    [main, _riding] = stamp_boxes(OfdPackage.open(sealed), 0)
    first = PilImage.open(io.BytesIO(render_page(sealed, 0, 210 * 4))).convert("RGB")
    x, y, w, h = main["boundary"]
    assert _red(first, (x, y, x + w, y + h)) > 1000  # the seal image in its box
    # page 2 of 2 shows the right half of the image at its right edge, and nothing of the left half
    [riding] = stamp_boxes(OfdPackage.open(sealed), 1)
    rx, ry, _rw, rh = riding["boundary"]
    cx, _cy, cw, _ch = riding["clip"]
    assert abs(rx + cx + cw - 210) < 0.01 and abs(cw - w / 2) < 0.01 and abs(cx - w / 2) < 0.01
    second = PilImage.open(io.BytesIO(render_page(sealed, 1, 210 * 4))).convert("RGB")
    assert _red(second, (rx, ry, rx + cx - 0.5, ry + rh)) == 0
    assert _red(second, (rx + cx, ry, 210, ry + rh)) > 300
    outlined = PilImage.open(io.BytesIO(render_page(sealed, 0, 210 * 4, stamps=False, outline_stamps=True)))
    assert outlined.convert("RGB").getpixel((round((x + w / 2) * 4), round(y * 4))) == (220, 0, 0)


def test_easyofd_a_second_reader_opens_our_sealed_ofd_and_draws_its_stamp(sealer, tmp_path, monkeypatch):
    """easyofd (PyPI; ReportLab + PyMuPDF) parses the package, its signatures and the seal picture in
    Seal.esl and draws the stamp where StampAnnot puts it. It draws no text here: it looks fonts up
    by Windows names (宋体 ...) and does the same with ofdrw's own hello world."""
    import base64

    from easyofd.ofd import OFD

    monkeypatch.chdir(tmp_path)  # easyofd writes font files to the working folder while it registers them
    sealed = seal_ofd(sealer, corpus_ofd(HELLO), Placement(page=1, x_mm=105, y_mm=150), level="B-T").document
    reader = OFD()
    reader.read(base64.b64encode(sealed).decode(), save_xml=False, xml_name="sealed")
    [image] = reader.to_jpg()
    reader.del_data()
    scale = image.width / 210
    box = image.convert("RGB").crop(tuple(round(v * scale) for v in (85, 130, 125, 170)))
    red = sum(count for count, (r, g, _b) in box.getcolors(1 << 22) if r > 150 and g < 100)
    assert red > 0.05 * box.width * box.height
    elsewhere = image.convert("RGB").crop(tuple(round(v * scale) for v in (20, 200, 60, 240)))
    assert sum(count for count, (r, g, _b) in elsewhere.getcolors(1 << 22) if r > 150 and g < 100) == 0


@pytest.mark.parametrize("name", OFD_FILES)
def test_every_corpus_ofd_takes_our_seal_without_disturbing_the_signatures_already_in_it(sealer, name):
    data = corpus_ofd(name)
    before = OfdPackage.open(data)
    earlier = {s.path: sorted(mismatched_references(before, s)) for s in before.signatures()}
    if name == "ofdrw-keyword-pkcs7-and-v4.ofd":  # its Sign_3 protects Signatures.xml itself
        with pytest.raises(OfdRefused) as refused:
            seal_ofd(sealer, data, Placement(), level="B-B")
        assert refused.value.kind == "already-sealed" and "Signatures.xml" in str(refused.value)
        return
    sealed = OfdPackage.open(seal_ofd(sealer, data, Placement(), level="B-B").document)
    *others, ours = sealed.signatures()
    assert {s.path: sorted(mismatched_references(sealed, s)) for s in others} == earlier
    assert not mismatched_references(sealed, ours)
    value = ses.parse_signature(sealed.read(ours.signed_value))
    assert ses.verify_signature(value, ours.raw).passed
    assert {ref.path for ref in ours.references} >= {p for s in others for p in (s.path, s.signed_value)}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(min_value=0, max_value=1651), flips=st.lists(st.tuples(st.integers(0, 1651),
                                                                            st.integers(1, 255)), max_size=4))
def test_damaged_packages_are_sealed_or_refused_never_crash(sealer, cut, flips):
    data = bytearray(corpus_ofd(HELLO))
    for at, mask in flips:
        data[at % len(data)] ^= mask
    data = bytes(data[:cut] if cut > 4 else data)
    try:
        result = seal_ofd(sealer, data, Placement(keyword="OFD"), level="B-B")
    except OfdRefused as refused:
        assert refused.kind in {"bad-ofd", "keyword-not-found", "page-out-of-range", "position-out-of-page",
                                "already-sealed"} and str(refused)
        return
    check_sealed(result.document)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entry=st.sampled_from(["OFD.xml", "Doc_0/Document.xml", "Doc_0/Pages/Page_0/Content.xml",
                              "Doc_0/PublicRes.xml"]),
       start=st.integers(0, 450), length=st.integers(0, 40), junk=st.text(max_size=40))
def test_damaged_xml_in_a_sound_zip_is_sealed_or_refused_never_crash(sealer, entry, start, length, junk):
    original = OfdPackage.open(corpus_ofd(HELLO)).read(entry)
    changed = original[:start] + junk.encode("utf-8", "surrogatepass") + original[start + length:]
    try:
        result = seal_ofd(sealer, rezip(corpus_ofd(HELLO), replace={entry: changed}), Placement(), level="B-B")
    except OfdRefused as refused:
        assert refused.kind in {"bad-ofd", "page-out-of-range", "position-out-of-page"} and str(refused)
        return
    check_sealed(result.document)
