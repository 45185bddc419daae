"""Finding a keyword's position in a PDF's text (for keyword-anchored seals), with pdfminer.six.

Characters are matched within one text line (whitespace ignored), so "（盖章）" is found even
when a generator places each glyph separately. The result is the centre of the union of the
matched characters' boxes, in PDF user space of that page.
"""

from __future__ import annotations

import io


def find_text(data: bytes, keyword: str, max_pages: int = 500) -> tuple[int, float, float] | None:
    """(page index, x, y) of the centre of the first occurrence of ``keyword``, or None."""
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LAParams, LTChar, LTTextContainer, LTTextLine

    wanted = "".join(keyword.split())
    if not wanted:
        return None

    def lines(container):
        for element in container:
            if isinstance(element, LTTextLine):
                yield element
            elif isinstance(element, LTTextContainer):
                yield from lines(element)

    for page_ix, page in enumerate(extract_pages(io.BytesIO(data), laparams=LAParams(), maxpages=max_pages)):
        for line in lines(page):
            chars = [c for c in line if isinstance(c, LTChar) and not c.get_text().isspace()]
            text = "".join(c.get_text() for c in chars)
            start = text.find(wanted)
            if start < 0:
                continue
            # get_text() may yield several characters for one LTChar (ligatures); map back by offsets.
            offsets, pos = [], 0
            for c in chars:
                offsets.append(pos)
                pos += len(c.get_text())
            hit = [c for c, off in zip(chars, offsets, strict=True) if start <= off < start + len(wanted)]
            x0 = min(c.x0 for c in hit)
            x1 = max(c.x1 for c in hit)
            y0 = min(c.y0 for c in hit)
            y1 = max(c.y1 for c in hit)
            return page_ix, (x0 + x1) / 2, (y0 + y1) / 2
    return None
