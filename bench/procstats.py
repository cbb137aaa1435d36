"""CPU time and peak memory of a process, from /proc (Linux)."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of the process (all its threads) since it started."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rpartition(")")[2].split()  # the command name may hold spaces: skip past it
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / _TICKS


def peak_rss_mib(pid: int) -> float:
    """VmHWM: the largest resident set the process has had."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise ValueError(f"no VmHWM in /proc/{pid}/status")


def pid_from_file(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def total_cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            total += cpu_seconds(pid)
        except OSError:
            continue
    return total


def processes_named(name: str) -> list[int]:
    """PIDs whose command name is `name` (to note how busy the machine is with other clusters)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@contextmanager
def profiled(pid: int, directory: Path, name: str, mode: str | None) -> Iterator[None]:
    """py-spy record of the operator while the block runs: raw collapsed stacks in <name>.<mode>.pyspy.txt.

    mode "wall": every thread's stack, waiting included (where a pass spends its time);
    "cpu": only the thread holding the GIL (what keeps the interpreter busy); None: no profile.
    """
    if mode is None:
        yield
        return
    output = directory / f"{name}.{mode}.pyspy.txt"
    command = ["py-spy", "record", "--pid", str(pid), "--format", "raw", "--rate", "50", "-o", str(output)]
    if mode == "cpu":
        command.append("--gil")
    recorder = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        recorder.send_signal(signal.SIGINT)
        recorder.wait(timeout=60)
