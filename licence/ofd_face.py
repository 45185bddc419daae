"""The OFD face of a licence (GB/T 36905: the licence file is OFD, GB/T 33190): the same layout as
the PDF face (:func:`licence.face.layout`) made with ofd/make.py (text in an embedded subset of
Noto CJK), the GB/T 36903 metadata in DocInfo's CustomDatas, the 2D code as a PNG image, and the
authority's GB/T 38540 seal through seal/'s OFD sealing (a V4 SES_Signature with a time-stamp).
"""

from __future__ import annotations

import struct
import zlib

import segno

from licence.face import PT_MM, Box, Code, FaceContent, TextLine, layout
from ofd.make import Image, Page, Rect, Text, make_ofd
from seal.ofd import seal_ofd
from seal.pdf import Placement

SEAL_LEVEL = "B-T"  # OFD has no place for revocation data (seal/ofd.py)
ASCENT = 0.88  # of the em: from a line's top to its baseline


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _code_png(code: Code) -> bytes:
    """The 2D code as a black-and-white PNG, 8 pixels a module and a quiet zone of one module: at
    1 bit a pixel a module is exactly one byte, so the rows are written directly (a tenth of the
    time segno's own PNG writer takes, the same pixels)."""
    matrix = segno.make(code.content, error="m", micro=False, mask=0).matrix  # fixed mask: see pdf_face
    side = len(matrix) + 2
    quiet = (b"\x00" + b"\xff" * side) * 8  # filter type 0, then the row
    rows = [quiet, *((b"\x00\xff" + bytes(0 if dark else 255 for dark in row) + b"\xff") * 8 for row in matrix), quiet]
    header = struct.pack(">IIBBBBB", side * 8, side * 8, 1, 0, 0, 0, 0)  # 1-bit grayscale
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(b"".join(rows), 6))
            + _chunk(b"IEND", b""))


def _items(items: list) -> list:
    drawn = []
    for item in items:
        if isinstance(item, Box):
            drawn.append(Rect(item.x_mm, item.y_mm, item.width_mm, item.height_mm, line_mm=item.line_pt * PT_MM,
                              color=item.color))
        elif isinstance(item, TextLine):
            size_mm = item.size_pt * PT_MM
            shade = round(item.gray * 255)
            drawn.append(Text(item.x_mm, item.baseline_mm - ASCENT * size_mm, item.text, size_mm=size_mm,
                              color=(shade, shade, shade)))
        elif isinstance(item, Code):
            spot = item.spot
            drawn.append(Image(spot.x_mm - spot.size / 2, spot.y_mm - spot.size / 2, spot.size, spot.size,
                               _code_png(item)))
    return drawn


class OfdFace:
    format = "ofd"
    media_type = "application/ofd"
    level = SEAL_LEVEL  # what seal() uses; the documents-sealed metric reads it

    def render(self, face: FaceContent) -> bytes:
        width_mm, height_mm = face.template.size_mm
        page = Page(width_mm, height_mm, _items(layout(face)))
        return make_ofd([page], title=f"{face.title} {face.number}", creator="Yitong licence service",
                        custom_data=face.metadata)

    def seal(self, sealer, document: bytes, face: FaceContent) -> bytes:
        spot = face.template.seal
        return seal_ofd(sealer, document, Placement(page=1, x_mm=spot.x_mm, y_mm=spot.y_mm), level=self.level).document
