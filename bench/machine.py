"""What every bench prints first and last: the machine's load before it starts, and each ratio with its target.

The figures of a bench are ratios against an anchor measured in the same run, on a machine that
other work may share: the load line says how busy it was (the 1-minute load average, and the CPU
that other processes used over one second just before, with the busiest of them), so that a reader
can tell a noisy run from a slow one. Linux /proc only; elsewhere the line says what it lacks.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

SAMPLE_SECONDS = 1.0


def _process_ticks() -> dict[int, tuple[str, int]]:
    """pid -> (command name, user + system clock ticks so far) for every process we may read."""
    ticks = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        ticks[int(entry.name)] = (name, int(fields[11]) + int(fields[12]))  # utime, stime (proc(5) 14, 15)
    return ticks


def load_line() -> str:
    """One line: cores, 1-min load average, and other processes' CPU over the last second."""
    cores = os.cpu_count() or 1
    load1 = os.getloadavg()[0]
    if not Path("/proc/self/stat").exists():
        return f"machine: {cores} cores, load average (1 min) {load1:.2f}; other processes' CPU: no /proc here"
    hertz = os.sysconf("SC_CLK_TCK")
    before = _process_ticks()
    time.sleep(SAMPLE_SECONDS)
    after = _process_ticks()
    mine = os.getpid()
    used = {pid: (name, (ticks - before[pid][1]) / hertz / SAMPLE_SECONDS)
            for pid, (name, ticks) in after.items() if pid in before and pid != mine}
    total = sum(share for _, share in used.values())
    busiest = sorted(used.values(), key=lambda item: -item[1])[:3]
    top = ", ".join(f"{name} {share:.0%}" for name, share in busiest if share >= 0.01) or "none above 1%"
    return (f"machine: {cores} cores, load average (1 min) {load1:.2f}; other processes used {total:.2f} "
            f"cores over the last second (busiest: {top})")


def print_load(what: str) -> None:
    print(f"[{what}] {load_line()}", flush=True)


def verdict(ratio: float, target: float) -> str:
    """``1.23x (target >= 1.5x: NOT met)``."""
    return f"{ratio:.2f}x (target >= {target:g}x: {'met' if ratio >= target else 'NOT met'})"
