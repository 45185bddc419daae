"""An embeddable CJK font for the pages :mod:`ofd.make` writes: the glyphs used, as TrueType.

fontTools (the library of the field) subsets the system's Noto CJK (SIL OFL, which allows
embedding subsets) to the characters a document uses, then turns its CFF outlines into
TrueType quadratic outlines (``cu2qu``), because several OFD readers (those built on ReportLab,
such as easyofd, and older Java ones) cannot draw CFF-flavoured OpenType. A subset of a few
hundred characters is tens of kilobytes instead of the 19 MB collection.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

# Debian's fonts-noto-cjk; the Simplified Chinese face of each collection.
CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
)


class FontUnavailable(RuntimeError):
    """No CJK font to embed: install Debian's fonts-noto-cjk or pass a font file."""


@dataclass(frozen=True)
class EmbeddedFont:
    family: str
    data: bytes  # a TrueType (glyf) font with just the characters used
    units_per_em: int
    advances: dict[str, int]  # character -> advance width in font units
    ascent: int

    def advance_mm(self, char: str, size_mm: float) -> float:
        return self.advances.get(char, self.units_per_em) * size_mm / self.units_per_em


def find_cjk_font(configured: str | None = None) -> Path:
    for candidate in ([configured] if configured else []) + list(CANDIDATES):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise FontUnavailable("no CJK font to embed: install Debian's fonts-noto-cjk or pass font_path")


@lru_cache(maxsize=4)
def _collection_face(path: str):
    """(font number, family) of the Simplified Chinese face of a collection (or 0 for a plain font)."""
    from fontTools.ttLib import TTCollection, TTLibError

    try:
        collection = TTCollection(path, lazy=True)
    except (TTLibError, OSError, AssertionError):
        return 0
    for number, face in enumerate(collection.fonts):
        if face["name"].getDebugName(1).endswith(" SC"):
            return number
    return 0


def embedded_font(text: str, font_path: str | None = None) -> EmbeddedFont:
    """The characters of ``text`` (plus space) from a CJK font, ready to embed."""
    from fontTools import subset
    from fontTools.ttLib import TTFont, TTLibError

    path = str(find_cjk_font(font_path))
    try:
        font = TTFont(path, fontNumber=_collection_face(path), lazy=True)
    except (TTLibError, OSError, AssertionError) as exc:
        raise FontUnavailable(f"cannot read the font {path}: {exc}") from None
    family = font["name"].getDebugName(1) or "CJK"
    chars = sorted(set(text) | {" "})
    cmap = font.getBestCmap()
    missing = [c for c in chars if ord(c) not in cmap and not c.isspace()]
    if missing:
        raise FontUnavailable(f"the font {family} has no glyph for {''.join(missing[:10])!r}")
    options = subset.Options()
    options.name_IDs = [0, 1, 2, 3, 4, 5, 6]
    options.layout_features = []
    # layout tables (GSUB/GPOS...) are never used by an OFD reader drawing glyph ids; dropping them
    # before they are parsed (lazy=True) cuts the subsetting of a CJK font from ~1.5 s to a fraction
    options.drop_tables += ["GSUB", "GPOS", "GDEF", "BASE", "JSTF", "MATH", "VORG", "vhea", "vmtx"]
    options.notdef_outline = True
    options.hinting = False
    options.desubroutinize = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=[ord(c) for c in chars])
    subsetter.subset(font)
    if "CFF " in font:
        _cff_to_glyf(font)
    cmap = font.getBestCmap()
    metrics = font["hmtx"].metrics
    advances = {c: metrics[cmap[ord(c)]][0] for c in chars if ord(c) in cmap}
    out = io.BytesIO()
    font.save(out)
    return EmbeddedFont(family=family, data=out.getvalue(), units_per_em=font["head"].unitsPerEm,
                        advances=advances, ascent=font["hhea"].ascent)


def _cff_to_glyf(font) -> None:
    """Replace CFF outlines by TrueType ones (cubic -> quadratic, 1 unit tolerance)."""
    from fontTools.pens.cu2quPen import Cu2QuPen
    from fontTools.pens.ttGlyphPen import TTGlyphPen
    from fontTools.ttLib import newTable

    order = font.getGlyphOrder()
    glyph_set = font.getGlyphSet()
    glyphs = {}
    for name in order:
        pen = TTGlyphPen(glyph_set)
        glyph_set[name].draw(Cu2QuPen(pen, 1.0, reverse_direction=True))
        glyphs[name] = pen.glyph()
    del font["CFF "]
    if "VORG" in font:
        del font["VORG"]
    glyf = font["glyf"] = newTable("glyf")
    glyf.glyphOrder = order
    glyf.glyphs = glyphs
    font["loca"] = newTable("loca")
    maxp = font["maxp"]
    maxp.tableVersion = 0x00010000
    for field in ("maxZones", "maxTwilightPoints", "maxStorage", "maxFunctionDefs", "maxInstructionDefs",
                  "maxStackElements", "maxSizeOfInstructions", "maxComponentElements"):
        setattr(maxp, field, 0)
    maxp.maxZones = 1
    maxp.maxComponentDepth = 0
    font["head"].indexToLocFormat = 0
    font["head"].glyphDataFormat = 0
    post = font["post"]
    post.formatType = 2.0
    post.extraNames = []
    post.mapping = {}
    post.glyphOrder = order
    font.sfntVersion = "\x00\x01\x00\x00"
