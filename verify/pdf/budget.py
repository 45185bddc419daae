"""The time budget of one document: its verification runs within ``Limits.seconds`` in whatever thread
runs the event loop (keys/budget.py), and every way it can stop becomes a document step."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from keys.budget import BudgetExceeded, time_budget
from keys.verdict import CheckName as N
from keys.verdict import SubIndication as Sub
from verify import certs as c
from verify import report as r


async def _within(job: Callable[[], Awaitable[None]], seconds: float) -> None:
    # entered in the thread that runs the event loop (not the caller's when the caller already runs one: c.run)
    with time_budget(seconds, "verification"):
        await job()


def run_within(job: Callable[[], Awaitable[None]], seconds: float, report: r.Report) -> None:
    """Run ``job`` within ``seconds``; running out of time, depth, memory or luck is a verdict, never a crash."""
    try:
        c.run(_within(job, seconds))
    except BudgetExceeded as exc:
        report.add(r.failed(N.TIME_BUDGET, Sub.GENERIC, f"{exc}; the document is too complex to verify"))
    except RecursionError:
        report.add(r.failed(N.PARSE, Sub.FORMAT_FAILURE, "the document nests objects too deeply"))
    except MemoryError:
        report.add(r.failed(N.PARSE, Sub.FORMAT_FAILURE, "the document needs too much memory to verify"))
    except Exception as exc:  # the last line: a verdict, never a crash
        report.add(r.failed(N.INTERNAL, Sub.GENERIC, f"verification stopped: {type(exc).__name__}: {exc}"))
