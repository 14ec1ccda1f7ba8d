"""Watch-fed caches and the loops that reconcile from them (client-go's informers and workers, small).

Each controller is level-triggered: it recomputes everything it owns from the
caches whenever any cache it reads changes, and at least once per period (so
time-based decisions such as progress deadlines happen without an event).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from .api import Api

log = logging.getLogger("harness")

Key = tuple[str | None, str]


def key_of(obj: dict) -> Key:
    return obj["metadata"].get("namespace"), obj["metadata"]["name"]


class Informer:
    """Every object of one resource, kept current by a watch; readers get the stored dicts (do not mutate)."""

    def __init__(self, api: Api, resource: str):
        self.resource = resource
        self._api = api
        self._objects: dict[Key, dict] = {}
        self._lock = threading.Lock()
        self._wakeups: list[threading.Event] = []
        self._stop = threading.Event()
        self.synced = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"informer {resource}", daemon=True)

    def subscribe(self, wakeup: threading.Event) -> None:
        self._wakeups.append(wakeup)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self) -> None:
        self._thread.join(5)

    def items(self, namespace: str | None = None) -> list[dict]:
        with self._lock:
            return [o for (ns, _), o in self._objects.items() if namespace is None or ns == namespace]

    def get(self, namespace: str | None, name: str) -> dict | None:
        with self._lock:
            return self._objects.get((namespace, name))

    def wait_until(self, namespace: str | None, name: str, check: Callable[[dict | None], bool],
                   timeout: float = 5.0) -> bool:
        """A controller's expectation: wait until the cache shows its own write, so it never repeats it."""
        deadline = time.monotonic() + timeout
        while not check(self.get(namespace, name)):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                listed = {key_of(o): o for o in self._api.list(self.resource)}
                with self._lock:
                    self._objects = listed
                self.synced.set()
                self._notify()
                for event in self._api.watch(self.resource):
                    if event.get("type") not in ("ADDED", "MODIFIED", "DELETED"):
                        break  # an ERROR event: list again
                    obj = event["object"]
                    with self._lock:
                        if event["type"] == "DELETED":
                            self._objects.pop(key_of(obj), None)
                        else:
                            self._objects[key_of(obj)] = obj
                    self._notify()
            except Exception as err:  # noqa: BLE001 - the server went away or hiccupped: relist, as client-go does
                if not self._stop.is_set():
                    log.debug("watch of %s broke (%s); listing again", self.resource, err)
            self._stop.wait(0.2)

    def _notify(self) -> None:
        for wakeup in self._wakeups:
            wakeup.set()


class ControllerLoop:
    """Calls sync() after any change of the informers it reads, and every `period` seconds."""

    def __init__(self, name: str, sync: Callable[[], None], informers: Iterable[Informer], period: float = 1.0):
        self.name = name
        self._sync = sync
        self._period = period
        self._wakeup = threading.Event()
        self._stop = threading.Event()
        for informer in informers:
            informer.subscribe(self._wakeup)
        self._thread = threading.Thread(target=self._run, name=f"controller {name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def poke(self) -> None:
        self._wakeup.set()

    def stop(self) -> None:
        self._stop.set()
        self._wakeup.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wakeup.wait(self._period)
            self._wakeup.clear()
            if self._stop.is_set():
                break
            try:
                self._sync()
            except Exception:  # noqa: BLE001 - a controller logs and retries on its next round, never dies
                log.exception("%s: sync failed; retrying", self.name)
                self._stop.wait(0.2)
