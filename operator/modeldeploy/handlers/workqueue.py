"""The operator's work queue, with client-go's semantics (k8s.io/client-go/util/workqueue).

- A key waits at most once (the *dirty* set): ten events for one ModelDeployment are one pass.
- A key is never handed to two workers at once (the *processing* set); one added while it is being
  processed is handed out again once `done()` is called, so a change or a verdict that arrived
  mid-pass is looked at by a pass that starts after it.
- `add_after` holds a key until a moment (a rollout step, a retry's back-off); the earliest moment
  wins, so a later schedule never postpones an earlier one.

Per-key exponential back-off is the reconciler's (it honours the server's Retry-After); it reaches
the queue as an `add_after`.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable


class WorkQueue:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._ready: deque[Hashable] = deque()
        self._dirty: set[Hashable] = set()
        self._processing: set[Hashable] = set()
        self._waiting: dict[Hashable, float] = {}  # key → the moment it is due; the heap holds stale entries too
        self._heap: list[tuple[float, int, Hashable]] = []
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._closed = False

    def add(self, key: Hashable) -> None:
        with self._cond:
            self._add(key)

    def _add(self, key: Hashable) -> None:
        self._waiting.pop(key, None)  # due now: an earlier moment than any it waited for
        if self._closed or key in self._dirty:
            return
        self._dirty.add(key)
        if key not in self._processing:
            self._ready.append(key)
            self._cond.notify()

    def add_after(self, key: Hashable, delay: float) -> None:
        if delay <= 0:
            self.add(key)
            return
        with self._cond:
            at = self._clock() + delay
            if self._closed or key in self._dirty or self._waiting.get(key, float("inf")) <= at:
                return
            self._waiting[key] = at
            heapq.heappush(self._heap, (at, next(self._order), key))
            self._cond.notify()  # a worker asleep until a later moment must wake for this one

    def discard(self, key: Hashable) -> None:
        """Forget a key's delayed add (its object is gone); a pass already queued still runs and finds it gone."""
        with self._cond:
            self._waiting.pop(key, None)

    def get(self, timeout: float | None = None) -> Hashable | None:
        """The next key to process (it is now the caller's until `done`); None when closed or timed out."""
        deadline = None if timeout is None else self._clock() + timeout
        with self._cond:
            while True:
                self._release_due()
                if self._ready:
                    key = self._ready.popleft()
                    self._dirty.discard(key)
                    self._processing.add(key)
                    return key
                if self._closed:
                    return None
                now = self._clock()
                wait = None if deadline is None else deadline - now
                if wait is not None and wait <= 0:
                    return None
                if self._heap:
                    until_due = max(0.0, self._heap[0][0] - now)
                    wait = until_due if wait is None else min(wait, until_due)
                self._cond.wait(wait)

    def done(self, key: Hashable) -> None:
        with self._cond:
            self._processing.discard(key)
            if key in self._dirty:
                self._ready.append(key)
                self._cond.notify()

    def close(self) -> None:
        """Workers' `get` returns None once nothing is ready; nothing new is taken."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def due_at(self, key: Hashable) -> float | None:
        """When a key is next handed out: now if it is ready, its moment if it waits, else None."""
        with self._cond:
            if key in self._dirty:
                return self._clock()
            return self._waiting.get(key)

    def __len__(self) -> int:
        with self._cond:
            return len(self._dirty) + len(self._waiting)

    def _release_due(self) -> None:
        now = self._clock()
        while self._heap and self._heap[0][0] <= now:
            at, _, key = heapq.heappop(self._heap)
            if self._waiting.get(key) == at:
                del self._waiting[key]
                self._add(key)
