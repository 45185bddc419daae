"""Reading an OFD package (GB/T 33190-2016) safely: the zip container, its XML, paths, pages, signatures.

    from ofd.package import OfdPackage, OfdLimits
    package = OfdPackage.open(data, limits=OfdLimits())   # OfdError on anything unsafe or unreadable
    package.names()                   # entry names (files only, in zip order), e.g. "Doc_0/Document.xml"
    package.read("OFD.xml")           # an entry's exact bytes (KeyError-free: OfdError when missing)
    package.xml("Doc_0/Document.xml") # its root element (xml.etree), parsed with defusedxml
    package.resolve(base, ref)        # a path written in the file ``base`` -> the entry name it means
    package.find(base, ref)           # the same, or None when no entry answers it
    doc = package.document()          # Document: DocRoot, pages (Content.xml, size in mm), annotations,
                                      # templates, resource files, Signatures.xml
    package.signatures()              # [Signature]: the model of each Sign_N/Signature.xml (raw bytes kept)
    package.signature_entries()       # [SignatureEntry] from Signatures.xml; package.signature(entry) parses one

Safety (every refusal is an :class:`OfdError`, the root of this module's errors; limits are an
:class:`OfdLimitError`): entry names that are absolute (``/x``, ``C:x``), hold ``..`` or ``.``
segments, backslashes, empty segments or control characters; two entries with the same name
(compared case-insensitively, since paths are also resolved that way — zip readers disagree on
which copy wins); symbolic links; encrypted entries; more entries, bigger entries, more
uncompressed bytes or a higher compression ratio than :class:`OfdLimits` allows (sizes are counted
while inflating, not taken from the headers); truncated or non-zip bytes; a CRC mismatch. Every
entry is inflated once, when the package is opened, and kept as bytes. XML is parsed with
defusedxml: no DTD, no entity declarations, no external references.

Paths (GB/T 33190 §7.2 ST_Loc): a path starting with ``/`` is absolute from the package root; any
other is relative to the folder of the file that holds it (Document.xml's ``Pages/Page_0/...``
from ``Doc_0/``; a Res file's ``BaseLoc`` folder for the files it lists). Real producers also write
(all seen in the corpus): a different letter case than the entry (``TPLS/Tpl_0`` for ``Tpls/Tpl_0``),
paths relative to the document folder or the package root instead of the referring file, and the
namespace ``http://www.ofdspec.org`` without ``/2016`` — elements are matched by local name, and a
path that does not resolve the standard way is tried, in this order, with another letter case,
from the DocRoot's folder, then from the root. ``resolve`` says which entry answered; nothing
outside the package can be reached (``..`` above the root is an OfdError).
"""

from __future__ import annotations

import base64
import binascii
import io
import posixpath
import re
import stat
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from xml.etree.ElementTree import Element

import defusedxml
from defusedxml import ElementTree as SafeET

NS = "http://www.ofdspec.org/2016"


class OfdError(Exception):
    """The bytes are not an OFD package this reader accepts (one line a clerk can read)."""


class OfdLimitError(OfdError):
    """The package exceeds a limit (size, entries, ratio): refused before it costs more."""


@dataclass(frozen=True)
class OfdLimits:
    """Bounds for hostile packages (zip bombs, entry floods); the defaults fit real documents."""

    max_bytes: int = 64 * 1024 * 1024            # the package itself
    max_entries: int = 10_000                    # zip entries, folders included
    max_entry_bytes: int = 64 * 1024 * 1024      # one inflated entry
    max_total_bytes: int = 64 * 1024 * 1024      # all inflated entries together
    max_ratio: int = 100                         # inflated / compressed, for entries above ratio_floor
    ratio_floor: int = 1024 * 1024               # smaller entries may compress as well as they like
    max_xml_depth: int = 256                     # nesting of one XML file


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _check_name(name: str) -> None:
    shown = name.encode("unicode_escape").decode()[:120]
    if not name:
        raise OfdError("the package holds an entry with an empty name")
    if "\\" in name:
        raise OfdError(f"entry name with a backslash refused: {shown}")
    if _CONTROL.search(name):
        raise OfdError(f"entry name with a control character refused: {shown}")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise OfdError(f"absolute entry name refused: {shown}")
    parts = name.rstrip("/").split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise OfdError(f"entry name with an empty, '.' or '..' segment refused: {shown}")


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    mode = info.external_attr >> 16
    return info.create_system == 3 and stat.S_ISLNK(mode)


@dataclass(frozen=True)
class Page:
    index: int                 # 0-based, in Document.xml order
    id: str                    # the Page ID (what StampAnnot PageRef names)
    content: str               # entry name of its Content.xml
    box: tuple[float, float, float, float] | None  # PhysicalBox (x, y, w, h) in mm: the page's own, else the document's
    templates: tuple[str, ...] = ()   # entry names of the template pages it uses
    annotations: tuple[str, ...] = ()  # entry names of its annotation files


@dataclass(frozen=True)
class Document:
    root: str                                  # the DocRoot entry, e.g. "Doc_0/Document.xml"
    pages: tuple[Page, ...]
    box: tuple[float, float, float, float] | None  # CommonData/PageArea/PhysicalBox
    resources: tuple[str, ...]                 # PublicRes/DocumentRes/PageRes files and the files they list
    annotations: str | None                    # Annotations.xml (the index), if any
    signatures: str | None                     # Signatures.xml named by OFD.xml, if any
    missing: tuple[str, ...] = ()              # paths the document names that no entry answers
    bodies: int = 1                            # DocBody elements of OFD.xml (only the first is read)

    def page_by_id(self, page_id: str) -> Page | None:
        return next((page for page in self.pages if page.id == page_id), None)

    @property
    def shown(self) -> tuple[str, ...]:
        """Every entry that changes what a reader shows: Document.xml, pages, templates, annotations, resources."""
        names = [self.root]
        for page in self.pages:
            names += [page.content, *page.templates, *page.annotations]
        names += [*self.resources]
        if self.annotations:
            names.append(self.annotations)
        return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class SignatureEntry:
    id: str
    type: str            # "Seal" (the default when absent) or "Sign"
    base_loc: str        # as written
    path: str            # the Signature.xml entry it resolves to


@dataclass(frozen=True)
class Reference:
    file_ref: str                 # as written
    path: str                     # the entry it resolves to (may be missing from the package)
    check_value: bytes | None     # base64-decoded CheckValue (None: not base64)
    check_value_text: str


@dataclass(frozen=True)
class StampAnnot:
    id: str
    page_ref: str
    boundary: tuple[float, float, float, float] | None  # x, y, w, h in mm from the page's top-left
    clip: str | None = None


@dataclass(frozen=True)
class Provider:
    name: str
    version: str | None
    company: str | None


@dataclass(frozen=True)
class Signature:
    """One ``Signature.xml``: SignedInfo, where the seal and the signed value are, and its exact bytes."""

    entry: SignatureEntry
    path: str                         # the Signature.xml entry
    raw: bytes                        # its exact bytes: what the signature value signs
    provider: Provider | None
    signature_method: str | None
    signature_datetime: str | None    # as written (formats vary: 20201010151120, 2020-04-22 16:22:44, ...)
    check_method: str | None
    references: tuple[Reference, ...]
    stamp_annots: tuple[StampAnnot, ...]
    seal: str | None                  # Seal/BaseLoc resolved (Seal.esl), if any
    signed_value: str | None          # SignedValue resolved (SignedValue.dat)
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def type(self) -> str:
        return self.entry.type

    @property
    def claimed_time(self) -> datetime | None:
        return parse_datetime(self.signature_datetime)


# --- XML helpers: elements by local name, whatever namespace (or none) the producer used ---

def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def children(element: Element, name: str) -> list[Element]:
    return [child for child in element if local(child.tag) == name]


def child(element: Element | None, name: str) -> Element | None:
    if element is None:
        return None
    return next((c for c in element if local(c.tag) == name), None)


def text(element: Element | None, name: str | None = None) -> str | None:
    node = child(element, name) if name is not None else element
    if node is None or node.text is None:
        return None
    value = node.text.strip()
    return value or None


def walk(element: Element, name: str):
    """Every descendant (and itself) with local name ``name``."""
    for node in element.iter():
        if local(node.tag) == name:
            yield node


def parse_box(value: str | None) -> tuple[float, float, float, float] | None:
    if not value:
        return None
    try:
        parts = [float(p) for p in value.replace(",", " ").split()]
    except ValueError:
        return None
    if len(parts) != 4 or any(p != p or abs(p) > 1e6 for p in parts):  # NaN or absurd
        return None
    return parts[0], parts[1], parts[2], parts[3]


_CHINA = timezone(timedelta(hours=8))
_TIME_FORMATS = ("%Y%m%d%H%M%S.%fZ", "%Y%m%d%H%M%SZ", "%Y%m%d%H%M%S.%f", "%Y%m%d%H%M%S", "%Y-%m-%d %H:%M:%S",
                 "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f")


def parse_datetime(value: str | None) -> datetime | None:
    """SignatureDateTime as producers write it; a trailing Z is UTC, a time without a zone is China time (UTC+8)."""
    if not value:
        return None
    value = value.strip()
    for fmt in _TIME_FORMATS:
        try:
            moment = datetime.strptime(value, fmt)  # the zone is set below
        except ValueError:
            continue
        return moment.replace(tzinfo=UTC if fmt.endswith("Z") else _CHINA)
    if "-" not in value[:8]:
        # Not an extended ISO 8601 date: Python 3.11's fromisoformat reads some compact values
        # wrongly ("20261205104205+00:00" as 04:20), so only the formats above take those.
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))  # e.g. 2026-12-05T10:42:05+08:00
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=_CHINA)


class OfdPackage:
    """An opened OFD package: entries' exact bytes, parsed lazily as XML (see the module docstring)."""

    def __init__(self, entries: dict[str, bytes], order: list[str], folders: set[str], limits: OfdLimits) -> None:
        self._entries = entries
        self._order = order
        self._folders = folders
        self._by_case = {name.casefold(): name for name in order}
        self._xml: dict[str, Element] = {}
        self.limits = limits

    # --- the container ---

    @classmethod
    def open(cls, data: bytes, *, limits: OfdLimits | None = None) -> OfdPackage:
        limits = limits or OfdLimits()
        if not isinstance(data, bytes | bytearray | memoryview):
            raise OfdError("an OFD package is bytes")
        data = bytes(data)
        if len(data) > limits.max_bytes:
            raise OfdLimitError(f"the package is {len(data)} bytes, above the limit of {limits.max_bytes}")
        if not data.startswith(b"PK\x03\x04"):
            raise OfdError("not an OFD package: an OFD is a zip file and these bytes do not start like one")
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
            infos = archive.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
            raise OfdError(f"not a readable zip file (truncated or damaged): {exc}") from None
        if len(infos) > limits.max_entries:
            raise OfdLimitError(f"the package has {len(infos)} entries, above the limit of {limits.max_entries}")
        seen: dict[str, str] = {}
        declared = 0
        for info in infos:
            name = info.filename
            _check_name(info.orig_filename)  # before zipfile cuts a name at a NUL
            _check_name(name)
            key = name.rstrip("/").casefold()
            if key in seen:
                raise OfdError(f"two entries named {name!r} (and {seen[key]!r}): refused, since readers disagree "
                               f"on which one counts")
            seen[key] = name
            if _is_symlink(info):
                raise OfdError(f"entry {name!r} is a symbolic link: refused")
            if info.flag_bits & 0x1:
                raise OfdError(f"entry {name!r} is encrypted: refused")
            if info.file_size > limits.max_entry_bytes:
                raise OfdLimitError(f"entry {name!r} inflates to {info.file_size} bytes, above the limit of "
                                    f"{limits.max_entry_bytes}")
            declared += info.file_size
            if declared > limits.max_total_bytes:
                raise OfdLimitError(f"the package inflates to more than {limits.max_total_bytes} bytes (the limit)")
        entries: dict[str, bytes] = {}
        order: list[str] = []
        folders: set[str] = set()
        total = 0
        for info in infos:
            if info.is_dir():
                folders.add(info.filename.rstrip("/"))
                continue
            content = cls._inflate(archive, info, limits, total)
            total += len(content)
            entries[info.filename] = content
            order.append(info.filename)
        return cls(entries, order, folders, limits)

    @staticmethod
    def _inflate(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: OfdLimits, total: int) -> bytes:
        name = info.filename
        budget = min(limits.max_entry_bytes, limits.max_total_bytes - total)
        chunks, size = [], 0
        try:
            with archive.open(info) as stream:
                while True:
                    chunk = stream.read(65536)
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > budget:
                        raise OfdLimitError(f"entry {name!r} inflates past the size limit")
                    if size > limits.ratio_floor and size > limits.max_ratio * max(info.compress_size, 1):
                        raise OfdLimitError(f"entry {name!r} inflates more than {limits.max_ratio} times its "
                                            f"compressed size (a zip bomb?)")
                    chunks.append(chunk)
        except OfdError:
            raise
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError) as exc:
            raise OfdError(f"entry {name!r} cannot be read (truncated or damaged zip): {exc}") from None
        except Exception as exc:  # zlib.error and friends: still a damaged file, never a traceback
            raise OfdError(f"entry {name!r} cannot be read: {type(exc).__name__}: {exc}") from None
        return b"".join(chunks)

    def names(self) -> list[str]:
        """Entry names of the files (not folders), in zip order."""
        return list(self._order)

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def read(self, name: str) -> bytes:
        try:
            return self._entries[name]
        except KeyError:
            raise OfdError(f"the package has no entry {name!r}") from None

    def items(self):
        return ((name, self._entries[name]) for name in self._order)

    def xml(self, name: str) -> Element:
        """The root element of an XML entry (defusedxml: no DTD, entities or external references)."""
        if name not in self._xml:
            self._xml[name] = parse_xml(self.read(name), name, self.limits.max_xml_depth)
        return self._xml[name]

    # --- paths ---

    def _canonical(self, name: str) -> str | None:
        if name in self._entries:
            return name
        return self._by_case.get(name.casefold())

    def candidates(self, base: str, ref: str) -> list[str]:
        """Where ``ref`` written in ``base`` may point, the standard reading first."""
        ref = (ref or "").strip().replace("\\", "/")
        if not ref:
            raise OfdError(f"an empty path in {base}")
        if _CONTROL.search(ref) or re.match(r"^[A-Za-z]:", ref) or "://" in ref:
            raise OfdError(f"path {ref[:120]!r} in {base} is not a path inside the package")
        if ref.startswith("/"):
            return [_normalise(ref[1:], base, ref)]
        folder = posixpath.dirname(base)
        found = [_normalise(posixpath.join(folder, ref), base, ref)]
        doc_folder = self._doc_folder()
        for start in (doc_folder, ""):
            if start is None:
                continue
            try:
                found.append(_normalise(posixpath.join(start, ref) if start else ref, base, ref))
            except OfdError:
                continue
        return list(dict.fromkeys(found))

    def find(self, base: str, ref: str) -> str | None:
        """The entry ``ref`` (written in the file ``base``) names, or None (see the module docstring's order)."""
        for candidate in self.candidates(base, ref):
            name = self._canonical(candidate)
            if name is not None:
                return name
        return None

    def resolve(self, base: str, ref: str) -> str:
        """The entry ``ref`` names; when none answers, the standard reading (which the package then lacks)."""
        return self.find(base, ref) or self.candidates(base, ref)[0]

    def _doc_folder(self) -> str | None:
        root = self._docroot()
        return posixpath.dirname(root) if root else None

    def _docroot(self) -> str | None:
        if "_docroot_cache" not in self.__dict__:
            self.__dict__["_docroot_cache"] = None
            try:
                body = child(self.xml(self._ofd_xml()), "DocBody")
                ref = text(body, "DocRoot")
                if ref:
                    # DocRoot is relative to OFD.xml at the root: the standard reading only
                    candidate = _normalise(ref.strip().replace("\\", "/").lstrip("/"), "OFD.xml", ref)
                    self.__dict__["_docroot_cache"] = self._canonical(candidate) or candidate
            except OfdError:
                pass
        return self.__dict__["_docroot_cache"]

    def _ofd_xml(self) -> str:
        name = self._canonical("OFD.xml")
        if name is None:
            raise OfdError("not an OFD package: it has no OFD.xml at its root")
        return name

    # --- the document ---

    def document(self) -> Document:
        """DocRoot, pages, annotations, resources and Signatures.xml of the first document (DocBody).

        Read once per package (the entries never change): sealing and verifying ask for it repeatedly."""
        if "_document_cache" not in self.__dict__:
            self.__dict__["_document_cache"] = self._read_document()
        return self.__dict__["_document_cache"]

    def _read_document(self) -> Document:
        ofd_xml = self._ofd_xml()
        root = self.xml(ofd_xml)
        if local(root.tag) != "OFD":
            raise OfdError(f"OFD.xml's root element is <{local(root.tag)}>, not <OFD>")
        body = child(root, "DocBody")
        if body is None:
            raise OfdError("OFD.xml has no DocBody")
        docroot = self._docroot()
        if not docroot or docroot not in self._entries:
            raise OfdError(f"the DocRoot {text(body, 'DocRoot')!r} named by OFD.xml is not in the package")
        signatures_ref = text(body, "Signatures")
        signatures = self.resolve(ofd_xml, signatures_ref) if signatures_ref else None
        missing: list[str] = []

        def locate(base: str, ref: str | None) -> str | None:
            if not ref:
                return None
            name = self.find(base, ref)
            if name is None:
                missing.append(self.candidates(base, ref)[0])
            return name

        doc = self.xml(docroot)
        if local(doc.tag) != "Document":
            raise OfdError(f"{docroot}'s root element is <{local(doc.tag)}>, not <Document>")
        common = child(doc, "CommonData")
        box = parse_box(text(child(common, "PageArea"), "PhysicalBox"))
        resources: list[str] = []
        for tag in ("PublicRes", "DocumentRes"):
            for node in children(common, tag) if common is not None else []:
                res = locate(docroot, text(node))
                if res:
                    resources += [res, *self._res_files(res, missing)]
        templates: dict[str, str] = {}
        for node in children(common, "TemplatePage") if common is not None else []:
            name = locate(docroot, node.get("BaseLoc"))
            if name:
                templates[node.get("ID", "")] = name
        annotations_index = locate(docroot, text(doc, "Annotations"))
        page_annots: dict[str, list[str]] = {}
        if annotations_index:
            for node in children(self.xml(annotations_index), "Page"):
                for loc in children(node, "FileLoc"):  # one per page in the standard; every one counts
                    file = locate(annotations_index, text(loc))
                    if file:
                        page_annots.setdefault(node.get("PageID", ""), []).append(file)
        pages: list[Page] = []
        for node in walk(child(doc, "Pages") or Element("none"), "Page"):
            index = len(pages)  # pages the package holds, in order (a missing one is in ``missing``)
            content = locate(docroot, node.get("BaseLoc"))
            if content is None:
                continue
            page_id = node.get("ID", "")
            page_box, used, page_res = box, [], []
            try:
                page = self.xml(content)
                own = parse_box(text(child(page, "Area"), "PhysicalBox"))
                page_box = own or box
                for template in children(page, "Template"):
                    name = templates.get(template.get("TemplateID", ""))
                    if name:
                        used.append(name)
                for node_res in children(page, "PageRes"):
                    res = locate(content, text(node_res))
                    if res:
                        page_res += [res, *self._res_files(res, missing)]
            except OfdError:
                pass  # an unreadable page is still a page; its checks say what is wrong with it
            resources += page_res
            pages.append(Page(index, page_id, content, page_box, tuple(used), tuple(page_annots.get(page_id, ()))))
        if not pages:
            raise OfdError(f"{docroot} lists no page the package holds")
        return Document(docroot, tuple(pages), box, tuple(dict.fromkeys(resources)), annotations_index, signatures,
                        tuple(dict.fromkeys(missing)), len(children(root, "DocBody")))

    def _res_files(self, res: str, missing: list[str]) -> list[str]:
        """Files a Res XML lists (FontFile, MediaFile, ...), relative to its BaseLoc folder."""
        try:
            node = self.xml(res)
        except OfdError:
            return []
        base_loc = node.get("BaseLoc")
        # the files are relative to the BaseLoc folder, itself relative to the Res file
        anchor = posixpath.join(posixpath.dirname(res), base_loc.strip().strip("/"), "x") if base_loc else res
        if base_loc and base_loc.strip().startswith("/"):
            anchor = posixpath.join(base_loc.strip().lstrip("/"), "x")
        files = []
        for tag in ("FontFile", "MediaFile", "AltMediaFile"):
            for item in walk(node, tag):
                if not item.text or not item.text.strip():
                    continue
                try:
                    name = self.find(anchor, item.text) or self.find(res, item.text)
                    if name:
                        files.append(name)
                    else:
                        missing.append(self.candidates(anchor, item.text)[0])
                except OfdError:
                    continue
        return files

    # --- signatures ---

    def signature_entries(self) -> list[SignatureEntry]:
        """The Signature entries of Signatures.xml (none when OFD.xml names no Signatures.xml)."""
        signatures = self.document().signatures
        if signatures is None:
            return []
        if signatures not in self._entries:
            raise OfdError(f"OFD.xml names {signatures} but the package does not hold it")
        root = self.xml(signatures)
        if local(root.tag) != "Signatures":
            raise OfdError(f"{signatures}'s root element is <{local(root.tag)}>, not <Signatures>")
        out = []
        for node in children(root, "Signature"):
            base_loc = node.get("BaseLoc")
            if not base_loc:
                raise OfdError(f"a Signature in {signatures} has no BaseLoc")
            out.append(SignatureEntry(node.get("ID", ""), node.get("Type") or "Seal", base_loc,
                                      self.resolve(signatures, base_loc)))
        return out

    def signature(self, entry: SignatureEntry) -> Signature:
        """Parse one Signature.xml (OfdError when it is missing or malformed)."""
        path = entry.path
        if path not in self._entries:
            raise OfdError(f"Signatures.xml names {entry.base_loc} but the package does not hold it")
        root = self.xml(path)
        if local(root.tag) != "Signature":
            raise OfdError(f"{path}'s root element is <{local(root.tag)}>, not <Signature>")
        info = child(root, "SignedInfo")
        if info is None:
            raise OfdError(f"{path} has no SignedInfo")
        provider_node = child(info, "Provider")
        provider = None
        if provider_node is not None:  # attributes (the standard) or child elements (iOFD)
            provider = Provider(provider_node.get("ProviderName") or text(provider_node, "ProviderName") or "",
                                provider_node.get("Version") or text(provider_node, "Version"),
                                provider_node.get("Company") or text(provider_node, "Company"))
        refs_node = child(info, "References")
        references = []
        for node in children(refs_node, "Reference") if refs_node is not None else []:
            file_ref = node.get("FileRef")
            if not file_ref:
                raise OfdError(f"a Reference in {path} has no FileRef")
            value_text = text(node, "CheckValue") or ""
            try:
                value = base64.b64decode(value_text, validate=True) if value_text else None
            except (binascii.Error, ValueError):
                value = None
            references.append(Reference(file_ref, self.resolve(path, file_ref), value, value_text))
        stamps = []
        for node in children(info, "StampAnnot"):
            stamps.append(StampAnnot(node.get("ID", ""), node.get("PageRef", ""), parse_box(node.get("Boundary")),
                                     node.get("Clip")))
        seal_ref = text(child(info, "Seal"), "BaseLoc")
        value_ref = text(root, "SignedValue")
        extra = {}
        for tag in ("Parameters",):
            node = child(info, tag)
            if node is not None:
                extra[tag] = "present"
        return Signature(
            entry=entry, path=path, raw=self.read(path), provider=provider,
            signature_method=text(info, "SignatureMethod"), signature_datetime=text(info, "SignatureDateTime"),
            check_method=refs_node.get("CheckMethod") if refs_node is not None else None,
            references=tuple(references), stamp_annots=tuple(stamps),
            seal=self.resolve(path, seal_ref) if seal_ref else None,
            signed_value=self.resolve(path, value_ref) if value_ref else None, extra=extra)

    def signatures(self) -> list[Signature]:
        return [self.signature(entry) for entry in self.signature_entries()]


def _normalise(path: str, base: str, written: str) -> str:
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise OfdError(f"path {written[:120]!r} in {base} leaves the package")
            parts.pop()
            continue
        parts.append(part)
    if not parts:
        raise OfdError(f"path {written[:120]!r} in {base} names no file")
    return "/".join(parts)


def parse_xml(data: bytes, name: str = "XML", max_depth: int = 256) -> Element:
    """Parse one XML file with defusedxml (no DTD, entities, external references); OfdError otherwise."""
    try:
        root = SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.DTDForbidden:
        raise OfdError(f"{name} declares a DTD: refused") from None
    except defusedxml.EntitiesForbidden:
        raise OfdError(f"{name} declares XML entities: refused") from None
    except defusedxml.ExternalReferenceForbidden:
        raise OfdError(f"{name} refers to an external resource: refused") from None
    except defusedxml.DefusedXmlException as exc:
        raise OfdError(f"{name} refused: {exc}") from None
    except Exception as exc:  # ParseError, encoding errors
        raise OfdError(f"{name} is not well-formed XML: {str(exc)[:200]}") from None
    _check_depth(root, name, max_depth)
    return root


def _check_depth(root: Element, name: str, max_depth: int) -> None:
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            raise OfdError(f"{name} nests elements deeper than {max_depth}")
        stack.extend((c, depth + 1) for c in node)


__all__ = ["NS", "Document", "OfdError", "OfdLimitError", "OfdLimits", "OfdPackage", "Page", "Provider",
           "Reference", "Signature", "SignatureEntry", "StampAnnot", "child", "children", "local", "parse_box",
           "parse_datetime", "parse_xml", "text", "walk"]
