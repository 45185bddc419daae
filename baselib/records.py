"""The reference library's records: CSV import (idempotent) and the lookups its API answers.

CSV format (UTF-8, a BOM is fine; the header line is required, columns in any order)::

    kind,id_number,name,legal_representative,legal_representative_id_number,status,card_number,phone
    person,110105194912310021,张三,,,active,,
    legal_person,91110000600037341L,某某科技有限公司,张三,110105194912310021,active,,
    bank_card,110105194912310021,张三,,,active,6222020200112233445,13800138000
    mobile,110105194912310021,张三,,,active,,13800138000

- ``kind``: ``person`` (population library), ``legal_person`` (legal-person library and
  e-business-licence system), ``bank_card`` (a bank's card register, for the 4-factor check:
  name, ID number, card number and the phone number reserved with the bank) or ``mobile`` (a
  carrier's subscriber register, for the 3-factor check: name, ID number, phone number).
- ``id_number``: for a person, a bank card's holder and a mobile subscriber the 18-character
  resident ID (GB 11643 check character verified); for a legal person the 18-character USCC
  (GB 32100 alphabet; its checksum is NOT enforced, as real pilot-period codes fail it).
- ``name``: the registered name. ``legal_representative`` (required for legal persons) and
  ``legal_representative_id_number`` (optional) are empty for the other kinds.
- ``card_number`` (bank cards only): 12–19 digits (the Luhn digit is not enforced: not every
  issuer's cards carry one). ``phone`` (bank cards and mobiles): a mainland mobile number.
- ``status`` (optional, default ``active``): persons ``active`` / ``cancelled`` / ``deceased``;
  legal persons ``active`` / ``revoked`` / ``cancelled``; bank cards ``active`` / ``frozen`` /
  ``cancelled``; mobiles ``active`` / ``suspended`` / ``cancelled``. Only ``active`` records match.

The whole file is checked before anything is written; any error (reported with its line number)
imports nothing. Importing the same file twice changes nothing; a changed row updates its record.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

from sqlalchemy import Engine, func, insert, select, update

from baselib.models import bank_cards_table, legal_persons_table, mobiles_table, persons_table
from keys.storage import utcnow

COLUMNS = ("kind", "id_number", "name", "legal_representative", "legal_representative_id_number", "status",
           "card_number", "phone")
REQUIRED = ("kind", "id_number", "name")
KINDS = ("person", "legal_person", "bank_card", "mobile")
PERSON_STATUSES = ("active", "cancelled", "deceased")
LEGAL_PERSON_STATUSES = ("active", "revoked", "cancelled")
BANK_CARD_STATUSES = ("active", "frozen", "cancelled")
MOBILE_STATUSES = ("active", "suspended", "cancelled")
_CARD = re.compile(r"^\d{12,19}$")
_PHONE = re.compile(r"^1[3-9]\d{9}$")
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID = re.compile(r"^\d{17}[\dX]$")
_USCC = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{18}$")
MAX_ERRORS = 20


class CsvImportError(ValueError):
    """The file cannot be imported; ``errors`` are one line each, with line numbers."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass
class ImportReport:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    by_kind: dict = field(default_factory=lambda: dict.fromkeys(KINDS, 0))

    def as_dict(self) -> dict:
        return {"inserted": self.inserted, "updated": self.updated, "unchanged": self.unchanged,
                "persons": self.by_kind["person"], "legal_persons": self.by_kind["legal_person"],
                "bank_cards": self.by_kind["bank_card"], "mobiles": self.by_kind["mobile"]}


def id_number_ok(value: str) -> bool:
    if not _ID.match(value):
        return False
    return "10X98765432"[sum(int(d) * w for d, w in zip(value, _WEIGHTS, strict=False)) % 11] == value[17]


def _clean(value: str | None) -> str:
    return (value or "").strip()


def parse_csv(data: bytes) -> list[tuple[int, dict]]:
    """(line number, record) pairs, or :class:`CsvImportError` listing every problem found."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CsvImportError([f"the file is not UTF-8 (byte {exc.start})"]) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [_clean(h) for h in (reader.fieldnames or [])]
    if not header:
        raise CsvImportError(["the file is empty; the first line must be the header " + ",".join(COLUMNS)])
    unknown = [h for h in header if h not in COLUMNS]
    missing = [c for c in REQUIRED if c not in header]
    if unknown or missing:
        raise CsvImportError([f"line 1: the header must name columns from {','.join(COLUMNS)}"
                            + (f"; unknown: {','.join(unknown)}" if unknown else "")
                            + (f"; missing: {','.join(missing)}" if missing else "")])
    reader.fieldnames = header
    errors: list[str] = []
    records: list[tuple[int, dict]] = []
    seen: dict[tuple[str, str], int] = {}
    for row in reader:
        line = reader.line_num
        if None in row:
            errors.append(f"line {line}: more fields than the header has")
            continue
        record = {c: _clean(row.get(c)) for c in COLUMNS}
        if not any(record.values()):
            continue
        record["id_number"] = record["id_number"].upper()
        record["legal_representative_id_number"] = record["legal_representative_id_number"].upper()
        record["card_number"] = record["card_number"].replace(" ", "")
        record["status"] = record["status"].lower() or "active"
        problem = _check(record)
        if problem:
            errors.append(f"line {line}: {problem}")
        else:
            key = (record["kind"], _key_of(record))
            if key in seen:
                errors.append(f"line {line}: this {record['kind']} repeats line {seen[key]}")
            seen[key] = line
            records.append((line, record))
        if len(errors) >= MAX_ERRORS:
            errors.append(f"stopped after {MAX_ERRORS} errors")
            break
    if errors:
        raise CsvImportError(errors)
    return records


def _key_of(record: dict) -> str:
    """What identifies a record of its kind: the card number, the phone number or the ID number/USCC."""
    return {"bank_card": record["card_number"], "mobile": record["phone"]}.get(record["kind"], record["id_number"])


def _check(record: dict) -> str | None:
    kind, number, name = record["kind"], record["id_number"], record["name"]
    if kind not in KINDS:
        return f"kind must be person, legal_person, bank_card or mobile, not {kind!r}"
    if not name or len(name) > (200 if kind == "legal_person" else 128):
        return "name is empty or too long"
    if kind in ("bank_card", "mobile"):
        return _check_bank_or_mobile(record)
    if record["card_number"] or record["phone"]:
        return f"a {kind} has no card_number or phone columns"
    if kind == "person":
        if not id_number_ok(number):
            return "id_number is not an 18-character resident ID with a correct GB 11643 check character"
        if record["legal_representative"] or record["legal_representative_id_number"]:
            return "a person has no legal_representative columns"
        if record["status"] not in PERSON_STATUSES:
            return f"a person's status is one of {', '.join(PERSON_STATUSES)}"
        return None
    if not _USCC.match(number):
        return "id_number of a legal_person is an 18-character USCC (digits and letters except I O S V Z)"
    if not record["legal_representative"] or len(record["legal_representative"]) > 128:
        return "a legal_person needs a legal_representative (at most 128 characters)"
    rep_id = record["legal_representative_id_number"]
    if rep_id and not id_number_ok(rep_id):
        return "legal_representative_id_number is not a resident ID with a correct check character"
    if record["status"] not in LEGAL_PERSON_STATUSES:
        return f"a legal_person's status is one of {', '.join(LEGAL_PERSON_STATUSES)}"
    return None


def _check_bank_or_mobile(record: dict) -> str | None:
    """Never quotes the card number, the phone number or the ID number back (errors are printed)."""
    kind = record["kind"]
    if not id_number_ok(record["id_number"]):
        return f"id_number of a {kind} is the holder's resident ID, with a correct GB 11643 check character"
    if record["legal_representative"] or record["legal_representative_id_number"]:
        return f"a {kind} has no legal_representative columns"
    if kind == "bank_card":
        if not _CARD.match(record["card_number"]):
            return "card_number of a bank_card is 12-19 digits"
    elif record["card_number"]:
        return "a mobile has no card_number"
    if not _PHONE.match(record["phone"]):
        return f"phone of a {kind} is a mainland mobile number (11 digits, 13-19...)"
    statuses = BANK_CARD_STATUSES if kind == "bank_card" else MOBILE_STATUSES
    if record["status"] not in statuses:
        return f"a {kind}'s status is one of {', '.join(statuses)}"
    return None


def _table_and_values(record: dict):
    """(table, key column, values) of one checked record."""
    kind = record["kind"]
    if kind == "person":
        return persons_table, persons_table.c.id_number, {
            "id_number": record["id_number"], "name": record["name"], "status": record["status"]}
    if kind == "legal_person":
        return legal_persons_table, legal_persons_table.c.uscc, {
            "uscc": record["id_number"], "name": record["name"],
            "legal_representative": record["legal_representative"],
            "legal_representative_id_number": record["legal_representative_id_number"] or None,
            "status": record["status"]}
    if kind == "bank_card":
        return bank_cards_table, bank_cards_table.c.card_number, {
            "card_number": record["card_number"], "id_number": record["id_number"], "name": record["name"],
            "phone": record["phone"], "status": record["status"]}
    return mobiles_table, mobiles_table.c.phone, {
        "phone": record["phone"], "id_number": record["id_number"], "name": record["name"],
        "status": record["status"]}


class Records:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def import_csv(self, data: bytes) -> ImportReport:
        records = parse_csv(data)
        report = ImportReport()
        now = utcnow()
        with self.engine.begin() as conn:
            for _line, record in records:
                table, key, values = _table_and_values(record)
                report.by_kind[record["kind"]] += 1
                existing = conn.execute(select(table).where(key == _key_of(record))).first()
                if existing is None:
                    conn.execute(insert(table).values(**values, updated_at=now))
                    report.inserted += 1
                elif any(existing._mapping[k] != v for k, v in values.items()):
                    conn.execute(update(table).where(key == _key_of(record)).values(**values, updated_at=now))
                    report.updated += 1
                else:
                    report.unchanged += 1
        return report

    def counts(self) -> dict:
        with self.engine.connect() as conn:
            return {name: conn.execute(select(func.count()).select_from(table)).scalar()
                    for name, table in (("persons", persons_table), ("legal_persons", legal_persons_table),
                                        ("bank_cards", bank_cards_table), ("mobiles", mobiles_table))}

    def person(self, id_number: str):
        with self.engine.connect() as conn:
            return conn.execute(select(persons_table).where(persons_table.c.id_number == id_number)).first()

    def legal_person(self, uscc: str):
        with self.engine.connect() as conn:
            return conn.execute(select(legal_persons_table).where(legal_persons_table.c.uscc == uscc)).first()

    def bank_card(self, card_number: str):
        with self.engine.connect() as conn:
            return conn.execute(select(bank_cards_table).where(bank_cards_table.c.card_number == card_number)).first()

    def mobile(self, phone: str):
        with self.engine.connect() as conn:
            return conn.execute(select(mobiles_table).where(mobiles_table.c.phone == phone)).first()
