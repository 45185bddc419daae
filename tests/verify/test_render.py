"""The HTML report: seal image, page thumbnail with the seal box (pdftoppm), terminal summary."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from tests.helpers import require_tool
from tests.verify.support import base_pdf
from verify import verify_pdf
from verify.render import html, seal_box, summary


def test_html_report_has_a_thumbnail_of_the_sealed_page_with_the_seal_box(world):
    require_tool("pdftoppm")
    data = world.doc("visible-sm2", lambda: world.sign(base_pdf(3), world.sm2, page=2))
    report = verify_pdf(data, world.trust, name="licence.pdf")
    page = html([report], {"licence.pdf": data})
    assert page.count("data:image/png;base64,") == 2  # the seal picture and the page thumbnail
    assert 'class="box"' in page and "page 3" in page
    assert "@media print" in page and "http://" not in page and "https://" not in page


def test_without_documents_the_report_says_there_is_no_thumbnail(world):
    data = world.doc("visible-sm2", lambda: world.sign(base_pdf(3), world.sm2, page=2))
    report = verify_pdf(data, world.trust, name="licence.pdf")
    page = html([report], None, thumbnails=False)
    assert page.count("data:image/png;base64,") == 1 and "pdftoppm is not installed" in page


def test_seal_box_is_placed_from_the_widget_rectangle():
    box = seal_box({"rect": [400, 80, 520, 200], "page_box": [0, 0, 600, 800], "page": 0})
    assert box == {"left": 400 / 6, "top": 75.0, "width": 20.0, "height": 15.0}
    assert seal_box({"rect": [0, 0, 1, 1], "page_box": None}) is None


def test_summary_names_the_signer_the_seal_and_what_failed(world):
    data = world.doc("visible-sm2", lambda: world.sign(base_pdf(3), world.sm2, page=2))
    ok = summary(verify_pdf(data, world.trust, name="licence.pdf"))
    assert "TOTAL_PASSED" in ok and "USCC 91120000MA05JX3B3T" in ok and "12010020261128000001" in ok
    bad = summary(verify_pdf(data + b"junk", world.trust, name="licence.pdf"))
    assert "TOTAL_FAILED / FORMAT_FAILURE" in bad and "trailing_bytes failed" in bad


def test_a_failed_document_says_so_first_greys_its_seal_and_marks_it_invalid(world):
    data = world.doc("visible-sm2", lambda: world.sign(base_pdf(3), world.sm2, page=2))
    tampered = data.replace(b"Business licence page 1", b"Business licence page 8", 1)
    report = verify_pdf(tampered, world.trust, name="licence.pdf")
    page = html([report], {"licence.pdf": tampered}, time_zone="Asia/Shanghai")
    verdict = page.split('id="verdict-sentence">')[1].split("</p>")[0]
    assert "本文件的印章无效" in verdict and "do not rely on this document" in verdict
    assert "盖章后文件内容被改动过" in page and "The document was changed after it was sealed" in page
    assert 'class="seal-figure void"' in page and '<span class="mark" aria-hidden="true">无效<br><small>INVALID' in page
    assert "filter: grayscale(1)" in page
    # The technical detail is there, folded below the verdict.
    assert page.index('id="verdict-sentence"') < page.index('<details class="technical">') < page.index("HASH_FAILURE")


def test_a_passed_document_has_no_mark_and_its_times_are_local(world):
    data = world.doc("visible-sm2", lambda: world.sign(base_pdf(3), world.sm2, page=2))
    report = verify_pdf(data, world.trust, name="licence.pdf")
    shanghai = html([report], None, thumbnails=False, time_zone="Asia/Shanghai")
    assert "本文件上的印章真实有效" in shanghai
    assert 'class="mark"' not in shanghai and "seal-figure void" not in shanghai
    from datetime import datetime

    iso = report.as_dict()["validation_time"]
    local = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(ZoneInfo("Asia/Shanghai"))
    assert local.strftime("%Y-%m-%d %H:%M") in shanghai and "北京时间" in shanghai
    utc = html([report], None, thumbnails=False, time_zone="UTC")
    assert datetime.fromisoformat(iso.replace("Z", "+00:00")).strftime("%Y-%m-%d %H:%M") in utc
    # the seal's validity too: local, in the one format, never the raw ISO of the JSON report
    seal = report.as_dict()["signatures"][0]["seal"]
    start = datetime.fromisoformat(seal["valid_start"].replace("Z", "+00:00")).astimezone(ZoneInfo("Asia/Shanghai"))
    assert f"有效期 Valid {start.strftime('%Y-%m-%d %H:%M')} – " in shanghai
    assert seal["valid_start"] not in shanghai
