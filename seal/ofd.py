"""Sealing OFD documents (GB/T 33190-2016 §18) with GB/T 38540 V4 seal signatures.

The same :class:`seal.pdf.Sealer` and :class:`seal.pdf.Placement` as for PDFs, and the same
millimetres: ``x_mm``/``y_mm`` put the seal's centre that far right of and below the page's
top-left corner (OFD's own origin); a ``keyword`` centres it on the first occurrence of that text
in the pages' TextObjects; ``pages`` adds the stamp on further pages; ``riding`` (骑缝章) shows
page *i* of *n* the *i*-th vertical slice of the image at its right edge. In OFD every stamp is a
``StampAnnot`` of the one signature (the page content is never touched), so, unlike PDF, a later
seal may carry further pages and a riding seam too.

What one seal adds to the package (entries it does not change are copied raw, :mod:`ofd.writer`)::

    OFD.xml                          + <Signatures>Doc_0/Signs/Signatures.xml</Signatures> (first seal only)
    Doc_0/Signs/Signatures.xml       + <Signature ID Type="Seal" BaseLoc="/Doc_0/Signs/Sign_N/Signature.xml"/>
    Doc_0/Signs/Sign_N/Seal.esl      the seal's DER SESeal
    Doc_0/Signs/Sign_N/Signature.xml SignedInfo: Provider, SignatureMethod 1.2.156.10197.1.501,
                                     SignatureDateTime (UTC), References CheckMethod 1.2.156.10197.1.401
                                     (SM3 of each protected file, base64), StampAnnot(s), Seal/BaseLoc;
                                     SignedValue
    Doc_0/Signs/Sign_N/SignedValue.dat  DER V4 SES_Signature: dataHash = SM3(Signature.xml bytes), SM2 by
                                     the seal's key, timeStamp = RFC 3161 token over the signature value
                                     from the keys/ TSA (levels B-T and B-LT; B-B has none)

Protected files (one Reference each): every file of the package but Signatures.xml (the list
that later seals must extend — ofdrw leaves it out for the same reason) and this signature's own
Signature.xml and SignedValue.dat. Its own Seal.esl and the earlier signatures' Signature.xml,
Seal.esl and SignedValue.dat are protected, so removing or swapping an earlier seal breaks this
one. OFD has no place for revocation data, so B-LT is sealed as B-T.
"""

from __future__ import annotations

import base64
import posixpath
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.sax.saxutils import escape, quoteattr

from keys.ses import SesError, make_signature
from keys.sm3 import sm3
from ofd.package import OfdError, OfdLimits, OfdPackage, child, local, parse_box, walk
from ofd.writer import OfdWriteError, write_package
from seal.pdf import LEVELS, Sealer, SealResult
from seal.pdfplace import Placement, _parse_pages
from seal.pdfread import PdfRefused

NS = "http://www.ofdspec.org/2016"
SM2_WITH_SM3 = "1.2.156.10197.1.501"
SM3 = "1.2.156.10197.1.401"
PROVIDER = ("Yitong", "1.0", "Yitong")  # ProviderName, Version, Company


class OfdRefused(PdfRefused):
    """An OFD or placement that cannot be sealed (a :class:`PdfRefused`, so every handler of
    document refusals — CLI exit 2, problem+json, a refused batch document — treats it alike)."""

    def __init__(self, message: str, kind: str = "bad-ofd", status: int = 422) -> None:
        super().__init__(message, kind, status)


@dataclass(frozen=True)
class _Stamp:
    page_id: str
    boundary: tuple[float, float, float, float]  # x, y, w, h (mm from the page's top-left)
    clip: tuple[float, float, float, float] | None = None  # relative to the boundary


def _num(value: float) -> str:
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _box(box: tuple[float, float, float, float]) -> str:
    return " ".join(_num(v) for v in box)


# -- where: pages, positions, keyword -------------------------------------------------------------
def _page_size(page) -> tuple[float, float]:
    if page.box is None or page.box[2] <= 0 or page.box[3] <= 0:
        raise OfdRefused(f"page {page.index + 1} has no usable PhysicalBox", "bad-ofd")
    return page.box[2], page.box[3]


def _deltas(spec: str | None) -> list[float]:
    """DeltaX/DeltaY values with GB/T 33190 §11.3's ``g count value`` runs expanded."""
    if not spec:
        return []
    tokens, out, i = spec.split(), [], 0
    while i < len(tokens):
        if tokens[i] == "g" and i + 2 < len(tokens):
            out += [float(tokens[i + 2])] * min(int(tokens[i + 1]), 100_000)
            i += 3
        else:
            out.append(float(tokens[i]))
            i += 1
    return out


def _page_chars(package: OfdPackage, content: str) -> list[tuple[str, float, float, float]]:
    """(character, x, baseline y, size) in page millimetres, in content order."""
    chars = []
    for obj in walk(package.xml(content), "TextObject"):
        box = parse_box(obj.get("Boundary"))
        if box is None or obj.get("CTM"):
            continue  # transformed text: its positions are not plain offsets
        try:
            size = float(obj.get("Size") or 3.5)
            x = y = 0.0
            for code in (c for c in obj if local(c.tag) == "TextCode"):
                x = float(code.get("X", x))
                y = float(code.get("Y", y))
                deltas = _deltas(code.get("DeltaX"))
                for n, char in enumerate(code.text or ""):
                    chars.append((char, box[0] + x, box[1] + y, size))
                    x += deltas[n] if n < len(deltas) else size
        except ValueError:
            continue
    return chars


def _find_keyword(package: OfdPackage, pages, keyword: str) -> tuple[int, float, float]:
    """(page index, centre x, centre y) of the first occurrence of ``keyword``."""
    for page in pages:
        try:
            chars = _page_chars(package, page.content)
        except OfdError:
            continue
        line = "".join(c[0] for c in chars)
        at = line.find(keyword)
        if at < 0:
            continue
        hit = chars[at:at + len(keyword)]
        left = hit[0][1]
        right = hit[-1][1] + hit[-1][3]
        baseline, size = hit[0][2], max(c[3] for c in hit)
        return page.index, (left + right) / 2, baseline - size * 0.38
    raise OfdRefused(f"the keyword {keyword!r} is not in the document's text", "keyword-not-found")


def _inside(box: tuple[float, float, float, float], page_w: float, page_h: float) -> tuple[float, float, float, float]:
    """The box moved the least needed to lie on the page (a keyword at the top edge still gets a whole
    stamp); a seal larger than the page is refused rather than cut."""
    x, y, w, h = box
    if w > page_w or h > page_h:
        raise OfdRefused(f"the {w:g} x {h:g} mm seal does not fit on a {page_w:g} x {page_h:g} mm page",
                         "position-out-of-page")
    return min(max(x, 0.0), page_w - w), min(max(y, 0.0), page_h - h), w, h


def _stamps(package: OfdPackage, pages, sealer: Sealer, placement: Placement) -> tuple[int, list[_Stamp]]:
    width, height = float(sealer.width_mm), float(sealer.height_mm)
    count = len(pages)
    if placement.keyword:
        index, cx, cy = _find_keyword(package, pages, placement.keyword)
    else:
        if not 1 <= placement.page <= count:
            raise OfdRefused(f"page {placement.page} is out of range (the document has {count})", "page-out-of-range")
        index = placement.page - 1
        page_w, page_h = _page_size(pages[index])
        cx = placement.x_mm if placement.x_mm is not None else page_w - 20 - width / 2
        cy = placement.y_mm if placement.y_mm is not None else page_h - 30 - height / 2
        if not (0 <= cx <= page_w and 0 <= cy <= page_h):
            raise OfdRefused(f"the position ({cx}, {cy}) mm is outside page {placement.page}", "position-out-of-page")
    page_w, page_h = _page_size(pages[index])
    stamps = [_Stamp(pages[index].id, _inside((cx - width / 2, cy - height / 2, width, height), page_w, page_h))]
    for number in _parse_pages(placement.pages, count):
        if number - 1 != index:
            stamps.append(_Stamp(pages[number - 1].id, _inside(stamps[0].boundary, *_page_size(pages[number - 1]))))
    if placement.riding:
        slice_w = width / count
        for i, page in enumerate(pages):
            page_w, page_h = _page_size(page)
            x = page_w - slice_w * (i + 1)  # slice i of the image lands on [page_w - slice_w, page_w]
            stamps.append(_Stamp(page.id, (x, page_h / 2 - height / 2, width, height),
                                 (slice_w * i, 0, slice_w, height)))
    return index, stamps


# -- what: the entries one seal writes ------------------------------------------------------------
def _with_signatures_entry(ofd_xml: bytes, signatures_path: str) -> bytes:
    """OFD.xml with ``<Signatures>`` appended to its DocBody (its last child in the schema)."""
    text = ofd_xml.decode("utf-8")
    match = re.search(r"</\s*(?:([\w.-]+):)?DocBody\s*>", text)
    if match is None:
        raise OfdRefused("OFD.xml has no DocBody end tag to add the signature list to", "bad-ofd")
    prefix = f"{match.group(1)}:" if match.group(1) else ""
    element = f"<{prefix}Signatures>{escape(signatures_path)}</{prefix}Signatures>"
    return (text[:match.start()] + element + text[match.start():]).encode("utf-8")


def _signatures_list(existing: bytes | None, sign_id: int, max_id: int, base_loc: str) -> bytes:
    entry = f'<ofd:Signature ID="{sign_id}" Type="Seal" BaseLoc={quoteattr(base_loc)}/>'
    if existing is None:
        return (f'<?xml version="1.0" encoding="UTF-8"?>\n<ofd:Signatures xmlns:ofd="{NS}">'
                f"<ofd:MaxSignId>{max_id}</ofd:MaxSignId>{entry}</ofd:Signatures>").encode()
    text = existing.decode("utf-8")
    end = re.search(r"</\s*(?:([\w.-]+):)?Signatures\s*>\s*$", text)
    if end is None:
        raise OfdRefused("Signatures.xml has no end tag to add a signature to", "bad-ofd")
    prefix = f"{end.group(1)}:" if end.group(1) else ""
    text = text[:end.start()] + entry.replace("ofd:", prefix) + text[end.start():]
    max_tag = re.search(rf"(<{re.escape(prefix)}MaxSignId>)\s*\d*\s*(</{re.escape(prefix)}MaxSignId>)", text)
    if max_tag:
        text = text[:max_tag.start()] + f"{max_tag.group(1)}{max_id}{max_tag.group(2)}" + text[max_tag.end():]
    return text.encode("utf-8")


def _signature_xml(references: list[tuple[str, bytes]], stamps: list[_Stamp], first_stamp_id: int, when: datetime,
                   seal_loc: str, value_loc: str) -> bytes:
    refs = "".join(f"<ofd:Reference FileRef={quoteattr(ref)}><ofd:CheckValue>{base64.b64encode(sm3(data)).decode()}"
                   "</ofd:CheckValue></ofd:Reference>" for ref, data in references)
    annots = "".join(f'<ofd:StampAnnot ID="{first_stamp_id + n}" PageRef="{stamp.page_id}" '
                     f'Boundary="{_box(stamp.boundary)}"' + (f' Clip="{_box(stamp.clip)}"' if stamp.clip else "")
                     + "/>" for n, stamp in enumerate(stamps))
    name, version, company = PROVIDER
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<ofd:Signature xmlns:ofd="{NS}"><ofd:SignedInfo>'
            f'<ofd:Provider ProviderName="{name}" Version="{version}" Company="{company}"/>'
            f"<ofd:SignatureMethod>{SM2_WITH_SM3}</ofd:SignatureMethod>"
            f"<ofd:SignatureDateTime>{when:%Y%m%d%H%M%S}Z</ofd:SignatureDateTime>"
            f'<ofd:References CheckMethod="{SM3}">{refs}</ofd:References>{annots}'
            f"<ofd:Seal><ofd:BaseLoc>{seal_loc}</ofd:BaseLoc></ofd:Seal></ofd:SignedInfo>"
            f"<ofd:SignedValue>{value_loc}</ofd:SignedValue></ofd:Signature>").encode()


def _next_ids(package: OfdPackage, signatures_path: str | None, entries) -> int:
    """The largest signature/stamp ID used so far (MaxSignId, the Signature IDs, their StampAnnot IDs)."""
    used = [0]
    if signatures_path and package.find("OFD.xml", "/" + signatures_path):
        node = child(package.xml(signatures_path), "MaxSignId")
        if node is not None and (node.text or "").strip().isdigit():
            used.append(int(node.text.strip()))
    for entry in entries:
        if entry.id.isdigit():
            used.append(int(entry.id))
        try:
            used += [int(s.id) for s in package.signature(entry).stamp_annots if s.id.isdigit()]
        except OfdError:
            continue
    return max(used)


def _refuse_if_the_list_is_protected(package: OfdPackage, entries, signatures_path: str) -> None:
    """A signature that protects Signatures.xml breaks when any later one is listed there: refuse (409)
    rather than hand back a document whose earlier signature no longer verifies."""
    for entry in entries:
        try:
            signature = package.signature(entry)
        except OfdError:
            continue
        if any(ref.path.casefold() == signatures_path.casefold() for ref in signature.references):
            raise OfdRefused(f"signature {entry.id} ({signature.path}) protects {signatures_path}, so adding a "
                             f"seal would break it", "already-sealed", 409)


def _sign_folder(package: OfdPackage, signs: str) -> str:
    taken = {name.casefold() for name in package.names()}
    n = 0
    while any(name.startswith(f"{signs}/Sign_{n}/".casefold()) for name in taken):
        n += 1
    return f"{signs}/Sign_{n}"


def seal_ofd(sealer: Sealer, data: bytes, placement: Placement, *, level: str = "B-LT", max_bytes: int | None = None,
             limits: OfdLimits | None = None, now: datetime | None = None) -> SealResult:
    """Seal one OFD; refuses bad input with :class:`OfdRefused` and returns the new package bytes."""
    if getattr(sealer.key, "algorithm", None) != "sm2":
        which = f"seal {sealer.esid}" if sealer.esid else "this seal"
        raise OfdRefused(f"{which} is a P-256 seal, and OFD seals (GB/T 38540) are SM2 only: seal the OFD with an "
                         "SM2 seal, or seal a PDF with this one", "ofd-needs-sm2", 422)
    if level not in LEVELS:
        raise OfdRefused(f"level must be one of {', '.join(LEVELS)}", "bad-level", 400)
    if level != "B-B" and sealer.timestamper is None:
        raise OfdRefused(f"level {level} needs a time-stamp authority", "bad-level", 400)
    if max_bytes is not None and len(data) > max_bytes:
        raise OfdRefused(f"the OFD is over the size limit of {max_bytes} bytes", "too-large", 413)
    limits = limits or OfdLimits(**({"max_bytes": max_bytes} if max_bytes else {}))
    try:
        return _seal(sealer, data, placement, level, limits, now)
    except OfdError as exc:
        raise OfdRefused(f"the OFD cannot be sealed: {exc}", "bad-ofd") from None
    except (OfdWriteError, SesError, UnicodeDecodeError) as exc:
        raise OfdRefused(f"the OFD cannot be sealed ({type(exc).__name__}: {exc})", "bad-ofd") from None


def _seal(sealer: Sealer, data: bytes, placement: Placement, level: str, limits: OfdLimits,
          now: datetime | None) -> SealResult:
    package = OfdPackage.open(data, limits=limits)
    document = package.document()
    entries = package.signature_entries()
    page_index, stamps = _stamps(package, document.pages, sealer, placement)
    doc_folder = posixpath.dirname(document.root)
    signatures_path = document.signatures or posixpath.join(doc_folder, "Signs", "Signatures.xml")
    has_list = package.find("OFD.xml", "/" + signatures_path) is not None
    _refuse_if_the_list_is_protected(package, entries, signatures_path)
    last_id = _next_ids(package, signatures_path if has_list else None, entries)
    sign_id, first_stamp = last_id + 1, last_id + 2
    max_id = sign_id + len(stamps)
    folder = _sign_folder(package, posixpath.dirname(signatures_path))
    seal_path, xml_path, value_path = f"{folder}/Seal.esl", f"{folder}/Signature.xml", f"{folder}/SignedValue.dat"

    changes: dict[str, bytes] = {}
    if document.signatures is None:
        changes["OFD.xml"] = _with_signatures_entry(package.read("OFD.xml"), signatures_path)
    changes[signatures_path] = _signatures_list(package.read(signatures_path) if has_list else None, sign_id, max_id,
                                                "/" + xml_path)
    protected = [(name, changes.get(name) or package.read(name)) for name in package.names()
                 if name.casefold() != signatures_path.casefold()]
    protected.append((seal_path, sealer.seseal))
    moment = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    signature_xml = _signature_xml([("/" + name, content) for name, content in protected], stamps, first_stamp,
                                   moment, "/" + seal_path, "/" + value_path)
    stamper = sealer.timestamper if level != "B-B" else None
    signed_value = make_signature(
        seal_der=sealer.seseal, data_hash=sm3(signature_xml), signer_key=sealer.key,
        signer_cert=sealer.certificate.dump(), property_info="/" + xml_path, time_info=moment,
        time_stamp=(lambda value: stamper.token_over(value, "sm3")) if stamper is not None else None)
    out = write_package(data, changes, added=[(seal_path, sealer.seseal), (xml_path, signature_xml),
                                              (value_path, signed_value)])
    return SealResult(out, sm3(data).hex(), sm3(out).hex(), folder.rsplit("/", 1)[-1], page_index + 1,
                      stamps[0].boundary, "B-B" if level == "B-B" else "B-T", format="ofd")


__all__ = ["OfdRefused", "seal_ofd"]
