"""The PDF face of a licence: the layout (:func:`licence.face.layout`) drawn on one page, GB/T 36903
metadata in the document information dictionary and the XMP packet, the 2D code as vector
squares, then the issuing authority's seal through seal/'s sealing library.

Text is set in Adobe-GB1 ``STSong-Light`` with the predefined ``UniGB-UTF16-H`` CMap (ISO 32000-1
§9.7.5.2): a standard CJK font every PDF reader supplies, so the face carries no font file and
renders at once; embedding a subset of a deployment's own font is the later step for PDF/A.
"""

from __future__ import annotations

import io

import segno
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.metadata.model import ExpandedName, XmpStructure, XmpValue
from pyhanko.pdf_utils.writer import PdfFileWriter

from licence.face import Box, Code, FaceContent, TextLine, latin_widths, layout
from seal.pdf import Placement, seal_pdf

MM = 72 / 25.4
XMP_NS = "urn:yitong:ns:licence:gbt36903:1"
SEAL_LEVEL = "B-LT"  # the chain, CRLs and OCSP go into the file: verifiable offline for its life


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


def _hex(text: str) -> str:
    return "<" + text.encode("utf-16-be").hex() + ">"


def _qr_squares(code: Code, height_mm: float) -> str:
    # A fixed mask (ISO/IEC 18004 lets the encoder pick any of the 8): choosing the best one costs
    # 4 times the encoding of this ~400-character URL; every reader decodes each mask.
    matrix = segno.make(code.content, error="m", micro=False, mask=0).matrix
    spot = code.spot
    module = spot.size / (len(matrix) + 2)  # a quiet zone of one module each side, within the spot
    left, top = spot.x_mm - spot.size / 2 + module, spot.y_mm - spot.size / 2 + module
    side = f"{module * MM:.2f}"
    # each run of dark modules in a row is one rectangle: half the operators of a square per module
    runs = []
    for r, row in enumerate(matrix):
        y = f"{(height_mm - top - (r + 1) * module) * MM:.2f}"
        c, width = 0, len(row)
        while c < width:
            if not row[c]:
                c += 1
                continue
            end = c + 1
            while end < width and row[end]:
                end += 1
            runs.append(f"{(left + c * module) * MM:.2f} {y} {(end - c) * module * MM:.2f} {side} re")
            c = end
    return "q 0 g " + " ".join(runs) + " f Q"


def _operations(items: list, height_mm: float) -> str:
    ops = []
    for item in items:
        if isinstance(item, Box):
            r, g, b = (c / 255 for c in item.color)
            y = (height_mm - item.y_mm - item.height_mm) * MM
            dash = "[2 2] 0 d " if item.dashed else ""
            ops.append(f"q {r:.2f} {g:.2f} {b:.2f} RG {item.line_pt:.2f} w {dash}{item.x_mm * MM:.2f} {y:.2f} "
                       f"{item.width_mm * MM:.2f} {item.height_mm * MM:.2f} re S Q")
        elif isinstance(item, TextLine):
            ops.append(f"BT {item.gray:.2f} g /F1 {item.size_pt:.1f} Tf {item.x_mm * MM:.2f} "
                       f"{(height_mm - item.baseline_mm) * MM:.2f} Td {_hex(item.text)} Tj ET")
        elif isinstance(item, Code):
            ops.append(_qr_squares(item, height_mm))
    return "\n".join(ops)


def _xmp(metadata: dict[str, str]) -> XmpStructure:
    """The GB/T 36903 elements as one XMP structure in our namespace (pyhanko writes the packet)."""
    return XmpStructure.of(*((ExpandedName(XMP_NS, key), XmpValue(value)) for key, value in metadata.items()))


class PdfFace:
    format = "pdf"
    media_type = "application/pdf"
    level = SEAL_LEVEL  # what seal() uses; the documents-sealed metric reads it

    def render(self, face: FaceContent) -> bytes:
        width_mm, height_mm = face.template.size_mm
        info = generic.DictionaryObject()
        for key, value in face.metadata.items():  # GB/T 36903 metadata, also in the XMP packet
            info[pdf_name(f"/{key}")] = generic.TextStringObject(value)
        writer = PdfFileWriter(info=info)
        meta = writer.document_meta
        meta.title, meta.author = f"{face.title} {face.number}", face.issuer_name
        meta.subject, meta.creator = face.metadata.get("LicenceIdentifier", ""), "Yitong licence service"
        meta.xmp_extra = [_xmp(face.metadata)]
        font = _font(writer)
        content = writer.add_object(generic.StreamObject(stream_data=_operations(layout(face), height_mm).encode()))
        writer.insert_page(generic.DictionaryObject({
            pdf_name("/Type"): pdf_name("/Page"),
            pdf_name("/MediaBox"): generic.ArrayObject([generic.FloatObject(v) for v in
                                                        (0, 0, round(width_mm * MM, 2), round(height_mm * MM, 2))]),
            pdf_name("/Resources"): generic.DictionaryObject({pdf_name("/Font"): generic.DictionaryObject(
                {pdf_name("/F1"): font})}),
            pdf_name("/Contents"): content,
        }))
        out = io.BytesIO()
        writer.write(out)
        return out.getvalue()

    def seal(self, sealer, document: bytes, face: FaceContent) -> bytes:
        spot = face.template.seal
        return seal_pdf(sealer, document, Placement(page=1, x_mm=spot.x_mm, y_mm=spot.y_mm), level=self.level).document
