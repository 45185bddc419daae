"""Seal images: the round official seal, the oval invoice seal, the square personal name seal.

Each is drawn twice from the same geometry: as PNG (Pillow, transparent background, red
``#E60012``) for the SESeal picture and the PDF stamp, and as SVG for display. Glyphs come
from a CJK font (Noto Serif/Sans CJK under the SIL OFL): ``YITONG_SEAL_FONT`` if set, else
Debian's ``fonts-noto-cjk`` paths. Without one, making a seal fails with :class:`FontMissing`
instead of drawing empty boxes.

Geometry (millimetres; the images are square/oval boxes with the seal touching the edges):

- round official seal (40 or 42 mm): a 1.2 mm ring, a centre star, the holder name along the
  upper arc (clockwise, about 250°), the purpose text (e.g. 合同专用章) on a horizontal line
  under the star, the seal code (the esID) along the bottom arc;
- oval invoice seal (40 × 30 mm): a ring, the name along the upper arc, the 18-character tax
  number (USCC) across the middle, 发票专用章 under it;
- square personal name seal (20 mm): a border and the name in a 2 × 2 grid read in columns
  right to left (two-character names get 之印, three-character names get 印).
"""

from __future__ import annotations

import functools
import io
import math
import os
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from seal.errors import SealError

RED = (0xE6, 0x00, 0x12, 255)
RED_HEX = "#E60012"
PX_PER_MM = 12  # ≈ 305 dpi

# Debian's fonts-noto-cjk (and fonts-noto-cjk-extra), most seal-like first.
FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSerifCJK-Bold.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
)

# De-facto seal type codes (DESIGN.md) -> (label, purpose text under the star, shape)
SEAL_TYPES: dict[int, tuple[str, str, str]] = {
    1: ("法定名称章", "", "round"),
    2: ("财务专用章", "财务专用章", "round"),
    3: ("发票专用章", "发票专用章", "oval"),
    4: ("合同专用章", "合同专用章", "round"),
    5: ("法定代表人名章", "", "square"),
    6: ("公章", "", "round"),
    7: ("内设机构章", "", "round"),
    8: ("分支机构章", "", "round"),
    99: ("其他", "", "round"),
}


class ImageError(SealError, ValueError):
    """A seal image that cannot be made or an uploaded image that is refused (409: the seal's
    picture, not the request's syntax, is what is wrong)."""

    status = 409
    kind = "seal-error"


class FontMissing(ImageError):
    pass


def find_font(configured: str | None = None) -> Path:
    """The CJK font file to draw seals with; raises :class:`FontMissing` with what to do."""
    configured = configured or os.environ.get("YITONG_SEAL_FONT") or None
    if configured:
        path = Path(configured).expanduser()
        if not path.is_file():
            raise FontMissing(f"YITONG_SEAL_FONT={configured} is not a font file")
        return path
    for candidate in FONT_CANDIDATES:
        if Path(candidate).is_file():
            return Path(candidate)
    raise FontMissing("no CJK font for seal images: install Debian's fonts-noto-cjk or set YITONG_SEAL_FONT "
                      "to a Noto Serif/Sans CJK SC .ttc/.otf file (seals are not drawn with empty boxes)")


def _load_font(path: Path, size_px: int):
    from PIL import ImageFont

    if path.suffix.lower() == ".ttc":
        # Noto CJK collections hold JP, KR, SC, TC, HK faces; prefer Simplified Chinese.
        for index in range(8):
            try:
                font = ImageFont.truetype(str(path), size_px, index=index)
            except OSError:
                break
            if font.getname()[0].endswith(" SC"):
                return font
    try:
        return ImageFont.truetype(str(path), size_px)
    except OSError as exc:
        raise FontMissing(f"cannot load the seal font {path}: {exc}") from None


def load_font(path: Path, size_px: int):
    """The Simplified Chinese face of ``path`` at ``size_px`` (a Pillow font; licence/ measures with it)."""
    return _load_font(path, size_px)


def _check_glyphs(font, text: str) -> None:
    """Refuse text the font has no glyphs for (it would print as tofu boxes)."""
    missing_box = font.getmask("\uffff").getbbox()
    for char in set(text):
        if char.isspace():
            continue
        mask = font.getmask(char)
        if mask.getbbox() is None or (missing_box is not None and bytes(mask) == bytes(font.getmask("\uffff"))):
            raise FontMissing(f"the seal font has no glyph for {char!r}; set YITONG_SEAL_FONT to a CJK font")


@dataclass(frozen=True)
class SealImage:
    png: bytes
    svg: str
    width_mm: int
    height_mm: int


@dataclass(frozen=True)
class _Glyph:
    char: str
    x: float  # centre, mm
    y: float
    size: float  # mm
    rotate: float  # degrees clockwise
    scale_x: float = 1.0


class _Drawing:
    """A list of shapes in mm, rendered to PNG and SVG alike."""

    def __init__(self, width_mm: float, height_mm: float) -> None:
        self.width, self.height = width_mm, height_mm
        self.ellipses: list[tuple[float, float, float, float, float]] = []  # cx cy rx ry stroke
        self.rects: list[tuple[float, float, float, float, float]] = []  # x y w h stroke
        self.polygons: list[list[tuple[float, float]]] = []
        self.glyphs: list[_Glyph] = []

    def png(self, font_path: Path) -> bytes:
        from PIL import Image, ImageDraw

        scale = PX_PER_MM
        image = Image.new("RGBA", (round(self.width * scale), round(self.height * scale)), (255, 255, 255, 0))
        draw = ImageDraw.Draw(image)
        for cx, cy, rx, ry, stroke in self.ellipses:
            half = stroke / 2
            draw.ellipse([(cx - rx + half) * scale, (cy - ry + half) * scale,
                          (cx + rx - half) * scale, (cy + ry - half) * scale],
                         outline=RED, width=max(1, round(stroke * scale)))
        for x, y, w, h, stroke in self.rects:
            draw.rectangle([x * scale, y * scale, (x + w) * scale - 1, (y + h) * scale - 1], outline=RED,
                           width=max(1, round(stroke * scale)))
        for polygon in self.polygons:
            draw.polygon([(px * scale, py * scale) for px, py in polygon], fill=RED)
        fonts: dict[int, object] = {}
        for glyph in self.glyphs:
            size_px = max(4, round(glyph.size * scale))
            font = fonts.get(size_px) or fonts.setdefault(size_px, _load_font(font_path, size_px))
            _check_glyphs(font, glyph.char)
            tile = Image.new("RGBA", (size_px * 2, size_px * 2), (255, 255, 255, 0))
            ImageDraw.Draw(tile).text((size_px, size_px), glyph.char, font=font, fill=RED, anchor="mm")
            if glyph.scale_x != 1.0:
                tile = tile.resize((max(1, round(tile.width * glyph.scale_x)), tile.height), Image.LANCZOS)
            if glyph.rotate:
                tile = tile.rotate(-glyph.rotate, resample=Image.BICUBIC, expand=True)
            image.alpha_composite(tile, (round(glyph.x * scale - tile.width / 2),
                                         round(glyph.y * scale - tile.height / 2)))
        # One red with alpha edges: a 16-colour palette keeps the PNG (and every SESeal, which
        # carries it, and every sealed PDF, which carries the SESeal) about a quarter the size.
        image = image.quantize(colors=16, method=Image.Quantize.FASTOCTREE)
        out = io.BytesIO()
        image.save(out, format="PNG", optimize=True)
        return out.getvalue()

    def svg(self, family: str = "Noto Serif CJK SC, Noto Sans CJK SC, serif") -> str:
        parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width}mm" height="{self.height}mm" '
                 f'viewBox="0 0 {self.width} {self.height}">']
        for cx, cy, rx, ry, stroke in self.ellipses:
            parts.append(f'<ellipse cx="{cx:.3f}" cy="{cy:.3f}" rx="{rx - stroke / 2:.3f}" ry="{ry - stroke / 2:.3f}" '
                         f'fill="none" stroke="{RED_HEX}" stroke-width="{stroke}"/>')
        for x, y, w, h, stroke in self.rects:
            parts.append(f'<rect x="{x + stroke / 2:.3f}" y="{y + stroke / 2:.3f}" width="{w - stroke:.3f}" '
                         f'height="{h - stroke:.3f}" fill="none" stroke="{RED_HEX}" stroke-width="{stroke}"/>')
        for polygon in self.polygons:
            points = " ".join(f"{px:.3f},{py:.3f}" for px, py in polygon)
            parts.append(f'<polygon points="{points}" fill="{RED_HEX}"/>')
        for g in self.glyphs:
            transform = f"translate({g.x:.3f} {g.y:.3f}) rotate({g.rotate:.2f})"
            if g.scale_x != 1.0:
                transform += f" scale({g.scale_x:.3f} 1)"
            parts.append(f'<text transform="{transform}" font-family="{family}" font-weight="bold" '
                         f'font-size="{g.size:.3f}" fill="{RED_HEX}" text-anchor="middle" '
                         f'dominant-baseline="central">{escape(g.char)}</text>')
        parts.append("</svg>")
        return "\n".join(parts)


def _star(cx: float, cy: float, radius: float) -> list[tuple[float, float]]:
    inner = radius * math.sin(math.radians(18)) / math.sin(math.radians(54))
    points = []
    for i in range(10):
        r = radius if i % 2 == 0 else inner
        angle = math.radians(-90 + 36 * i)
        points.append((cx + r * math.cos(angle), cy + r * math.sin(angle)))
    return points


def _arc_text(drawing: _Drawing, text: str, cx: float, cy: float, rx: float, ry: float, *, centre_deg: float,
              span_deg: float, size: float, upper: bool, scale_x: float = 1.0) -> None:
    """Characters along an elliptical arc; ``centre_deg`` 0 = top, clockwise; upper arcs read
    clockwise with glyph tops outwards, lower arcs read counter-clockwise with tops inwards."""
    if not text:
        return
    n = len(text)
    step = span_deg / max(n - 1, 1) if n > 1 else 0
    start = centre_deg - span_deg / 2 if n > 1 else centre_deg
    for i, char in enumerate(text):
        angle = start + i * step if upper else centre_deg + span_deg / 2 - i * step
        theta = math.radians(angle)
        x = cx + rx * math.sin(theta)
        y = cy - ry * math.cos(theta)
        # The glyph's up direction is the outward normal of the ellipse at that point.
        nx, ny = math.sin(theta) / rx, -math.cos(theta) / ry
        rotation = math.degrees(math.atan2(nx, -ny))
        if not upper:
            rotation += 180
        drawing.glyphs.append(_Glyph(char, x, y, size, rotation, scale_x))


def round_seal(name: str, purpose: str, code: str, diameter_mm: int = 40) -> _Drawing:
    if diameter_mm not in (40, 42):
        raise ImageError("a round official seal is 40 or 42 mm across")
    d = _Drawing(diameter_mm, diameter_mm)
    r = diameter_mm / 2
    d.ellipses.append((r, r, r, r, 1.2))
    d.polygons.append(_star(r, r, r * 0.3))
    name_size = 5.2 if len(name) <= 12 else max(3.0, 5.2 * 12 / len(name))
    span = min(250.0, 19.0 * max(len(name) - 1, 1))
    _arc_text(d, name, r, r, r - 1.2 - name_size * 0.62, r - 1.2 - name_size * 0.62, centre_deg=0, span_deg=span,
              size=name_size, upper=True, scale_x=0.8)
    if purpose:
        size = 3.6
        width = size * 0.95 * len(purpose)
        for i, char in enumerate(purpose):
            d.glyphs.append(_Glyph(char, r - width / 2 + size * 0.95 * (i + 0.5), r + r * 0.48, size, 0))
    if code:
        size = 1.9
        span = min(100.0, 5.2 * max(len(code) - 1, 1))
        _arc_text(d, code, r, r, r - 1.2 - size * 0.75, r - 1.2 - size * 0.75, centre_deg=180, span_deg=span,
                  size=size, upper=False, scale_x=0.8)
    return d


def oval_seal(name: str, tax_number: str, width_mm: int = 40, height_mm: int = 30) -> _Drawing:
    d = _Drawing(width_mm, height_mm)
    rx, ry = width_mm / 2, height_mm / 2
    d.ellipses.append((rx, ry, rx, ry, 1.0))
    size = 3.4 if len(name) <= 12 else max(2.4, 3.4 * 12 / len(name))
    _arc_text(d, name, rx, ry, rx - 1.0 - size * 0.6, ry - 1.0 - size * 0.6, centre_deg=0,
              span_deg=min(200.0, 15.0 * max(len(name) - 1, 1)), size=size, upper=True, scale_x=0.8)
    digit = 2.6
    width = digit * 0.62 * len(tax_number)
    for i, char in enumerate(tax_number):
        d.glyphs.append(_Glyph(char, rx - width / 2 + digit * 0.62 * (i + 0.5), ry + 1.5, digit, 0, 0.9))
    label = "发票专用章"
    lsize = 3.2
    lwidth = lsize * len(label)
    for i, char in enumerate(label):
        d.glyphs.append(_Glyph(char, rx - lwidth / 2 + lsize * (i + 0.5), ry + ry * 0.55, lsize, 0))
    return d


def square_seal(name: str, size_mm: int = 20) -> _Drawing:
    chars = name if len(name) >= 4 else name + ("之印" if len(name) == 2 else "印" if len(name) == 3 else "")
    if len(chars) != 4:
        raise ImageError("a square name seal holds a name of 2 to 4 characters")
    d = _Drawing(size_mm, size_mm)
    d.rects.append((0, 0, size_mm, size_mm, 1.2))
    cell = (size_mm - 2.4) / 2
    # Read in columns, right to left: 0 top-right, 1 bottom-right, 2 top-left, 3 bottom-left.
    positions = [(1, 0), (1, 1), (0, 0), (0, 1)]
    for char, (col, row) in zip(chars, positions, strict=True):
        d.glyphs.append(_Glyph(char, 1.2 + cell * (col + 0.5), 1.2 + cell * (row + 0.5), cell * 0.92, 0))
    return d


def make_image(seal_type: int, holder_kind: str, name: str, *, code: str, tax_number: str = "",
               font: str | None = None, diameter_mm: int = 40) -> SealImage:
    """The standard image for a seal of ``seal_type`` held by an org or a person."""
    font_path = find_font(font)
    stamp = font_path.stat()
    return _drawn(seal_type, holder_kind, name, code, tax_number, font_path, (stamp.st_mtime_ns, stamp.st_size),
                  diameter_mm)


@functools.lru_cache(maxsize=64)
def _drawn(seal_type: int, holder_kind: str, name: str, code: str, tax_number: str, font_path: Path,
           font_stamp: tuple[int, int], diameter_mm: int) -> SealImage:
    """Drawing is a pure function of the text and the font file (~50-90 ms of CPU): the same seal drawn again
    in a process (the sample authorities' seals of every new home, a seal re-made) is the same picture."""
    shape = "square" if holder_kind == "person" else SEAL_TYPES.get(seal_type, SEAL_TYPES[99])[2]
    if shape == "square":
        drawing = square_seal(name)
    elif shape == "oval":
        drawing = oval_seal(name, tax_number)
    else:
        drawing = round_seal(name, SEAL_TYPES.get(seal_type, SEAL_TYPES[99])[1], code, diameter_mm)
    png = drawing.png(font_path)
    return SealImage(png, drawing.svg(), round(drawing.width), round(drawing.height))


MAX_UPLOAD_BYTES = 1 << 20


def check_uploaded_png(data: bytes, width_mm: int, height_mm: int) -> SealImage:
    """Validate an uploaded seal image: PNG, ≤ 1 MiB, ≤ 2000 px, RGBA with transparent corners."""
    from PIL import Image, UnidentifiedImageError

    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageError(f"the seal image is over {MAX_UPLOAD_BYTES} bytes")
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise ImageError("the seal image must be a PNG")
    if not (10 <= width_mm <= 80 and 10 <= height_mm <= 80):
        raise ImageError("seal image dimensions must be 10-80 mm")
    try:
        image = Image.open(io.BytesIO(data))
        if image.width > 2000 or image.height > 2000:
            raise ImageError("the seal image is over 2000 pixels on a side")
        image.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise ImageError(f"the seal image cannot be read: {exc}") from None
    rgba = image.convert("RGBA")
    w, h = rgba.size
    corners = [rgba.getpixel((0, 0)), rgba.getpixel((w - 1, 0)), rgba.getpixel((0, h - 1)),
               rgba.getpixel((w - 1, h - 1))]
    if any(pixel[3] != 0 for pixel in corners):
        raise ImageError("the seal image needs a transparent background")
    out = io.BytesIO()
    rgba.save(out, format="PNG", optimize=True)
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width_mm}mm" height="{height_mm}mm" '
           f'viewBox="0 0 {width_mm} {height_mm}"><image width="{width_mm}" height="{height_mm}" '
           f'href="data:image/png;base64,{__import__("base64").b64encode(out.getvalue()).decode()}"/></svg>')
    return SealImage(out.getvalue(), svg, width_mm, height_mm)
