"""The face a person *sees* (the wallet, the clerk's page after a showing): the sealed file's first page,
drawn, with the holder's ID number (or USCC) and any sensitive item masked.

The sealed file keeps the full data (it is what the authority sealed and what a verifier checks); only
its picture is masked, here, after drawing — never in licence/face.py, which renders what is sealed.
The rule is one: :func:`masked_values` names each printed value to hide and its masked form, with
keys.idnumbers' ``mask_id_number`` (the one way an ID number or USCC is shown, DESIGN.md); the places
come from licence/face.py's own :func:`~licence.face.layout` of the same lines, so the mask covers
exactly where the value was printed. A value the layout wrapped over several lines is covered on each.
"""

from __future__ import annotations

import functools
import io

from PIL import Image, ImageDraw

from keys.idnumbers import mask_id_number
from licence.catalogue import LicenceType
from licence.face import PT_MM, FaceContent, TextLine, layout, width_em
from licence.library import Licence, face_lines
from ofd.fonts import FontUnavailable, find_cjk_font
from seal.image import load_font

ASCENT, DESCENT = 0.95, 0.3  # of the em, above and below the baseline: the box a printed value takes
MARGIN_MM = 0.8


def masked_values(kind: LicenceType, licence: Licence) -> dict[str, str]:
    """Printed value → what the displayed face shows instead: the holder's ID number or USCC, and every
    item the catalogue marks sensitive (should a face template ever print one)."""
    hidden = {licence.holder_id: mask_id_number(licence.holder_id)}
    for item in kind.items:
        value = licence.data.get(item.name)
        if item.sensitive and value not in (None, ""):
            hidden[str(value)] = mask_id_number(str(value))
    return {value: masked for value, masked in hidden.items() if value and value != masked}


def _printed(kind: LicenceType, licence: Licence) -> list[tuple[TextLine, str]]:
    """Each text line licence/face.py prints for a value of this licence, with the whole value it belongs to
    (the same layout the sealed file was drawn with; a wrapped value has several lines)."""
    lines = face_lines(kind, licence.holder_name, licence.holder_id, licence.data, licence.valid_from,
                       licence.valid_to)
    face = FaceContent(template=kind.face, title=kind.face.title or kind.name, title_en=kind.face.title_en or
                       kind.name_en, number=licence.number, lines=tuple(lines), issuer_name=kind.authority_name,
                       issued_on="", qr_text="", metadata={})
    printed, current, following = [], None, 0
    for item in layout(face):
        if not isinstance(item, TextLine):
            continue
        if following < len(lines) and item.text == lines[following][0] and item.x_mm == kind.face.items_at.x_mm:
            current, following = lines[following][1], following + 1  # a label: its value's lines follow
        elif current is not None:
            printed.append((item, current))  # after the last value: the issuer, the date (never masked)
    return printed


@functools.lru_cache(maxsize=8)
def _font(size_px: int):
    """The face's own font (Noto Sans CJK) at this size, loaded once: a collection takes ~50 ms to open."""
    try:
        return load_font(find_cjk_font(), size_px)
    except (FontUnavailable, OSError):
        return None


def mask_face(png: bytes, kind: LicenceType, licence: Licence) -> bytes:
    """The drawn face (PNG of the whole first page) with :func:`masked_values` painted over."""
    hidden = masked_values(kind, licence)
    if not hidden:
        return png
    image = Image.open(io.BytesIO(png)).convert("RGB")
    width_mm = kind.face.size_mm[0]
    scale = image.width / width_mm  # pixels per millimetre: the page is drawn to the image's width
    draw = ImageDraw.Draw(image)
    done: dict[str, int] = {}
    for line, value in _printed(kind, licence):
        if value not in hidden:
            continue
        start = done.get(value, 0)
        shown = hidden[value][start:start + len(line.text)]  # a wrapped value: this line's share of the mask
        done[value] = start + len(line.text)
        size_mm = line.size_pt * PT_MM
        box = [(line.x_mm - MARGIN_MM) * scale, (line.baseline_mm - ASCENT * size_mm) * scale,
               (line.x_mm + width_em(line.text) * size_mm + MARGIN_MM) * scale,
               (line.baseline_mm + DESCENT * size_mm) * scale]
        draw.rectangle(box, fill="white")
        font = _font(max(1, round(size_mm * scale)))
        if font is None:  # no CJK font here: the value is hidden all the same
            continue
        draw.text((line.x_mm * scale, line.baseline_mm * scale), shown, fill=(0, 0, 0), font=font, anchor="ls")
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=1)  # fast: the encode, not the drawing, is what costs here
    return out.getvalue()


__all__ = ["mask_face", "masked_values"]
