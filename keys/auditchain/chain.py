"""Appending to a chain and checking it.

Record n's link is HMAC-SM3(key, link(n-1) ‖ canonical(n)), where canonical(n) is the JSON of
the chain's name, the position n and every column of the record but ``id``, ``chain_seq`` and
``chain_mac`` (timestamps in ISO 8601 UTC). The record stores its position (``chain_seq``) and
its link (``chain_mac``); the chain's head (keys_audit_heads) stores the newest of both.

Appends are serialised by updating the head first, in the caller's transaction: PostgreSQL
row-locks it until commit, SQLite takes its database write lock. So positions follow ``id``
order, two workers never fork the chain, and a batch whose transaction rolls back leaves no
gap (its position is rolled back with it).

A checkpoint (every ``every_events`` records or ``every`` minutes, whichever comes first) records
position, link and time, MACed with the chain key and time-stamped by the home's TSA: it proves
the chain's state at that time to anyone holding the TSA certificate.
"""

from __future__ import annotations

import functools
import hmac
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine, Table, bindparam, insert, select, update

from keys.auditchain.group import GroupCommit
from keys.auditchain.models import checkpoints_table, heads_table
from keys.clock import utcnow
from keys.errors import InvalidSignature
from keys.sm3 import hmac_sm3

log = logging.getLogger("yitong.audit.chain")
CHAIN_SECRET = "audit-chain"  # the keystore secret that keys every chain
GENESIS = "0" * 64
_NOT_CONTENT = ("id", "chain_seq", "chain_mac")
_STAMP_RETRY_SECONDS = 60.0


@dataclass(frozen=True)
class ChainPolicy:
    every_events: int = 1000
    every: timedelta = timedelta(minutes=10)


@dataclass(frozen=True)
class Break:
    """The first broken link: which record, and what happened to it."""

    chain: str
    kind: str  # edited | deleted | inserted | reordered | checkpoint
    record_id: int | None
    seq: int | None
    message: str

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class ChainReport:
    chain: str
    records: int = 0  # records whose link was checked
    legacy: int = 0  # records from before the chain began (not covered)
    first_seq: int | None = None
    last_seq: int | None = None
    checkpoints: int = 0  # checkpoints whose MAC and time stamp were checked
    last_checkpoint_at: datetime | None = None
    broken: Break | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.broken is None

    def as_dict(self) -> dict:
        return {"chain": self.chain, "ok": self.ok, "records": self.records, "legacy": self.legacy,
                "first_seq": self.first_seq, "last_seq": self.last_seq, "checkpoints": self.checkpoints,
                "last_checkpoint_at": self.last_checkpoint_at.isoformat() if self.last_checkpoint_at else None,
                "broken": self.broken.as_dict() if self.broken else None, "notes": self.notes}


def _plain(value):
    return value.isoformat() if isinstance(value, datetime) else value


def content_of(table: Table, row) -> dict:
    """The chained content of a record (a Row or a mapping of column values)."""
    mapping = row._mapping if hasattr(row, "_mapping") else row
    return {c.name: _plain(mapping.get(c.name)) for c in table.columns if c.name not in _NOT_CONTENT}


def link(key: bytes, chain: str, seq: int, previous: str, content: dict) -> str:
    canonical = json.dumps(["yitong-audit/1", chain, seq, content], sort_keys=True, ensure_ascii=False,
                           separators=(",", ":"), default=str).encode()
    return hmac_sm3(key, bytes.fromhex(previous) + canonical).hex()


def statement(chain: str, seq: int, mac: str, at: datetime) -> bytes:
    """What a checkpoint vouches for, MACed and time-stamped."""
    return f"yitong-audit-checkpoint/1\n{chain}\n{seq}\n{mac}\n{at.isoformat()}\n".encode()


# Built once: constructing SQLAlchemy statements per append costs more than running them.
_LOCK_HEAD = (update(heads_table).where(heads_table.c.chain == bindparam("b_chain"))
              .values(seq=heads_table.c.seq + bindparam("b_count"))
              .returning(heads_table.c.seq, heads_table.c.mac, heads_table.c.checkpoint_seq,
                         heads_table.c.checkpoint_at))
_SET_MAC = update(heads_table).where(heads_table.c.chain == bindparam("b_chain")).values(mac=bindparam("b_mac"))


@functools.cache
def _insert(table: Table):
    return insert(table)


@dataclass(frozen=True)
class Link:
    """One record waiting to be chained: called with a connection it is appended alone, in that
    transaction; a group commit (idp/oauth/tokens.py) appends the links of several requests with
    one :meth:`AuditChain.append_many` instead."""

    chain: AuditChain
    table: Table
    values: dict

    def __call__(self, conn) -> None:
        self.chain.append(conn, self.table, self.values)


class AuditChain:
    """Chains the records of any table that has ``chain_seq`` and ``chain_mac`` columns."""

    def __init__(self, engine: Engine, key: bytes, *, stamper=None, policy: ChainPolicy | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.engine = engine
        self._key = key
        self.stamper = stamper  # keys.auditchain.TsaStamper, or None: no checkpoints (tests of the chain alone)
        self.policy = policy or ChainPolicy()
        self._clock = clock
        self._stamp_failed_at = 0.0
        self.group = GroupCommit(engine)  # appends of concurrent threads, one transaction (group.py)

    # -- appending -----------------------------------------------------------------------------
    def prepare(self) -> None:
        """Load the TSA for checkpoints, outside any transaction (loading it reads and may write
        the keystore, which would wait on the lock an append holds). Appends made before it
        succeeds are chained all the same; only their checkpoint waits."""
        stamper = self.stamper
        if stamper is None or stamper.ready or time.monotonic() - self._stamp_failed_at < _STAMP_RETRY_SECONDS:
            return
        try:
            stamper.warm()
        except Exception as exc:  # no PKI yet (`yitong pki init`): the chain itself stays whole
            self._stamp_failed_at = time.monotonic()
            log.warning("audit checkpoints wait for the TSA: %s", exc)

    def append(self, conn, table: Table, values: dict) -> dict:
        """Insert ``values`` into ``table`` with its position and link, inside ``conn``'s
        transaction; returns the values as inserted."""
        return self.append_many(conn, table, [values])[0]

    def append_many(self, conn, table: Table, rows: list[dict]) -> list[dict]:
        """Insert ``rows`` in this order into ``table``, each with its position and link, inside
        ``conn``'s transaction: the head is locked once and moved once for all of them (a group
        commit's records cost one lock and one head update); returns the rows as inserted."""
        name, count = table.name, len(rows)
        head = conn.execute(_LOCK_HEAD, {"b_chain": name, "b_count": count}).first()
        if head is None:
            raise RuntimeError(f"no audit chain head for {name}: run `yitong db upgrade`")
        seq, mac, stored = head.seq - count, head.mac, []
        for values in rows:
            seq += 1
            record = {**values, "chain_seq": seq}
            mac = link(self._key, name, seq, mac, content_of(table, record))
            record["chain_mac"] = mac
            stored.append(record)
        conn.execute(_insert(table), stored)
        now = self._clock()
        due = (seq - head.checkpoint_seq >= self.policy.every_events
               or head.checkpoint_at is None or now - head.checkpoint_at >= self.policy.every)
        if due and self._checkpoint(conn, name, seq, mac, now):
            conn.execute(update(heads_table).where(heads_table.c.chain == name)
                         .values(mac=mac, checkpoint_seq=seq, checkpoint_at=now))
        else:
            conn.execute(_SET_MAC, {"b_chain": name, "b_mac": mac})
        return stored

    def pending(self, table: Table, values: dict) -> Link:
        """``values`` as a record waiting for its link (see :class:`Link`)."""
        return Link(self, table, values)

    def _checkpoint(self, conn, name: str, seq: int, mac: str, at: datetime) -> bool:
        """Time-stamp the chain's state; a TSA that cannot sign (no PKI yet) never stops an append:
        the next append after a minute tries again."""
        if self.stamper is None or not self.stamper.ready:
            return False
        data = statement(name, seq, mac, at)
        try:
            token = self.stamper.stamp(data)
        except Exception as exc:  # the PKI may not be set up yet; the chain itself stays whole
            self._stamp_failed_at = time.monotonic()
            log.warning("audit checkpoint chain=%s seq=%s not time-stamped: %s", name, seq, exc)
            return False
        conn.execute(insert(checkpoints_table).values(chain=name, seq=seq, mac=mac, at=at, tst=token,
                                                      statement_mac=hmac_sm3(self._key, data).hex()))
        return True

    def checkpoint_now(self, table: Table) -> int | None:
        """A checkpoint of the chain's current state (``yitong audit checkpoint``); its position,
        or None when nothing is chained yet or it was checkpointed there already."""
        name = table.name
        if self.stamper is None:
            raise RuntimeError("no time-stamp authority to checkpoint with")
        self.stamper.warm()
        with self.engine.begin() as conn:
            head = conn.execute(update(heads_table).where(heads_table.c.chain == name)
                                .values(seq=heads_table.c.seq)
                                .returning(heads_table.c.seq, heads_table.c.mac, heads_table.c.checkpoint_seq)).first()
            if head is None or head.seq == 0 or head.checkpoint_seq == head.seq:
                return None
            now = self._clock()
            data = statement(name, head.seq, head.mac, now)
            conn.execute(insert(checkpoints_table).values(
                chain=name, seq=head.seq, mac=head.mac, at=now, tst=self.stamper.stamp(data),
                statement_mac=hmac_sm3(self._key, data).hex()))
            conn.execute(update(heads_table).where(heads_table.c.chain == name)
                         .values(checkpoint_seq=head.seq, checkpoint_at=now))
            return head.seq

    # -- checking ------------------------------------------------------------------------------
    def head(self, table: Table):
        with self.engine.connect() as conn:
            return conn.execute(select(heads_table).where(heads_table.c.chain == table.name)).first()

    def verify(self, table: Table, since: datetime | None = None) -> ChainReport:
        """Walk ``table`` in ``id`` order (from ``since`` on, trusting the link just before it) and
        report the first broken link; then the head and the checkpoints."""
        head = self.head(table)
        if head is None:
            raise RuntimeError(f"no audit chain head for {table.name}: run `yitong db upgrade`")
        with self.engine.connect() as conn:
            query = select(table).order_by(table.c.id)
            previous, expected = head.base_mac, head.base_seq + 1
            if since is not None:
                start = conn.execute(select(table.c.chain_seq)
                                     .where(table.c.at >= since, table.c.chain_seq.is_not(None))
                                     .order_by(table.c.chain_seq).limit(1)).scalar()
                if start is not None and start - 1 > head.base_seq:
                    before = conn.execute(select(table.c.chain_mac).where(table.c.chain_seq == start - 1)).scalar()
                    if before is not None:
                        previous, expected = before, start
                query = query.where(table.c.at >= since)
            rows = conn.execute(query.execution_options(yield_per=2000))
            walker = _Walker(self._key, table, head, previous, expected,
                             lambda seq, other=None: conn.execute(
                                 select(table.c.id).where(table.c.chain_seq == seq, table.c.id != (other or 0))
                                 .order_by(table.c.id).limit(1)).scalar())
            report = walker.walk(rows, since is not None)
            checkpoints = conn.execute(select(checkpoints_table).where(checkpoints_table.c.chain == table.name)
                                       .order_by(checkpoints_table.c.seq)).all()
            if report.ok:
                self._check_checkpoints(conn, table, head, checkpoints, report)
        return report

    def _check_checkpoints(self, conn, table, head, checkpoints, report: ChainReport) -> None:
        for point in checkpoints:
            problem = self.checkpoint_problem(point)
            if problem is None and point.seq > head.seq:
                problem = ("deleted", f"checkpoint of {point.at.isoformat()} vouches for position {point.seq}, "
                                      f"beyond the newest record (position {head.seq}): records were deleted")
            if problem is None and point.seq > head.base_seq:
                row = conn.execute(select(table.c.id, table.c.chain_mac).where(table.c.chain_seq == point.seq)).first()
                if row is not None and row.chain_mac != point.mac:
                    problem = ("edited", f"record {row.id} (position {point.seq}) differs from the checkpoint "
                                         f"time-stamped at {point.at.isoformat()}")
            if problem:
                report.broken = Break(table.name, problem[0], None, point.seq, problem[1])
                return
            report.checkpoints += 1
            report.last_checkpoint_at = point.at

    def checkpoint_problem(self, point) -> tuple[str, str] | None:
        data = statement(point.chain, point.seq, point.mac, point.at)
        if not hmac.compare_digest(hmac_sm3(self._key, data).hex(), point.statement_mac):
            return "checkpoint", f"checkpoint at position {point.seq} does not match its MAC (forged or edited)"
        if self.stamper is not None:
            try:
                self.stamper.check(point.tst, data)
            except InvalidSignature as exc:
                return "checkpoint", f"checkpoint at position {point.seq}: its time stamp does not verify ({exc})"
        return None

    def mac_statement(self, data: bytes) -> str:
        return hmac_sm3(self._key, data).hex()

    def link_of(self, chain: str, seq: int, previous: str, content: dict) -> str:
        return link(self._key, chain, seq, previous, content)


class _Walker:
    """One pass over the records in id order; stops at the first broken link."""

    def __init__(self, key, table, head, previous, expected, id_at: Callable[..., int | None]):
        self.key, self.table, self.head = key, table, head
        self.previous, self.expected = previous, expected
        self.id_at = id_at
        self.report = ChainReport(table.name)

    def _break(self, kind, record_id, seq, message) -> ChainReport:
        self.report.broken = Break(self.table.name, kind, record_id, seq, message)
        return self.report

    def walk(self, rows: Iterator, partial: bool) -> ChainReport:
        name, report = self.table.name, self.report
        last_id = None
        for row in rows:
            seq = row.chain_seq
            if seq is None:
                if row.id <= self.head.legacy_max_id:
                    report.legacy += 1
                    continue
                return self._break("inserted", row.id, None,
                                   f"record {row.id} has no link: it was inserted outside the audit trail")
            if seq < self.expected:
                holder = self.id_at(seq, row.id)
                kind = "inserted" if holder is not None else "reordered"
                return self._break(kind, row.id, seq, f"record {row.id} claims position {seq}, which "
                                   f"{'record ' + str(holder) + ' holds' if kind == 'inserted' else 'came earlier'}"
                                   f" ({kind})")
            if seq > self.expected:
                holder = self.id_at(self.expected)
                if holder is not None:
                    return self._break("reordered", holder, self.expected,
                                       f"record {holder} (position {self.expected}) is stored after record "
                                       f"{row.id} (position {seq}): records were reordered")
                after = f" after record {last_id}" if last_id is not None else ""
                missing = f"{self.expected}" if seq == self.expected + 1 else f"{self.expected}-{seq - 1}"
                return self._break("deleted", row.id, self.expected,
                                   f"position {missing} missing{after}, before record {row.id}: deleted")
            mac = link(self.key, name, seq, self.previous, content_of(self.table, row))
            if not hmac.compare_digest(mac, row.chain_mac or ""):
                return self._break("edited", row.id, seq, f"record {row.id} (position {seq}) does not match its "
                                   "link: edited")
            report.records += 1
            report.first_seq = report.first_seq or seq
            report.last_seq = seq
            self.previous, self.expected, last_id = row.chain_mac, seq + 1, row.id
        return self._check_head(last_id, partial)

    def _check_head(self, last_id, partial: bool) -> ChainReport:
        head, last = self.head, self.expected - 1
        if partial and last_id is None:
            return self.report  # nothing since then: nothing to compare the head with
        if head.seq > last:
            missing = f"{last + 1}" if head.seq == last + 1 else f"{last + 1}-{head.seq}"
            after = f" after record {last_id}" if last_id is not None else ""
            return self._break("deleted", None, last + 1, f"position {missing} missing{after}: the newest "
                               "records were deleted")
        if head.seq < last or (head.seq and head.mac != self.previous):
            return self._break("edited", last_id, last, f"the chain's head (position {head.seq}) does not match "
                               f"record {last_id} (position {last}): edited")
        return self.report
