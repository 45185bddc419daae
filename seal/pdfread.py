"""Reading a PDF to seal: a strict parse that repairs nothing, one walk of the page tree, limits.

A hostile document must not hang a sealing thread (issue 12 item 8: ``/Kids [3 0 R x 100000]``
took hours, since pyhanko finds page *i* by walking the tree from the root over every kid
before it). Here the tree is walked once, every node at most once, within ``PdfLimits``; the
writer then answers page lookups from that table.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.signers.pdf_byterange import PdfByteRangeDigest

from keys.budget import Deadline
from seal.errors import SealError
from seal.pdfdigest import share_prefix


class PdfRefused(SealError, ValueError):
    """A PDF or placement that cannot be sealed; ``kind`` names the problem for problem+json."""

    def __init__(self, message: str, kind: str = "bad-pdf", status: int = 422) -> None:
        super().__init__(message, status=status, kind=kind)


@dataclass(frozen=True)
class PdfLimits:
    """Bounds for one document to seal (README: YITONG_PDF_MAX_PAGES, _MAX_OBJECTS, _SECONDS).

    ``seconds`` bounds reading the document, walking its page tree, finding the keyword and
    drawing the stamps (everything before the signature, which is linear in the objects).
    """

    max_pages: int = 10_000
    max_objects: int = 500_000
    seconds: float = 30.0
    max_depth: int = 64  # page tree levels; real documents have a handful

    @classmethod
    def of(cls, settings) -> PdfLimits:
        """The limits a :class:`yitong.settings.Settings` (or anything with its pdf_* fields) names."""
        return cls(max_pages=settings.pdf_max_pages, max_objects=settings.pdf_max_objects,
                   seconds=settings.pdf_seconds)


def _inherited(page: generic.DictionaryObject, name: str):
    """An inheritable page attribute (/MediaBox, /CropBox, /Rotate: ISO 32000-1 §7.7.3.4)."""
    node, depth = page, 0
    while node is not None and depth < 64:
        if name in node:
            return node[name]
        parent = node.get("/Parent")
        node = parent.get_object() if parent is not None else None
        depth += 1
    return None


def page_box(page: generic.DictionaryObject) -> tuple[float, float, float, float]:
    box = _inherited(page, "/CropBox") or _inherited(page, "/MediaBox")
    if box is None:
        raise PdfRefused("a page has no MediaBox", "bad-pdf")
    try:
        x1, y1, x2, y2 = (float(v) for v in box)
    except (TypeError, ValueError):
        raise PdfRefused("a page's MediaBox is not four numbers", "broken-pdf") from None
    return min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)


def _rotation(page: generic.DictionaryObject) -> int:
    rotate = _inherited(page, "/Rotate")
    try:
        return int(rotate) % 360 if rotate is not None else 0
    except (TypeError, ValueError):
        raise PdfRefused("a page's /Rotate is not a number", "broken-pdf") from None


def check_unrotated(pages: list[generic.DictionaryObject], indexes) -> None:
    for index in indexes:
        if _rotation(pages[index]):
            raise PdfRefused(f"page {index + 1} is rotated (/Rotate {_rotation(pages[index])}); seals are placed "
                             "on unrotated pages only", "rotated-page")


PageTable = list[tuple[generic.IndirectObject, object]]  # (page reference, inherited /Resources), in page order


class PageTableWriter(IncrementalPdfFileWriter):
    """pyhanko's incremental writer with the page table walked once (:func:`page_table`).

    pyhanko finds page *i* by walking the page tree from the root every time, over every kid
    before it: sealing or stamping every page of an n-page document cost O(n²) (issue 12 item 8).
    """

    page_table: PageTable | None = None
    prefix = None  # a seal.pdfdigest.PrefixDigest of the input: the signature's digest continues it

    def add_object(self, obj, obj_stream=None, idnum=None):
        if self.prefix is not None and isinstance(obj, PdfByteRangeDigest):
            share_prefix(obj, self.prefix)
        return super().add_object(obj, obj_stream=obj_stream, idnum=idnum)

    def find_page_for_modification(self, page_ix):
        if self.page_table is None:
            return super().find_page_for_modification(page_ix)
        try:
            return self.page_table[page_ix]
        except IndexError:
            raise PdfError("Page index out of range") from None


def open_strictly(data: bytes, limits: PdfLimits) -> tuple[PageTableWriter, PdfFileReader, bool]:
    """(writer, reader, hybrid) of a PDF that parses strictly; nothing is ever repaired.

    Hybrid-reference files (ISO 32000-1 §7.5.8.4) are valid: once the strict parse has
    accepted them, they are signed through pyhanko's non-strict writer, which is the only way
    pyhanko signs them; the signature covers every byte of the file either way.
    """
    if not data.lstrip()[:5].startswith(b"%PDF-") and b"%PDF-" not in data[:1024]:
        raise PdfRefused("the upload is not a PDF", "not-a-pdf", 415)
    try:
        writer = PageTableWriter(io.BytesIO(data), strict=True)
        reader = writer.prev
        check_object_count(reader, limits)
        if reader.encrypted:
            raise PdfRefused("the PDF is encrypted; remove the encryption before sealing", "encrypted-pdf")
        _ = reader.root["/Pages"]["/Count"]  # a broken xref fails here, not later
        hybrid = bool(reader.xrefs.hybrid_xrefs_present)
        if hybrid:
            writer = PageTableWriter(io.BytesIO(data), strict=False)
            reader = writer.prev
    except PdfRefused:
        raise
    except (PdfError, ValueError, KeyError, TypeError, IndexError, AttributeError, RecursionError) as exc:
        raise PdfRefused(f"the PDF cannot be parsed ({type(exc).__name__}: {exc}); it is not repaired",
                         "broken-pdf") from None
    return writer, reader, hybrid


def check_object_count(reader: PdfFileReader, limits: PdfLimits) -> None:
    size = reader.trailer.raw_get("/Size") if "/Size" in reader.trailer else 0
    if not isinstance(size, int) or size < 0:
        raise PdfRefused("the PDF's trailer /Size is not a count of objects", "broken-pdf")
    if size > limits.max_objects:
        raise PdfRefused(f"the PDF declares {size} objects; documents are limited to {limits.max_objects}",
                         "too-many-objects", 413)


def page_table(writer: PageTableWriter, limits: PdfLimits, deadline: Deadline) -> PageTable:
    """(page reference, inherited /Resources) of every page, in order, from one walk of the tree.

    Each node is visited once: a node reached twice (a loop, or one page listed many times, as
    in ``/Kids [3 0 R 3 0 R ...]``) is refused, and so are trees deeper than ``max_depth`` and
    more pages than ``max_pages`` (the declared /Count is checked before anything is walked).
    """
    try:
        root_ref = writer.root.raw_get("/Pages")
        count = root_ref.get_object()["/Count"] if isinstance(root_ref, generic.IndirectObject) else None
        if not isinstance(count, int) or count < 0:
            raise PdfRefused("the PDF's page tree root is not an indirect /Pages node with a /Count", "broken-pdf")
        if count > limits.max_pages:
            raise PdfRefused(f"the PDF declares {count} pages; documents are limited to {limits.max_pages}",
                             "too-many-pages", 413)
        table: PageTable = []
        seen: set = set()
        stack: list[tuple[generic.IndirectObject, object, int]] = [(root_ref, generic.DictionaryObject(), 0)]
        while stack:
            deadline.check()
            ref, resources, depth = stack.pop()
            if not isinstance(ref, generic.IndirectObject):
                raise PdfRefused("a page tree node is not an indirect object", "broken-pdf")
            if ref.reference in seen:
                raise PdfRefused(f"the page tree reaches object {ref.idnum} more than once", "broken-pdf")
            seen.add(ref.reference)
            node = ref.get_object()
            resources = node.raw_get("/Resources") if "/Resources" in node else resources
            kind = node.get("/Type")
            if kind == "/Page":
                table.append((ref, resources))
                if len(table) > limits.max_pages:
                    raise PdfRefused(f"the PDF has more than {limits.max_pages} pages", "too-many-pages", 413)
            elif kind == "/Pages":
                if depth >= limits.max_depth:
                    raise PdfRefused(f"the page tree is deeper than {limits.max_depth} levels", "broken-pdf")
                stack.extend((kid, resources, depth + 1) for kid in reversed(node["/Kids"]))
            else:
                raise PdfRefused(f"a page tree node has /Type {kind}", "broken-pdf")
    except PdfRefused:
        raise
    except (PdfError, ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        raise PdfRefused(f"the PDF's page tree cannot be read ({exc})", "broken-pdf") from None
    if len(table) != count:
        raise PdfRefused(f"the page tree holds {len(table)} pages but declares {count}", "broken-pdf")
    return table


__all__ = ["PageTableWriter", "PdfLimits", "PdfRefused", "check_unrotated", "open_strictly", "page_box", "page_table"]
