"""An embeddable CJK font for the pages :mod:`ofd.make` writes: the glyphs used, as TrueType.

The system's Noto CJK (SIL OFL, which allows embedding subsets) is opened once per process
(:class:`_Source`); each glyph a document uses is turned from CFF outlines into TrueType quadratic
ones (fontTools' ``cu2qu``) the first time it is needed and kept, compiled, in memory — several
OFD readers (those built on ReportLab, such as easyofd, and older Java ones) cannot draw
CFF-flavoured OpenType. Each document's font is then assembled from those glyphs directly
(:func:`_assemble`: head, hhea, maxp, OS/2, name, cmap, hmtx, loca, glyf, post), which takes
about a millisecond, where running fontTools' subsetter on the 19 MB collection for every
document took about a second. A subset of a few hundred characters is tens of kilobytes.

A configured font with TrueType outlines already (``glyf``, possibly composite glyphs) goes
through fontTools' subsetter instead (:func:`_subset_truetype`).
"""

from __future__ import annotations

import io
import math
import struct
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

# Debian's fonts-noto-cjk; the Simplified Chinese face of each collection.
CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
)
NAME_IDS = (0, 1, 2, 3, 4, 5, 6)  # copyright, family, style, unique id, full name, version, PostScript name


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


def _open(path: str):
    from fontTools.ttLib import TTFont, TTLibError

    try:
        return TTFont(path, fontNumber=_collection_face(path), lazy=True)
    except (TTLibError, OSError, AssertionError) as exc:
        raise FontUnavailable(f"cannot read the font {path}: {exc}") from None


def _check_chars(text: str, cmap: dict, family: str) -> list[str]:
    chars = sorted(set(text) | {" "})
    missing = [c for c in chars if ord(c) not in cmap and not c.isspace()]
    if missing:
        raise FontUnavailable(f"the font {family} has no glyph for {''.join(missing[:10])!r}")
    return [c for c in chars if ord(c) in cmap]


def embedded_font(text: str, font_path: str | None = None) -> EmbeddedFont:
    """The characters of ``text`` (plus space) from a CJK font, ready to embed."""
    path = find_cjk_font(font_path)
    stat = path.stat()
    source = _source(str(path), stat.st_mtime_ns, stat.st_size)
    if source is None:
        return _subset_truetype(text, str(path))
    return source.embedded(text)


# -- the fast path: a CFF (OpenType) source, glyphs converted once, fonts assembled per document ----------
@dataclass(frozen=True)
class _Glyph:
    data: bytes  # compiled glyf entry (b"" for an empty glyph)
    advance: int
    bounds: tuple[int, int, int, int] | None  # xMin, yMin, xMax, yMax; None when empty
    points: int
    contours: int


@lru_cache(maxsize=2)
def _source(path: str, _mtime_ns: int, _size: int) -> _Source | None:
    """The opened face (once per process and file version); None when it is not CFF-flavoured."""
    font = _open(path)
    if "CFF " not in font:
        return None
    return _Source(font)


class _Source:
    def __init__(self, font) -> None:
        self.family = font["name"].getDebugName(1) or "CJK"
        self.cmap = font.getBestCmap()  # code point -> glyph name (~65,000 entries: read once)
        self.metrics = font["hmtx"].metrics  # glyph name -> (advance, lsb)
        self.glyph_set = font.getGlyphSet()
        head, hhea, post = font["head"], font["hhea"], font["post"]
        self.units_per_em = head.unitsPerEm
        self.head_fields = (head.fontRevision, head.flags, head.created, head.modified, head.macStyle,
                            head.lowestRecPPEM, head.fontDirectionHint)
        self.hhea_fields = (hhea.ascent, hhea.descent, hhea.lineGap, hhea.caretSlopeRise, hhea.caretSlopeRun,
                            hhea.caretOffset)
        self.post_fields = (post.underlinePosition, post.underlineThickness)
        name = font["name"]
        name.names = [record for record in name.names if record.nameID in NAME_IDS]
        self.name = name.compile(font)
        self.os2 = bytes(font.reader["OS/2"])
        self.notdef = font.getGlyphOrder()[0]
        self.glyphs: dict[str, _Glyph] = {}
        self.lock = threading.Lock()  # fontTools' lazy CFF reading is not thread-safe

    def glyph(self, name: str) -> _Glyph:
        hit = self.glyphs.get(name)
        if hit is not None:
            return hit
        from fontTools.pens.cu2quPen import Cu2QuPen
        from fontTools.pens.ttGlyphPen import TTGlyphPen

        with self.lock:
            hit = self.glyphs.get(name)
            if hit is not None:
                return hit
            pen = TTGlyphPen(None)
            self.glyph_set[name].draw(Cu2QuPen(pen, 1.0, reverse_direction=True))
            glyph = pen.glyph()
            advance = self.metrics[name][0]
            if glyph.numberOfContours == 0:
                made = _Glyph(b"", advance, None, 0, 0)
            else:
                data = glyph.compile(None)  # recalculates the bounds
                made = _Glyph(data, advance, (glyph.xMin, glyph.yMin, glyph.xMax, glyph.yMax),
                              len(glyph.coordinates), glyph.numberOfContours)
            self.glyphs[name] = made
            return made

    def embedded(self, text: str) -> EmbeddedFont:
        chars = _check_chars(text, self.cmap, self.family)
        order: list[str] = [self.notdef]
        gids: dict[str, int] = {self.notdef: 0}
        mapping: list[tuple[int, int]] = []
        for char in chars:
            name = self.cmap[ord(char)]
            if name not in gids:
                gids[name] = len(order)
                order.append(name)
            mapping.append((ord(char), gids[name]))
        glyphs = [self.glyph(name) for name in order]
        data = _assemble(self, glyphs, mapping)
        return EmbeddedFont(family=self.family, data=data, units_per_em=self.units_per_em,
                            advances={c: self.metrics[self.cmap[ord(c)]][0] for c in chars},
                            ascent=self.hhea_fields[0])


def _checksum(data: bytes) -> int:
    padded = data + b"\0" * (-len(data) % 4)
    return sum(struct.unpack(f">{len(padded) // 4}I", padded)) & 0xFFFFFFFF


def _cmap(mapping: list[tuple[int, int]]) -> bytes:
    """Format 4 for the BMP (and format 12 for all, when a character lies beyond it), runs of
    consecutive characters with consecutive glyph ids as one segment each."""
    runs: list[list[int]] = []  # [first code, last code, first gid]
    for code, gid in mapping:
        if runs and code == runs[-1][1] + 1 and gid == runs[-1][2] + code - runs[-1][0]:
            runs[-1][1] = code
        else:
            runs.append([code, code, gid])
    bmp = [run for run in runs if run[1] <= 0xFFFE]
    segments = [*bmp, [0xFFFF, 0xFFFF, 0]]  # the closing segment: 0xFFFF -> glyph 0
    count = len(segments)
    power = 2 ** int(math.log2(count))
    format4 = struct.pack(">7H", 4, 16 + 8 * count, 0, 2 * count, 2 * power, int(math.log2(count)),
                          2 * count - 2 * power)
    format4 += struct.pack(f">{count}H", *(end for _start, end, _gid in segments)) + b"\0\0"
    format4 += struct.pack(f">{count}H", *(start for start, _end, _gid in segments))
    format4 += struct.pack(f">{count}H", *((gid - start) & 0xFFFF for start, _end, gid in segments))
    format4 += b"\0\0" * count
    subtables = [format4]
    if any(run[1] > 0xFFFF for run in runs):
        subtables.append(struct.pack(">HHIII", 12, 0, 16 + 12 * len(runs), 0, len(runs))
                         + b"".join(struct.pack(">III", *run) for run in runs))
    records = [(0, 3, 0), (3, 1, 0)] + ([(0, 4, 1), (3, 10, 1)] if len(subtables) > 1 else [])
    offset = 4 + 8 * len(records)
    offsets = [offset, offset + len(format4)]
    return (struct.pack(">HH", 0, len(records))
            + b"".join(struct.pack(">HHI", platform, encoding, offsets[index])
                       for platform, encoding, index in sorted(records))
            + b"".join(subtables))


def _assemble(source: _Source, glyphs: list[_Glyph], mapping: list[tuple[int, int]]) -> bytes:
    """A TrueType font of these glyphs (glyph id = index) and this character map."""
    glyf, loca, hmtx = [], [0], []
    for glyph in glyphs:
        data = glyph.data + b"\0" * (-len(glyph.data) % 4)
        glyf.append(data)
        loca.append(loca[-1] + len(data))
        hmtx.append(struct.pack(">Hh", glyph.advance, glyph.bounds[0] if glyph.bounds else 0))
    drawn = [g for g in glyphs if g.bounds]
    x_min = min((g.bounds[0] for g in drawn), default=0)
    y_min = min((g.bounds[1] for g in drawn), default=0)
    x_max = max((g.bounds[2] for g in drawn), default=0)
    y_max = max((g.bounds[3] for g in drawn), default=0)
    revision, flags, created, modified, mac_style, lowest_ppem, direction = source.head_fields
    head = struct.pack(">IIIIHHqqhhhhHHhhh", 0x00010000, round(revision * 65536), 0, 0x5F0F3CF5, flags,
                       source.units_per_em, created, modified, x_min, y_min, x_max, y_max, mac_style, lowest_ppem,
                       direction, 1, 0)
    ascent, descent, line_gap, slope_rise, slope_run, caret_offset = source.hhea_fields
    hhea = struct.pack(">I3hH3h3h4hhH", 0x00010000, ascent, descent, line_gap, max(g.advance for g in glyphs),
                       min((g.bounds[0] for g in drawn), default=0),
                       min((g.advance - g.bounds[2] for g in drawn), default=0),
                       max((g.bounds[2] for g in drawn), default=0), slope_rise, slope_run, caret_offset,
                       0, 0, 0, 0, 0, len(glyphs))
    maxp = struct.pack(">I14H", 0x00010000, len(glyphs), max(g.points for g in glyphs),
                       max(g.contours for g in glyphs), 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0)
    underline_position, underline_thickness = source.post_fields
    post = struct.pack(">IIhhIIIII", 0x00030000, 0, underline_position, underline_thickness, 0, 0, 0, 0, 0)
    codes = [code for code, _gid in mapping]
    os2 = bytearray(source.os2)
    struct.pack_into(">HH", os2, 64, min(min(codes), 0xFFFF), min(max(codes), 0xFFFF))
    tables = {"OS/2": bytes(os2), "cmap": _cmap(mapping), "glyf": b"".join(glyf), "head": head, "hhea": hhea,
              "hmtx": b"".join(hmtx), "loca": struct.pack(f">{len(loca)}I", *loca), "maxp": maxp,
              "name": source.name, "post": post}
    return _sfnt(tables)


def _sfnt(tables: dict[str, bytes]) -> bytes:
    count = len(tables)
    power = 2 ** int(math.log2(count))
    header = struct.pack(">IHHHH", 0x00010000, count, 16 * power, int(math.log2(count)), 16 * count - 16 * power)
    offset = len(header) + 16 * count
    directory, body = [], []
    for tag in sorted(tables):
        data = tables[tag]
        directory.append(struct.pack(">4sIII", tag.encode("ascii"), _checksum(data), offset, len(data)))
        body.append(data + b"\0" * (-len(data) % 4))
        offset += len(body[-1])
    font = bytearray(header + b"".join(directory) + b"".join(body))
    head_at = struct.unpack_from(">I", font, len(header) + 16 * sorted(tables).index("head") + 8)[0]
    struct.pack_into(">I", font, head_at + 8, (0xB1B0AFBA - _checksum(bytes(font))) & 0xFFFFFFFF)
    return bytes(font)


# -- a font with TrueType outlines already: fontTools' subsetter ---------------------------------------
def _subset_truetype(text: str, path: str) -> EmbeddedFont:
    from fontTools import subset

    font = _open(path)
    family = font["name"].getDebugName(1) or "CJK"
    chars = _check_chars(text, font.getBestCmap(), family)
    options = subset.Options()
    options.name_IDs = list(NAME_IDS)
    options.layout_features = []
    # layout tables (GSUB/GPOS...) are never used by an OFD reader drawing glyph ids
    options.drop_tables += ["GSUB", "GPOS", "GDEF", "BASE", "JSTF", "MATH", "VORG", "vhea", "vmtx"]
    options.notdef_outline = True
    options.hinting = False
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=[ord(c) for c in chars])
    subsetter.subset(font)
    cmap = font.getBestCmap()
    metrics = font["hmtx"].metrics
    out = io.BytesIO()
    font.save(out)
    return EmbeddedFont(family=family, data=out.getvalue(), units_per_em=font["head"].unitsPerEm,
                        advances={c: metrics[cmap[ord(c)]][0] for c in chars if ord(c) in cmap},
                        ascent=font["hhea"].ascent)
