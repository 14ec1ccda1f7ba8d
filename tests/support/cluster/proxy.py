"""kube-proxy: every Service port on its spec.clusterIP forwards TCP connections to ready endpoints.

Round-robin per connection (IPVS's rr; iptables mode picks at random), so a
long-lived connection (HTTP keep-alive, gRPC) stays on the pod it first
reached, as in a cluster. Endpoint changes take effect `delay` seconds after
the API shows them, the real propagation lag: a pod being deleted still gets
new connections for that long, which its preStop pause must cover. A port
with no endpoint refuses connections (kube-proxy's REJECT rule).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter

from .endpoints import Address, serving_endpoints
from .informer import Informer

log = logging.getLogger("harness.proxy")
CHUNK = 64 * 1024


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.transport.abort()


async def splice(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter, target: Address,
                 open_writers: set[asyncio.StreamWriter]) -> None:
    """Join a client connection to a new one to `target`; a refused target resets the client."""
    try:
        up_reader, up_writer = await asyncio.open_connection(*target)
    except OSError:
        client_writer.transport.abort()
        return
    open_writers.update((client_writer, up_writer))
    try:
        await asyncio.gather(pipe(client_reader, up_writer), pipe(up_reader, client_writer))
    finally:
        for writer in (up_writer, client_writer):
            open_writers.discard(writer)
            writer.close()


class PortForwarder:
    """One Service port: listens while it has endpoints, picks one per connection."""

    def __init__(self, address: Address):
        self.address = address
        self.endpoints: tuple[Address, ...] = ()
        self.connections: Counter[Address] = Counter()  # what each endpoint was given, for tests
        self.last_connection: dict[Address, float] = {}  # time.time() of each endpoint's latest connection
        self._turn = 0
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    async def set_endpoints(self, endpoints: tuple[Address, ...]) -> None:
        self.endpoints = endpoints
        if endpoints and self._server is None:
            self._server = await asyncio.start_server(self._accept, *self.address, reuse_address=True)
        elif not endpoints and self._server is not None:
            self._server.close()  # refuse new connections; established ones carry on
            self._server = None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.endpoints:
            writer.transport.abort()
            return
        target = self.endpoints[self._turn % len(self.endpoints)]
        self._turn += 1
        self.connections[target] += 1
        self.last_connection[target] = time.time()
        await splice(reader, writer, target, self._open)

    async def close(self) -> None:
        """Stop listening and cut every connection (the harness ends)."""
        await self.set_endpoints(())
        for writer in list(self._open):
            writer.transport.abort()


class ServiceProxy:
    def __init__(self, loop: asyncio.AbstractEventLoop, services: Informer, pods: Informer, delay: float):
        self._loop, self._services, self._pods, self._delay = loop, services, pods, delay
        self.forwarders: dict[Address, PortForwarder] = {}
        self._last: dict[Address, tuple[Address, ...]] | None = None
        self._applying = asyncio.Lock()  # tables apply in the order they were seen

    def sync(self) -> None:
        pods = self._pods.items()
        table = {}
        for service in self._services.items():
            ip = (service.get("spec") or {}).get("clusterIP")
            if ip and ip != "None":
                for port, endpoints in serving_endpoints(service, pods).items():
                    table[(ip, port)] = endpoints
        if table != self._last:
            self._last = table
            self._loop.call_soon_threadsafe(self._loop.call_later, self._delay,
                                            lambda: self._loop.create_task(self._apply(table)))

    async def _apply(self, table: dict[Address, tuple[Address, ...]]) -> None:
        async with self._applying:
            for address in set(self.forwarders) - set(table):
                await self.forwarders.pop(address).close()
            for address, endpoints in table.items():
                forwarder = self.forwarders.setdefault(address, PortForwarder(address))
                try:
                    await forwarder.set_endpoints(endpoints)
                except OSError as err:
                    log.warning("cannot listen on %s:%s: %s", *address, err)

    async def close(self) -> None:
        for forwarder in self.forwarders.values():
            with contextlib.suppress(Exception):
                await forwarder.close()
        await asyncio.sleep(0.05)  # let the cut connections' tasks end on their own
