"""When each ModelDeployment is next looked at without a watch event: its rollout's next moment, or now.

The analyst, the smoke gate and the autoscaler bring verdicts from their own threads with no watch event
behind them; their poke must outlive the pass that was running when it came, since that pass read the world
before the verdict existed.
"""

from __future__ import annotations

import threading
import time

Key = tuple[str, str]


class Wakeups:
    def __init__(self) -> None:
        self._at: dict[Key, float] = {}
        self._pokes: dict[Key, int] = {}
        self._lock = threading.Lock()

    def poke(self, key: Key) -> None:
        """Due at once (the runner's next tick)."""
        with self._lock:
            self._pokes[key] = self._pokes.get(key, 0) + 1
            self._at[key] = 0.0

    def begin(self, key: Key) -> int:
        """A pass starts: the token its end compares with."""
        with self._lock:
            return self._pokes.get(key, 0)

    def end(self, key: Key, token: int, requeue_after: float | None) -> None:
        """The pass's own schedule, unless a poke came while it ran: then it stays due at once."""
        with self._lock:
            if self._pokes.get(key, 0) != token:
                self._at[key] = 0.0
            elif requeue_after is not None:
                self._at[key] = time.monotonic() + requeue_after
            else:
                self._at.pop(key, None)

    def drop(self, key: Key) -> None:
        with self._lock:
            self._at.pop(key, None)
            self._pokes.pop(key, None)

    def due(self, now: float) -> list[Key]:
        with self._lock:
            return [k for k, at in self._at.items() if at <= now]

    def at(self, key: Key) -> float | None:
        with self._lock:
            return self._at.get(key)
