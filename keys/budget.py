"""A time budget for parsing hostile documents that works in any thread (issue 12, items 8-9).

SIGALRM only reaches the main thread, so it never guarded a PDF sealed or verified in a server
thread or a batch worker. Here a single watchdog thread keeps the deadlines of every budget in
force; when one passes it raises :class:`BudgetExceeded` asynchronously in the thread that runs
the work (CPython's ``PyThreadState_SetAsyncExc``), which interrupts pure-Python loops
(pyhanko's and pdfminer's parsers, our page-tree walk) at the next bytecode. Loops of our own
also call :meth:`Deadline.check`, so they stop even between watchdog ticks.

A long single C call (one regex, one decompression) finishes before the exception lands, so
callers still bound input sizes; and the budget must wrap only work on in-memory bytes, never a
database transaction or a network call, which an exception at an arbitrary line could leave
half done.
"""

from __future__ import annotations

import contextlib
import ctypes
import heapq
import itertools
import os
import threading
import time
from collections.abc import Iterator

REFIRE_SECONDS = 0.5  # a fired budget whose exception was swallowed is fired again after this


class BudgetExceeded(BaseException):
    """The time budget ran out (a BaseException, so no ``except Exception`` in a parser swallows it)."""

    def __init__(self, message: str = "the time budget ran out") -> None:
        super().__init__(message)


class Deadline:
    """When a budget ends; :meth:`check` raises :class:`BudgetExceeded` once it has passed."""

    def __init__(self, seconds: float, what: str = "the work") -> None:
        self.seconds = seconds
        self.what = what
        self.at = time.monotonic() + seconds
        self.thread_id = threading.get_ident()
        self.fired = False
        self.caught = False  # time_budget saw the exception: the thread is unwinding through our code
        self.active = True

    def message(self) -> str:
        return f"{self.what} took longer than {self.seconds:g} s"

    def check(self) -> None:
        if time.monotonic() >= self.at:
            raise BudgetExceeded(self.message())


def _set_async_exc(thread_id: int, exc_type: type[BaseException] | None) -> None:
    """Raise ``exc_type`` in thread ``thread_id`` at its next bytecode; None withdraws a pending one."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id),
                                               ctypes.py_object(exc_type) if exc_type is not None else None)


class _Watchdog:
    """One daemon thread for every budget of the process, sleeping until the earliest deadline.

    Only C locks, taken with ``with``: the budget's exception may land in a thread at any bytecode,
    inside :meth:`add` and :meth:`finish` too, and the with-statement releases a C lock whatever
    lands in its block. ``threading.Condition`` and ``Event`` take their lock in Python code, where
    an exception landing between the acquire and the block leaves the lock held for ever (seen:
    every later budget of the process, and the watchdog itself, hung).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Lock()  # held while no wake-up is pending; the watchdog waits by acquiring it
        self._wake.acquire()
        self._heap: list[tuple[float, int, Deadline]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None
        # When the watchdog will look at the heap again by itself (None: it may be waiting with no
        # timeout, or has not started). Set under _lock.
        self._sleeping_until: float | None = None
        self.rounds = 0  # times the watchdog looked at the heap (tests read it)

    def add(self, deadline: Deadline) -> None:
        with self._lock:
            heapq.heappush(self._heap, (deadline.at, next(self._order), deadline))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="yitong-budget-watchdog", daemon=True)
                self._thread.start()
                self._sleeping_until = None
            # Budgets of one length end in the order they begin: the watchdog already wakes no later
            # than this one ends, so it is left asleep. Waking it for every budget made it contend
            # for the GIL once per sealed document, which on a loaded machine stalled the sealing
            # thread for as long as the OS took to schedule the watchdog (seen: tens of ms per PDF).
            wake = self._sleeping_until is None or deadline.at < self._sleeping_until
        if wake:
            self._wake_up()

    def _wake_up(self) -> None:
        try:
            self._wake.release()
        except RuntimeError:  # released already: a wake-up is pending
            pass

    def finish(self, deadline: Deadline) -> None:
        """Retire ``deadline``; an exception fired but not yet delivered is withdrawn."""
        with self._lock:
            deadline.active = False
            if deadline.fired:
                _set_async_exc(deadline.thread_id, None)

    def _run(self) -> None:
        while True:
            with self._lock:
                self.rounds += 1
                while self._heap and (not self._heap[0][2].active or self._heap[0][2].caught):
                    heapq.heappop(self._heap)
                wait = self._heap[0][0] - time.monotonic() if self._heap else None
                if wait is not None and wait <= 0:
                    _, _, deadline = heapq.heappop(self._heap)
                    deadline.fired = True
                    _set_async_exc(deadline.thread_id, BudgetExceeded)
                    # An exception that lands in a gc callback or a __del__ is printed and dropped by
                    # the interpreter, and the work would go on unbounded: until time_budget has seen
                    # it, fire again every REFIRE_SECONDS.
                    heapq.heappush(self._heap, (time.monotonic() + REFIRE_SECONDS, next(self._order), deadline))
                    continue
                self._sleeping_until = None if wait is None else self._heap[0][0]
            if wait is None:
                self._wake.acquire()
            else:
                self._wake.acquire(timeout=wait)


_WATCHDOG = _Watchdog()


def _after_fork_in_child() -> None:
    """A forked child (gunicorn worker, RQ work horse) has no watchdog thread and must not inherit
    a lock that thread may have held at the fork."""
    global _WATCHDOG
    _WATCHDOG = _Watchdog()


os.register_at_fork(after_in_child=_after_fork_in_child)


@contextlib.contextmanager
def time_budget(seconds: float, what: str = "the work") -> Iterator[Deadline]:
    """Run the block for at most ``seconds`` (in any thread); over time it raises :class:`BudgetExceeded`.

    The exception comes from inside the ``with`` statement (its exit included, when the block
    ends just as time runs out), never later.
    """
    deadline = Deadline(seconds, what)
    try:
        _WATCHDOG.add(deadline)  # inside the try: an outer budget's exception landing in add() still retires it
        yield deadline
    except BudgetExceeded:
        deadline.caught = True
        if deadline.fired:  # the watchdog's exception carries no message: name what ran out
            raise BudgetExceeded(deadline.message()) from None
        raise
    finally:
        try:
            _WATCHDOG.finish(deadline)
        except BudgetExceeded:  # fired as the block ended, and landed here: still this budget's
            deadline.caught = True
            _WATCHDOG.finish(deadline)
            raise BudgetExceeded(deadline.message()) from None


__all__ = ["BudgetExceeded", "Deadline", "time_budget"]
