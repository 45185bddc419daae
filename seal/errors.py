"""The one exception root of seal/: every refusal seal/ raises is a ``SealError``
(callers catch it or a subclass: ``SealNotFound``, ``SealUnusable``, ``seal.image.ImageError``,
``seal.pdfread.PdfRefused``, ``seal.tokens.TokenRefused``) and carries the HTTP ``status`` and
problem+json ``kind`` it answers with, so the web layer maps by attribute, never by class name.
Imports nothing of the project."""

from __future__ import annotations


class SealError(Exception):
    """A seal request that cannot be honoured; ``status`` is the HTTP status it maps to."""

    status = 400
    kind = "invalid-request"

    def __init__(self, message: str, *, status: int | None = None, kind: str | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status
        if kind is not None:
            self.kind = kind


class SealNotFound(SealError):
    status = 404
    kind = "seal-not-found"


class SealUnusable(SealError):
    """The seal exists but is not active (suspended, revoked, expired, not yet made)."""

    status = 409
    kind = "seal-not-active"
