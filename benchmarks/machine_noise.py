"""How much CPU the rest of the machine used while a point was measured.

On a shared machine another job can take half a core in the middle of a run.
The kernel counts every core's busy time (/proc/stat); what neither the server
nor the client used went to someone else. Each row reports it, and a run can
wait for a quiet moment before each point.
"""

from __future__ import annotations

import os
import sys
import time

_TICK = os.sysconf("SC_CLK_TCK")


def busy_cpu_seconds() -> float:
    """CPU time all cores spent busy since boot (user, nice, system, irq, softirq, steal)."""
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / _TICK


def wait_until_quiet(max_share: float = 0.1, sample_seconds: float = 1.0, give_up_seconds: float = 120.0) -> float:
    """Wait until the whole machine used at most max_share of a core over one sample; returns seconds waited."""
    started = time.monotonic()
    while True:
        before = busy_cpu_seconds()
        time.sleep(sample_seconds)
        share = (busy_cpu_seconds() - before) / sample_seconds
        waited = time.monotonic() - started
        if share <= max_share or waited >= give_up_seconds:
            if waited > sample_seconds * 1.5:
                print(f"  (waited {waited:.0f}s for other jobs; last {share:.0%} of a core busy)", file=sys.stderr)
            return waited
