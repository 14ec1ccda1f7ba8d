"""Finding every process a harness started, wherever it ended up: the proof that none outlives it.

Each container process carries the harness's marker in its environment
(launch.HARNESS_MARKER). Process groups stand in for cgroups while pods run;
this scan also finds a process that left its group (setsid, double fork) and
was re-parented, which a process-tree walk would miss.
"""

from __future__ import annotations

import psutil

from .kubelet.launch import HARNESS_MARKER


def marked_processes(marker: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter():
        try:
            value = process.environ().get(HARNESS_MARKER, "")
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
        if value == marker or value.startswith(marker + ":"):
            found.append(process)
    return found


def kill_all(processes: list[psutil.Process]) -> None:
    for process in processes:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(processes, timeout=5)
