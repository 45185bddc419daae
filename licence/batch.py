"""Batch digitisation of existing licences (存量证照电子化): rows from CSV or JSON lines.

Each row is one licence: ``row_key`` (the row's own stable key, e.g. the paper licence's number;
re-running an import never issues a row twice), ``holder_id``, ``holder_name``, optional
``valid_from``/``valid_to``, and the type's data items — as top-level columns in CSV, or as
top-level keys (or a ``data`` object) in JSON lines. A row that fails is reported with its
line number and per-field errors; it never stops the others.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from sqlalchemy import insert, select, update

from keys.ids import new_id
from keys.storage import utcnow
from licence.data import DataInvalid
from licence.library import IssueRequest, LicenceError, LicenceLibrary
from licence.models import batches_table

ROW_FIELDS = ("row_key", "holder_id", "holder_name", "valid_from", "valid_to")
MAX_ROWS = 100_000
JOB_FUNCTION = "yitong.cli.licence:run_batch"  # composition root: builds the library from settings
PROGRESS_EVERY = 10  # rows between progress writes of an API batch
MAX_REPORTED_ERRORS = 1000


@dataclass
class ImportReport:
    total: int = 0
    issued: int = 0
    existing: int = 0
    failed: int = 0
    errors: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"total": self.total, "issued": self.issued, "existing": self.existing, "failed": self.failed,
                "errors": self.errors}


def read_rows(data: bytes, name: str = "") -> Iterator[tuple[int, dict | None, str | None]]:
    """(line, row or None, error) for each row: JSON lines when the name ends .jsonl/.ndjson or the
    first character is '{', else CSV with a header line."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        yield 0, None, "the file is not UTF-8 text"
        return
    if name.endswith((".jsonl", ".ndjson")) or text.lstrip().startswith("{"):
        for line_no, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                yield line_no, None, f"not JSON ({exc.msg})"
                continue
            yield (line_no, row, None) if isinstance(row, dict) else (line_no, None, "not a JSON object")
        return
    reader = csv.DictReader(io.StringIO(text))
    for row in reader:
        if None in row:
            yield reader.line_num, None, "more values than header columns"
            continue
        yield reader.line_num, {k: v for k, v in row.items() if v not in (None, "")}, None


def _request(type_code: str, row: dict, items: set[str], fmt: str) -> tuple[str, IssueRequest]:
    row_key = row.get("row_key")
    if not isinstance(row_key, str) or not row_key.strip() or len(row_key) > 128:
        raise DataInvalid({"row_key": "required (at most 128 characters): the row's own stable key"})
    data = row.get("data") if isinstance(row.get("data"), dict) else {
        k: v for k, v in row.items() if k not in ROW_FIELDS}
    typed = {}
    for key, value in data.items():
        typed[key] = int(value) if isinstance(value, str) and value.lstrip("-").isdigit() and key in items else value
    return row_key.strip(), IssueRequest(type_code, row.get("holder_id"), row.get("holder_name"), typed,
                                         row.get("valid_from"), row.get("valid_to"), fmt)


def import_rows(library: LicenceLibrary, type_code: str, data: bytes, *, name: str = "", actor: str,
                fmt: str = "pdf", progress: Callable[[int], None] | None = None,
                report: ImportReport | None = None) -> ImportReport:
    kind = library.catalogue.get(type_code)
    integers = {i.name for i in kind.items if i.type == "integer"}
    report = report if report is not None else ImportReport()
    for line, row, error in read_rows(data, name):
        report.total += 1
        if report.total > MAX_ROWS:
            report.failed += 1
            report.errors.append({"line": line, "errors": {"file": f"at most {MAX_ROWS} rows per import"}})
            break
        try:
            if row is None:
                raise DataInvalid({"row": error or "unreadable"})
            row_key, request = _request(type_code, row, integers, fmt)
            if library.by_row_key(type_code, row_key) is not None:
                report.existing += 1
            else:
                library.issue(request, actor=actor, reason="batch import", row_key=row_key)
                report.issued += 1
        except DataInvalid as exc:
            report.failed += 1
            report.errors.append({"line": line, "row_key": (row or {}).get("row_key"), "errors": exc.errors})
        except LicenceError as exc:
            report.failed += 1
            report.errors.append({"line": line, "row_key": (row or {}).get("row_key"), "errors": {"row": str(exc)}})
        if progress:
            progress(1)
    return report


# -- batches through the API, on the JobQueue ---------------------------------------------------------------
def submit_batch(library: LicenceLibrary, queue, *, type_code: str, client_id: str, data: bytes, name: str,
                 fmt: str = "pdf") -> dict:
    """Record a batch and put it on the queue; its rows are counted (and the file read) now."""
    library.catalogue.get(type_code)
    total = sum(1 for _ in read_rows(data, name))
    if total == 0:
        raise LicenceError("the file has no rows", kind="no-rows")
    if total > MAX_ROWS:
        raise LicenceError(f"a batch takes at most {MAX_ROWS} rows", status=413, kind="too-many-rows")
    batch_id = new_id()
    with library.engine.begin() as conn:
        conn.execute(insert(batches_table).values(
            batch_id=batch_id, type_code=type_code, client_id=client_id, format=fmt, name=name[:255], input=data,
            status="queued", total=total, issued=0, existing=0, failed=0, errors=[], created_at=utcnow()))
    queue.enqueue(JOB_FUNCTION, batch_id)
    return batch_status(library, batch_id)


def batch_status(library: LicenceLibrary, batch_id: str) -> dict:
    with library.engine.connect() as conn:
        row = conn.execute(select(batches_table).where(batches_table.c.batch_id == batch_id)).first()
    if row is None:
        raise LicenceError(f"no batch {batch_id}", status=404, kind="batch-not-found")
    return {"batch_id": row.batch_id, "type": row.type_code, "status": row.status, "total": row.total,
            "issued": row.issued, "existing": row.existing, "failed": row.failed, "errors": row.errors or [],
            "client_id": row.client_id}


def run_batch(library: LicenceLibrary, batch_id: str) -> dict:
    """Import a queued batch, writing progress every few rows; a second run (the queue retried it)
    issues nothing twice, since every row is idempotent by its row key."""
    with library.engine.connect() as conn:
        row = conn.execute(select(batches_table).where(batches_table.c.batch_id == batch_id)).first()
    if row is None or row.status == "done":
        return batch_status(library, batch_id) if row else {}
    where = batches_table.c.batch_id == batch_id
    with library.engine.begin() as conn:
        conn.execute(update(batches_table).where(where).values(status="running"))
    seen = {"n": 0}
    report_box: dict = {}

    def progress(_step: int) -> None:
        seen["n"] += 1
        if seen["n"] % PROGRESS_EVERY == 0 and "report" in report_box:
            _save(library, batch_id, report_box["report"], "running")

    report = ImportReport()
    report_box["report"] = report
    import_rows(library, row.type_code, row.input or b"", name=row.name, actor=f"client:{row.client_id}",
                fmt=row.format, progress=progress, report=report)
    _save(library, batch_id, report, "done", finished=True)
    return batch_status(library, batch_id)


def _save(library: LicenceLibrary, batch_id: str, report: ImportReport, status: str, *, finished: bool = False) -> None:
    values = {"status": status, "issued": report.issued, "existing": report.existing, "failed": report.failed,
              "errors": report.errors[:MAX_REPORTED_ERRORS]}
    if finished:
        values.update(finished_at=utcnow(), input=None)
    with library.engine.begin() as conn:
        conn.execute(update(batches_table).where(batches_table.c.batch_id == batch_id).values(**values))
