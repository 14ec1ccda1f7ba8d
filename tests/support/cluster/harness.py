"""A whole cluster on loopback: the emulated API server, kube-controller-manager's Deployment and
garbage-collector controllers, a scheduler, a kubelet running pods as real processes, kube-proxy, a
minimal Gateway, and the real operator process. See docs/harness.md.

    with Cluster(HarnessSettings(runtime_image_root=folder), workdir) as cluster:
        cluster.apply_file("examples/quickstart.yaml")
        cluster.wait_for_condition("quickstart", "Ready")
        address = cluster.service_address("quickstart")   # 127.X.Y.Z:8000

Teardown stops everything and fails if any process of the harness is left.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any

import yaml

from modeldeploy_runtime.triton_process import prepare_backends, triton_home

from ..apiserver import APPLY, RESOURCES, LiveApiServer
from ..operator_process import MD_PATH, OperatorProcess, wait_for
from .addresses import AddressBlock
from .api import Api, resource_of, resource_path
from .deployments import DeploymentController
from .garbage import GarbageCollector
from .gateway import Gateway
from .informer import ControllerLoop, Informer
from .kubelet import Kubelet, builtin_images
from .load import LoadClient
from .objects import condition
from .processes import kill_all, marked_processes
from .proxy import PortForwarder, ServiceProxy
from .scheduler import Scheduler
from .settings import HarnessSettings
from .views import PodView

WATCHED = [r for r, info in RESOURCES.items() if info["namespaced"] and r != "v1/events"]


class OrphanProcesses(AssertionError):
    pass


class Cluster:
    def __init__(self, settings: HarnessSettings = HarnessSettings(), workdir: Path | None = None):
        self.settings = settings
        self._own_dir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="modeldeploy-harness-"))
        self._stack: list[Any] = []  # what close() undoes, last first
        self.operator: OperatorProcess | None = None

    # -- life ------------------------------------------------------------------------------------------

    def __enter__(self) -> Cluster:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> None:
        s = self.settings
        self.addresses = AddressBlock()
        self._stack.append(self.addresses.close)
        self.marker = f"modeldeploy-harness-{self.addresses.octet}-{uuid.uuid4().hex[:8]}"
        self.api = LiveApiServer(service_ips=self.addresses.service, request_log_limit=2000)
        self.api.__enter__()
        self._stack.append(lambda: self.api.__exit__(None, None, None))
        reads = self._client("informers")
        self.informers = {r: Informer(reads, r) for r in WATCHED}
        self._stack.append(self._stop_informers)
        self.loop = asyncio.new_event_loop()
        network = threading.Thread(target=self.loop.run_forever, name="harness network", daemon=True)
        network.start()
        self._stack.append(lambda: self._stop_network(network))

        pods, services = self.informers["v1/pods"], self.informers["v1/services"]
        backends = prepare_backends(triton_home(), self.workdir)
        images = {**s.images, **builtin_images(s.runtime_image_root, backends)}
        self.kubelet = Kubelet(self._client("kubelet"), pods, node=s.node_name, root=self.workdir / "pods",
                               host_ip=f"127.{self.addresses.octet}.0.1", pod_ip=self.addresses.pod, images=images,
                               claims=dict(s.volumes), backoff=self._backoff, marker=self.marker)
        self._stack.append(self._check_no_orphans)
        self._stack.append(self.kubelet.shutdown)
        self.proxy = ServiceProxy(self.loop, services, pods, s.endpoint_delay_seconds)
        self._stack.append(lambda: asyncio.run_coroutine_threadsafe(self.proxy.close(), self.loop).result(10))
        self._route_ips: dict[tuple[str, str], str] = {}
        self.gateway = Gateway(self.loop, self.informers["gateway.networking.k8s.io/v1/httproutes"], services,
                               self._route_ip, s.gateway_port)
        self._stack.append(lambda: asyncio.run_coroutine_threadsafe(self.gateway.close(), self.loop).result(10))
        allocatable = {"nvidia.com/gpu": s.gpus, **s.extended_resources}
        controllers = [
            ControllerLoop("deployment", DeploymentController(
                self._client("kube-controller-manager"), self.informers["apps/v1/deployments"], pods).sync,
                [self.informers["apps/v1/deployments"], pods]),
            ControllerLoop("garbage-collector", GarbageCollector(
                self._client("garbage-collector"), self.informers).sync, self.informers.values(), period=5.0),
            ControllerLoop("scheduler", Scheduler(self._client("kube-scheduler"), pods, s.node_name, allocatable,
                                                  s.max_pods, s.node_labels).sync, [pods]),
            ControllerLoop("kubelet", self.kubelet.sync, [pods]),
            ControllerLoop("kube-proxy", self.proxy.sync, [services, pods]),
            ControllerLoop("gateway", self.gateway.sync, [self.informers["gateway.networking.k8s.io/v1/httproutes"]]),
        ]
        for informer in self.informers.values():
            informer.start()
        for informer in self.informers.values():
            informer.synced.wait(10)
        for controller in controllers:
            controller.start()
            self._stack.append(controller.stop)
        if s.operator:
            self.operator = OperatorProcess(self.api, resync_seconds=s.operator_resync_seconds, extra=s.operator_args)
            self._stack.append(self.operator.close)
            self.operator.start()

    def _client(self, component: str) -> Api:
        api = Api(self.api.url, component)
        self._stack.append(api.close)
        return api

    def _backoff(self, failures: int) -> float:
        """The kubelet's: the first restart at once, then base, doubling, capped."""
        if failures == 0:
            return 0.0
        return min(self.settings.backoff_seconds * 2 ** (failures - 1), self.settings.max_backoff_seconds)

    def _route_ip(self, key: tuple[str, str]) -> str:
        return self._route_ips.setdefault(key, self.addresses.route())

    def _stop_network(self, thread: threading.Thread) -> None:
        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        asyncio.run_coroutine_threadsafe(cancel_all(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        thread.join(5)
        self.loop.close()

    def _stop_informers(self) -> None:
        for informer in self.informers.values():
            informer.stop()

    def _check_no_orphans(self) -> None:
        left = marked_processes(self.marker)
        if left:
            described = [f"{p.pid} {' '.join(p.cmdline())[:120]}" for p in left]
            kill_all(left)
            raise OrphanProcesses(f"processes outlived the harness: {described}")

    def close(self) -> None:
        failure: BaseException | None = None
        while self._stack:
            undo = self._stack.pop()
            try:
                undo()
            except BaseException as err:  # noqa: BLE001 - undo everything, then report the first failure
                failure = failure or err
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        if failure is not None:
            raise failure

    # -- what a user does, as kubectl would ------------------------------------------------------------

    def apply(self, obj: dict, namespace: str = "default") -> dict:
        """`kubectl apply --server-side` of one object."""
        obj = {**obj, "metadata": {**obj["metadata"], "namespace": obj["metadata"].get("namespace") or namespace}}
        resource = resource_of(obj["apiVersion"], obj["kind"])
        if resource is None:
            raise ValueError(f"the emulated API serves no {obj['apiVersion']} {obj['kind']}")
        path = resource_path(resource, obj["metadata"]["namespace"], obj["metadata"]["name"])
        status, body = self.api.request("PATCH", f"{path}?fieldManager=kubectl&force=true", obj, APPLY)
        assert status in (200, 201), body
        return body

    def apply_file(self, path: str | Path, namespace: str | None = None) -> list[dict]:
        docs = [d for d in yaml.safe_load_all(Path(path).read_text()) if d]
        return [self.apply(d, namespace or d["metadata"].get("namespace") or "default") for d in docs]

    def scale(self, name: str, replicas: int, namespace: str = "default") -> dict:
        """`kubectl scale modeldeployment NAME --replicas=N`: a merge patch of the scale subresource."""
        status, body = self.api.request("PATCH", f"{MD_PATH.format(ns=namespace)}/{name}/scale",
                                        {"spec": {"replicas": replicas}}, "application/merge-patch+json")
        assert status == 200, body
        return body

    def delete(self, resource: str, name: str, namespace: str = "default") -> None:
        status, body = self.api.request("DELETE", resource_path(resource, namespace, name))
        assert status in (200, 202), body

    def md(self, name: str, namespace: str = "default") -> dict | None:
        return self.api.get(f"{MD_PATH.format(ns=namespace)}/{name}")

    def wait_for_condition(self, name: str, type_: str = "Ready", status: str = "True", reason: str | None = None,
                           namespace: str = "default", timeout: float = 60.0) -> dict:
        """The ModelDeployment once its condition has this status (and reason), for its current generation."""
        def check() -> dict | None:
            md = self.md(name, namespace)
            found = condition(md, type_) if md else None
            current = md and (md.get("status") or {}).get("observedGeneration") == md["metadata"]["generation"]
            ok = found and current and found["status"] == status and (reason is None or found.get("reason") == reason)
            return md if ok else None
        try:
            return wait_for(check, timeout=timeout, interval=0.1, what=f"{name} {type_}={status} {reason or ''}")
        except AssertionError as err:
            raise AssertionError(f"{err}\n{self.describe(namespace)}") from None

    def service_address(self, name: str, port: str | int = "http", namespace: str = "default") -> str:
        service = self.api.get(resource_path("v1/services", namespace, name))
        assert service, f"no Service {namespace}/{name}"
        for declared in service["spec"]["ports"]:
            if port in (declared.get("name"), declared["port"]):
                return f"{service['spec']['clusterIP']}:{declared['port']}"
        raise AssertionError(f"Service {name} has no port {port!r}")

    def forwarder(self, name: str, port: str | int = "http", namespace: str = "default") -> PortForwarder:
        """kube-proxy's view of one Service port: its endpoints and the connections each was given."""
        ip, number = self.service_address(name, port, namespace).split(":")
        return self.proxy.forwarders[(ip, int(number))]

    def route_address(self, name: str, namespace: str = "default") -> str:
        wait_for(lambda: (namespace, name) in self.gateway.serving(), timeout=10, what=f"HTTPRoute {name} served")
        return f"{self._route_ip((namespace, name))}:{self.settings.gateway_port}"

    def pods(self, namespace: str = "default", labels: dict[str, str] | None = None) -> list[PodView]:
        found = self.api.items(resource_path("v1/pods", namespace))
        return sorted((PodView.of(p) for p in found
                       if all((p["metadata"].get("labels") or {}).get(k) == v for k, v in (labels or {}).items())),
                      key=lambda p: p.name)

    def logs(self, pod: str, container: str, namespace: str = "default") -> str:
        worker = self.kubelet.worker(namespace, pod)
        if worker is None:
            return ""
        folder = worker.sandbox.root / "logs" / container
        runs = sorted(folder.glob("*.log"), key=lambda p: int(p.stem)) if folder.exists() else []
        return runs[-1].read_text(errors="replace") if runs else ""

    def describe(self, namespace: str = "default") -> str:
        """What a failing test prints: pods as kubectl shows them, and the operator's last log lines."""
        lines = [f"{p.name:48} {p.status:24} ready={p.ready} ip={p.ip} restarts={p.restarts}"
                 for p in self.pods(namespace)]
        if self.operator:
            lines += ["operator log:", *self.operator.logs().splitlines()[-15:]]
        return "\n".join(lines)

    def load(self, address: str, model: str, inputs: dict, outputs: list[str], **kwargs: Any) -> LoadClient:
        return LoadClient(address, model, inputs, outputs, **kwargs)

    def wait(self, check, timeout: float = 60.0, what: str = "", namespace: str = "default") -> Any:
        try:
            return wait_for(check, timeout=timeout, interval=0.1, what=what)
        except AssertionError as err:
            raise AssertionError(f"{err}\n{self.describe(namespace)}") from None
