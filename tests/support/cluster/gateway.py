"""A minimal Gateway API data plane: each HTTPRoute served on its own loopback address, split per request.

For every HTTPRoute (gateway.networking.k8s.io/v1) the harness listens on a
route address (see Cluster.route_address) at the settings' gateway port and
forwards each HTTP request to one of the matching rule's backendRefs
(Services, through their clusterIP and kube-proxy), chosen by smooth weighted
round-robin: over every run of sum(weights) requests each backend gets
exactly its weight. Matching is by path only (PathPrefix, Exact; the longest
match wins); parentRefs, hostnames, header matches and filters are ignored,
and the route's status is not written. HTTP/1.1 only: gRPC through a route
is not served.
"""

from __future__ import annotations

import asyncio
import logging
import threading

import aiohttp
import aiohttp.web

from .informer import Informer

log = logging.getLogger("harness.gateway")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "upgrade", "host", "content-length",
              "proxy-connection", "te", "trailer"}


class WeightedChoice:
    """nginx's smooth weighted round-robin: exact proportions, evenly interleaved."""

    def __init__(self) -> None:
        self._current: dict[str, int] = {}
        self._lock = threading.Lock()

    def pick(self, weights: dict[str, int]) -> str | None:
        with self._lock:
            live = {k: w for k, w in weights.items() if w > 0}
            if not live:
                return None
            self._current = {k: self._current.get(k, 0) + w for k, w in live.items()}
            chosen = max(sorted(self._current), key=lambda k: self._current[k])
            self._current[chosen] -= sum(live.values())
            return chosen


def matching_rule(route: dict, path: str) -> dict | None:
    best, best_len = None, -1
    for rule in (route.get("spec") or {}).get("rules") or []:
        for match in rule.get("matches") or [{"path": {"type": "PathPrefix", "value": "/"}}]:
            want = (match.get("path") or {"type": "PathPrefix", "value": "/"})
            value = want.get("value", "/")
            hit = path == value if want.get("type") == "Exact" else \
                path == value or path.startswith(value.rstrip("/") + "/") or value == "/"
            if hit and len(value) > best_len:
                best, best_len = rule, len(value)
    return best


class Gateway:
    def __init__(self, loop: asyncio.AbstractEventLoop, routes: Informer, services: Informer, address_for,
                 port: int):
        self._loop, self._routes, self._services, self._port = loop, routes, services, port
        self._address_for = address_for  # (namespace, name) → the route's loopback address
        self._servers: dict[tuple[str, str], aiohttp.web.AppRunner] = {}
        self._choices: dict[tuple[str, str, int], WeightedChoice] = {}
        self._session: aiohttp.ClientSession | None = None

    def serving(self) -> set[tuple[str, str]]:
        return set(self._servers)

    def sync(self) -> None:
        wanted = {(r["metadata"]["namespace"], r["metadata"]["name"]) for r in self._routes.items()}
        if wanted != set(self._servers):
            asyncio.run_coroutine_threadsafe(self._serve(wanted), self._loop).result(10)

    async def _serve(self, wanted: set[tuple[str, str]]) -> None:
        for key in set(self._servers) - wanted:
            await self._servers.pop(key).cleanup()
        for key in wanted - set(self._servers):
            app = aiohttp.web.Application()
            app.router.add_route("*", "/{tail:.*}", self._handler(key))
            runner = aiohttp.web.AppRunner(app, access_log=None)
            await runner.setup()
            await aiohttp.web.TCPSite(runner, self._address_for(key), self._port, reuse_address=True).start()
            self._servers[key] = runner

    def _handler(self, key: tuple[str, str]):
        async def handle(request: aiohttp.web.Request) -> aiohttp.web.StreamResponse:
            return await self._forward(key, request)
        return handle

    async def _forward(self, key: tuple[str, str], request: aiohttp.web.Request) -> aiohttp.web.StreamResponse:
        route = self._routes.get(*key)
        rule = matching_rule(route, request.path) if route else None
        if rule is None:
            return aiohttp.web.Response(status=404, text="no HTTPRoute rule matches")
        refs = rule.get("backendRefs") or []
        rule_id = route["spec"]["rules"].index(rule)
        choice = self._choices.setdefault((*key, rule_id), WeightedChoice())
        chosen = choice.pick({f"{i}": int(ref.get("weight", 1)) for i, ref in enumerate(refs)})
        if chosen is None:
            return aiohttp.web.Response(status=500, text="no backend with weight > 0")
        ref = refs[int(chosen)]
        service = self._services.get(ref.get("namespace", key[0]), ref["name"])
        ip = ((service or {}).get("spec") or {}).get("clusterIP")
        if not ip:
            return aiohttp.web.Response(status=500, text=f"backend Service {ref['name']} not found")
        if self._session is None:
            self._session = aiohttp.ClientSession(auto_decompress=False)
        url = f"http://{ip}:{ref.get('port', 80)}{request.rel_url}"
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        try:
            async with self._session.request(request.method, url, headers=headers, data=await request.read()) as up:
                body = await up.read()
                return aiohttp.web.Response(status=up.status, body=body, headers={
                    k: v for k, v in up.headers.items() if k.lower() not in HOP_BY_HOP})
        except aiohttp.ClientError as err:
            return aiohttp.web.Response(status=502, text=f"upstream {ref['name']}: {err}")

    async def close(self) -> None:
        for runner in self._servers.values():
            await runner.cleanup()
        self._servers.clear()
        if self._session is not None:
            await self._session.close()
