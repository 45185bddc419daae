"""Hostile PDFs from the probe of issue 12, generated on demand (never committed as files)."""

from __future__ import annotations

import io


def assemble_pdf(objects: list[bytes], *, size: int | None = None, trailer_extra: bytes = b"",
                 preamble: bytes = b"") -> bytes:
    """A classic-xref PDF of ``objects`` (numbered from 1; object 1 is the catalog).

    ``size`` overrides the trailer's /Size; ``preamble`` goes right after the header line.
    """
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n" + preamble)
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.writelines(b"%010d 00000 n \n" % offset for offset in offsets)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R %s>>\nstartxref\n%d\n%%%%EOF\n"
              % (size or len(objects) + 1, trailer_extra, xref))
    return out.getvalue()


def page_tree_bomb(count: int = 100_000) -> bytes:
    """One page listed ``count`` times: ``/Kids [3 0 R 3 0 R ...] /Count count`` (600 KB for 100,000)."""
    kids = b" ".join([b"3 0 R"] * count)
    return assemble_pdf([b"<< /Type /Catalog /Pages 2 0 R >>",
                      b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, count),
                      b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>"])


def digit_stream(digits: int = 20_900_000) -> bytes:
    """``%PDF-1.7``, a run of digits and ``startxref 9``: pyhanko reads the run byte by byte, many times."""
    return b"%PDF-1.7\n" + b"7" * digits + b"\nstartxref 9\n%%EOF\n"


def many_pages(count: int) -> bytes:
    """A valid document of ``count`` blank A4 pages in one flat /Pages node (pages are objects 3..)."""
    kids = b" ".join(b"%d 0 R" % (3 + i) for i in range(count))
    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>"
    return assemble_pdf([b"<< /Type /Catalog /Pages 2 0 R >>",
                      b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, count), *[page] * count])
