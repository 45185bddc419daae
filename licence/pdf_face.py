"""The PDF face of a licence: one page drawn from the face template, GB/T 36903 metadata in the
document information dictionary and an XMP packet, the 2D code as vector squares, then the
issuing authority's seal through seal/'s sealing library.

Text is set in Adobe-GB1 ``STSong-Light`` with the predefined ``UniGB-UTF16-H`` CMap (ISO 32000-1
§9.7.5.2): a standard CJK font every PDF reader supplies, so the face carries no font file and
renders at once; embedding a subset of a deployment's own font is the later step for PDF/A.
"""

from __future__ import annotations

import functools
import io

import segno
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.metadata.model import ExpandedName, XmpStructure, XmpValue
from pyhanko.pdf_utils.writer import PdfFileWriter

from licence.catalogue import Spot
from licence.face import FaceContent
from seal.image import ImageError, find_font, load_font
from seal.pdf import Placement, seal_pdf

MM = 72 / 25.4
XMP_NS = "urn:yitong:ns:licence:gbt36903:1"
SEAL_LEVEL = "B-LT"  # the chain, CRLs and OCSP go into the file: verifiable offline for its life


@functools.cache
def latin_widths() -> tuple[int, ...]:
    """Widths (1/1000 em) of the proportional Latin glyphs, CIDs 1-95 = ASCII 0x20-0x7E in Adobe-GB1,
    measured on the CJK font seals are drawn with (what readers substitute for STSong-Light looks
    alike); half an em each when no font is installed."""
    try:
        font = load_font(find_font(), 1000)
    except ImageError:
        return (500,) * 95
    return tuple(max(1, round(font.getlength(chr(code)))) for code in range(0x20, 0x7F))


def _font(writer: PdfFileWriter) -> generic.IndirectObject:
    descriptor = writer.add_object(generic.DictionaryObject({
        pdf_name("/Type"): pdf_name("/FontDescriptor"), pdf_name("/FontName"): pdf_name("/STSong-Light"),
        pdf_name("/Flags"): generic.NumberObject(6), pdf_name("/ItalicAngle"): generic.NumberObject(0),
        pdf_name("/Ascent"): generic.NumberObject(880), pdf_name("/Descent"): generic.NumberObject(-120),
        pdf_name("/CapHeight"): generic.NumberObject(880), pdf_name("/StemV"): generic.NumberObject(93),
        pdf_name("/FontBBox"): generic.ArrayObject([generic.NumberObject(v) for v in (-25, -254, 1000, 880)]),
    }))
    descendant = writer.add_object(generic.DictionaryObject({
        pdf_name("/Type"): pdf_name("/Font"), pdf_name("/Subtype"): pdf_name("/CIDFontType0"),
        pdf_name("/BaseFont"): pdf_name("/STSong-Light"),
        pdf_name("/CIDSystemInfo"): generic.DictionaryObject({
            pdf_name("/Registry"): generic.TextStringObject("Adobe"),
            pdf_name("/Ordering"): generic.TextStringObject("GB1"),
            pdf_name("/Supplement"): generic.NumberObject(4)}),
        pdf_name("/FontDescriptor"): descriptor,
        pdf_name("/DW"): generic.NumberObject(1000),
        pdf_name("/W"): generic.ArrayObject([generic.NumberObject(1), generic.ArrayObject(
            [generic.NumberObject(w) for w in latin_widths()])]),
    }))
    return writer.add_object(generic.DictionaryObject({
        pdf_name("/Type"): pdf_name("/Font"), pdf_name("/Subtype"): pdf_name("/Type0"),
        pdf_name("/BaseFont"): pdf_name("/STSong-Light-UniGB-UTF16-H"),
        pdf_name("/Encoding"): pdf_name("/UniGB-UTF16-H"),
        pdf_name("/DescendantFonts"): generic.ArrayObject([descendant])}))


def _width_em(text: str) -> float:
    widths = latin_widths()
    return sum(widths[ord(c) - 0x20] / 1000 if " " <= c <= "~" else 1.0 for c in text)


def _hex(text: str) -> str:
    return "<" + text.encode("utf-16-be").hex() + ">"


class _Page:
    """Drawing operations in millimetres from the top-left corner (the template's coordinates)."""

    def __init__(self, width_mm: float, height_mm: float) -> None:
        self.height_mm = height_mm
        self.width_mm = width_mm
        self.ops: list[str] = []

    def text(self, x_mm: float, y_mm: float, text: str, size: float, *, align: str = "left",
             gray: float = 0.0) -> None:
        width = _width_em(text) * size
        x = x_mm * MM - (width / 2 if align == "center" else width if align == "right" else 0)
        y = (self.height_mm - y_mm) * MM
        self.ops.append(f"BT {gray:.2f} g /F1 {size:.1f} Tf {x:.2f} {y:.2f} Td {_hex(text)} Tj ET")

    def wrapped(self, x_mm: float, y_mm: float, text: str, size: float, max_mm: float, line_mm: float) -> float:
        """Text broken into lines of at most ``max_mm``; returns the y of the next line."""
        per_line, line, lines = max_mm * MM / size, "", []
        for char in text:
            if _width_em(line + char) > per_line:
                lines.append(line)
                line = ""
            line += char
        lines.append(line)
        for n, part in enumerate(lines[:4]):
            self.text(x_mm, y_mm + n * line_mm * 0.8, part + ("…" if n == 3 and len(lines) > 4 else ""), size)
        return y_mm + max(1, min(len(lines), 4)) * line_mm * 0.8 + line_mm * 0.2

    def rect(self, x_mm: float, y_mm: float, w_mm: float, h_mm: float, *, stroke: str = "0.6 0.1 0.1 RG",
             width: float = 1.2, dash: str = "") -> None:
        y = (self.height_mm - y_mm - h_mm) * MM
        self.ops.append(f"q {stroke} {width:.2f} w {dash} {x_mm * MM:.2f} {y:.2f} {w_mm * MM:.2f} {h_mm * MM:.2f} "
                        "re S Q")

    def qr(self, spot: Spot, content: str) -> None:
        # A fixed mask (ISO/IEC 18004 lets the encoder pick any of the 8): choosing the best one costs
        # 4 times the encoding of this ~400-character URL; every reader decodes each mask.
        code = segno.make(content, error="m", micro=False, mask=0)
        matrix = [list(row) for row in code.matrix]
        n = len(matrix)
        module = spot.size / (n + 2)  # a quiet zone of one module each side, within the spot
        left, top = spot.x_mm - spot.size / 2 + module, spot.y_mm - spot.size / 2 + module
        squares = []
        for r, row in enumerate(matrix):
            for c, dark in enumerate(row):
                if dark:
                    y = (self.height_mm - top - (r + 1) * module) * MM
                    squares.append(f"{(left + c * module) * MM:.2f} {y:.2f} {module * MM:.2f} {module * MM:.2f} re")
        self.ops.append("q 0 g " + " ".join(squares) + " f Q")


def _xmp(metadata: dict[str, str]) -> XmpStructure:
    """The GB/T 36903 elements as one XMP structure in our namespace (pyhanko writes the packet)."""
    return XmpStructure.of(*((ExpandedName(XMP_NS, key), XmpValue(value)) for key, value in metadata.items()))


class PdfFace:
    format = "pdf"
    media_type = "application/pdf"

    def render(self, face: FaceContent) -> bytes:
        template = face.template
        width_mm, height_mm = template.size_mm
        page = _Page(width_mm, height_mm)
        page.rect(8, 8, width_mm - 16, height_mm - 16, width=2.4)
        page.rect(11, 11, width_mm - 22, height_mm - 22, width=0.6)
        emblem = template.emblem
        # The national emblem's area, left for the deployment's artwork (a faint outline only).
        page.rect(emblem.x_mm - emblem.size / 2, emblem.y_mm - emblem.size / 2, emblem.size, emblem.size,
                  stroke="0.8 0.8 0.8 RG", width=0.4, dash="[2 2] 0 d")
        title_y = emblem.y_mm + emblem.size / 2 + 14
        page.text(width_mm / 2, title_y, face.title, 26, align="center")
        if face.title_en:
            page.text(width_mm / 2, title_y + 8, face.title_en, 11, align="center", gray=0.3)
        page.text(width_mm - 20, 22, f"编号 No. {face.number}", 10, align="right")
        spot = template.items_at
        size = spot.size or 12
        y = spot.y_mm
        label_mm = max(_width_em(label) for label, _ in face.lines) * size / MM + 6
        value_mm = width_mm - spot.x_mm - label_mm - 20
        for label, value in face.lines:
            page.text(spot.x_mm, y, label, size, gray=0.25)
            y = page.wrapped(spot.x_mm + label_mm, y, value, size, value_mm, template.line_mm)
        seal = template.seal
        page.text(seal.x_mm, seal.y_mm + 2, face.issuer_name, 13, align="center")
        page.text(seal.x_mm, seal.y_mm + 10, face.issued_on, 12, align="center")
        page.qr(template.qr, face.qr_text)
        page.text(template.qr.x_mm, template.qr.y_mm + template.qr.size / 2 + 4, "扫码核验 Scan to verify", 8,
                  align="center", gray=0.35)
        return self._document(page, face)

    def _document(self, page: _Page, face: FaceContent) -> bytes:
        info = generic.DictionaryObject()
        for key, value in face.metadata.items():  # GB/T 36903 metadata, also in the XMP packet
            info[pdf_name(f"/{key}")] = generic.TextStringObject(value)
        writer = PdfFileWriter(info=info)
        meta = writer.document_meta
        meta.title, meta.author = f"{face.title} {face.number}", face.issuer_name
        meta.subject, meta.creator = face.metadata.get("LicenceIdentifier", ""), "Yitong licence service"
        meta.xmp_extra = [_xmp(face.metadata)]
        font = _font(writer)
        content = writer.add_object(generic.StreamObject(stream_data="\n".join(page.ops).encode()))
        writer.insert_page(generic.DictionaryObject({
            pdf_name("/Type"): pdf_name("/Page"),
            pdf_name("/MediaBox"): generic.ArrayObject([generic.FloatObject(v) for v in
                                                        (0, 0, round(page.width_mm * MM, 2),
                                                         round(page.height_mm * MM, 2))]),
            pdf_name("/Resources"): generic.DictionaryObject({pdf_name("/Font"): generic.DictionaryObject(
                {pdf_name("/F1"): font})}),
            pdf_name("/Contents"): content,
        }))
        out = io.BytesIO()
        writer.write(out)
        return out.getvalue()

    def seal(self, sealer, document: bytes, face: FaceContent) -> bytes:
        spot = face.template.seal
        return seal_pdf(sealer, document, Placement(page=1, x_mm=spot.x_mm, y_mm=spot.y_mm), level=SEAL_LEVEL).pdf
