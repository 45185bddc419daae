"""Sealing PDFs: a PAdES/PKCS#7 signature by the seal's key whose widget shows the seal image.

Placement (documented for the API and the CLI): ``page`` counts from 1; ``x_mm``/``y_mm`` put
the **centre** of the seal that many millimetres right of and below the page's top-left corner
(of the CropBox, else the MediaBox). Rotated pages (/Rotate) are refused rather than sealed in
the wrong place. A ``keyword`` instead centres
the seal on the first occurrence of that text (searched page by page).

- The stamp on the signature's page is the signature widget's appearance (``/AP /N``).
- ``pages`` (several pages at once) and ``riding`` (骑缝章: page *i* of *n* shows the *i*-th
  vertical slice of the image at its right edge) are drawn into the pages' content in the same
  incremental revision the signature covers — only on a document that has no signature yet,
  since changing page content would break earlier seals.
- Levels: B-B (signature only), B-T (+ an RFC 3161 signature time-stamp from the keys/ TSA),
  B-LT (default: B-T + a DSS with the chain, CRLs and OCSP responses, appended as one more
  incremental update) so that offline verification decides with proven time.

Reading (a strict parse, one walk of the page tree, page/object/time limits) is in
:mod:`seal.pdfread`; ``PdfRefused`` and ``PdfLimits`` are re-exported here.

Fast path: the image XObject's streams are compressed once per seal and reused; the
signature size is reserved up front (``bytes_reserved``: no dry-run signature for sizing).

By job: this module prepares and signs; :mod:`seal.pdfplace` (placement geometry, keyword, page
lists), :mod:`seal.pdfstamp` (image XObject, widget and page drawing), :mod:`seal.pdfcms` (the fast
CMS path and the in-process TSA), :mod:`seal.pdfdss` (the B-LT DSS and OCSP requests).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from asn1crypto import x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.sign import fields, signers
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.timestamps.api import TimeStamper

from keys.budget import BudgetExceeded, Deadline, time_budget
from keys.cms import KeySigner
from keys.pdfscan import ScanningBytesIO
from seal.pdfcms import InProcessTimeStamper, _FastSigner
from seal.pdfdigest import PrefixDigest
from seal.pdfdss import _add_dss, ocsp_request
from seal.pdfplace import MM, Placement, _find_keyword, _parse_pages, parse_page_list
from seal.pdfread import (
    PageTableWriter,
    PdfLimits,
    PdfRefused,
    check_unrotated,
    open_strictly,
    page_box,
    page_table,
)
from seal.pdfstamp import _draw_on_page, _image_ref, _ImageXObject, _SealStampStyle, image_streams

LEVELS = ("B-B", "B-T", "B-LT")
MEDIA_TYPES = {"pdf": "application/pdf", "ofd": "application/ofd"}


@dataclass
class Sealer:
    """Everything to seal with one seal; build once, use for many documents.

    ``timestamper`` is needed for B-T and B-LT; ``revocation`` (a callable returning
    ``(crls, ocsps)`` as DER lists) and ``roots`` for B-LT.
    """

    key: object
    certificate: x509.Certificate
    chain: list[x509.Certificate]
    seseal: bytes
    png: bytes
    width_mm: float
    height_mm: float
    esid: str = ""
    name: str = ""
    timestamper: TimeStamper | None = None
    revocation: object = None
    roots: list[x509.Certificate] = field(default_factory=list)
    _image: _ImageXObject | None = field(default=None, init=False, repr=False)
    _signer: KeySigner | None = field(default=None, init=False, repr=False)

    @property
    def image(self) -> _ImageXObject:
        if self._image is None:
            self._image = image_streams(self.png)
        return self._image

    @property
    def signer(self) -> KeySigner:
        if self._signer is None:
            self._signer = _FastSigner(self.key, self.certificate, self.chain, seseal=self.seseal)
        return self._signer

    def _reserve(self, level: str) -> int:
        size = sum(len(c.dump()) for c in [self.certificate, *self.chain]) + len(self.seseal) + 1536
        if level != "B-B":
            size += 6144  # the time-stamp token with the TSA's certificate chain
        return 2 * size  # pyhanko counts the hex digits of /Contents



@dataclass(frozen=True)
class SealResult:
    """A sealed document (PDF, or OFD from :mod:`seal.ofd`): ``box`` is in the format's own units
    (PDF points from the bottom-left; OFD millimetres x, y, w, h from the top-left)."""

    document: bytes
    sm3_before: str
    sm3_after: str
    field_name: str  # the PDF signature field, or the OFD signature's Sign_N folder
    page: int
    box: tuple[float, float, float, float]
    level: str
    format: str = "pdf"

    @property
    def pdf(self) -> bytes:
        return self.document

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.format]


@dataclass
class _Prepared:
    """A document read, placed and stamped, ready for its signature."""

    writer: PageTableWriter
    hybrid: bool
    existing: list
    page_ix: int
    box: tuple[float, float, float, float]
    image_ref: generic.IndirectObject


def _prepare(sealer: Sealer, data: bytes, placement: Placement, limits: PdfLimits, deadline: Deadline) -> _Prepared:
    writer, reader, hybrid = open_strictly(data, limits)
    writer.page_table = page_table(writer, limits, deadline)
    pages = [ref.get_object() for ref, _ in writer.page_table]
    count = len(pages)
    if count == 0:
        raise PdfRefused("the PDF has no pages", "broken-pdf")
    try:
        existing = list(reader.embedded_signatures)
    except (PdfError, ValueError, KeyError, TypeError) as exc:
        raise PdfRefused(f"the PDF's signature fields cannot be read ({exc})", "broken-pdf") from None
    extra_pages = _parse_pages(placement.pages, count)
    if existing and (extra_pages or placement.riding):
        raise PdfRefused("the document is already sealed: further pages and the riding-seam seal can only be "
                         "drawn by its first seal (changing page content would break the earlier seals)",
                         "already-sealed", 409)
    width, height = sealer.width_mm * MM, sealer.height_mm * MM
    if placement.keyword:
        page_ix, cx, cy = _find_keyword(data, placement.keyword)
        left, bottom, right, top = page_box(pages[page_ix])
    else:
        if not 1 <= placement.page <= count:
            raise PdfRefused(f"page {placement.page} is out of range (the document has {count})",
                             "page-out-of-range")
        page_ix = placement.page - 1
        left, bottom, right, top = page_box(pages[page_ix])
        x_mm = placement.x_mm if placement.x_mm is not None else (right - left) / MM - 20 - sealer.width_mm / 2
        y_mm = placement.y_mm if placement.y_mm is not None else (top - bottom) / MM - 30 - sealer.height_mm / 2
        if not (0 <= x_mm <= (right - left) / MM and 0 <= y_mm <= (top - bottom) / MM):
            raise PdfRefused(f"the position ({x_mm}, {y_mm}) mm is outside page {placement.page}",
                             "position-out-of-page")
        cx, cy = left + x_mm * MM, top - y_mm * MM
    box = (cx - width / 2, cy - height / 2, cx + width / 2, cy + height / 2)
    check_unrotated(pages, {page_ix, *(n - 1 for n in extra_pages), *(range(count) if placement.riding else ())})

    image_ref = _image_ref(writer, sealer.image)
    drawings: dict[int, list[bytes]] = {}
    for number in extra_pages:
        if number - 1 == page_ix:
            continue
        pl, pb, pr, pt = page_box(pages[number - 1])
        x, y = pl + (cx - left), pb + (cy - bottom)
        drawings.setdefault(number - 1, []).append(
                      f"q {width:.3f} 0 0 {height:.3f} {x - width / 2:.3f} {y - height / 2:.3f} cm /YtSealImg Do Q"
                      .encode())
    if placement.riding:
        slice_w = width / count
        for i in range(count):
            pl, pb, pr, pt = page_box(pages[i])
            y = (pb + pt) / 2 - height / 2
            x_img = pr - slice_w * (i + 1)  # slice i of the image lands on [pr - slice_w, pr]
            drawings.setdefault(i, []).append(
                          (f"q {pr - slice_w:.3f} {y:.3f} {slice_w:.3f} {height:.3f} re W n "
                           f"{width:.3f} 0 0 {height:.3f} {x_img:.3f} {y:.3f} cm /YtSealImg Do Q").encode())
    for index, parts in drawings.items():
        deadline.check()
        _draw_on_page(writer, index, image_ref, b"\n".join(parts))
    return _Prepared(writer, hybrid, existing, page_ix, box, image_ref)


def seal_pdf(sealer: Sealer, data: bytes, placement: Placement, *, level: str = "B-LT",
             pades: bool = True, max_bytes: int | None = None, limits: PdfLimits | None = None) -> SealResult:
    """Seal one PDF; refuses bad input with :class:`PdfRefused` and returns the new bytes.

    Reading, placing and stamping run within ``limits.seconds`` in whichever thread calls this
    (a server thread, a batch worker, the CLI); over time the answer is ``too-complex``.
    """
    if level not in LEVELS:
        raise PdfRefused(f"level must be one of {', '.join(LEVELS)}", "bad-level", 400)
    if max_bytes is not None and len(data) > max_bytes:
        raise PdfRefused(f"the PDF is over the size limit of {max_bytes} bytes", "too-large", 413)
    if level != "B-B" and sealer.timestamper is None:
        raise PdfRefused(f"level {level} needs a time-stamp authority", "bad-level", 400)
    limits = limits or PdfLimits()
    try:
        with time_budget(limits.seconds, "reading the PDF") as deadline:
            prepared = _prepare(sealer, data, placement, limits, deadline)
    except BudgetExceeded as exc:
        raise PdfRefused(f"{exc}; the document is too complex to seal", "too-complex") from None
    writer, existing, page_ix, box = prepared.writer, prepared.existing, prepared.page_ix, prepared.box
    prefix = PrefixDigest(data)  # the one SM3 pass over the input (see seal.pdfdigest)
    writer.prefix = prefix
    field_name = f"YitongSeal{len(existing) + 1}"
    taken = {s.field_name for s in existing}
    n = len(existing) + 1
    while field_name in taken:
        n += 1
        field_name = f"YitongSeal{n}"
    meta = signers.PdfSignatureMetadata(
        field_name=field_name, md_algorithm=sealer.signer.digest_algorithm,
        subfilter=SigSeedSubFilter.PADES if pades else SigSeedSubFilter.ADOBE_PKCS7_DETACHED,
        name=sealer.name or None, reason=f"GB/T 38540 seal {sealer.esid}" if sealer.esid else None,
    )
    spec = fields.SigFieldSpec(sig_field_name=field_name, on_page=page_ix, box=box)
    pdf_signer = signers.PdfSigner(meta, sealer.signer, timestamper=sealer.timestamper if level != "B-B" else None,
                                   stamp_style=_SealStampStyle(prepared.image_ref), new_field_spec=spec)
    out = ScanningBytesIO()  # _add_dss reads the new signature's /Contents back
    try:
        pdf_signer.sign_pdf(writer, bytes_reserved=sealer._reserve(level), output=out)
    except (PdfError, ValueError, KeyError, TypeError) as exc:
        raise PdfRefused(f"the PDF cannot be sealed ({type(exc).__name__}: {exc})", "broken-pdf") from None
    if level == "B-LT":
        _add_dss(out, sealer, strict=not prepared.hybrid)
    result = out.getvalue()
    return SealResult(result, prefix.before.hex(), prefix.after(result).hex(), field_name, page_ix + 1, box, level)


__all__ = ["LEVELS", "InProcessTimeStamper", "PdfLimits", "PdfRefused", "Placement", "SealResult", "Sealer",
           "ocsp_request", "parse_page_list", "seal_pdf"]
