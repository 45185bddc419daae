"""Where a seal goes: millimetres to points, the placement, keyword search, page lists."""

from __future__ import annotations

from dataclasses import dataclass

from seal.pdfread import (
    PdfRefused,
)

MM = 72 / 25.4


@dataclass(frozen=True)
class Placement:
    page: int = 1  # 1-based
    x_mm: float | None = None  # centre of the seal from the page's top-left corner
    y_mm: float | None = None
    keyword: str | None = None
    pages: tuple[int, ...] | str = ()  # further pages (1-based) or "all"; stamps drawn into content
    riding: bool = False



def _find_keyword(data: bytes, keyword: str) -> tuple[int, float, float]:
    """(page index, x, y) in PDF user space of the first occurrence of ``keyword``."""
    from seal.text import find_text

    try:
        found = find_text(data, keyword)
    except Exception as exc:  # pdfminer raises many kinds on malformed content streams
        raise PdfRefused(f"the PDF's text cannot be read to find the keyword ({type(exc).__name__})",
                         "broken-pdf") from None
    if found is None:
        raise PdfRefused(f"the keyword {keyword!r} is not in the document's text", "keyword-not-found")
    return found



def _parse_pages(spec, count: int) -> list[int]:
    if not spec:
        return []
    if spec == "all":
        return list(range(1, count + 1))
    pages = sorted(set(spec))
    for number in pages:
        if not 1 <= number <= count:
            raise PdfRefused(f"page {number} is out of range (the document has {count})", "page-out-of-range")
    return pages


def parse_page_list(text: str) -> tuple[int, ...] | str:
    """``all`` or ``1,3,5-7`` -> page numbers; raises ValueError on anything else."""
    text = (text or "").strip().lower()
    if text in ("", "none"):
        return ()
    if text == "all":
        return "all"
    numbers: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if "-" in part:
            low, high = (int(p) for p in part.split("-", 1))
            if low > high or high - low > 10000:
                raise ValueError(f"bad page range {part!r}")
            numbers.extend(range(low, high + 1))
        else:
            numbers.append(int(part))
    if any(n < 1 for n in numbers):
        raise ValueError("page numbers start at 1")
    return tuple(numbers)
