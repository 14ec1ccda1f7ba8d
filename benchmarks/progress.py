"""One line on stderr per step of a benchmark, with the time since it began: long runs show they are alive."""

from __future__ import annotations

import sys
import time

_START = time.monotonic()


def step(message: str) -> None:
    print(f"[{time.monotonic() - _START:6.1f}s] {message}", file=sys.stderr, flush=True)
