"""A small OFD maker (GB/T 33190-2016): pages with text, lines, rectangles and images.

Enough for a licence face or an approval notice, and what :mod:`seal` and the tests seal::

    page = Page(210, 297, [Text(20, 30, "准予行政许可决定书", size_mm=7),
                           Rect(15, 15, 180, 267, line_mm=0.5), Image(150, 240, 40, 40, png)])
    data = make_ofd([page], title="准予行政许可决定书")

Coordinates are millimetres from the page's top-left corner (OFD's own system, §7.2). Text is
drawn in one embedded font (:mod:`ofd.fonts`: a TrueType subset of Noto CJK) with explicit
character advances (``DeltaX``), so every reader lays it out the same way and keyword search
finds where each character is. What is written, file by file (§7.4, §7.5, §8, §11, §13)::

    OFD.xml                           DocBody: DocInfo (DocID, Title, CreationDate, Creator), DocRoot
    Doc_0/Document.xml                CommonData (MaxUnitID, PageArea, PublicRes, DocumentRes), Pages
    Doc_0/PublicRes.xml               the font (Res/font_N.ttf)
    Doc_0/DocumentRes.xml             the images (Res/image_N.png|jpg), when there are any
    Doc_0/Pages/Page_N/Content.xml    Area (PhysicalBox), one Layer of Text/Path/ImageObjects
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass, field
from datetime import date
from xml.sax.saxutils import escape, quoteattr

from ofd.fonts import FontUnavailable, embedded_font
from ofd.writer import write_package

NS = "http://www.ofdspec.org/2016"
_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'


class OfdMakeError(ValueError):
    """Content that cannot be made into an OFD (bad sizes, an unreadable image, a missing glyph)."""


Color = tuple[int, int, int]


@dataclass(frozen=True)
class Text:
    """One line of text; ``y_mm`` is its top, ``x_mm`` its left edge, centre or right edge as ``align``
    says (``left``, ``center``, ``right``), ``size_mm`` the em size."""

    x_mm: float
    y_mm: float
    text: str
    size_mm: float = 4.2  # about 12 pt
    color: Color = (0, 0, 0)
    align: str = "left"


@dataclass(frozen=True)
class Line:
    x1_mm: float
    y1_mm: float
    x2_mm: float
    y2_mm: float
    line_mm: float = 0.25
    color: Color = (0, 0, 0)


@dataclass(frozen=True)
class Rect:
    x_mm: float
    y_mm: float
    width_mm: float
    height_mm: float
    line_mm: float = 0.25
    color: Color = (0, 0, 0)
    fill: Color | None = None


@dataclass(frozen=True)
class Image:
    """A PNG or JPEG image scaled into the box."""

    x_mm: float
    y_mm: float
    width_mm: float
    height_mm: float
    data: bytes


@dataclass
class Page:
    width_mm: float = 210.0
    height_mm: float = 297.0
    items: list = field(default_factory=list)


def _num(value: float) -> str:
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _color(tag: str, rgb: Color) -> str:
    return f'<ofd:{tag} Value="{rgb[0]} {rgb[1]} {rgb[2]}"/>'


def _image_format(data: bytes) -> tuple[str, str]:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG", "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG", "jpg"
    raise OfdMakeError("images must be PNG or JPEG")


_SHIFT = {"left": 0.0, "center": 0.5, "right": 1.0}


class _Ids:
    def __init__(self) -> None:
        self.last = 0

    def __call__(self) -> int:
        self.last += 1
        return self.last


def _text_object(item: Text, font_id: int, font, ids: _Ids) -> str:
    if not item.text or "\n" in item.text:
        raise OfdMakeError("a Text item is one non-empty line")
    advances = [font.advance_mm(c, item.size_mm) for c in item.text]
    width = sum(advances)
    if item.align not in _SHIFT:
        raise OfdMakeError(f"align must be left, center or right, not {item.align!r}")
    left = item.x_mm - width * _SHIFT[item.align]
    baseline = item.size_mm * 0.88  # CJK ideographs span 0.88 em above the baseline to 0.12 below
    delta = " ".join(_num(a) for a in advances[:-1])
    delta_attr = f' DeltaX="{delta}"' if delta else ""
    return (f'<ofd:TextObject ID="{ids()}" Boundary="{_num(left)} {_num(item.y_mm)} {_num(width)} '
            f'{_num(item.size_mm * 1.2)}" Font="{font_id}" Size="{_num(item.size_mm)}">'
            f'{_color("FillColor", item.color)}'
            f'<ofd:TextCode X="0" Y="{_num(baseline)}"{delta_attr}>{escape(item.text)}</ofd:TextCode>'
            f'</ofd:TextObject>')


def _path_object(item: Line | Rect, ids: _Ids) -> str:
    half = item.line_mm / 2
    if isinstance(item, Line):
        left, top = min(item.x1_mm, item.x2_mm) - half, min(item.y1_mm, item.y2_mm) - half
        width, height = abs(item.x2_mm - item.x1_mm) + item.line_mm, abs(item.y2_mm - item.y1_mm) + item.line_mm
        data = (f"M {_num(item.x1_mm - left)} {_num(item.y1_mm - top)} "
                f"L {_num(item.x2_mm - left)} {_num(item.y2_mm - top)}")
        fill = None
    else:
        if item.width_mm <= 0 or item.height_mm <= 0:
            raise OfdMakeError("a rectangle needs a positive width and height")
        left, top = item.x_mm - half, item.y_mm - half
        width, height = item.width_mm + item.line_mm, item.height_mm + item.line_mm
        x0, y0, x1, y1 = half, half, half + item.width_mm, half + item.height_mm
        data = f"M {_num(x0)} {_num(y0)} L {_num(x1)} {_num(y0)} L {_num(x1)} {_num(y1)} L {_num(x0)} {_num(y1)} C"
        fill = item.fill
    fill_attr = ' Fill="true"' if fill else ""
    stroke = item.line_mm > 0
    return (f'<ofd:PathObject ID="{ids()}" Boundary="{_num(left)} {_num(top)} {_num(width)} {_num(height)}" '
            f'LineWidth="{_num(item.line_mm)}" Stroke="{"true" if stroke else "false"}"{fill_attr}>'
            + (_color("FillColor", fill) if fill else "") + _color("StrokeColor", item.color)
            + f'<ofd:AbbreviatedData>{data}</ofd:AbbreviatedData></ofd:PathObject>')


def _image_object(item: Image, resource_id: int, ids: _Ids) -> str:
    w, h = _num(item.width_mm), _num(item.height_mm)
    return (f'<ofd:ImageObject ID="{ids()}" Boundary="{_num(item.x_mm)} {_num(item.y_mm)} {w} {h}" '
            f'CTM="{w} 0 0 {h} 0 0" ResourceID="{resource_id}"/>')


def _check_page(number: int, page: Page) -> None:
    if not (1 <= page.width_mm <= 5000 and 1 <= page.height_mm <= 5000):
        raise OfdMakeError(f"page {number}: width and height must be 1-5000 mm")


def make_ofd(pages: list[Page], *, title: str | None = None, creator: str = "Yitong",
             font_path: str | None = None, doc_id: str | None = None, created: date | None = None,
             custom_data: dict[str, str] | None = None) -> bytes:
    """An OFD package with these pages (see the module docstring); bytes ready to seal.

    ``custom_data`` goes into DocInfo's CustomDatas (§7.4: name/value pairs, e.g. a licence's
    GB/T 36903 metadata)."""
    if not pages:
        raise OfdMakeError("an OFD needs at least one page")
    for number, page in enumerate(pages, 1):
        _check_page(number, page)
    texts = "".join(item.text for page in pages for item in page.items if isinstance(item, Text))
    ids = _Ids()
    font_id = ids() if texts else None
    try:
        font = embedded_font(texts, font_path) if texts else None
    except FontUnavailable as exc:
        raise OfdMakeError(str(exc)) from None
    resources: dict[bytes, tuple[int, str, str]] = {}  # image bytes -> (ID, Format, file name)
    page_ids, contents = [], []
    for page in pages:
        page_ids.append(ids())
        layer_id = ids()
        body = []
        for item in page.items:
            if isinstance(item, Text):
                body.append(_text_object(item, font_id, font, ids))
            elif isinstance(item, Line | Rect):
                body.append(_path_object(item, ids))
            elif isinstance(item, Image):
                if item.data not in resources:
                    fmt, ext = _image_format(item.data)
                    _check_image(item.data)
                    resource_id = ids()
                    resources[item.data] = (resource_id, fmt, f"image_{resource_id}.{ext}")
                body.append(_image_object(item, resources[item.data][0], ids))
            else:
                raise OfdMakeError(f"unknown page item {type(item).__name__}")
        contents.append(
            f'{_HEAD}<ofd:Page xmlns:ofd="{NS}"><ofd:Area><ofd:PhysicalBox>0 0 {_num(page.width_mm)} '
            f'{_num(page.height_mm)}</ofd:PhysicalBox></ofd:Area><ofd:Content><ofd:Layer ID="{layer_id}">'
            + "".join(body) + "</ofd:Layer></ofd:Content></ofd:Page>")
    first = pages[0]
    files: list[tuple[str, bytes]] = []
    doc_info = (f"<ofd:DocID>{doc_id or uuid.uuid4().hex}</ofd:DocID>"
                + (f"<ofd:Title>{escape(title)}</ofd:Title>" if title else "")
                + f"<ofd:CreationDate>{(created or date.today()).isoformat()}</ofd:CreationDate>"
                + f"<ofd:Creator>{escape(creator)}</ofd:Creator>"
                + ("<ofd:CustomDatas>" + "".join(f"<ofd:CustomData Name={quoteattr(name)}>{escape(value)}"
                                                 "</ofd:CustomData>" for name, value in custom_data.items())
                   + "</ofd:CustomDatas>" if custom_data else ""))
    files.append(("OFD.xml", (f'{_HEAD}<ofd:OFD xmlns:ofd="{NS}" Version="1.0" DocType="OFD"><ofd:DocBody>'
                              f"<ofd:DocInfo>{doc_info}</ofd:DocInfo><ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot>"
                              "</ofd:DocBody></ofd:OFD>").encode()))
    page_list = "".join(f'<ofd:Page ID="{pid}" BaseLoc="Pages/Page_{n}/Content.xml"/>'
                        for n, pid in enumerate(page_ids))
    document_res = "<ofd:DocumentRes>DocumentRes.xml</ofd:DocumentRes>" if resources else ""
    files.append(("Doc_0/Document.xml", (
        f'{_HEAD}<ofd:Document xmlns:ofd="{NS}"><ofd:CommonData><ofd:MaxUnitID>{ids.last}</ofd:MaxUnitID>'
        f"<ofd:PageArea><ofd:PhysicalBox>0 0 {_num(first.width_mm)} {_num(first.height_mm)}</ofd:PhysicalBox>"
        f"</ofd:PageArea><ofd:PublicRes>PublicRes.xml</ofd:PublicRes>{document_res}</ofd:CommonData>"
        f"<ofd:Pages>{page_list}</ofd:Pages></ofd:Document>").encode()))
    fonts = ""
    if font is not None:
        fonts = (f'<ofd:Fonts><ofd:Font ID="{font_id}" FontName={quoteattr(font.family)} '
                 f'FamilyName={quoteattr(font.family)}><ofd:FontFile>font_{font_id}.ttf</ofd:FontFile>'
                 "</ofd:Font></ofd:Fonts>")
    files.append(("Doc_0/PublicRes.xml",
                  f'{_HEAD}<ofd:Res xmlns:ofd="{NS}" BaseLoc="Res">{fonts}</ofd:Res>'.encode()))
    if resources:
        media = "".join(f'<ofd:MultiMedia ID="{rid}" Type="Image" Format="{fmt}"><ofd:MediaFile>{name}'
                        "</ofd:MediaFile></ofd:MultiMedia>" for rid, fmt, name in resources.values())
        files.append(("Doc_0/DocumentRes.xml", (f'{_HEAD}<ofd:Res xmlns:ofd="{NS}" BaseLoc="Res">'
                                                f"<ofd:MultiMedias>{media}</ofd:MultiMedias></ofd:Res>").encode()))
    for n, content in enumerate(contents):
        files.append((f"Doc_0/Pages/Page_{n}/Content.xml", content.encode()))
    if font is not None:
        files.append((f"Doc_0/Res/font_{font_id}.ttf", font.data))
    for data, (_rid, _fmt, name) in resources.items():
        files.append((f"Doc_0/Res/{name}", data))
    return write_package(None, added=files)


def _check_image(data: bytes) -> None:
    from PIL import Image as PilImage
    from PIL import UnidentifiedImageError

    try:
        with PilImage.open(io.BytesIO(data)) as image:
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise OfdMakeError(f"the image cannot be read: {exc}") from None


__all__ = ["Image", "Line", "OfdMakeError", "Page", "Rect", "Text", "make_ofd"]
