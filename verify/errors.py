"""The one exception root of verify/: what verify/ refuses is a ``VerifyError`` (callers catch it or a
subclass). A document that fails verification is not an error but a report; these are the inputs
verify/ cannot work with at all. Imports nothing of the project."""

from __future__ import annotations


class VerifyError(Exception):
    """Base class of every error raised by verify/."""


class TrustError(VerifyError, ValueError):
    """A trust bundle that cannot be read or holds no certificate."""


class UploadRefused(VerifyError):
    """An upload to /verify/ refused before verification (rate, size, type, busy): ``status``,
    ``title`` and ``detail`` of the RFC 7807 answer (or of the page's error), and its ``headers``."""

    def __init__(self, status: int, title: str, detail: str, headers: dict | None = None) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.headers = status, title, detail, headers or {}
