"""A queueing model of Triton pods behind a Service, and the three autoscaling policies that drive it.

Pods: a dynamic-batching server whose batch of b requests takes a + c·b
seconds (fitted to docs/performance.md's measurement, see SERVICE), fed in
equal shares by the Service (kube-proxy spreads connections, it does not
balance queues), FIFO. The queue is a fluid: its length follows the load in
steps of DT, and the wait of every request comes from the cumulative
arrival curve, so queue times are recorded when a request leaves the queue,
as Triton records them. Each pod keeps Triton's own counters
(TritonMetrics), which is all any policy sees.

Policies:
- builtin: the operator's decide(), every tick, on the pods' counters.
- hpa: Kubernetes' HPA as it ships (15 s sync, tolerance 0.1, default
  behavior) on a Pods metric from prometheus-adapter: rate(queue_us[30s]) /
  rate(success[30s]) per pod, from Prometheus scraping every 15 s.
- keda: a KEDA ScaledObject (metricType Value) whose metric is refreshed every
  30 s, on top of the same HPA.
- floor: no autoscaler, the best any can do that learns of the load when it
  arrives: maxReplicas the instant the load exceeds what is serving, no metric
  lag, never a scale-down. Its SLO-violation seconds are a floor for every
  policy above.
"""

from __future__ import annotations

import bisect
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "operator"))

from modeldeploy.autoscale import Pod, PodSample, Samples, Settings, State, decide  # noqa: E402
from modeldeploy.clients.triton_metrics import TritonMetrics  # noqa: E402

DT = 0.1


@dataclass(frozen=True)
class Service:
    """Batch time a + c·b seconds for b requests, up to max_batch.

    Fitted to the quickstart-class MLP of docs/performance.md (Triton, dynamic
    batching, queue delay 0): 804 req/s at concurrency 1 (batch 1 in 1.24 ms)
    and 3,327 req/s at concurrency 32 (batch 32 in 9.6 ms) give a = 0.97 ms,
    c = 0.27 ms; the same line predicts 2,560 req/s at concurrency 8
    (measured: 2,635).
    """

    a: float = 0.00097
    c: float = 0.00027
    max_batch: int = 64

    @property
    def capacity(self) -> float:
        return self.max_batch / (self.a + self.c * self.max_batch)

    def equilibrium_queue(self, rate: float) -> float:
        """Requests waiting on average at a steady arrival rate below capacity: n = λ·(a + c·n)."""
        if rate <= 0:
            return 0.0
        return min(self.max_batch, rate * self.a / max(1e-9, 1 - rate * self.c))


@dataclass
class SimPod:
    name: str
    created: float
    ready_at: float
    waiting: float = 0.0
    removed: bool = False  # out of the Service: drains its queue, takes nothing new
    counters: dict = field(default_factory=lambda: dict(success=0.0, queue_us=0.0, request_us=0.0,
                                                         compute_us=0.0, executions=0.0))
    times: list = field(default_factory=list)
    cum_arrivals: list = field(default_factory=list)
    arrived: float = 0.0

    def ready(self, now: float) -> bool:
        return now >= self.ready_at and not self.removed

    def metrics(self) -> TritonMetrics:
        c = self.counters
        return TritonMetrics(success=c["success"], inferences=c["success"], executions=c["executions"],
                             request_us=c["request_us"], queue_us=c["queue_us"], compute_infer_us=c["compute_us"],
                             pending=self.waiting)

    def step(self, now: float, rate: float, svc: Service) -> tuple[float, float]:
        """Advance DT with `rate` arriving; returns (completed, summed queue seconds of those completed)."""
        arrivals = rate * DT
        if not self.times:
            self.times.append(now)
            self.cum_arrivals.append(0.0)
        self.arrived += arrivals
        self.times.append(now + DT)
        self.cum_arrivals.append(self.arrived)
        if rate < svc.capacity:
            floor = svc.equilibrium_queue(rate)
            drained = max(floor, self.waiting + arrivals - svc.capacity * DT) if self.waiting > floor else floor
            left = drained
        else:
            left = self.waiting + arrivals - svc.capacity * DT
        served = max(0.0, self.waiting + arrivals - left)
        self.waiting = left
        if served <= 0:
            return 0.0, 0.0
        # FIFO: the request leaving now is the one that arrived when the cumulative arrivals equalled
        # the cumulative departures.
        wait = max(0.0, now + DT - self._arrival_time(self.arrived - self.waiting))
        # At a throughput r the batches hold b requests with r = b / (a + c·b): the same relation as the queue.
        batch_size = min(svc.max_batch, max(1.0, svc.equilibrium_queue(served / DT)))
        batch = svc.a + svc.c * batch_size
        c = self.counters
        c["success"] += served
        c["queue_us"] += served * wait * 1e6
        c["compute_us"] += served * batch * 1e6
        c["request_us"] += served * (wait + batch) * 1e6
        c["executions"] += served / batch_size
        return served, served * wait

    def _arrival_time(self, count: float) -> float:
        i = bisect.bisect_left(self.cum_arrivals, count)
        if i == 0:
            return self.created
        if i >= len(self.cum_arrivals):
            return self.times[-1]
        c0, c1 = self.cum_arrivals[i - 1], self.cum_arrivals[i]
        t0, t1 = self.times[i - 1], self.times[i]
        return t1 if c1 == c0 else t0 + (count - c0) / (c1 - c0) * (t1 - t0)


class Cluster:
    """Pods of one ModelDeployment: created on scale-up, ready after the start delay, removed newest first."""

    def __init__(self, replicas: int, start_delay: float, svc: Service):
        self.svc = svc
        self.start_delay = start_delay
        self.pods: list[SimPod] = []
        self.replicas = 0
        self.serial = 0
        self.scale_writes = 0
        self.set_replicas(replicas, now=-start_delay)
        self.scale_writes = 0

    def set_replicas(self, replicas: int, now: float) -> None:
        if replicas != self.replicas:
            self.scale_writes += 1
        self.replicas = replicas
        live = [p for p in self.pods if not p.removed]
        while len(live) < replicas:
            self.serial += 1
            pod = SimPod(f"pod-{self.serial}", created=now, ready_at=now + self.start_delay)
            self.pods.append(pod)
            live.append(pod)
        # The ReplicaSet removes pods that are not ready first, then the newest.
        for pod in sorted(live, key=lambda p: (p.ready(now), p.created), reverse=False)[: len(live) - replicas]:
            pod.removed = True

    def step(self, now: float, load: float) -> tuple[float, float, int]:
        """One DT at `load` req/s; returns (completed, queue seconds of the completed, pods that cost a GPU)."""
        # A removed pod that never served goes at once; one that served drains its queue first (preStop).
        self.pods = [p for p in self.pods if not p.removed or (p.ready_at <= now and p.waiting > 1e-6)]
        serving = [p for p in self.pods if p.ready(now)]
        share = load / len(serving) if serving else 0.0
        done = queued = 0.0
        for pod in self.pods:
            if pod.ready_at > now:
                continue
            d, q = pod.step(now, share if not pod.removed else 0.0, self.svc)
            done += d
            queued += q
        return done, queued, len(self.pods)

    def samples(self, now: float) -> Samples:
        live = [p for p in self.pods if not p.removed]
        return Samples(asked=self.replicas, pods=tuple(
            PodSample(Pod(p.name, ready=p.ready(now), startup_seconds=p.ready_at - p.created, created_at=p.created),
                      p.metrics() if p.ready(now) else None) for p in live))


# -- policies --------------------------------------------------------------------------------------------


class Builtin:
    name = "builtin"

    def __init__(self, settings: Settings):
        self.settings = settings
        self.state = State()
        self.next_tick = 0.0

    def act(self, cluster: Cluster, now: float) -> None:
        if now + 1e-9 < self.next_tick:
            return
        self.next_tick = now + self.settings.tick
        decision = decide(cluster.samples(now), self.state, now, self.settings)
        self.state = decision.state
        if decision.scale:
            cluster.set_replicas(decision.desired, now)


class ReactiveBound:
    """maxReplicas at the first instant the arrivals exceed the serving pods' capacity; never fewer after.

    More ready pods at every instant can only shorten every pod's queue (new pods start empty and the
    Service spreads arrivals evenly), and before that instant the serving pods keep up, so no policy
    that sees the load no earlier than it arrives misses the SLO for fewer seconds.
    """

    name = "floor"

    def __init__(self, load, max_replicas: int):
        self.load = load
        self.max = max_replicas

    def act(self, cluster: Cluster, now: float) -> None:
        serving = sum(1 for p in cluster.pods if p.ready(now))
        if cluster.replicas < self.max and self.load(now) > serving * cluster.svc.capacity:
            cluster.set_replicas(self.max, now)


class Prometheus:
    """Scrapes every pod's counters every `interval` seconds; rate() over a window of those scrapes."""

    def __init__(self, interval: float = 15.0):
        self.interval = interval
        self.next_scrape = 0.0
        self.series: dict[str, list[tuple[float, TritonMetrics]]] = {}

    def scrape(self, cluster: Cluster, now: float) -> None:
        if now + 1e-9 < self.next_scrape:
            return
        self.next_scrape = now + self.interval
        for pod in cluster.pods:
            # Triton's metrics port answers once the server runs, before the model is ready; a pod still
            # pulling its image or loading has no series yet.
            if pod.ready(now):
                self.series.setdefault(pod.name, []).append((now, pod.metrics()))

    def queue_ms(self, pods: list[str], now: float, window: float) -> dict[str, float]:
        """prometheus-adapter's rule: rate(queue_us[w]) / rate(success[w]) per pod, in ms."""
        out = {}
        for name in pods:
            inside = [(t, m) for t, m in self.series.get(name, []) if t > now - window - 1e-9]
            if len(inside) < 2:
                continue
            (_, a), (_, b) = inside[0], inside[-1]
            done = b.success - a.success
            out[name] = 0.0 if done <= 0 else (b.queue_us - a.queue_us) / done / 1000.0
        return out


@dataclass
class HpaBehavior:
    """Kubernetes' defaults (autoscaling/v2)."""

    up_window: float = 0.0
    down_window: float = 300.0
    up_policies: tuple = (("Pods", 4, 15.0), ("Percent", 100, 15.0))
    down_policies: tuple = (("Percent", 100, 15.0),)


class Hpa:
    """The HPA controller's arithmetic (replica_calculator.go, horizontal.go) on a per-pod queue-time metric."""

    name = "hpa"
    tolerance = 0.1

    def __init__(self, target_ms: float, min_replicas: int, max_replicas: int, prometheus: Prometheus,
                 sync: float = 15.0, rate_window: float = 30.0):
        self.target = target_ms
        self.min, self.max = min_replicas, max_replicas
        self.prom = prometheus
        self.sync = sync
        self.rate_window = rate_window
        self.behavior = HpaBehavior()
        self.next_sync = 0.0
        self.recommendations: list[tuple[float, int]] = []
        self.events: list[tuple[float, int]] = []  # (time, replicas change) for the rate policies

    def metric(self, cluster: Cluster, now: float) -> tuple[str, dict[str, float]]:
        return "pods", self.prom.queue_ms([p.name for p in cluster.pods if not p.removed], now, self.rate_window)

    def act(self, cluster: Cluster, now: float) -> None:
        self.prom.scrape(cluster, now)
        if now + 1e-9 < self.next_sync:
            return
        self.next_sync = now + self.sync
        current = cluster.replicas
        proposal = self.replicas_for(cluster, now, current)
        if proposal is None:
            return
        desired = self.stabilize(proposal, current, now)
        desired = self.limit(desired, current, now)
        if desired != current:
            self.events.append((now, desired - current))
            cluster.set_replicas(desired, now)

    def replicas_for(self, cluster: Cluster, now: float, current: int) -> int | None:
        kind, metrics = self.metric(cluster, now)
        live = [p for p in cluster.pods if not p.removed]
        if kind == "value":  # an External metric of type Value: ratio × ready pods
            if metrics.get("value") is None:
                return None
            ratio = metrics["value"] / self.target
            if abs(1 - ratio) <= self.tolerance:
                return current
            return math.ceil(ratio * sum(1 for p in live if p.ready(now)))
        ignored = [p.name for p in live if not p.ready(now)]  # Pending pods (image pull, model load)
        missing = [p.name for p in live if p.ready(now) and p.name not in metrics]
        values = {k: v for k, v in metrics.items() if k not in ignored}
        if not values:
            return None
        ratio = sum(values.values()) / len(values) / self.target
        if not ignored and not missing:
            return current if abs(1 - ratio) <= self.tolerance else math.ceil(ratio * len(values))
        if missing:
            fill = self.target if ratio < 1 else 0.0
            values.update({name: fill for name in missing})
        if ignored and ratio > 1:
            values.update({name: 0.0 for name in ignored})
        new_ratio = sum(values.values()) / len(values) / self.target
        if abs(1 - new_ratio) <= self.tolerance or (ratio < 1 < new_ratio) or (ratio > 1 > new_ratio):
            return current
        proposal = math.ceil(new_ratio * len(values))
        if (new_ratio < 1 and proposal > current) or (new_ratio > 1 and proposal < current):
            return current
        return proposal

    def stabilize(self, proposal: int, current: int, now: float) -> int:
        self.recommendations.append((now, proposal))
        keep = max(self.behavior.up_window, self.behavior.down_window)
        self.recommendations = [(t, r) for t, r in self.recommendations if t > now - keep - 1e-9]
        up = min(r for t, r in self.recommendations if t > now - self.behavior.up_window - 1e-9) \
            if self.behavior.up_window else proposal
        down = max(r for t, r in self.recommendations if t > now - self.behavior.down_window - 1e-9)
        return min(max(current, up), down)

    def limit(self, desired: int, current: int, now: float) -> int:
        if desired > current:
            limit = max(self._proposed(current, now, policy, up=True) for policy in self.behavior.up_policies)
            desired = min(desired, max(limit, current))
        elif desired < current:
            limit = min(self._proposed(current, now, policy, up=False) for policy in self.behavior.down_policies)
            desired = max(desired, min(limit, current))
        return min(max(desired, self.min), self.max)

    def _proposed(self, current: int, now: float, policy: tuple, up: bool) -> int:
        kind, value, period = policy
        changed = sum(d for t, d in self.events if t > now - period - 1e-9 and (d > 0) == up)
        start = current - changed
        if kind == "Pods":
            return start + value if up else start - value
        return math.ceil(start * (1 + value / 100)) if up else math.floor(start * (1 - value / 100))


class Keda(Hpa):
    """KEDA's Prometheus trigger (metricType Value) feeds the same HPA; its metric is refreshed every polling interval."""

    name = "keda"

    def __init__(self, *args, polling: float = 30.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.polling = polling
        self.next_poll = 0.0
        self.value: float | None = None

    def metric(self, cluster: Cluster, now: float) -> tuple[str, dict[str, float]]:
        if now + 1e-9 >= self.next_poll:
            self.next_poll = now + self.polling
            names = [p.name for p in cluster.pods if not p.removed]
            # sum(rate(queue_us[30s])) / sum(rate(success[30s])) over the deployment's pods
            done = queued = 0.0
            for name in names:
                inside = [(t, m) for t, m in self.prom.series.get(name, []) if t > now - self.rate_window - 1e-9]
                if len(inside) >= 2:
                    done += inside[-1][1].success - inside[0][1].success
                    queued += inside[-1][1].queue_us - inside[0][1].queue_us
            self.value = None if done <= 0 else queued / done / 1000.0
        return "value", {"value": self.value}
