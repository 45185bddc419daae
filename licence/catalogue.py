"""The licence catalogue (证照目录, GB/T 36902): licence types, their data items, validity rule,
issuing authority with its seal (esID), and the face template.

A type is a JSON document (:meth:`LicenceType.from_dict` checks every part and names what is
wrong); ``yitong licence type add|update FILE`` and the catalogue import take the same form, and
``licence/samples/*.json`` are three worked examples.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Engine, insert, select, update

from keys.auditchain import AuditChain
from keys.idnumbers import IdentifierError as NumberError
from keys.idnumbers import check_uscc
from keys.storage import utcnow
from licence.identifier import TYPE_CODE
from licence.models import events_table, types_table
from licence.trail import prepared

ITEM_TYPES = ("text", "date", "integer", "choice")
HOLDER_KINDS = ("person", "org")
_ITEM_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_ESID = re.compile(r"^\d{14}$")
RESERVED_ITEMS = ("holder_name", "holder_id", "number", "issuer", "valid_from", "valid_to", "issued_on")
PAGE_SIZES_MM = {"A4": (210.0, 297.0), "A4L": (297.0, 210.0), "A5L": (210.0, 148.0)}


class CatalogueError(ValueError):
    def __init__(self, message: str, *, status: int = 400, kind: str = "bad-type") -> None:
        super().__init__(message)
        self.status, self.kind = status, kind


class TypeNotFound(CatalogueError):
    def __init__(self, code: str) -> None:
        super().__init__(f"no licence type {code}", status=404, kind="type-not-found")


@dataclass(frozen=True)
class DataItem:
    """One data item (信息项) of a licence type."""

    name: str
    label: str  # Chinese label, printed on the face
    label_en: str = ""
    type: str = "text"
    required: bool = True
    on_face: bool = True
    sensitive: bool = False
    max_length: int = 200
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Spot:
    """A place on the face, in millimetres from the page's top-left corner."""

    x_mm: float
    y_mm: float
    size: float = 0.0  # font size (pt) for text, side (mm) for the 2D code, width (mm) for the emblem


@dataclass(frozen=True)
class FaceTemplate:
    """Layout of the face: title, emblem area, the items in order, the 2D code's and the seal's places."""

    page: str = "A4L"
    title: str = ""
    title_en: str = ""
    emblem: Spot = Spot(148.5, 30, 24)
    qr: Spot = Spot(40, 160, 32)
    seal: Spot = Spot(220, 160)
    items_at: Spot = Spot(40, 70, 12)  # first line of the items; lines 9 mm apart
    line_mm: float = 9.0

    @property
    def size_mm(self) -> tuple[float, float]:
        return PAGE_SIZES_MM[self.page]


@dataclass(frozen=True)
class LicenceType:
    code: str
    name: str
    name_en: str
    authority_name: str
    authority_uscc: str
    authority_region: str
    holder_kind: str
    items: tuple[DataItem, ...]
    validity_years: int | None  # None: long-term (长期)
    face: FaceTemplate = field(default_factory=FaceTemplate)
    esid: str | None = None
    number_prefix: str = ""

    def item(self, name: str) -> DataItem | None:
        return next((i for i in self.items if i.name == name), None)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["items"] = [asdict(i) | {"choices": list(i.choices)} for i in self.items]
        return data

    @classmethod
    def from_dict(cls, raw: Any) -> LicenceType:
        """A type from its JSON form; CatalogueError naming the first thing that is wrong."""
        if not isinstance(raw, dict):
            raise CatalogueError("a licence type is a JSON object")
        known = {f for f in cls.__dataclass_fields__}
        extra = sorted(set(raw) - known)
        if extra:
            raise CatalogueError(f"unknown field(s) in the licence type: {', '.join(extra)}")
        code = _text(raw, "code", 32)
        if not TYPE_CODE.match(code):
            raise CatalogueError("code must be the defining authority's USCC followed by 3 digits (GB/T 36904)")
        uscc = _text(raw, "authority_uscc", 18)
        try:
            if check_uscc(uscc).warnings:
                raise CatalogueError(f"authority_uscc {uscc} fails its GB 32100 check character")
        except NumberError as exc:
            raise CatalogueError(f"authority_uscc: {exc}") from None
        region = _text(raw, "authority_region", 6)
        if not re.fullmatch(r"\d{6}", region):
            raise CatalogueError("authority_region must be a 6-digit administrative division code")
        holder_kind = raw.get("holder_kind")
        if holder_kind not in HOLDER_KINDS:
            raise CatalogueError("holder_kind must be person or org")
        validity = raw.get("validity_years")
        if validity is not None and (not isinstance(validity, int) or isinstance(validity, bool)
                                     or not 1 <= validity <= 100):
            raise CatalogueError("validity_years must be 1-100, or null for a long-term licence")
        items_raw = raw.get("items")
        if not isinstance(items_raw, list) or not items_raw or len(items_raw) > 40:
            raise CatalogueError("items must be a list of 1-40 data items")
        items = tuple(_item(i, n) for n, i in enumerate(items_raw, 1))
        names = [i.name for i in items]
        if len(set(names)) != len(names):
            raise CatalogueError("two data items have the same name")
        esid = raw.get("esid")
        if esid is not None and (not isinstance(esid, str) or not _ESID.match(esid)):
            raise CatalogueError("esid must be a 14-digit seal identifier")
        prefix = raw.get("number_prefix", "")
        if not isinstance(prefix, str) or not re.fullmatch(r"[A-Z0-9]{0,8}", prefix):
            raise CatalogueError("number_prefix is at most 8 capital letters or digits")
        return cls(code=code, name=_text(raw, "name", 64), name_en=_text(raw, "name_en", 128, required=False),
                   authority_name=_text(raw, "authority_name", 64), authority_uscc=uscc, authority_region=region,
                   holder_kind=holder_kind, items=items, validity_years=validity,
                   face=_face(raw.get("face", {})), esid=esid, number_prefix=prefix)


def _text(raw: dict, key: str, limit: int, *, required: bool = True) -> str:
    value = raw.get(key, "")
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > limit:
        raise CatalogueError(f"{key} must be {'a non-empty' if required else 'a'} string of at most {limit} "
                             "characters")
    if any(ord(c) < 32 for c in value):
        raise CatalogueError(f"{key} contains control characters")
    return value.strip()


def _item(raw: Any, n: int) -> DataItem:
    if not isinstance(raw, dict):
        raise CatalogueError(f"item {n} must be an object")
    extra = sorted(set(raw) - set(DataItem.__dataclass_fields__))
    if extra:
        raise CatalogueError(f"item {n}: unknown field(s) {', '.join(extra)}")
    name = raw.get("name")
    if not isinstance(name, str) or not _ITEM_NAME.match(name) or name in RESERVED_ITEMS:
        raise CatalogueError(f"item {n}: name must be lower-case letters, digits and _ (not one of "
                             f"{', '.join(RESERVED_ITEMS)})")
    kind = raw.get("type", "text")
    if kind not in ITEM_TYPES:
        raise CatalogueError(f"item {name}: type must be one of {', '.join(ITEM_TYPES)}")
    choices = raw.get("choices", [])
    if kind == "choice" and (not isinstance(choices, list) or not choices
                             or not all(isinstance(c, str) and 0 < len(c) <= 64 for c in choices)):
        raise CatalogueError(f"item {name}: a choice item lists its choices")
    max_length = raw.get("max_length", 200)
    if not isinstance(max_length, int) or isinstance(max_length, bool) or not 1 <= max_length <= 2000:
        raise CatalogueError(f"item {name}: max_length must be 1-2000")
    flags = {}
    for flag, default in (("required", True), ("on_face", True), ("sensitive", False)):
        value = raw.get(flag, default)
        if not isinstance(value, bool):
            raise CatalogueError(f"item {name}: {flag} must be true or false")
        flags[flag] = value
    return DataItem(name=name, label=_text(raw, "label", 32), label_en=_text(raw, "label_en", 64, required=False),
                    type=kind, max_length=max_length, choices=tuple(choices) if kind == "choice" else (), **flags)


def _spot(raw: Any, name: str, default: Spot, page: tuple[float, float]) -> Spot:
    if raw is None:
        return default
    if not isinstance(raw, dict) or set(raw) - {"x_mm", "y_mm", "size"}:
        raise CatalogueError(f"face.{name} must be an object with x_mm, y_mm and size")
    values = {}
    for key in ("x_mm", "y_mm", "size"):
        value = raw.get(key, getattr(default, key))
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise CatalogueError(f"face.{name}.{key} must be a number ≥ 0")
        values[key] = float(value)
    if values["x_mm"] > page[0] or values["y_mm"] > page[1]:
        raise CatalogueError(f"face.{name} is outside the page")
    return Spot(**values)


def _face(raw: Any) -> FaceTemplate:
    if not isinstance(raw, dict):
        raise CatalogueError("face must be an object")
    extra = sorted(set(raw) - set(FaceTemplate.__dataclass_fields__))
    if extra:
        raise CatalogueError(f"face: unknown field(s) {', '.join(extra)}")
    default = FaceTemplate()
    page = raw.get("page", default.page)
    if page not in PAGE_SIZES_MM:
        raise CatalogueError(f"face.page must be one of {', '.join(PAGE_SIZES_MM)}")
    size = PAGE_SIZES_MM[page]
    line = raw.get("line_mm", default.line_mm)
    if not isinstance(line, int | float) or not 4 <= line <= 30:
        raise CatalogueError("face.line_mm must be 4-30")
    return FaceTemplate(page=page, title=_text(raw, "title", 32, required=False),
                        title_en=_text(raw, "title_en", 64, required=False),
                        emblem=_spot(raw.get("emblem"), "emblem", default.emblem, size),
                        qr=_spot(raw.get("qr"), "qr", default.qr, size),
                        seal=_spot(raw.get("seal"), "seal", default.seal, size),
                        items_at=_spot(raw.get("items_at"), "items_at", default.items_at, size), line_mm=float(line))


class Catalogue:
    """Licence types in ``licence_types``; every change is a ``licence_events`` row with who and why,
    chained through ``audit_chain`` (needed to change the catalogue, not to read it)."""

    def __init__(self, engine: Engine, audit_chain: AuditChain | None = None) -> None:
        self.engine = engine
        self.audit_chain = audit_chain

    def get(self, code: str) -> LicenceType:
        with self.engine.connect() as conn:
            row = conn.execute(select(types_table.c.definition).where(types_table.c.code == code)).first()
        if row is None:
            raise TypeNotFound(code)
        return LicenceType.from_dict(row.definition)

    def list(self, authority_uscc: str | None = None) -> list[LicenceType]:
        query = select(types_table.c.definition).order_by(types_table.c.code)
        if authority_uscc:
            query = query.where(types_table.c.authority_uscc == authority_uscc)
        with self.engine.connect() as conn:
            return [LicenceType.from_dict(r.definition) for r in conn.execute(query)]

    def add(self, definition: Any, *, actor: str, reason: str | None = None) -> LicenceType:
        kind = LicenceType.from_dict(definition)
        now = utcnow()
        chain = prepared(self.audit_chain)
        with self.engine.begin() as conn:
            if conn.execute(select(types_table.c.code).where(types_table.c.code == kind.code)).first():
                raise CatalogueError(f"licence type {kind.code} exists; use update", status=409, kind="type-exists")
            conn.execute(insert(types_table).values(code=kind.code, definition=kind.as_dict(),
                                                    authority_uscc=kind.authority_uscc, esid=kind.esid,
                                                    created_at=now, updated_at=now))
            chain.append(conn, events_table, {"licence_id": None, "type_code": kind.code, "at": now,
                                              "event": "type-added", "actor": actor, "reason": reason})
        return kind

    def update(self, definition: Any, *, actor: str, reason: str | None = None) -> LicenceType:
        kind = LicenceType.from_dict(definition)
        now = utcnow()
        chain = prepared(self.audit_chain)
        with self.engine.begin() as conn:
            changed = conn.execute(update(types_table).where(types_table.c.code == kind.code).values(
                definition=kind.as_dict(), authority_uscc=kind.authority_uscc, esid=kind.esid,
                updated_at=now)).rowcount
            if changed != 1:
                raise TypeNotFound(kind.code)
            chain.append(conn, events_table, {"licence_id": None, "type_code": kind.code, "at": now,
                                              "event": "type-updated", "actor": actor, "reason": reason})
        return kind

    def import_file(self, definitions: Any, *, actor: str) -> list[tuple[str, str]]:
        """A catalogue file: a JSON list of types (or {"types": [...]}); each is added or updated.

        Every type is checked before any is written, so a bad file changes nothing.
        """
        if isinstance(definitions, dict) and isinstance(definitions.get("types"), list):
            definitions = definitions["types"]
        if not isinstance(definitions, list) or not definitions:
            raise CatalogueError("a catalogue file is a JSON list of licence types (or {\"types\": [...]})")
        kinds = []
        for n, raw in enumerate(definitions, 1):
            try:
                kinds.append(LicenceType.from_dict(raw))
            except CatalogueError as exc:
                raise CatalogueError(f"type {n}: {exc}") from None
        done = []
        for kind in kinds:
            exists = kind.code in {k.code for k in self.list(kind.authority_uscc)}
            (self.update if exists else self.add)(kind.as_dict(), actor=actor, reason="catalogue import")
            done.append((kind.code, "updated" if exists else "added"))
        return done
