"""When to list a kind again, so that what a watch missed still converges.

kopf lists a kind again only when a watch fails (a lost connection, 410
Gone); the list arrives as events of type None, and an object deleted in
the gap gets no event at all. After the first listing is over, a burst of
such events therefore means "this kind was relisted": the operator then
lists it itself, once the burst is over, and compares it with its cache.
The same comparison runs for every kind on a slow period, and after the API
was unreachable, for anything no signal caught.
"""

from __future__ import annotations

import time
from collections.abc import Callable

# A listing arrives as a burst of events; this much quiet ends it.
BURST_QUIET_SECONDS = 2.0


class RelistSchedule:
    def __init__(self, *, period_seconds: float, clock: Callable[[], float] = time.monotonic):
        self._period = period_seconds
        self._clock = clock
        self._last_listed: dict[str, float] = {}  # kind → the last type-None event (or the sync)
        self._due: dict[str, float] = {}
        self._synced_at: float | None = None
        self._next_full: float | None = None
        self._initial: set[str] = set()  # kinds whose first listing had objects: their events drain after sync

    def first_listing(self, kind: str) -> None:
        """A kind whose first listing (the operator's own, before kopf's watches start) had objects."""
        self._initial.add(kind)

    def synced(self) -> None:
        """The first listing of every kind is over: its events still draining are not a relist."""
        self._synced_at = self._clock()
        self._next_full = self._synced_at + self._period

    def listed(self, kind: str) -> None:
        """An event of type None (an object from a listing) for this kind."""
        if self._synced_at is None:
            return
        now = self._clock()
        # A kind whose first listing was empty has nothing draining: its first listed object after sync comes
        # from a relist however soon it arrives.
        last = self._last_listed.get(kind, self._synced_at if kind in self._initial else None)
        if last is None or now - last > BURST_QUIET_SECONDS or kind in self._due:
            self._due[kind] = now + BURST_QUIET_SECONDS  # relist once the burst is over
        self._last_listed[kind] = now

    def everything(self) -> None:
        """The API was unreachable: list everything at the next chance."""
        if self._synced_at is not None:
            self._next_full = self._clock()

    def due(self, kinds: tuple[str, ...]) -> tuple[str, ...]:
        """The kinds to list now; each is then no longer due."""
        now = self._clock()
        if self._next_full is not None and now >= self._next_full:
            self._next_full = now + self._period
            self._due.clear()
            return kinds
        ready = tuple(kind for kind in kinds if self._due.get(kind, float("inf")) <= now)
        for kind in ready:
            del self._due[kind]
        return ready
