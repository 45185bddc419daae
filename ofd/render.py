"""Rendering an OFD page to PNG with Pillow: the page image of a sealed result and the verify report.

No maintained Python library renders OFD in-process under a licence we can ship: easyofd (Apache-2.0)
goes through ReportLab and PyMuPDF (AGPL-3.0), draws no text unless the system has the named Windows
fonts, and raises on some corpus files; it serves as a second reader in the tests only. So this draws
the subset real producers use and that :mod:`ofd.make` writes, in page order (template pages first):

- ``TextObject``: each character at its ``X``/``Y`` + ``DeltaX`` position (``g`` runs expanded), in the
  embedded font when Pillow can load it, else Noto CJK; ``CTM`` scale and translation, fill colour.
- ``PathObject``: ``AbbreviatedData`` M/S/L/C (curves B/Q/A drawn as straight segments to their end
  point), stroke and fill colours, line width, ``CTM``.
- ``ImageObject``: PNG, JPEG, BMP, GIF, TIFF resources scaled into the Boundary (JBIG2 is not drawn).
- Stamps: each signature's ``StampAnnot`` on the page as its seal's picture (PNG/JPEG/BMP from
  Seal.esl or the SES_Signature's seal; an "ofd" picture or anything else as a red outline), clipped
  by ``Clip`` (the riding seam); optionally an outline around every stamp box.

Not drawn: annotations (Annots), DrawParam inheritance, shadings and patterns, rotation/skew in a
CTM, text direction (ReadDirection/CharDirection), clipping areas of objects, and transparency
groups. Everything is bounded: the width in pixels, the number of objects and characters drawn.
"""

from __future__ import annotations

import io
import math
from functools import lru_cache

from ofd.package import OfdError, OfdPackage, child, local, parse_box, walk

MAX_WIDTH_PX = 4000
MAX_OBJECTS = 50_000
MAX_CHARS = 200_000


class OfdRenderError(OfdError):
    """A page that cannot be rendered (no such page, no size, an unreadable package)."""


def _numbers(text: str | None) -> list[float]:
    try:
        return [float(v) for v in (text or "").replace(",", " ").split()]
    except ValueError:
        return []


def _color(node, name: str, default: tuple[int, int, int] | None) -> tuple[int, int, int] | None:
    color = child(node, name)
    if color is None:
        return default
    values = [int(max(0, min(255, v))) for v in _numbers(color.get("Value"))]
    if len(values) >= 3:
        return values[0], values[1], values[2]
    if len(values) == 1:
        return values[0], values[0], values[0]
    return default


def _ctm(node) -> tuple[float, float, float, float, float, float] | None:
    values = _numbers(node.get("CTM"))
    return tuple(values) if len(values) == 6 else None  # type: ignore[return-value]


def _deltas(spec: str | None) -> list[float]:
    tokens, out, i = (spec or "").split(), [], 0
    try:
        while i < len(tokens) and len(out) < MAX_CHARS:
            if tokens[i] == "g" and i + 2 < len(tokens):
                out += [float(tokens[i + 2])] * min(int(tokens[i + 1]), MAX_CHARS)
                i += 3
            else:
                out.append(float(tokens[i]))
                i += 1
    except ValueError:
        return out
    return out


@lru_cache(maxsize=1)
def _fallback_font_path() -> str | None:
    from ofd.fonts import FontUnavailable, find_cjk_font

    try:
        return str(find_cjk_font())
    except FontUnavailable:
        return None


class _Page:
    """One page being drawn: the package, the scale and the Pillow canvas."""

    def __init__(self, package: OfdPackage, box, width_px: int) -> None:
        from PIL import Image, ImageDraw

        self.package = package
        self.scale = width_px / box[2]
        self.image = Image.new("RGB", (width_px, max(1, round(box[3] * self.scale))), "white")
        self.draw = ImageDraw.Draw(self.image)
        self.fonts: dict[str, str] = {}  # Font ID -> entry name of its file
        self.media: dict[str, str] = {}  # MultiMedia ID -> entry name
        self._loaded: dict[tuple[str, int], object] = {}
        self.objects = 0
        self.chars = 0

    def px(self, x_mm: float, y_mm: float) -> tuple[float, float]:
        return x_mm * self.scale, y_mm * self.scale

    # -- resources --
    def index_resources(self, names) -> None:
        for res in names:
            if not res.endswith(".xml"):
                continue
            try:
                root = self.package.xml(res)
            except OfdError:
                continue
            base = root.get("BaseLoc")
            anchor = f"{res.rsplit('/', 1)[0]}/{base.strip('/')}/x" if base and "/" in res else res
            for node in walk(root, "Font"):
                file = child(node, "FontFile")
                if file is not None and file.text:
                    found = self.package.find(anchor, file.text) or self.package.find(res, file.text)
                    if found:
                        self.fonts[node.get("ID", "")] = found
            for node in walk(root, "MultiMedia"):
                file = child(node, "MediaFile")
                if file is not None and file.text:
                    found = self.package.find(anchor, file.text) or self.package.find(res, file.text)
                    if found:
                        self.media[node.get("ID", "")] = found

    def font(self, font_id: str, size_px: int):
        from PIL import ImageFont

        size_px = max(1, min(size_px, 2000))
        key = (font_id, size_px)
        if key not in self._loaded:
            face = None
            name = self.fonts.get(font_id)
            if name:
                try:
                    face = ImageFont.truetype(io.BytesIO(self.package.read(name)), size_px)
                except (OSError, ValueError):
                    face = None
            if face is None and _fallback_font_path():
                face = ImageFont.truetype(_fallback_font_path(), size_px, index=2)
            self._loaded[key] = face or ImageFont.load_default()
        return self._loaded[key]

    # -- objects --
    def text(self, node) -> None:
        box = parse_box(node.get("Boundary"))
        if box is None:
            return
        ctm = _ctm(node) or (1, 0, 0, 1, 0, 0)
        size = _numbers(node.get("Size"))
        size_mm = (size[0] if size else 3.5) * math.sqrt(abs(ctm[0] * ctm[3] - ctm[1] * ctm[2]) or 1)
        fill = _color(node, "FillColor", (0, 0, 0))
        face = self.font(node.get("Font", ""), round(size_mm * self.scale))
        x = y = 0.0
        for code in (c for c in node if local(c.tag) == "TextCode"):
            x, y = _numbers(code.get("X")) or [x], _numbers(code.get("Y")) or [y]
            x, y = x[0], y[0]
            deltas = _deltas(code.get("DeltaX"))
            for n, char in enumerate(code.text or ""):
                if self.chars >= MAX_CHARS:
                    return
                self.chars += 1
                px, py = ctm[0] * x + ctm[2] * y + ctm[4], ctm[1] * x + ctm[3] * y + ctm[5]
                self.draw.text(self.px(box[0] + px, box[1] + py), char, font=face, fill=fill, anchor="ls")
                x += deltas[n] if n < len(deltas) else (size[0] if size else 3.5)

    def path(self, node) -> None:
        box = parse_box(node.get("Boundary"))
        data = child(node, "AbbreviatedData")
        if box is None or data is None or not data.text:
            return
        ctm = _ctm(node) or (1, 0, 0, 1, 0, 0)
        width = (_numbers(node.get("LineWidth")) or [0.353])[0] * self.scale * math.sqrt(
            abs(ctm[0] * ctm[3] - ctm[1] * ctm[2]) or 1)
        stroke = node.get("Stroke", "true").lower() != "false"
        fill = node.get("Fill", "false").lower() == "true"
        stroke_color = _color(node, "StrokeColor", (0, 0, 0))
        fill_color = _color(node, "FillColor", (0, 0, 0))

        def at(x: float, y: float) -> tuple[float, float]:
            return self.px(box[0] + ctm[0] * x + ctm[2] * y + ctm[4], box[1] + ctm[1] * x + ctm[3] * y + ctm[5])

        shapes, current, tokens, i = [], [], data.text.split(), 0
        arity = {"M": 2, "S": 2, "L": 2, "Q": 4, "B": 6, "A": 7, "C": 0}
        while i < len(tokens):
            op = tokens[i]
            count = arity.get(op)
            if count is None:
                i += 1
                continue
            values = _numbers(" ".join(tokens[i + 1:i + 1 + count]))
            i += 1 + count
            if len(values) != count:
                break
            if op in ("M", "S"):
                if len(current) > 1:
                    shapes.append((current, False))
                current = [at(values[0], values[1])]
            elif op == "C":
                if current:
                    shapes.append((current, True))
                current = []
            else:
                current.append(at(values[-2], values[-1]))
        if len(current) > 1:
            shapes.append((current, False))
        for points, closed in shapes:
            if fill and len(points) > 2:
                self.draw.polygon(points, fill=fill_color)
            if stroke:
                self.draw.line(points + ([points[0]] if closed else []), fill=stroke_color,
                               width=max(1, round(width)))

    def picture(self, data: bytes, box, clip=None) -> bool:
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(io.BytesIO(data)) as source:
                source.load()
                picture = source.convert("RGBA")
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
            return False
        left, top = self.px(box[0], box[1])
        width, height = max(1, round(box[2] * self.scale)), max(1, round(box[3] * self.scale))
        if width * height > 64_000_000:
            return False
        picture = picture.resize((width, height))
        if clip is not None:
            cl, ct = round(clip[0] * self.scale), round(clip[1] * self.scale)
            cr, cb = cl + max(1, round(clip[2] * self.scale)), ct + max(1, round(clip[3] * self.scale))
            picture = picture.crop((cl, ct, cr, cb))
            left, top = left + cl, top + ct
        self.image.paste(picture, (round(left), round(top)), picture)
        return True

    def image_object(self, node) -> None:
        box = parse_box(node.get("Boundary"))
        name = self.media.get(node.get("ResourceID", ""))
        if box is not None and name:
            self.picture(self.package.read(name), box)

    def content(self, entry: str) -> None:
        try:
            root = self.package.xml(entry)
        except OfdError:
            return
        for node in root.iter():
            kind = local(node.tag)
            if kind not in ("TextObject", "PathObject", "ImageObject"):
                continue
            self.objects += 1
            if self.objects > MAX_OBJECTS:
                return
            {"TextObject": self.text, "PathObject": self.path, "ImageObject": self.image_object}[kind](node)


def stamp_boxes(package: OfdPackage, index: int) -> list[dict]:
    """Every StampAnnot on page ``index``: {signature, id, boundary, clip, picture_type, picture} (mm)."""
    from keys.ses import SesError, parse_seal, parse_signature

    page = package.document().pages[index]
    out = []
    try:
        signatures = package.signatures()
    except OfdError:
        return out
    for signature in signatures:
        picture, picture_type = None, None
        try:
            if signature.seal and signature.seal in package:
                seal = parse_seal(package.read(signature.seal))
            elif signature.signed_value and signature.signed_value in package:
                seal = parse_signature(package.read(signature.signed_value)).seal
            else:
                seal = None
            if seal is not None:
                picture, picture_type = seal.picture_data, seal.picture_type.lower()
        except (SesError, OfdError, ValueError):
            pass
        for stamp in signature.stamp_annots:
            if stamp.page_ref == page.id and stamp.boundary is not None:
                out.append({"signature": signature.path, "id": stamp.id, "boundary": stamp.boundary,
                            "clip": parse_box(stamp.clip), "picture_type": picture_type, "picture": picture})
    return out


def render_page(source: OfdPackage | bytes, index: int = 0, width_px: int = 800, *, stamps: bool = True,
                outline_stamps: bool = False) -> bytes:
    """Page ``index`` (from 0) as PNG ``width_px`` wide; stamps drawn, optionally outlined in red."""
    package = source if isinstance(source, OfdPackage) else OfdPackage.open(source)
    document = package.document()
    if not 0 <= index < len(document.pages):
        raise OfdRenderError(f"page {index + 1} is out of range (the document has {len(document.pages)})")
    page = document.pages[index]
    if page.box is None or page.box[2] <= 0 or page.box[3] <= 0:
        raise OfdRenderError(f"page {index + 1} has no PhysicalBox")
    width_px = max(16, min(int(width_px), MAX_WIDTH_PX))
    canvas = _Page(package, page.box, width_px)
    canvas.index_resources(document.resources)
    for entry in (*page.templates, page.content):
        canvas.content(entry)
    if stamps or outline_stamps:
        for stamp in stamp_boxes(package, index):
            drawn = stamps and stamp["picture"] is not None and stamp["picture_type"] != "ofd" and canvas.picture(
                stamp["picture"], stamp["boundary"], stamp["clip"])
            if outline_stamps or (stamps and not drawn):
                x, y, w, h = stamp["boundary"]
                if stamp["clip"] is not None:
                    x, y, w, h = x + stamp["clip"][0], y + stamp["clip"][1], stamp["clip"][2], stamp["clip"][3]
                left, top = canvas.px(x, y)
                right, bottom = canvas.px(x + w, y + h)
                canvas.draw.rectangle((left, top, right, bottom), outline=(220, 0, 0), width=max(2, width_px // 300))
    out = io.BytesIO()
    canvas.image.save(out, "PNG", optimize=False)
    return out.getvalue()


__all__ = ["OfdRenderError", "render_page", "stamp_boxes"]
