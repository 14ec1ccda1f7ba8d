"""The same operator under kopf's own CLI:

    MODELDEPLOY_NAMESPACES=ml kopf run -m modeldeploy.handlers.kopf_entry --namespace ml
    kopf run -m modeldeploy.handlers.kopf_entry --all-namespaces

Options come from the MODELDEPLOY_* environment (see `modeldeploy operator
--help`); kopf's flags choose the scope, logging and peering. `modeldeploy
operator` is the supported entry point: it also serves /healthz and /readyz.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os

import kopf
from prometheus_client import start_http_server

from ..clients import KubeClient
from ..clients.kube import NoClusterConfig
from ..reconcile import OperatorMetrics
from .options import OperatorOptions
from .registration import configure, register
from .runner import Controller

_namespaces = tuple(ns for ns in os.environ.get("MODELDEPLOY_NAMESPACES", "").split(",") if ns)
_options = OperatorOptions(
    namespaces=_namespaces, all_namespaces=not _namespaces,
    metrics_port=int(os.environ.get("MODELDEPLOY_METRICS_PORT", "8080")),
    resync_seconds=float(os.environ.get("MODELDEPLOY_RESYNC_SECONDS", "60")),
    relist_seconds=float(os.environ.get("MODELDEPLOY_RELIST_SECONDS", "600")),
    workers=int(os.environ.get("MODELDEPLOY_WORKERS", "4")),
    **({"keda_prometheus_server": os.environ["MODELDEPLOY_KEDA_PROMETHEUS_SERVER"]}
       if "MODELDEPLOY_KEDA_PROMETHEUS_SERVER" in os.environ else {}),
    **({"runtime_image": os.environ["MODELDEPLOY_RUNTIME_IMAGE"]} if "MODELDEPLOY_RUNTIME_IMAGE" in os.environ else {}),
)
_metrics = OperatorMetrics()
try:
    _client = KubeClient.from_environment(on_write=_metrics.count_write)
except NoClusterConfig as err:  # one line, as `modeldeploy operator` says it, not kopf's import traceback
    raise SystemExit(f"modeldeploy: {err}") from None
_controller = Controller(_options, _client, _metrics)
_metrics.track_ready(_controller.cache.md_bodies)
register(kopf.get_default_registry(), _controller)
_tasks: list[asyncio.Task] = []


@kopf.on.startup()
async def _start(settings: kopf.OperatorSettings, **_: object) -> None:
    # kopf's CLI decides about peering (--peering, --priority, --standalone): keep its choice.
    peering = dataclasses.replace(settings.peering)
    configure(settings, _options)
    settings.peering = peering
    start_http_server(_options.metrics_port, addr=_options.bind_address, registry=_metrics.registry)
    await asyncio.to_thread(_controller.first_listing)  # before kopf's watches start: "has synced"
    _controller.mark_synced()
    _tasks.append(asyncio.create_task(_controller.resync_forever(), name="modeldeploy resync"))
    _controller.start_workers()


@kopf.on.cleanup()
async def _stop(**_: object) -> None:
    _controller.queue.close()
    for task in _tasks:
        task.cancel()
