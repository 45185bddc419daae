"""The PDF as a document: the pre-parse structural check, parsing within limits, and the checks made
once per file (trailing bytes, signature references, disjoint ByteRanges); where a widget sits."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.decode_limits import DecodeLimits, StreamDecodeLimits
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature

from keys.budget import BudgetExceeded
from keys.pdfscan import ScanningBytesIO
from keys.verdict import CheckName as N
from keys.verdict import SubIndication as Sub
from verify import report as r
from verify.checks import Check
from verify.policy import Limits, Policy

_WS = b" \t\r\n\f\x00"
_COMMENT = re.compile(rb"%(?!%EOF)[^\r\n]*")
_TAIL = re.compile(rb"startxref\s+(\d+)\s*%%EOF[ \t\r\n\f\x00]*\Z")
_STARTXREF = re.compile(rb"startxref[ \t\r\n\f\x00]+(\d+)")
_XREF_START = re.compile(rb"[ \t\r\n\f\x00]*(?:xref|\d{1,10}[ \t\r\n\f\x00]+\d{1,5}[ \t\r\n\f\x00]+obj)")

FATAL = (BudgetExceeded, MemoryError, RecursionError)  # never a step of their own: they end the document


def structural_problem(data: bytes, limits: Limits) -> str | None:
    """Why ``data`` cannot be a PDF worth parsing, found without parsing it (None: go ahead).

    pyhanko reads a token byte by byte and retries from other offsets, so a file that is one
    long run of digits (``%PDF-1.7``, 20 M digits, ``startxref 9``: issue 12 item 9) cost 30 s
    and 2 GB before it failed. Every PDF's last ``startxref`` names an offset inside the file
    where an ``xref`` table or an ``N G obj`` cross-reference stream starts (ISO 32000-1
    §7.5.5, §7.5.8); and no PDF token is a run of ``max_token_bytes`` digits.
    """
    at = data.rfind(b"startxref", max(0, len(data) - 1024))
    match = _STARTXREF.match(data, at) if at >= 0 else None
    if match is None:
        return "no startxref offset in the last 1024 bytes"
    offset = int(match.group(1)) if len(match.group(1)) <= 12 else len(data)
    header = data.find(b"%PDF-", 0, 1024)  # offsets may count from a header that junk precedes
    if offset >= match.start() or not any(_XREF_START.match(data, offset + shift) for shift in {0, max(header, 0)}):
        return f"startxref {match.group(1)[:20].decode()} does not point at a cross-reference section"
    if re.search(rb"(?<![0-9])[0-9]{%d}" % limits.max_token_bytes, data):
        return f"a run of more than {limits.max_token_bytes} digits (no PDF token is that long)"
    return None


class _Reader(PdfFileReader):
    """pyhanko's reader, except that ``/Encrypt null`` means "not encrypted" (ISO 32000: null = absent)."""

    @property
    def encrypt_dict(self):
        try:
            raw = self.trailer.raw_get("/Encrypt")
        except KeyError:
            return None
        if isinstance(raw, generic.NullObject):
            return None
        return super().encrypt_dict


def _decode_limits(policy: Policy) -> DecodeLimits:
    per_stream = StreamDecodeLimits(max_output_size=policy.limits.max_stream_bytes)
    defaults = DecodeLimits()
    return DecodeLimits(per_stream=per_stream, per_purpose=dict(defaults.per_purpose))


@dataclass
class Document:
    """What the document checks read: the bytes, the parsed reader, the filled signature fields."""

    data: bytes
    policy: Policy
    reader: PdfFileReader | None = None
    found: list = field(default_factory=list)  # (name, value, field ref) of every filled signature field
    _embedded: list | None = None

    def embedded(self) -> list:
        """(name, EmbeddedPdfSignature | None, field ref, error) of every filled signature field, read once."""
        if self._embedded is None:
            self._embedded = []
            for fq_name, _value, field_ref in self.found:
                try:
                    self._embedded.append((fq_name, EmbeddedPdfSignature(self.reader, field_ref, fq_name), field_ref,
                                           None))
                except FATAL:
                    raise
                except Exception as exc:
                    self._embedded.append((fq_name, None, field_ref, exc))
        return self._embedded


def parse(document: Document) -> r.Step:
    """The ``parse`` precondition: within the limits, not encrypted; sets ``document.reader``."""
    data, limits = document.data, document.policy.limits
    if len(data) > limits.max_bytes:
        return r.failed(N.PARSE, Sub.FORMAT_FAILURE, f"the file is larger than {limits.max_bytes} bytes")
    if b"%PDF-" not in data[:1024]:
        return r.failed(N.PARSE, Sub.FORMAT_FAILURE, "not a PDF file (no %PDF- header)")
    problem = structural_problem(data, limits)
    if problem is not None:
        return r.failed(N.PARSE, Sub.FORMAT_FAILURE, f"the PDF cannot be parsed: {problem}")
    try:
        reader = _Reader(ScanningBytesIO(data), strict=False, decode_limits=_decode_limits(document.policy))
        revisions = reader.xrefs.total_revisions
        size = int(reader.trailer.raw_get("/Size")) if "/Size" in reader.trailer else 0
        encrypt = reader.trailer.raw_get("/Encrypt") if "/Encrypt" in reader.trailer else None
        encrypted = encrypt is not None and not isinstance(encrypt, generic.NullObject)
    except (BudgetExceeded, MemoryError):
        raise
    except Exception as exc:
        return r.failed(N.PARSE, Sub.FORMAT_FAILURE, f"the PDF cannot be parsed: {r.describe(exc)}")
    if revisions > limits.max_revisions or size > limits.max_objects:
        return r.failed(N.PARSE, Sub.FORMAT_FAILURE, f"{revisions} revisions / {size} objects exceed the limits "
                                                     f"({limits.max_revisions} / {limits.max_objects})")
    if encrypted:
        return r.failed(N.PARSE, Sub.FORMAT_FAILURE, "encrypted PDFs are not verified")
    document.reader = reader
    hybrid = " (hybrid cross-references)" if reader.xrefs.hybrid_xrefs_present else ""
    return r.passed(N.PARSE, f"PDF with {revisions} revision(s){hybrid}")


def signatures_present(document: Document) -> r.Step:
    """The ``signatures_present`` precondition: 1..max_signatures filled fields; sets ``document.found``."""
    limits = document.policy.limits
    try:
        found = list(enumerate_sig_fields(document.reader, filled_status=True))
    except FATAL:
        raise
    except Exception as exc:
        return r.failed(N.SIGNATURES_PRESENT, Sub.FORMAT_FAILURE, f"the form fields cannot be read: "
                                                                  f"{r.describe(exc)}")
    if not found:
        return r.failed(N.SIGNATURES_PRESENT, Sub.FORMAT_FAILURE, "the document has no signature")
    if len(found) > limits.max_signatures:
        return r.failed(N.SIGNATURES_PRESENT, Sub.FORMAT_FAILURE,
                        f"{len(found)} signatures exceed the limit of {limits.max_signatures}")
    document.found = found
    return r.passed(N.SIGNATURES_PRESENT, f"{len(found)} signature field(s) filled")


def trailing_bytes(document: Document) -> r.Step:
    name = N.TRAILING_BYTES
    data, reader = document.data, document.reader
    eof = data.rfind(b"%%EOF")
    if eof < 0:
        return r.failed(name, Sub.FORMAT_FAILURE, "no %%EOF marker")
    match = _TAIL.search(data, max(0, eof - 64))
    if match is None:
        tail = len(data) - (eof + 5)
        return r.failed(name, Sub.FORMAT_FAILURE, f"{tail} byte(s) after the last %%EOF that are not a revision")
    if int(match.group(1)) != reader.last_startxref:
        return r.failed(name, Sub.FORMAT_FAILURE, "the last startxref is not the newest revision pyhanko parsed")
    last = reader.xrefs.total_revisions - 1
    end = reader.xrefs.get_xref_container_info(last).end_location
    # what may sit between the xref section and startxref: its trailer, endstream/endobj, comments
    between = _COMMENT.sub(b"", data[end:match.start()]).strip(_WS)
    explained = (not between or re.fullmatch(rb"(endstream\s*)?endobj", between) is not None
                 or (between.startswith((b"trailer", b"<<")) and between.endswith(b">>") and len(between) < 65536))
    if not explained:
        return r.failed(name, Sub.FORMAT_FAILURE, f"{len(between)} unexplained byte(s) between the last "
                                                  f"cross-reference section and startxref")
    return r.passed(name, "the file ends with its last revision's %%EOF")


def signature_references(document: Document) -> r.Step:
    name = N.SIGNATURE_REFERENCES
    seen: dict[tuple[int, int], str] = {}
    fields_seen: dict[tuple[int, int], str] = {}
    for fq_name, _value, field_ref in document.found:
        if isinstance(field_ref, generic.IndirectObject):
            key = (field_ref.idnum, field_ref.generation)
            if key in fields_seen:
                return r.failed(name, Sub.FORMAT_FAILURE, f"field object {key[0]} {key[1]} R is listed twice "
                                                          f"({fields_seen[key]}, {fq_name})")
            fields_seen[key] = str(fq_name)
        raw = field_ref.get_object().raw_get("/V")
        if not isinstance(raw, generic.IndirectObject):
            return r.failed(name, Sub.FORMAT_FAILURE, f"field {fq_name}: the signature value is not an "
                                                      f"indirect object")
        key = (raw.idnum, raw.generation)
        if key in seen:
            return r.failed(name, Sub.FORMAT_FAILURE, f"one signature dictionary ({key[0]} {key[1]} R) is "
                                                      f"referenced by two fields: {seen[key]} and {fq_name}")
        seen[key] = str(fq_name)
    return r.passed(name, "every signature dictionary is referenced by one field")


def byte_range_shape(sig: EmbeddedPdfSignature):
    try:
        values = [int(v) for v in sig.byte_range]
    except (TypeError, ValueError):
        return None
    return tuple(values) if len(values) == 4 else None


def byte_ranges_disjoint(document: Document) -> r.Step:
    name = N.BYTE_RANGES_DISJOINT
    signatures = [sig for _, sig, _, _ in document.embedded() if sig is not None]
    gaps = []
    for sig in signatures:
        shape = byte_range_shape(sig)
        if shape is None:
            continue  # its own byte_range step fails
        _, a, b, _c = shape
        gaps.append((a, b, sig.field_name))
    gaps.sort()
    for (_a1, b1, n1), (a2, _b2, n2) in itertools.pairwise(gaps):
        if a2 < b1:
            return r.failed(name, Sub.FORMAT_FAILURE, f"the /Contents gaps of {n1} and {n2} overlap")
    for sig in signatures:
        shape = byte_range_shape(sig)
        if shape is None:
            continue
        _, a, b, cc = shape
        for ga, gb, gname in gaps:
            if gname == sig.field_name:
                continue
            # another signature's /Contents may lie entirely inside this one's signed bytes (an earlier
            # signature), or entirely after them (a later one) — never straddle them.
            inside_first = gb <= a
            inside_second = ga >= b and gb <= b + cc
            after = ga >= b + cc
            if not (inside_first or inside_second or after):
                return r.failed(name, Sub.FORMAT_FAILURE, f"the ByteRange of {sig.field_name} overlaps the "
                                                          f"/Contents of {gname}")
    return r.passed(name, "no two signatures' byte ranges overlap")


# The document checks, in report order, around the two preconditions (parse, signatures_present).
AFTER_PARSE = (Check(N.TRAILING_BYTES, trailing_bytes),)
AFTER_SIGNATURES = (Check(N.SIGNATURE_REFERENCES, signature_references),
                    Check(N.BYTE_RANGES_DISJOINT, byte_ranges_disjoint))


def signature_field_names(reader: PdfFileReader) -> set[str]:
    try:
        return {str(name) for name, _value, _ref in enumerate_sig_fields(reader)}
    except Exception:
        return set()


def widget(reader: PdfFileReader, field_ref) -> dict | None:
    """Where the signature's widget sits: page index, /Rect and the page's /MediaBox (best effort)."""
    try:
        field = field_ref.get_object()
        widget = field
        if "/Rect" not in field and "/Kids" in field:
            widget = field["/Kids"][0].get_object()
        rect = [float(v) for v in widget["/Rect"]]
        page_ref = widget.raw_get("/P") if "/P" in widget else None
        index, box = _find_page(reader, page_ref, field_ref)
        return {"page": index, "rect": rect, "page_box": box,
                "visible": abs(rect[2] - rect[0]) > 0.5 and abs(rect[3] - rect[1]) > 0.5}
    except Exception:
        return None


def _find_page(reader: PdfFileReader, page_ref, widget_ref) -> tuple[int | None, list[float] | None]:
    pages_seen = 0
    stack = [(reader.root.raw_get("/Pages"), None)]
    visited = set()
    while stack and pages_seen < 10_000:
        ref, inherited_box = stack.pop()
        key = (ref.idnum, ref.generation) if isinstance(ref, generic.IndirectObject) else id(ref)
        if key in visited:
            continue
        visited.add(key)
        node = ref.get_object()
        box = node.get("/MediaBox", inherited_box)
        if node.get("/Type") == "/Pages" or "/Kids" in node:
            kids = list(node.get("/Kids", []))
            stack.extend((kid, box) for kid in reversed(kids))
            continue
        index = pages_seen
        pages_seen += 1
        annots = node.get("/Annots") or []
        hit = (isinstance(page_ref, generic.IndirectObject) and isinstance(ref, generic.IndirectObject)
               and (page_ref.idnum, page_ref.generation) == (ref.idnum, ref.generation))
        if not hit and isinstance(widget_ref, generic.IndirectObject):
            for annot in annots.get_object() if isinstance(annots, generic.IndirectObject) else annots:
                if isinstance(annot, generic.IndirectObject) and annot.idnum == widget_ref.idnum:
                    hit = True
                    break
        if hit:
            return index, [float(v) for v in box] if box is not None else None
    return None, None
