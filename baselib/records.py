"""The reference library's records: CSV import (idempotent) and the lookups its API answers.

CSV format (UTF-8, a BOM is fine; the header line is required, columns in any order)::

    kind,id_number,name,legal_representative,legal_representative_id_number,status
    person,110105194912310021,张三,,,active
    legal_person,91110000600037341L,某某科技有限公司,张三,110105194912310021,active

- ``kind``: ``person`` (population library) or ``legal_person`` (legal-person library and
  e-business-licence system).
- ``id_number``: for a person the 18-character resident ID (GB 11643 check character
  verified); for a legal person the 18-character USCC (GB 32100 alphabet; its checksum is NOT
  enforced, as real pilot-period codes fail it).
- ``name``: the registered name. ``legal_representative`` (required for legal persons) and
  ``legal_representative_id_number`` (optional) are empty for persons.
- ``status`` (optional, default ``active``): persons ``active`` / ``cancelled`` / ``deceased``;
  legal persons ``active`` / ``revoked`` / ``cancelled``. Only ``active`` records match.

The whole file is checked before anything is written; any error (reported with its line number)
imports nothing. Importing the same file twice changes nothing; a changed row updates its record.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

from sqlalchemy import Engine, func, insert, select, update

from baselib.models import legal_persons_table, persons_table
from keys.storage import utcnow

COLUMNS = ("kind", "id_number", "name", "legal_representative", "legal_representative_id_number", "status")
REQUIRED = ("kind", "id_number", "name")
PERSON_STATUSES = ("active", "cancelled", "deceased")
LEGAL_PERSON_STATUSES = ("active", "revoked", "cancelled")
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
    by_kind: dict = field(default_factory=lambda: {"person": 0, "legal_person": 0})

    def as_dict(self) -> dict:
        return {"inserted": self.inserted, "updated": self.updated, "unchanged": self.unchanged,
                "persons": self.by_kind["person"], "legal_persons": self.by_kind["legal_person"]}


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
        record["status"] = record["status"].lower() or "active"
        problem = _check(record)
        if problem:
            errors.append(f"line {line}: {problem}")
        else:
            key = (record["kind"], record["id_number"])
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


def _check(record: dict) -> str | None:
    kind, number, name = record["kind"], record["id_number"], record["name"]
    if kind not in ("person", "legal_person"):
        return f"kind must be person or legal_person, not {kind!r}"
    if not name or len(name) > (128 if kind == "person" else 200):
        return "name is empty or too long"
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


class Records:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def import_csv(self, data: bytes) -> ImportReport:
        records = parse_csv(data)
        report = ImportReport()
        now = utcnow()
        with self.engine.begin() as conn:
            for _line, record in records:
                if record["kind"] == "person":
                    table, key = persons_table, persons_table.c.id_number
                    values = {"id_number": record["id_number"], "name": record["name"], "status": record["status"]}
                else:
                    table, key = legal_persons_table, legal_persons_table.c.uscc
                    values = {"uscc": record["id_number"], "name": record["name"],
                              "legal_representative": record["legal_representative"],
                              "legal_representative_id_number": record["legal_representative_id_number"] or None,
                              "status": record["status"]}
                report.by_kind[record["kind"]] += 1
                existing = conn.execute(select(table).where(key == record["id_number"])).first()
                if existing is None:
                    conn.execute(insert(table).values(**values, updated_at=now))
                    report.inserted += 1
                elif any(existing._mapping[k] != v for k, v in values.items()):
                    conn.execute(update(table).where(key == record["id_number"]).values(**values, updated_at=now))
                    report.updated += 1
                else:
                    report.unchanged += 1
        return report

    def counts(self) -> dict:
        with self.engine.connect() as conn:
            return {"persons": conn.execute(select(func.count()).select_from(persons_table)).scalar(),
                    "legal_persons": conn.execute(select(func.count()).select_from(legal_persons_table)).scalar()}

    def person(self, id_number: str):
        with self.engine.connect() as conn:
            return conn.execute(select(persons_table).where(persons_table.c.id_number == id_number)).first()

    def legal_person(self, uscc: str):
        with self.engine.connect() as conn:
            return conn.execute(select(legal_persons_table).where(legal_persons_table.c.uscc == uscc)).first()
