"""One entry point for sealing a document, PDF or OFD, decided by its content (never its name).

An OFD is a zip package (it starts with a zip local header, ``PK\\x03\\x04``); everything else
goes to the PDF path, which refuses what is not a PDF as before. CLI, API and batch jobs all call
:func:`seal_document`, so both formats share the usage log, the audit trail and the job queue.
"""

from __future__ import annotations

from seal.pdf import PdfLimits, Placement, Sealer, SealResult, seal_pdf

ZIP_MAGIC = b"PK\x03\x04"


def document_format(data: bytes) -> str:
    """``"ofd"`` for a zip package, else ``"pdf"``."""
    return "ofd" if data[:4] == ZIP_MAGIC else "pdf"


def seal_document(sealer: Sealer, data: bytes, placement: Placement, *, level: str = "B-LT", pades: bool = True,
                  max_bytes: int | None = None, limits: PdfLimits | None = None) -> SealResult:
    """Seal a PDF (:func:`seal.pdf.seal_pdf`) or an OFD (:func:`seal.ofd.seal_ofd`)."""
    if document_format(data) == "ofd":
        from seal.ofd import seal_ofd

        return seal_ofd(sealer, data, placement, level=level, max_bytes=max_bytes)
    return seal_pdf(sealer, data, placement, level=level, pades=pades, max_bytes=max_bytes, limits=limits)


__all__ = ["document_format", "seal_document"]
