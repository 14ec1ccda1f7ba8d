"""Liveness and readiness that reflect watch health, not merely a live process."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import web


class HealthServer:
    """/healthz: the API was heard from recently. /readyz: that, and the first listing is done."""

    def __init__(self, *, watch_age: Callable[[], float], ready: asyncio.Event, live_within: float,
                 ready_within: float):
        self._watch_age = watch_age
        self._ready = ready
        self._live_within = live_within
        self._ready_within = ready_within
        self._runner: web.AppRunner | None = None

    def _check(self, within: float, need_ready: bool) -> web.Response:
        age = self._watch_age()
        problems = []
        if need_ready and not self._ready.is_set():
            problems.append("initial listing not finished")
        if age > within:
            problems.append(f"no list/watch event or API read for {age:.0f}s (limit {within:.0f}s)")
        body = "ok\n" if not problems else "; ".join(problems) + "\n"
        # No keep-alive: an idle probe connection would hold the operator's shutdown.
        return web.Response(status=503 if problems else 200, text=body, headers={"Connection": "close"})

    async def _live(self, _: web.Request) -> web.Response:
        return self._check(self._live_within, need_ready=False)

    async def _readyz(self, _: web.Request) -> web.Response:
        return self._check(self._ready_within, need_ready=True)

    async def start(self, host: str, port: int) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._live)
        app.router.add_get("/readyz", self._readyz)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
