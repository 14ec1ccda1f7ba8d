"""Run a load generator as a child process and account the CPU it used.

A client's CPU share tells whether a benchmark measured the server or the
client. The kernel keeps exact user and system time for a reaped child;
wait4 returns it for that one child, unlike getrusage(RUSAGE_CHILDREN),
which sums every child this process ever reaped.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class MeasuredRun:
    returncode: int
    output: str  # stdout and stderr together
    cpu_seconds: float  # the child's user + system time
    wall_seconds: float

    @property
    def cpu_share(self) -> float:
        """Fraction of one core the child used while it ran."""
        return self.cpu_seconds / self.wall_seconds if self.wall_seconds else 0.0


def run_measured(command: list[str], *, cpus: set[int] | None = None, timeout_seconds: float = 300.0) -> MeasuredRun:
    """Run command to its end, pinned to cpus when given; kill it past the timeout (returncode -9)."""
    with tempfile.TemporaryFile(mode="w+") as output:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)
        deadline = started + timeout_seconds
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                process.kill()
                pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.02)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped here: keep Popen from waiting again
        output.seek(0)
        return MeasuredRun(process.returncode, output.read(), usage.ru_utime + usage.ru_stime, wall)


def split_cores(pin: bool = True) -> tuple[set[int] | None, set[int] | None]:
    """(client cores, server cores): the client gets the last core when there are two or more, else None."""
    cores = sorted(os.sched_getaffinity(0))
    if not pin or len(cores) < 2:
        return None, None
    return {cores[-1]}, set(cores[:-1])
