"""ofd.writer (unchanged entries copied raw, in order) and ofd.make (pages other readers open)."""

from __future__ import annotations

import io
import zipfile

import pytest
from PIL import Image as PilImage
from PIL import ImageFont

from ofd.make import Image, Line, OfdMakeError, Page, Rect, Text, make_ofd
from ofd.package import OfdPackage, walk
from ofd.writer import OfdWriteError, write_package
from tests.ofd.support import OFD_FILES, build, corpus_ofd


def _raw(data: bytes) -> list[tuple[str, int, int, bytes]]:
    """(name, method, crc, compressed bytes as stored) of each entry, in order."""
    out = []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            start = info.header_offset
            name_len = int.from_bytes(data[start + 26:start + 28], "little")
            extra_len = int.from_bytes(data[start + 28:start + 30], "little")
            body = start + 30 + name_len + extra_len
            out.append((info.filename, info.compress_type, info.CRC, data[body:body + info.compress_size]))
    return out


@pytest.mark.parametrize("name", OFD_FILES)
def test_rewriting_a_corpus_package_keeps_every_untouched_entry_byte_for_byte_and_in_order(name):
    data = corpus_ofd(name)
    before = _raw(data)
    changed = next(n for n, *_ in before if n.upper() == "OFD.XML")
    out = write_package(data, {changed: b"<changed/>"}, added=[("Doc_0/Extra/new.xml", b"<new/>")])
    after = _raw(out)
    assert [n for n, *_ in after] == [n for n, *_ in before] + ["Doc_0/Extra/new.xml"]
    for old, new in zip(before, after, strict=False):
        if old[0] == changed:
            continue
        assert new == old, f"{old[0]} was disturbed"
    with zipfile.ZipFile(io.BytesIO(out)) as archive:
        assert archive.testzip() is None
        assert archive.read(changed) == b"<changed/>" and archive.read("Doc_0/Extra/new.xml") == b"<new/>"


def test_the_writer_refuses_to_write_a_name_twice():
    data = corpus_ofd("ofdrw-helloworld-unsigned.ofd")
    with pytest.raises(OfdWriteError, match="already in the package"):
        write_package(data, added=[("OFD.xml", b"<x/>")])
    with pytest.raises(OfdWriteError, match="already in the package"):
        write_package(None, added=[("a.xml", b"1"), ("a.xml", b"2")])
    with pytest.raises(OfdWriteError, match="duplicate"):
        write_package(build([("OFD.xml", b"1"), ("OFD.xml", b"2")]))
    with pytest.raises(OfdWriteError):
        write_package(b"not a zip")


def _png(color=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    PilImage.new("RGB", (60, 40), color).save(out, "PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def made() -> bytes:
    return make_ofd([
        Page(210, 297, [Text(20, 30, "准予行政许可决定书（盖章）", size_mm=7), Line(20, 40, 190, 40),
                        Rect(15, 15, 180, 267, line_mm=0.5), Image(150, 240, 40, 30, _png())]),
        Page(148, 210, [Text(20, 20, "第二页 Page 2", color=(200, 0, 0))]),
    ], title="测试文书")


def test_a_made_ofd_opens_in_the_reader_with_its_pages_sizes_text_and_resources(made):
    package = OfdPackage.open(made)
    document = package.document()
    assert [p.box for p in document.pages] == [(0, 0, 210, 297), (0, 0, 148, 210)]
    assert not document.missing
    text = "".join(code.text for page in document.pages
                   for code in walk(package.xml(page.content), "TextCode"))
    assert text == "准予行政许可决定书（盖章）第二页 Page 2"
    font = next(name for name in document.resources if name.endswith(".ttf"))
    image = next(name for name in document.resources if name.endswith(".png"))
    assert package.read(image) == _png()
    # the embedded font is a TrueType subset another library loads and draws with
    face = ImageFont.truetype(io.BytesIO(package.read(font)), 40)
    assert face.getbbox("准予")[2] > 60
    assert len(package.read(font)) < 60_000


def test_making_refuses_what_it_cannot_draw():
    with pytest.raises(OfdMakeError):
        make_ofd([])
    with pytest.raises(OfdMakeError):
        make_ofd([Page(0, 297)])
    with pytest.raises(OfdMakeError):
        make_ofd([Page(items=[Image(0, 0, 10, 10, b"GIF89a...")])])
    with pytest.raises(OfdMakeError):
        make_ofd([Page(items=[Text(0, 0, "two\nlines")])])
    with pytest.raises(OfdMakeError, match="no glyph"):
        make_ofd([Page(items=[Text(0, 0, "\U0001f600")])])  # an emoji Noto CJK does not have
    with pytest.raises(OfdMakeError, match="align"):
        make_ofd([Page(items=[Text(0, 0, "左", align="justify")])])


def test_centred_and_right_aligned_text_end_where_asked():
    data = make_ofd([Page(210, 297, [Text(105, 20, "中华人民共和国", size_mm=8, align="center"),
                                     Text(190, 40, "2026年12月5日", align="right")])])
    package = OfdPackage.open(data)
    boxes = [[float(v) for v in node.get("Boundary").split()]
             for node in walk(package.xml("Doc_0/Pages/Page_0/Content.xml"), "TextObject")]
    (x1, _, w1, _), (x2, _, w2, _) = boxes
    assert abs(x1 + w1 / 2 - 105) < 0.01 and abs(w1 - 7 * 8) < 0.01  # seven full-width characters
    assert abs(x2 + w2 - 190) < 0.01


def test_the_embedded_font_is_a_valid_truetype_font_of_exactly_the_characters_used():
    """ofd/fonts.py assembles each document's font itself: checked by fontTools (table checksums,
    the whole-font checksum, the character map), each glyph the outline it has in the collection."""
    from fontTools.ttLib import TTFont

    from ofd.fonts import embedded_font, find_cjk_font

    text = "食品经营许可证 No. JY112 2026年 🄀"  # 🄀 (U+1F100) lies beyond the BMP: a format 12 cmap
    font = embedded_font(text)
    parsed = TTFont(io.BytesIO(font.data), checkChecksums=2)  # raises on any wrong table checksum
    parsed.ensureDecompiled()
    assert "glyf" in parsed and "CFF " not in parsed
    assert sorted(parsed.getBestCmap()) == sorted({ord(c) for c in text})
    checksum = sum(int.from_bytes(font.data[i:i + 4].ljust(4, b"\0"), "big") for i in range(0, len(font.data), 4))
    assert checksum & 0xFFFFFFFF == 0xB1B0AFBA  # head.checkSumAdjustment makes the whole font sum to this
    assert embedded_font(text).data == font.data  # the same text, the same bytes
    assert font.advances["食"] == parsed["hmtx"][parsed.getBestCmap()[ord("食")]][0] == 1000
    # each glyph keeps the outline it has in the collection (cubic -> quadratic within 1 unit)
    from fontTools.pens.boundsPen import BoundsPen

    from ofd.fonts import _collection_face

    path = str(find_cjk_font())
    whole = TTFont(path, fontNumber=_collection_face(path), lazy=True)
    glyphs, cmap = whole.getGlyphSet(), whole.getBestCmap()
    for char in "食品经营许可证":
        pen = BoundsPen(glyphs)
        glyphs[cmap[ord(char)]].draw(pen)
        ours = parsed["glyf"][parsed.getBestCmap()[ord(char)]]
        assert all(abs(a - b) <= 2 for a, b in zip(pen.bounds, (ours.xMin, ours.yMin, ours.xMax, ours.yMax),
                                                     strict=True)), char
    face = ImageFont.truetype(io.BytesIO(font.data), 40)
    assert face.getbbox("食品")[2] > 70  # FreeType draws it
