"""kopf wiring: watches feed the cache and trigger reconciles; a resync loop repairs drift.

Why `on.event` and not `on.create/update/resume` plus `kopf.timer`: kopf's
change handlers store their progress and last-handled state on the object
(extra writes on every change), and its timers put a finalizer on every
ModelDeployment, so deleting one would hang whenever the operator is down.
Event handlers write nothing; owner references let the garbage collector
remove children; the reconcile is level-triggered, so an event only says
"look again".
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
import os
import secrets
import socket
import threading
import time

import kopf
from modeldeploy_runtime.smoke import smoke
from prometheus_client import start_http_server

from ..builders import BuildOptions
from ..clients import ApiError, KubeClient
from ..api import ModelDeployment
from ..autoscale import AutoscaleLoop, AutoscalerMetrics, Targets, scale_event
from ..reconcile.autoscaling import autoscaling_view
from ..reconcile.needs import waiting_for_an_optional_api
from ..builders import api_key_from_secret, api_key_headers
from ..clients import NotFound
from ..clients.errors import Retryable
from ..clients.permissions import (CHILD_KINDS, CRD, GATEWAY_CRD, KEDA_CRD, KINDS, MODELDEPLOYMENT,
                                   OPTIONAL_CHILD_KINDS, POD)
from ..clients.triton_metrics import scrape
from ..reconcile import key_of
from ..reconcile.observed import Observed
from ..reconcile.secrets import SecretReader
from ..rollout.analyst import Analyst
from ..rollout.gate import SmokeGate
from ..reconcile import ObservedCache, OperatorMetrics, Reconciler
from .health import HealthServer
from .options import OperatorOptions
from .peering import Leadership, ensure_peering
from .relist import RelistSchedule
from .registration import MANAGED_SELECTOR, configure, configure_logging, register
from .workqueue import WorkQueue

log = logging.getLogger("modeldeploy.operator")
WATCHED_KINDS = tuple(kind.kind for kind in (MODELDEPLOYMENT, *CHILD_KINDS, *OPTIONAL_CHILD_KINDS, POD))


class Controller:
    """The cache, the reconciler and the retry schedule, shared by every handler."""

    def __init__(self, options: OperatorOptions, client: KubeClient, metrics: OperatorMetrics):
        self.options = options
        self.metrics = metrics
        self.client = client
        self.cache = ObservedCache()
        self.instance = socket.gethostname()
        self.secrets = SecretReader(client, ttl_seconds=options.resync_seconds)
        self.analyst = Analyst(lambda ip, model: scrape(ip, model), on_verdict=self.poke)
        self.gate = SmokeGate(client, smoke, headers=self.api_key_headers, on_verdict=self.poke)
        self.autoscaler = AutoscaleLoop(
            self._autoscaled, client.patch_scale, self._record_scale,
            metrics=AutoscalerMetrics(metrics.registry), on_status=self.poke)
        self.build_options = BuildOptions(runtime_image=options.runtime_image,
                                          prestop_sleep_seconds=options.prestop_seconds,
                                          triton_exit_timeout_seconds=options.drain_seconds,
                                          keda_prometheus_server=options.keda_prometheus_server)
        self.reconciler = Reconciler(client, self.cache, metrics=metrics, options=self.build_options,
                                     instance=self.instance, analyst=self.analyst, gate=self.gate,
                                     secrets=self.secrets.get, autoscaling=self.autoscaling_status)
        self._targets = Targets(bodies=self.cache.md_bodies, pods_of=lambda body: self.cache.snapshot(key_of(body)).pods)
        self.retry_at: dict[tuple[str, str], float] = {}  # backing off after a failure: events wait
        # Every reason to look at a ModelDeployment (an event, a verdict's poke, a rollout's next moment,
        # a retry, a resync) is an add to one queue, which `options.workers` threads drain.
        self.queue = WorkQueue()
        # Set once every watched kind has done its first listing (the informer "has synced" rule):
        # before that, a missing child may only be one not listed yet, and nothing is reconciled.
        self.synced = asyncio.Event()
        self.relists = RelistSchedule(period_seconds=options.relist_seconds)
        self._api_down = False
        # Replaced once peering is known: a standby's own loops must pause as kopf pauses its watches.
        self.leadership: Leadership | None = None

    def poke(self, key: tuple[str, str]) -> None:
        """Look at this ModelDeployment again now (from the gate's, the analysis' or the autoscaler's thread):
        a pass already running read the world before the verdict, so the queue runs one more after it."""
        self.queue.add(key)

    # -- what the reconciler asks of the rest of the operator ----------------------------------------

    def api_key_headers(self, md: ModelDeployment) -> dict | None:
        """The smoke inference sends the model's API key, as any client must (spec.auth)."""
        if md.spec.auth is None:
            return None
        secret = self.secrets.get(md.namespace, md.spec.auth.api_key_secret)
        key = api_key_from_secret(secret) if secret else None
        return api_key_headers(key, "http") if key else None

    def autoscaling_status(self, key: tuple[str, str], md: ModelDeployment, observed: Observed) -> dict | None:
        return autoscaling_view(md, observed, self.autoscaler.status_of(*key))

    def _autoscaled(self) -> list:
        """The builtin autoscaler's targets: none before the cache is whole, none on a standby."""
        if not self.synced.is_set() or (self.leadership is not None and not self.leadership.active()):
            return []
        return self._targets()

    def _record_scale(self, target, reason: str, message: str, warning: bool) -> None:  # noqa: ANN001 - Target
        try:
            self.client.create_event(scale_event(target, reason, message, warning, time.time(), self.instance))
        except ApiError as err:
            log.warning("scale event for %s/%s not recorded: %s", target.namespace, target.name, err.message[:200])

    def discover(self) -> None:
        """Which optional CRDs the cluster has (KEDA, Gateway API): what the builders may produce."""
        found = {}
        for name in (KEDA_CRD, GATEWAY_CRD):
            try:
                self.client.get(CRD, None, name)
                found[name] = True
            except NotFound:
                found[name] = False
            except ApiError:
                return  # keep what is known; try again at the next relist
        options = dataclasses.replace(self.build_options, keda_available=found[KEDA_CRD],
                                      gateway_available=found[GATEWAY_CRD])
        if options != self.build_options:
            log.info("optional APIs: KEDA %s, Gateway API %s", *(("installed" if found[c] else "absent")
                                                                  for c in (KEDA_CRD, GATEWAY_CRD)))
            self.build_options = options
            self.reconciler.set_options(options)
            for key in self.cache.md_keys():  # now, not at the next resync: an HTTPRoute or ScaledObject is due
                self.queue.add(key)

    def reconcile(self, key: tuple[str, str]) -> None:
        """One pass for one key, and its own next moment into the queue."""
        due = self.retry_at.get(key, 0.0)
        if due > time.monotonic():
            self.queue.add_after(key, due - time.monotonic())  # backing off: the due retry does the work
            return
        outcome = self.reconciler.reconcile(key)
        if outcome is None:
            return
        if outcome.retry_after is not None:
            self.retry_at[key] = time.monotonic() + outcome.retry_after
            self.queue.add_after(key, outcome.retry_after)
            return
        self.retry_at.pop(key, None)
        if outcome.requeue_after is not None:
            self.queue.add_after(key, outcome.requeue_after)

    def work(self, timeout: float | None = None) -> bool:
        """Take one key from the queue and reconcile it; False once the queue is closed (or nothing came)."""
        key = self.queue.get(timeout)
        if key is None:
            return False
        try:
            if self.leadership is not None and not self.leadership.active():
                self.queue.add_after(key, 1.0)  # a standby writes nothing: held until this replica leads
            else:
                self.reconcile(key)
        except Exception:  # noqa: BLE001 - a worker must outlive any one key
            log.exception("worker: reconcile of %s/%s raised", *key)
            self.queue.add_after(key, 5.0)
        finally:
            self.queue.done(key)
        return True

    def work_forever(self) -> None:
        while self.work():
            pass

    def start_workers(self) -> list[threading.Thread]:
        """`options.workers` threads draining the queue until it is closed."""
        threads = [threading.Thread(target=self.work_forever, name=f"reconcile-{i}", daemon=True)
                   for i in range(self.options.workers)]
        for thread in threads:
            thread.start()
        return threads

    # The handlers are async and only touch the cache and the queue (no I/O): most events are the watch
    # echoes of the operator's own writes and end here at once. Reconciles run in the queue's workers.

    def first_listing(self) -> None:
        """Every watched kind listed once into the cache, before any watch starts (an informer's "has synced"):
        until then a missing child may only be one not listed yet. kopf's index handlers could do this, but
        kopf wakes every listed object's worker for every object it indexes (five minutes to sync 1,000
        ModelDeployments); one paged list per kind takes seconds. A kind that fails is listed again."""
        pending, delay = list(WATCHED_KINDS), 1.0
        while True:
            for name in list(pending):
                try:
                    listed = self._store_listing(name)
                except NotFound:
                    pending.remove(name)  # an optional kind whose CRD is not installed: nothing to list
                    continue
                except ApiError as err:
                    log.warning("first listing of %s failed: %s %s; trying again", name, err.status, err.message[:200])
                    continue
                if listed:
                    self.relists.first_listing(name)
                pending.remove(name)
            if not pending:
                return
            time.sleep(delay)
            delay = min(2 * delay, 30.0)

    def _store_listing(self, name: str) -> int:
        """Put every object of a kind into the cache as its pages come; how many there were."""
        kind = KINDS[name]
        selector = None if kind is MODELDEPLOYMENT else MANAGED_SELECTOR
        namespaces = [None] if self.options.all_namespaces else list(self.options.namespaces)
        count = 0
        for namespace in namespaces:
            for items, _ in self.client.list_pages(kind, namespace, label_selector=selector):
                for obj in items:
                    self.cache.put_md(obj) if kind is MODELDEPLOYMENT else self.cache.put(obj)
                count += len(items)
        return count

    def mark_synced(self) -> None:
        self.relists.synced()
        self.synced.set()
        self.metrics.cache_synced.set(1)

    def _list_kind(self, name: str) -> tuple[list[dict], str | None]:
        kind = KINDS[name]
        selector = None if kind is MODELDEPLOYMENT else MANAGED_SELECTOR
        namespaces = [None] if self.options.all_namespaces else list(self.options.namespaces)
        items: list[dict] = []
        version: str | None = None
        for namespace in namespaces:
            found, version = self.client.list_all(kind, namespace, label_selector=selector)
            items += found
        return items, version if len(namespaces) == 1 else None

    def _heard(self, event: dict, kind: str) -> None:
        self.metrics.watch_alive()
        if event.get("type") is None:
            self.relists.listed(kind)

    async def on_modeldeployment(self, event: dict, **_) -> None:
        self._heard(event, MODELDEPLOYMENT.kind)
        obj = event["object"]
        if event.get("type") == "DELETED":
            key = self.cache.drop_md(obj)
            self.retry_at.pop(key, None)
            self.queue.discard(key)
            self.queue.add(key)  # the pass that finds it gone forgets what the reconciler held for it
            return
        key, news = self.cache.put_md(obj)
        if news:
            self.queue.add(key)

    async def on_child(self, event: dict, **_) -> None:
        obj = event["object"]
        self._heard(event, obj.get("kind", ""))
        if event.get("type") == "DELETED":
            owner, news = self.cache.drop(obj), True
        else:
            owner, news = self.cache.put(obj)
        if news and owner is not None and self.cache.md(owner) is not None:
            self.queue.add(owner)

    async def resync_forever(self) -> None:
        """After the first listing, reconcile everything; then every second, whatever is due:
        retries, relists, and every resync period a reconcile of everything from the cache."""
        await self.synced.wait()
        for key in self.cache.md_keys():
            self.queue.add(key)
        next_resync = time.monotonic() + self.options.resync_seconds
        while True:
            await asyncio.sleep(1.0)
            if self.leadership is not None and not await asyncio.to_thread(self.leadership.active):
                continue
            now = time.monotonic()
            keys: set[tuple[str, str]] = set()
            if now >= next_resync:
                next_resync = now + self.options.resync_seconds
                await asyncio.to_thread(self.probe_api)
                if waiting_for_an_optional_api(self.cache.md_bodies(), self.build_options):
                    await asyncio.to_thread(self.discover)  # KEDA or the Gateway API installed since: use it
                keys.update(self.cache.md_keys())
            kinds = self.relists.due(WATCHED_KINDS)
            if kinds:
                if len(kinds) == len(WATCHED_KINDS):
                    await asyncio.to_thread(self.discover)
                keys.update(await asyncio.to_thread(self.relist, kinds))
            for key in sorted(keys):
                self.queue.add(key)

    def relist(self, kinds: tuple[str, ...]) -> set[tuple[str, str]]:
        """List these kinds afresh and make the cache agree; the ModelDeployments that changed."""
        changed: set[tuple[str, str]] = set()
        for name in kinds:
            try:
                items, version = self._list_kind(name)
            except NotFound:
                continue  # an optional kind whose CRD is not installed: nothing to compare
            except ApiError as err:
                log.warning("relist of %s failed: %s %s", KINDS[name].plural, err.status, err.message[:200])
                self.relists.everything()
                continue
            # Several namespaces have no one version to compare with (None): keep what the lists lack.
            missed = self.cache.relisted(name, items, version)
            self.metrics.relists.labels(kind=name).inc()
            if missed:
                log.info("relist of %s found what the watch missed for %d ModelDeployment(s)",
                         KINDS[name].plural, len(missed))
            changed |= missed
        return changed

    def probe_api(self, *, startup: bool = False) -> None:
        """One cheap read per period: proves the API answers even when nothing changes. At start-up, an API
        server nothing answers for (after the client's own retries) stops the operator: exit 4, in one line."""
        namespace = None if self.options.all_namespaces else self.options.namespaces[0]
        try:
            self.client.list(MODELDEPLOYMENT, namespace, limit=1)
            self.metrics.watch_alive()
            if self._api_down:
                log.info("the API answers again: listing everything to catch what the watches missed")
                self._api_down = False
                self.relists.everything()
        except ApiError as err:
            if startup and isinstance(err, Retryable) and err.status == 0:
                raise
            self._api_down = True
            log.warning("API probe failed: %s %s", err.status, err.message[:200])


async def operate(options: OperatorOptions, *, client: KubeClient | None = None,
                  stop: asyncio.Event | None = None) -> None:
    configure_logging(options)
    # The loop's own blocking calls (discovery, relists, the API probe) run here; reconciles run in the
    # queue's workers, below.
    asyncio.get_running_loop().set_default_executor(
        concurrent.futures.ThreadPoolExecutor(4, thread_name_prefix="resync"))
    metrics = OperatorMetrics()
    client = client or KubeClient.from_environment(on_write=metrics.count_write)
    controller = Controller(options, client, metrics)
    metrics.track_ready(controller.cache.md_bodies)
    registry = kopf.OperatorRegistry()
    register(registry, controller)

    ready = asyncio.Event()

    metrics_server, _ = start_http_server(options.metrics_port, addr=options.bind_address, registry=metrics.registry)
    health = HealthServer(watch_age=metrics.watch_age, ready=ready,
                          live_within=5 * options.resync_seconds + 30, ready_within=2 * options.resync_seconds + 30)
    await health.start(options.bind_address, options.health_port)
    await asyncio.to_thread(controller.probe_api, startup=True)
    await asyncio.to_thread(controller.discover)
    peered = await asyncio.to_thread(ensure_peering, client, options)
    identity = f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(3)}"
    controller.leadership = Leadership(client, options, peered=peered, identity=identity,
                                       every=max(1.0, options.peering_lifetime / 3))
    await asyncio.to_thread(controller.first_listing)
    controller.mark_synced()
    resync = asyncio.create_task(controller.resync_forever(), name="modeldeploy resync")
    stop_loops = threading.Event()
    loops = [threading.Thread(target=controller.autoscaler.run, args=(stop_loops,), name="autoscaler", daemon=True),
             threading.Thread(target=controller.analyst.run, args=(stop_loops,), name="analysis", daemon=True)]
    for loop in loops:
        loop.start()
    controller.start_workers()
    log.info("operator starting: %s, priority %d, peering %r%s, %d workers",
             "all namespaces" if options.all_namespaces else "namespaces " + ",".join(options.namespaces),
             options.priority, options.peering, "" if peered else " (standalone)", options.workers)
    try:
        await kopf.operator(
            registry=registry, settings=configure(kopf.OperatorSettings(), options, peered=peered),
            clusterwide=options.all_namespaces, namespaces=list(options.namespaces),
            # kopf handles SIGTERM/SIGINT itself; a stop flag is only for embedding.
            ready_flag=ready, stop_flag=stop, identity=identity,
        )
    finally:
        stop_loops.set()
        controller.queue.close()
        controller.gate.close()
        resync.cancel()
        await health.stop()
        metrics_server.shutdown()


def run(options: OperatorOptions) -> int:
    asyncio.run(operate(options))
    return 0
