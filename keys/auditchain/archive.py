"""Exports (JSON lines: records with their links, and the checkpoints) and checking them offline.

An export is checked without the database: every link is recomputed from the record before it
(the header states the link the first exported record follows), and every checkpoint in the
range must carry a valid MAC and time stamp and match the exported record at its position. The
chain key (a keystore secret) is needed for the links, so checking runs where the master key is.

Retention: :func:`archive_and_delete` writes the records older than the cut-off to an export,
reads it back and checks it, and only then deletes them in the same transaction that moves the
chain's base (the link kept records start from), holding the head so no append interleaves.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

from sqlalchemy import Table, and_, delete, func, or_, select, update

from keys.auditchain.chain import AuditChain, Break, ChainReport, content_of
from keys.auditchain.models import checkpoints_table, heads_table

FORMAT = "yitong-audit-export/1"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _record_line(table: Table, row) -> dict:
    return {"type": "record", "chain": table.name, "id": row.id, "seq": row.chain_seq, "mac": row.chain_mac,
            "content": content_of(table, row)}


def _checkpoint_line(point) -> dict:
    return {"type": "checkpoint", "chain": point.chain, "seq": point.seq, "mac": point.mac, "at": _iso(point.at),
            "statement_mac": point.statement_mac, "tst": base64.b64encode(point.tst).decode()}


def export_lines(chain: AuditChain, table: Table, start: datetime | None, end: datetime | None,
                 *, conn=None, up_to_seq: int | None = None, legacy_before: datetime | None = None) -> Iterator[str]:
    """The records of ``table`` with ``start <= at < end`` (or up to position ``up_to_seq``), and
    the checkpoints between their first and last position, as JSON lines."""
    if conn is None:
        with chain.engine.connect() as own:
            yield from export_lines(chain, table, start, end, conn=own, up_to_seq=up_to_seq,
                                    legacy_before=legacy_before)
        return
    head = conn.execute(select(heads_table).where(heads_table.c.chain == table.name)).first()
    where = []
    if up_to_seq is not None:
        where.append(_archived(table, up_to_seq, legacy_before))
    if start is not None:
        where.append(table.c.at >= start)
    if end is not None:
        where.append(table.c.at < end)
    first = conn.execute(select(func.min(table.c.chain_seq)).where(*where)).scalar()
    last = conn.execute(select(func.max(table.c.chain_seq)).where(*where)).scalar()
    previous = head.base_mac
    if first is not None and first - 1 > head.base_seq:
        previous = conn.execute(select(table.c.chain_mac).where(table.c.chain_seq == first - 1)).scalar()
    yield json.dumps({"type": FORMAT, "chain": table.name, "from": _iso(start), "to": _iso(end),
                      "first_seq": first, "last_seq": last, "previous_mac": previous,
                      "legacy_max_id": head.legacy_max_id}, ensure_ascii=False)
    for row in conn.execute(select(table).where(*where).order_by(table.c.id).execution_options(yield_per=2000)):
        yield json.dumps(_record_line(table, row), ensure_ascii=False, default=str)
    if first is not None:
        points = conn.execute(select(checkpoints_table).where(
            checkpoints_table.c.chain == table.name, checkpoints_table.c.seq.between(first, last))
            .order_by(checkpoints_table.c.seq))
        for point in points:
            yield json.dumps(_checkpoint_line(point))


class _Point:
    def __init__(self, line: dict) -> None:
        self.chain, self.seq, self.mac = line["chain"], int(line["seq"]), line["mac"]
        self.at = datetime.fromisoformat(line["at"])
        self.statement_mac, self.tst = line["statement_mac"], base64.b64decode(line["tst"])


def verify_export(chain: AuditChain, lines: Iterable[str]) -> list[ChainReport]:
    """Check an export file's sections (one per chain); a report per section."""
    reports: list[ChainReport] = []
    section = None
    for number, text in enumerate(lines, 1):
        if not text.strip():
            continue
        try:
            line = json.loads(text)
            kind = line["type"]
        except (ValueError, KeyError, TypeError):
            raise ValueError(f"line {number} is not an audit export line") from None
        if kind == FORMAT:
            section = _Section(chain, line)
            reports.append(section.report)
        elif section is None:
            raise ValueError(f"line {number}: an export starts with a {FORMAT} header")
        elif kind == "record":
            section.record(line)
        elif kind == "checkpoint":
            section.checkpoint(_Point(line))
        else:
            raise ValueError(f"line {number}: unknown line type {kind!r}")
    if not reports:
        raise ValueError("not an audit export: no header line")
    return reports


class _Section:
    def __init__(self, chain: AuditChain, header: dict) -> None:
        self.chain, self.name = chain, header["chain"]
        self.report = ChainReport(self.name)
        self.previous = header.get("previous_mac")
        self.expected = header.get("first_seq")
        self.legacy_max_id = header.get("legacy_max_id") or 0
        self.macs: dict[int, str] = {}
        self.last_id = None

    def _break(self, kind, record_id, seq, message):
        if self.report.broken is None:
            self.report.broken = Break(self.name, kind, record_id, seq, message)

    def record(self, line: dict) -> None:
        if self.report.broken:
            return
        record_id, seq, mac = line.get("id"), line.get("seq"), line.get("mac")
        if seq is None:
            if record_id is not None and record_id <= self.legacy_max_id:
                self.report.legacy += 1
            else:
                self._break("inserted", record_id, None, f"record {record_id} has no link: inserted")
            return
        if self.expected is None or seq != self.expected:
            kind = "deleted" if self.expected is not None and seq > self.expected else "reordered"
            self._break(kind, record_id, self.expected, f"record {record_id} has position {seq} where "
                        f"{self.expected} was expected ({kind})")
            return
        if self.chain.link_of(self.name, seq, self.previous, line["content"]) != mac:
            self._break("edited", record_id, seq, f"record {record_id} (position {seq}) does not match its link: "
                        "edited")
            return
        self.report.records += 1
        self.report.first_seq = self.report.first_seq or seq
        self.report.last_seq = seq
        self.macs[seq] = mac
        self.previous, self.expected, self.last_id = mac, seq + 1, record_id

    def checkpoint(self, point: _Point) -> None:
        if self.report.broken:
            return
        problem = self.chain.checkpoint_problem(point)
        if problem is None and point.seq in self.macs and self.macs[point.seq] != point.mac:
            problem = ("edited", f"the record at position {point.seq} differs from its checkpoint")
        if problem:
            self._break(problem[0], None, point.seq, problem[1])
            return
        self.report.checkpoints += 1
        self.report.last_checkpoint_at = point.at


def archive_and_delete(chain: AuditChain, table: Table, before: datetime, directory: Path) -> tuple[Path | None, int]:
    """Export the records older than ``before`` to ``directory``, check the file, delete them.

    Returns the file and how many records were deleted (None, 0 when none is that old). The
    newest record always stays, so the head keeps a record to be checked against.
    """
    with chain.engine.begin() as conn:
        head = conn.execute(update(heads_table).where(heads_table.c.chain == table.name)
                            .values(seq=heads_table.c.seq).returning(*heads_table.c)).first()
        cut = conn.execute(select(func.max(table.c.chain_seq)).where(table.c.at < before)).scalar()
        if cut is not None and cut >= head.seq:
            cut = head.seq - 1  # keep the newest record
        legacy = conn.execute(select(func.count()).select_from(table).where(
            table.c.chain_seq.is_(None), table.c.at < before)).scalar()
        if (cut is None or cut <= head.base_seq) and not legacy:
            return None, 0
        cut = cut if cut is not None and cut > head.base_seq else head.base_seq
        stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{table.name}-to-{cut}-{stamp}.jsonl"
        _write(path, export_lines(chain, table, None, None, conn=conn, up_to_seq=cut, legacy_before=before))
        with path.open(encoding="utf-8") as handle:
            for report in verify_export(chain, handle):
                if not report.ok:
                    raise RuntimeError(f"the archive {path} does not verify ({report.broken.message}); nothing "
                                       "was deleted: run `yitong audit verify` first")
        base_mac = head.base_mac
        if cut > head.base_seq:
            base_mac = conn.execute(select(table.c.chain_mac).where(table.c.chain_seq == cut)).scalar()
        legacy_last = conn.execute(select(func.max(table.c.id)).where(
            table.c.chain_seq.is_(None), table.c.at < before)).scalar() or head.legacy_archived_id
        # The base moves first: the append-only triggers let only archived rows be deleted.
        conn.execute(update(heads_table).where(heads_table.c.chain == table.name)
                     .values(base_seq=cut, base_mac=base_mac, legacy_archived_id=legacy_last))
        gone = conn.execute(delete(table).where(_archived(table, cut, before))).rowcount
        return path, gone  # checkpoints stay: they are small and vouch for the archives too


def _archived(table: Table, up_to_seq: int, legacy_before: datetime | None):
    """Chained records up to a position, and records from before the chain older than a time."""
    legacy = table.c.chain_seq.is_(None)
    if legacy_before is not None:
        legacy = and_(legacy, table.c.at < legacy_before)
    return or_(table.c.chain_seq <= up_to_seq, legacy)


def _write(path: Path, lines: Iterable[str]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        for text in lines:
            handle.write(text + "\n")
        handle.flush()
        os.fsync(handle.fileno())
