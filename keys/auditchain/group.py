"""Group commit: several threads' audit links (and the rows they vouch for) in one transaction.

Every append locks the chain's head until its transaction commits, so appends made one
transaction each are serialised on one commit each (its WAL flush included): a ceiling of a few
hundred appends per second however many workers run. Here a thread that finds no batch being
written writes what has queued (its own record and those of the threads that arrived meanwhile)
in one transaction: the rows first, then every link with one lock and one update of the head
(:meth:`AuditChain.append_many`), one commit. Each caller returns only after the commit that
holds its rows and its link, so nothing is answered before it is stored: a process killed
mid-batch has answered none of the batch. A batch that fails is written again one caller at a
time, so that one bad record fails only its own caller.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence

from sqlalchemy import Connection, Engine, Table, insert

Writes = Sequence[tuple[Table, list[dict]]]  # rows to insert before the link, per table


class _Pending:
    __slots__ = ("done", "error", "link", "writes")

    def __init__(self, link: Callable[[Connection], None], writes: Writes) -> None:
        self.link, self.writes = link, writes
        self.done, self.error = False, None


def store(conn: Connection, batch: Sequence[_Pending]) -> None:
    """The batch's rows (one INSERT per table), then its links: one append_many per chain and
    table for links of keys.auditchain.Link, else each link called alone. The heads are locked in
    the order of their tables' names, so two processes' batches that hold links of the same chains
    (idp_audit and licence_uses, say) never wait on each other crosswise (a PostgreSQL deadlock)."""
    from keys.auditchain.chain import Link

    tables: dict[Table, list[dict]] = {}
    for item in batch:
        for table, rows in item.writes:
            tables.setdefault(table, []).extend(rows)
    for table, rows in tables.items():
        if rows:
            conn.execute(insert(table), rows)
    groups: dict[tuple[int, str], list[Link]] = {}
    for item in batch:
        link = item.link
        if isinstance(link, Link):
            groups.setdefault((id(link.chain), link.table.name), []).append(link)
        else:
            link(conn)
    for _, links in sorted(groups.items(), key=lambda group: group[0][1]):
        links[0].chain.append_many(conn, links[0].table, [link.values for link in links])


class GroupCommit:
    def __init__(self, engine: Engine, max_batch: int = 64) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._queue: list[_Pending] = []
        self._writing = False
        self._cond = threading.Condition()

    def commit(self, link: Callable[[Connection], None], writes: Writes = ()) -> None:
        """Store ``writes`` and append ``link`` (a keys.auditchain.Link, or any callable taking the
        connection), atomically; returns once committed, raises what failed them."""
        if self._pid != os.getpid():
            # Made before a fork (gunicorn builds the app in its master when preloading): the
            # child must not share the parent's lock, queue or "a batch is being written" flag,
            # which a parent thread may have held at the moment of the fork.
            self._reset()
        item = _Pending(link, writes)
        with self._cond:
            self._queue.append(item)
        while True:
            with self._cond:
                while self._writing and not item.done:
                    self._cond.wait()
                if item.done:
                    break
                self._writing = True
                batch, self._queue = self._queue[:self.max_batch], self._queue[self.max_batch:]
            try:
                self._write(batch)
            finally:
                for other in batch:
                    if not other.done:  # interrupted (not an Exception): nobody may think it stored
                        other.error, other.done = RuntimeError("the audit record's writes were interrupted"), True
                with self._cond:
                    self._writing = False
                    self._cond.notify_all()
        if item.error is not None:
            raise item.error

    def _write(self, batch: list[_Pending]) -> None:
        try:
            with self.engine.begin() as conn:
                store(conn, batch)
        except Exception as exc:
            if len(batch) == 1:
                batch[0].error = exc
            else:
                for item in batch:
                    try:
                        with self.engine.begin() as conn:
                            store(conn, [item])
                    except Exception as own:
                        item.error = own
        for item in batch:
            item.done = True
