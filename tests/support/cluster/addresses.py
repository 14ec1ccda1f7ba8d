"""Loopback addresses for pods, Services and routes: one 127.X.0.0/16 block per harness.

Every 127.0.0.0/8 address is on the loopback interface, so each pod can bind
its own address with the manifest's ports (8000/8001/8002) unchanged. The
second octet is picked at random and claimed by binding 127.X.0.1:65000 while
the harness lives: a second harness on the same machine (another test run) finds
the claim taken and picks another block, so two runs never share an address.
"""

from __future__ import annotations

import itertools
import random
import socket
import threading

CLAIM_PORT = 65000  # bound on 127.X.0.1 (never a pod's or Service's address) to hold the block


class AddressBlock:
    """127.X.Y.Z, X claimed for this harness; Y separates pods (1-99), Services (100-199) and routes (200-254)."""

    def __init__(self) -> None:
        self._claim = _claim_block()
        self.octet = int(self._claim.getsockname()[0].split(".")[1])
        self._lock = threading.Lock()
        self._next = {kind: _addresses(self.octet, start, stop)
                      for kind, (start, stop) in {"pod": (1, 100), "service": (100, 200), "route": (200, 255)}.items()}

    def pod(self) -> str:
        return self._take("pod")

    def service(self) -> str:
        return self._take("service")

    def route(self) -> str:
        return self._take("route")

    def _take(self, kind: str) -> str:
        # Never reused within a harness: a stale connection can never reach a newer pod by accident.
        with self._lock:
            return next(self._next[kind])

    def close(self) -> None:
        self._claim.close()


def _addresses(octet: int, start: int, stop: int) -> itertools.chain:
    return itertools.chain.from_iterable(
        (f"127.{octet}.{y}.{z}" for z in range(1, 255)) for y in range(start, stop))


def _claim_block() -> socket.socket:
    for octet in random.sample(range(1, 255), 254):
        claim = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            claim.bind((f"127.{octet}.0.1", CLAIM_PORT))
            claim.listen(1)
            return claim
        except OSError:
            claim.close()
    raise RuntimeError("no free 127.X.0.0/16 block on this machine")
