"""A test's own watcher: something read every few tenths of a second in a thread, while the test acts."""

from __future__ import annotations

import threading


class Poller:
    """Calls `poll()` every `every` seconds from `with` to its end; subclasses keep what they read."""

    def __init__(self, every: float):
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=type(self).__name__, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def poll(self) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll()
            self._stop.wait(self.every)
