"""What a licence face shows and where, independent of the file format, and the renderer interface.

:class:`FaceContent` is built once from the type, the licence record and the 2D-code text;
:func:`layout` places it on the page as a few primitives (boxes, text lines, the 2D code) in
millimetres from the top-left corner; a :class:`FaceRenderer` draws those into a document
(:mod:`licence.pdf_face`, :mod:`licence.ofd_face`) and seals it with the authority's seal at the
template's seal place. Both formats therefore show the same face.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Protocol

from licence.catalogue import FaceTemplate, Spot
from seal.image import ImageError, find_font, load_font

PT_MM = 25.4 / 72
RED = (153, 26, 26)
GRAY = (204, 204, 204)


@dataclass(frozen=True)
class FaceContent:
    template: FaceTemplate
    title: str
    title_en: str
    number: str  # 证照编号
    lines: tuple[tuple[str, str], ...]  # (label, value), in the type's order
    issuer_name: str
    issued_on: str  # 颁发日期 as printed
    qr_text: str
    metadata: dict[str, str]  # GB/T 36903 metadata (element name → value)


@dataclass(frozen=True)
class Box:
    x_mm: float
    y_mm: float
    width_mm: float
    height_mm: float
    line_pt: float
    color: tuple[int, int, int] = RED
    dashed: bool = False


@dataclass(frozen=True)
class TextLine:
    x_mm: float  # left edge (already aligned)
    baseline_mm: float
    text: str
    size_pt: float
    gray: float = 0.0  # 0 black … 1 white


@dataclass(frozen=True)
class Code:
    spot: Spot  # centre and side of the 2D code, quiet zone included
    content: str


@functools.cache
def latin_widths() -> tuple[int, ...]:
    """Widths (1/1000 em) of ASCII 0x20-0x7E (Adobe-GB1 CIDs 1-95), measured on the CJK font seals are
    drawn with; half an em each when no font is installed. CJK characters are one em."""
    try:
        font = load_font(find_font(), 1000)
    except ImageError:
        return (500,) * 95
    return tuple(max(1, round(font.getlength(chr(code)))) for code in range(0x20, 0x7F))


def width_em(text: str) -> float:
    widths = latin_widths()
    return sum(widths[ord(c) - 0x20] / 1000 if " " <= c <= "~" else 1.0 for c in text)


def _text(items: list, x_mm: float, baseline_mm: float, text: str, size_pt: float, *, align: str = "left",
          gray: float = 0.0) -> None:
    width_mm = width_em(text) * size_pt * PT_MM
    shift = {"left": 0, "center": width_mm / 2, "right": width_mm}[align]
    items.append(TextLine(x_mm - shift, baseline_mm, text, size_pt, gray))


def _wrapped(items: list, x_mm: float, y_mm: float, text: str, size_pt: float, max_mm: float,
             line_mm: float) -> float:
    """Text broken into lines of at most ``max_mm`` (four at most); returns the y of the next item."""
    per_line, line, lines = max_mm / (size_pt * PT_MM), "", []
    for char in text:
        if width_em(line + char) > per_line:
            lines.append(line)
            line = ""
        line += char
    lines.append(line)
    for n, part in enumerate(lines[:4]):
        _text(items, x_mm, y_mm + n * line_mm * 0.8, part + ("…" if n == 3 and len(lines) > 4 else ""), size_pt)
    return y_mm + max(1, min(len(lines), 4)) * line_mm * 0.8 + line_mm * 0.2


def layout(face: FaceContent) -> list[Box | TextLine | Code]:
    template = face.template
    width_mm, height_mm = template.size_mm
    items: list[Box | TextLine | Code] = [Box(8, 8, width_mm - 16, height_mm - 16, 2.4),
                                          Box(11, 11, width_mm - 22, height_mm - 22, 0.6)]
    emblem = template.emblem
    # The national emblem's area, left for the deployment's artwork (a faint outline only).
    items.append(Box(emblem.x_mm - emblem.size / 2, emblem.y_mm - emblem.size / 2, emblem.size, emblem.size, 0.4,
                     GRAY, dashed=True))
    title_y = emblem.y_mm + emblem.size / 2 + 14
    _text(items, width_mm / 2, title_y, face.title, 26, align="center")
    if face.title_en:
        _text(items, width_mm / 2, title_y + 8, face.title_en, 11, align="center", gray=0.3)
    _text(items, width_mm - 20, 22, f"编号 No. {face.number}", 10, align="right")
    spot = template.items_at
    size = spot.size or 12
    y = spot.y_mm
    label_mm = max(width_em(label) for label, _ in face.lines) * size * PT_MM + 6
    value_mm = width_mm - spot.x_mm - label_mm - 20
    for label, value in face.lines:
        _text(items, spot.x_mm, y, label, size, gray=0.25)
        y = _wrapped(items, spot.x_mm + label_mm, y, value, size, value_mm, template.line_mm)
    seal = template.seal
    _text(items, seal.x_mm, seal.y_mm + 2, face.issuer_name, 13, align="center")
    _text(items, seal.x_mm, seal.y_mm + 10, face.issued_on, 12, align="center")
    items.append(Code(template.qr, face.qr_text))
    _text(items, template.qr.x_mm, template.qr.y_mm + template.qr.size / 2 + 4, "扫码核验 Scan to verify", 8,
          align="center", gray=0.35)
    return items


class FaceRenderer(Protocol):
    format: str
    media_type: str
    level: str  # the signature level seal() uses (PAdES/OFD: B-T, B-LT)

    def render(self, face: FaceContent) -> bytes:
        """The unsealed document."""

    def seal(self, sealer, document: bytes, face: FaceContent) -> bytes:
        """The document sealed by ``sealer`` (seal/'s library) at ``face.template.seal``."""
