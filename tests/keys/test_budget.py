"""keys.budget: a time budget that stops pure-Python work in any thread (issue 12, items 8-9)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from keys.budget import BudgetExceeded, time_budget


def _spin_until_stopped(seconds: float, what: str) -> BudgetExceeded:
    with pytest.raises(BudgetExceeded) as stopped, time_budget(seconds, what):
        while True:
            pass
    return stopped.value


def test_the_budget_stops_a_busy_loop_in_worker_threads_as_in_the_main_thread():
    outcomes: dict[str, BudgetExceeded] = {}
    workers = [threading.Thread(target=lambda n=n: outcomes.__setitem__(n, _spin_until_stopped(0.2, f"job {n}")))
               for n in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert not any(worker.is_alive() for worker in workers)
    assert sorted(str(exc) for exc in outcomes.values()) == [f"job {n} took longer than 0.2 s" for n in range(3)]
    assert str(_spin_until_stopped(0.2, "main")) == "main took longer than 0.2 s"


def test_a_budget_never_interrupts_the_code_after_its_with_statement():
    late = 0
    for _ in range(500):
        try:
            with time_budget(0.001, "racing"):
                sum(range(500))  # some end just before their deadline, some just after
        except BudgetExceeded as exc:
            assert str(exc) == "racing took longer than 0.001 s"
            late += 1
    assert late < 500
    started = time.monotonic()
    while time.monotonic() - started < 0.2:  # an exception fired late would land here
        pass


def test_deadline_check_stops_a_loop_cooperatively():
    with pytest.raises(BudgetExceeded, match="walking took longer than 0 s"), time_budget(0, "walking") as deadline:
        deadline.check()


@pytest.mark.timeout(30)
def test_a_budget_whose_exception_was_swallowed_fires_again():
    """One that lands in a gc callback or a __del__ is printed and dropped by the interpreter; the
    work must still stop."""
    swallowed = []
    with pytest.raises(BudgetExceeded, match=r"spinning took longer than 0\.1 s"), time_budget(0.1, "spinning"):
        try:
            while True:
                pass
        except BudgetExceeded as exc:
            swallowed.append(exc)  # lost, as the interpreter loses it in a gc callback
        while True:
            pass
    assert len(swallowed) == 1


CHURN = """
import threading, time
from keys.budget import BudgetExceeded, time_budget

def churn(results):
    for n in range(200):
        try:
            with time_budget(0.0005 * (n % 7), "churn"):
                end = time.monotonic() + 0.0005 * (n % 5)
                while time.monotonic() < end:
                    pass
        except BudgetExceeded:
            results.append(n)

results = []
threads = [threading.Thread(target=churn, args=(results,)) for _ in range(4)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
assert results, "no budget fired: the churn tested nothing"
try:
    with time_budget(0.05, "after the churn"):
        while True:
            time.sleep(0.001)
except BudgetExceeded:
    print("watchdog answers")
"""


def test_budgets_ending_as_they_fire_in_many_threads_never_wedge_the_watchdog():
    """A budget's exception may land inside the watchdog's own bookkeeping (adding or retiring a
    deadline); that must never leave its lock held, or every later budget of the process hangs. In a
    process of its own: the churn's exceptions land where they land, never in another test."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", CHURN], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0 and done.stdout.strip().endswith("watchdog answers"), done.stderr[-2000:]


ASLEEP = """
import time
from keys import budget
from keys.budget import BudgetExceeded, time_budget

with time_budget(60, "first"):  # the watchdog now sleeps until about 60 s from here
    pass
time.sleep(0.05)  # let it settle on that wake-up time
before = budget._WATCHDOG.rounds
for _ in range(200):  # every one ends after that: nothing to wake the watchdog for
    with time_budget(60, "sealing"):
        pass
time.sleep(0.05)
quiet = budget._WATCHDOG.rounds - before
try:  # an earlier deadline still wakes it, and still stops the work
    with time_budget(0.2, "short"):
        while True:
            pass
except BudgetExceeded as exc:
    stopped = str(exc)
print(quiet, budget._WATCHDOG.rounds - before, stopped)
"""


def test_budgets_ending_after_the_next_wake_up_leave_the_watchdog_asleep():
    """In a process of its own: the watchdog is the process's, and a budget of another test's thread still
    running in this one (a server's, a job's) would wake it and be counted."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", ASLEEP], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr[-2000:]
    quiet, woken, stopped = done.stdout.split(maxsplit=2)
    assert int(quiet) <= 1 and int(woken) >= 2 and stopped.strip() == "short took longer than 0.2 s", done.stdout
