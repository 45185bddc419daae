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
"""

from __future__ import annotations

import hashlib
import io
import zlib
from dataclasses import dataclass, field

from asn1crypto import cms, ocsp, tsp, x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.timestamps.api import TimeStamper

from keys.budget import BudgetExceeded, Deadline, time_budget
from keys.cms import KeySigner
from keys.digests import digest
from keys.sm3 import sm3
from seal.pdfread import (
    PageTableWriter,
    PdfLimits,
    PdfRefused,
    check_unrotated,
    open_strictly,
    page_box,
    page_table,
)

LEVELS = ("B-B", "B-T", "B-LT")
MM = 72 / 25.4


@dataclass(frozen=True)
class Placement:
    page: int = 1  # 1-based
    x_mm: float | None = None  # centre of the seal from the page's top-left corner
    y_mm: float | None = None
    keyword: str | None = None
    pages: tuple[int, ...] | str = ()  # further pages (1-based) or "all"; stamps drawn into content
    riding: bool = False


@dataclass
class _ImageXObject:
    width: int
    height: int
    rgb: bytes
    alpha: bytes


def image_streams(png: bytes) -> _ImageXObject:
    """The seal PNG as flate-compressed RGB + alpha planes (made once per seal, reused)."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGBA")
    rgb = image.convert("RGB").tobytes()
    alpha = image.getchannel("A").tobytes()
    return _ImageXObject(image.width, image.height, zlib.compress(rgb, 6), zlib.compress(alpha, 6))


class InProcessTimeStamper(TimeStamper):
    """pyhanko TimeStamper over a keys/ TimeStampAuthority (bytes in, bytes out; no HTTP)."""

    def __init__(self, authority) -> None:
        super().__init__(include_nonce=True)
        self._authority = authority

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        return tsp.TimeStampResp.load(self._authority.respond(req.dump()))


def _der(tag: int, content: bytes) -> bytes:
    length = len(content)
    if length < 0x80:
        return bytes((tag, length)) + content
    size = (length.bit_length() + 7) // 8
    return bytes((tag, 0x80 | size)) + length.to_bytes(size, "big") + content


_TST_ATTRIBUTE = _der(0x06, bytes.fromhex("2a864886f70d010910020e"))  # id-aa-timeStampToken 1.2.840.113549.1.9.16.2.14
_SIGNED_DATA = _der(0x06, bytes.fromhex("2a864886f70d010702"))  # 1.2.840.113549.1.7.2


class _Template:
    """The parts of one PAdES SignedData that are the same for every document a seal signs."""

    def __init__(self, content_info: cms.ContentInfo, data_digest: bytes) -> None:
        signed_data = content_info["content"]
        signer_info = signed_data["signer_infos"][0]
        attrs = signer_info["signed_attrs"]
        varying = {"signing_time", "signature_time_stamp_token"} & {a["type"].native for a in attrs}
        if varying:
            raise ValueError(f"signed attributes that vary per document: {', '.join(sorted(varying))}")
        self.attrs = b"\x31" + attrs.dump()[1:]  # the SET encoding, which is what is signed
        self.digest_at = self.attrs.index(data_digest)
        if self.attrs.find(data_digest, self.digest_at + 1) != -1:
            raise ValueError("the message digest occurs twice in the signed attributes")
        self.digest_len = len(data_digest)
        self.head = b"".join(signed_data[name].dump() for name in ("version", "digest_algorithms",
                                                                   "encap_content_info", "certificates"))
        self.info_head = b"".join(signer_info[name].dump() for name in ("version", "sid", "digest_algorithm"))
        self.signature_algorithm = signer_info["signature_algorithm"].dump()

    def signed_attributes(self, digest: bytes) -> bytes:
        if len(digest) != self.digest_len:
            raise ValueError("digest length changed")
        return self.attrs[: self.digest_at] + digest + self.attrs[self.digest_at + self.digest_len:]

    def content_info(self, signed_attrs: bytes, signature: bytes, token: bytes | None) -> bytes:
        unsigned = b""
        if token is not None:
            unsigned = _der(0xA1, _der(0x30, _TST_ATTRIBUTE + _der(0x31, token)))
        info = _der(0x30, self.info_head + b"\xa0" + signed_attrs[1:] + self.signature_algorithm
                    + _der(0x04, signature) + unsigned)
        signed_data = _der(0x30, self.head + _der(0x31, info))
        return _der(0x30, _SIGNED_DATA + _der(0xA0, signed_data))


class _FastSigner(KeySigner):
    """KeySigner that assembles PAdES SignedData from pre-encoded parts.

    pyhanko's own path re-encodes the certificates, algorithms and attributes with asn1crypto on
    every signature (DESIGN.md: most of its time). The first PAdES signature goes through it;
    its DER then serves as a template in which only the message digest, the signature value and
    the time-stamp token change. Dry runs, non-PAdES signatures (which carry a signing time)
    and anything unusual take pyhanko's path.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._templates: dict[tuple, _Template] = {}

    async def async_sign(self, data_digest, digest_algorithm, dry_run=False, use_pades=False, timestamper=None,
                         signed_attr_settings=None, is_pdf_sig=True, encap_content_info=None):
        settings = signed_attr_settings
        usual = (not dry_run and use_pades and is_pdf_sig and encap_content_info is None
                 and (settings is None or (getattr(settings, "adobe_revinfo_attr", None) is None
                                           and getattr(settings, "cades_signed_attrs", None) is None)))
        key = digest_algorithm
        if not usual or self._templates.get(key, ...) is None:
            return await super().async_sign(data_digest, digest_algorithm, dry_run=dry_run, use_pades=use_pades,
                                            timestamper=timestamper, signed_attr_settings=signed_attr_settings,
                                            is_pdf_sig=is_pdf_sig, encap_content_info=encap_content_info)
        template = self._templates.get(key)
        if template is None:
            first = await super().async_sign(data_digest, digest_algorithm, use_pades=True, timestamper=None,
                                             signed_attr_settings=settings)
            try:
                template = self._templates[key] = _Template(first, data_digest)
            except ValueError:
                self._templates[key] = None  # something varies per document: stay on pyhanko's path
                return await super().async_sign(data_digest, digest_algorithm, use_pades=True,
                                                timestamper=timestamper, signed_attr_settings=settings)
        signed_attrs = template.signed_attributes(data_digest)
        signature = await self.async_sign_raw(signed_attrs, digest_algorithm)
        token = None
        if timestamper is not None:
            imprint = digest(digest_algorithm, signature)
            token = (await timestamper.async_timestamp(imprint, digest_algorithm)).dump()
        return cms.ContentInfo.load(template.content_info(signed_attrs, signature, token))


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


def _image_ref(writer: IncrementalPdfFileWriter, image: _ImageXObject) -> generic.IndirectObject:
    smask = generic.StreamObject({
        pdf_name("/Type"): pdf_name("/XObject"), pdf_name("/Subtype"): pdf_name("/Image"),
        pdf_name("/Width"): generic.NumberObject(image.width), pdf_name("/Height"): generic.NumberObject(image.height),
        pdf_name("/ColorSpace"): pdf_name("/DeviceGray"), pdf_name("/BitsPerComponent"): generic.NumberObject(8),
        pdf_name("/Filter"): pdf_name("/FlateDecode"),
    }, encoded_data=image.alpha)
    main = generic.StreamObject({
        pdf_name("/Type"): pdf_name("/XObject"), pdf_name("/Subtype"): pdf_name("/Image"),
        pdf_name("/Width"): generic.NumberObject(image.width), pdf_name("/Height"): generic.NumberObject(image.height),
        pdf_name("/ColorSpace"): pdf_name("/DeviceRGB"), pdf_name("/BitsPerComponent"): generic.NumberObject(8),
        pdf_name("/Filter"): pdf_name("/FlateDecode"), pdf_name("/SMask"): writer.add_object(smask),
    }, encoded_data=image.rgb)
    return writer.add_object(main)


class _SealStamp:
    """The widget appearance: the seal image filling the annotation's box."""

    def __init__(self, writer, image_ref, width: float, height: float) -> None:
        self.writer, self.image_ref, self.width, self.height = writer, image_ref, width, height

    def apply_appearance(self, annot: generic.DictionaryObject) -> None:
        content = f"q {self.width:.3f} 0 0 {self.height:.3f} 0 0 cm /YtSeal Do Q".encode()
        form = generic.StreamObject({
            pdf_name("/Type"): pdf_name("/XObject"), pdf_name("/Subtype"): pdf_name("/Form"),
            pdf_name("/BBox"): generic.ArrayObject([generic.FloatObject(0), generic.FloatObject(0),
                                                    generic.FloatObject(self.width), generic.FloatObject(self.height)]),
            pdf_name("/Resources"): generic.DictionaryObject({
                pdf_name("/XObject"): generic.DictionaryObject({pdf_name("/YtSeal"): self.image_ref})}),
        }, stream_data=content)
        annot[pdf_name("/AP")] = generic.DictionaryObject({pdf_name("/N"): self.writer.add_object(form)})
        annot.pop(pdf_name("/AS"), None)


class _SealStampStyle:
    """Duck-typed pyhanko stamp style: ``create_stamp`` returns our image stamp."""

    def __init__(self, image_ref) -> None:
        self.image_ref = image_ref

    def create_stamp(self, writer, box, text_params):
        return _SealStamp(writer, self.image_ref, float(box.width), float(box.height))


def _draw_on_page(writer: IncrementalPdfFileWriter, page_ix: int, image_ref, content: bytes) -> None:
    """Append ``content`` to a page, isolated from whatever graphics state the page leaves behind."""
    page_ref, _ = writer.find_page_for_modification(page_ix)
    page = page_ref.get_object()
    if "/Contents" not in page:
        page[pdf_name("/Contents")] = generic.ArrayObject()
        writer.mark_update(page_ref)
    writer.add_stream_to_page(page_ix, writer.add_object(generic.StreamObject(stream_data=b"q\n")), prepend=True)
    resources = generic.DictionaryObject({
        pdf_name("/XObject"): generic.DictionaryObject({pdf_name("/YtSealImg"): image_ref})})
    stream = generic.StreamObject(stream_data=b"\nQ\n" + content + b"\n")
    writer.add_stream_to_page(page_ix, writer.add_object(stream), resources=resources)


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


@dataclass(frozen=True)
class SealResult:
    pdf: bytes
    sm3_before: str
    sm3_after: str
    field_name: str
    page: int
    box: tuple[float, float, float, float]
    level: str


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
    out = io.BytesIO()
    try:
        pdf_signer.sign_pdf(writer, bytes_reserved=sealer._reserve(level), output=out)
    except (PdfError, ValueError, KeyError, TypeError) as exc:
        raise PdfRefused(f"the PDF cannot be sealed ({type(exc).__name__}: {exc})", "broken-pdf") from None
    if level == "B-LT":
        _add_dss(out, sealer, strict=not prepared.hybrid)
    result = out.getvalue()
    return SealResult(result, sm3(data).hex(), sm3(result).hex(), field_name, page_ix + 1, box, level)


def _add_dss(out: io.BytesIO, sealer: Sealer, *, strict: bool = True) -> None:
    from pyhanko.sign.validation.dss import DocumentSecurityStore

    crls, ocsps = sealer.revocation() if sealer.revocation else ([], [])
    reader = PdfFileReader(out, strict=strict)
    embedded = reader.embedded_signatures[-1]
    certs = [sealer.certificate, *sealer.chain, *sealer.roots]
    token = embedded.signer_info["unsigned_attrs"]
    if token:
        for attr in token:
            if attr["type"].native == "signature_time_stamp_token":
                for value in attr["values"]:
                    for cert in value["content"]["certificates"] or []:
                        certs.append(cert.chosen)
    DocumentSecurityStore.add_dss(out, None, certs=certs, crls=[_as_crl(c) for c in crls],
                                  ocsps=[ocsp.OCSPResponse.load(o) for o in ocsps], strict=strict)


def _as_crl(der: bytes):
    from asn1crypto import crl

    return crl.CertificateList.load(der)


def ocsp_request(certificate: x509.Certificate, issuer: x509.Certificate) -> bytes:
    """A one-certificate RFC 6960 request (SHA-1 CertID, as every responder understands)."""
    cert_id = ocsp.CertId({
        "hash_algorithm": {"algorithm": "sha1"},
        "issuer_name_hash": hashlib.sha1(issuer.subject.dump()).digest(),  # noqa: S324 - RFC 6960 CertID
        "issuer_key_hash": hashlib.sha1(issuer.public_key["public_key"].contents[1:]).digest(),  # noqa: S324
        "serial_number": certificate.serial_number,
    })
    return ocsp.OCSPRequest({"tbs_request": {"request_list": [{"req_cert": cert_id}]}}).dump()


__all__ = ["LEVELS", "InProcessTimeStamper", "PdfLimits", "PdfRefused", "Placement", "SealResult", "Sealer",
           "ocsp_request", "parse_page_list", "seal_pdf"]
