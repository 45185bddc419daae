"""Finding a keyword's position in a PDF's text (for keyword-anchored seals)."""

from __future__ import annotations


def find_text(data: bytes, keyword: str) -> tuple[int, float, float] | None:
    """(page index, x, y) of the centre of the first occurrence of ``keyword``, or None."""
    return None
