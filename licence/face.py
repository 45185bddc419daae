"""What a licence face shows, independent of the file format, and the renderer interface.

:class:`FaceContent` is built once from the type, the licence record and the 2D-code text; a
:class:`FaceRenderer` turns it into a document (``licence.pdf_face.PdfFace``; the OFD face is the
second renderer, on ofd/) and seals it with the authority's seal at the template's seal place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from licence.catalogue import FaceTemplate


@dataclass(frozen=True)
class FaceContent:
    template: FaceTemplate
    title: str
    title_en: str
    number: str  # 证照编号
    lines: tuple[tuple[str, str], ...]  # (label, value), in the type's order
    issuer_name: str
    issued_on: str  # 颁发日期 as printed
    qr_text: str
    metadata: dict[str, str]  # GB/T 36903 metadata (element name → value)


class FaceRenderer(Protocol):
    format: str
    media_type: str

    def render(self, face: FaceContent) -> bytes:
        """The unsealed document."""

    def seal(self, sealer, document: bytes, face: FaceContent) -> bytes:
        """The document sealed by ``sealer`` (seal/'s library) at ``face.template.seal``."""
