"""Autoscaling benchmark: the builtin autoscaler's real decide() against HPA and KEDA, on a simulated clock.

    python benchmarks/autoscaling.py [--quick] [--start-delay 60] [--plot docs/autoscaling-benchmark.png]

Every policy drives the same queueing model of Triton pods (autoscaling_sim.py)
through the same load traces; each sees only the pods' Triton counters, the
way it would in a cluster. Reported per trace and policy: SLO-violation
seconds (seconds whose completed requests waited in Triton's queue longer than
the target on average) and replica-seconds (pods that hold a GPU, starting
ones included). Exit status 1 when the builtin does not show >= 30% fewer
SLO-violation seconds at no more replica-seconds than the HPA on step and spike;
each verdict also names the floor no autoscaler can beat there (policy
"floor": every replica the instant the load exceeds what serves), so a target
out of reach of any policy at this start delay says so.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from autoscaling_sim import DT, Builtin, Cluster, Hpa, Keda, Prometheus, ReactiveBound, Service  # noqa: E402

from figures import Figure, add_arguments, finish  # noqa: E402
from modeldeploy.autoscale import Settings  # noqa: E402

TARGET_MS = 50.0
MIN_REPLICAS, MAX_REPLICAS = 1, 16


def step_trace(base: float, duration: float):
    return lambda t: base if t < 120 else 4 * base


def spike_trace(base: float, duration: float):
    return lambda t: 10 * base if 120 <= t < 150 else base


def diurnal_trace(base: float, duration: float):
    # A day compressed into the run: from the night's base to 4× at midday and back.
    return lambda t: base * (1 + 1.5 * (1 - math.cos(2 * math.pi * t / duration)))


def bursty_trace(base: float, duration: float):
    """Synthetic, documented stand-in for a public trace (none ships in a registry package): a seeded
    Markov-modulated rate that switches every 20-120 s among 1×, 2× and 3.5× the base, with ±15% noise
    per second, the shape production inference traces show (bursts of minutes over a floor)."""
    rng = random.Random(12)
    levels, t, plan = (1.0, 2.0, 3.5), 0.0, []
    while t < duration:
        hold = rng.uniform(20, 120)
        plan.append((t, rng.choice(levels)))
        t += hold
    noise = [1 + rng.uniform(-0.15, 0.15) for _ in range(int(duration) + 2)]

    def rate(t: float) -> float:
        level = next(level for start, level in reversed(plan) if start <= t)
        return base * level * noise[int(t)]
    return rate


TRACES = {"step ×4": (step_trace, 900), "spike ×10 (30 s)": (spike_trace, 600),
          "diurnal": (diurnal_trace, 1800), "bursty (synthetic)": (bursty_trace, 1800)}


@dataclass
class Result:
    trace: str
    policy: str
    slo_seconds: float
    replica_seconds: float
    peak: int
    scale_writes: int
    series: dict = field(default_factory=dict)


def run(trace: str, policy_name: str, start_delay: float, svc: Service) -> Result:
    make, duration = TRACES[trace]
    base = 0.5 * svc.capacity  # one replica at half its capacity: minReplicas 1 is right at the start
    load = make(base, duration)
    cluster = Cluster(MIN_REPLICAS, start_delay, svc)
    if policy_name == "builtin":
        policy = Builtin(Settings(metric="queueTime", target=TARGET_MS, min_replicas=MIN_REPLICAS,
                                  max_replicas=MAX_REPLICAS))
    elif policy_name == "floor":
        policy = ReactiveBound(load, MAX_REPLICAS)
    elif policy_name == "hpa":
        policy = Hpa(TARGET_MS, MIN_REPLICAS, MAX_REPLICAS, Prometheus())
    else:
        policy = Keda(TARGET_MS, MIN_REPLICAS, MAX_REPLICAS, Prometheus())
    slo = replica_seconds = 0.0
    second_done = second_queued = 0.0
    series = {"t": [], "load": [], "replicas": [], "queue_ms": []}
    steps = int(round(duration / DT))
    for i in range(steps):
        now = i * DT
        policy.act(cluster, now)
        done, queued, pods = cluster.step(now, load(now))
        replica_seconds += pods * DT
        second_done += done
        second_queued += queued
        if (i + 1) % int(round(1 / DT)) == 0:
            queue_ms = 0.0 if second_done == 0 else second_queued / second_done * 1000
            if queue_ms > TARGET_MS:
                slo += 1
            series["t"].append(now + DT)
            series["load"].append(load(now))
            series["replicas"].append(cluster.replicas)
            series["queue_ms"].append(queue_ms)
            second_done = second_queued = 0.0
    return Result(trace, policy_name, slo, replica_seconds, max(series["replicas"]), cluster.scale_writes, series)


def seconds(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds ≥ 0, not {text}")
    return value


def fewer_than(policy: Result, hpa: Result) -> float:
    return 1 - policy.slo_seconds / hpa.slo_seconds if hpa.slo_seconds else 0.0


def plot(results: list[Result], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    traces = list(dict.fromkeys(r.trace for r in results))
    fig, axes = plt.subplots(len(traces), 2, figsize=(13, 3.2 * len(traces)), squeeze=False)
    colors = {"builtin": "tab:green", "hpa": "tab:blue", "keda": "tab:orange"}
    for row, trace in zip(axes, traces):
        rows = [r for r in results if r.trace == trace and r.policy in colors]
        left, right = row
        left.plot(rows[0].series["t"], rows[0].series["load"], color="grey", lw=1, label="load (req/s)")
        left.set_ylabel("req/s")
        twin = left.twinx()
        for r in rows:
            twin.step(r.series["t"], r.series["replicas"], where="post", color=colors[r.policy], label=r.policy)
        twin.set_ylabel("replicas")
        left.set_title(f"{trace}: load and replicas")
        twin.legend(loc="upper right", fontsize=8)
        for r in rows:
            right.plot(r.series["t"], [max(q, 0.1) for q in r.series["queue_ms"]], color=colors[r.policy],
                       lw=1, label=f"{r.policy}: {r.slo_seconds:.0f} s over SLO")
        right.axhline(TARGET_MS, color="red", ls="--", lw=1, label=f"target {TARGET_MS:.0f} ms")
        right.set_yscale("log")
        right.set_ylabel("queue time (ms)")
        right.set_title(f"{trace}: queue time per request")
        right.legend(loc="upper right", fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("seconds")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="step and spike only (the traces the targets are on)")
    parser.add_argument("--start-delay", type=seconds, default=60.0,
                        help="seconds from pod creation to Ready (a GPU pod pulling a model); default 60")
    parser.add_argument("--plot", type=Path, help="write a PNG of load, replicas and queue time")
    add_arguments(parser)
    args = parser.parse_args(argv)
    if args.json == "-":  # standard output carries the JSON alone; the table goes to standard error
        out = sys.stdout
        with contextlib.redirect_stdout(sys.stderr):
            return report(args, out)
    return report(args, sys.stdout)


def report(args: argparse.Namespace, out) -> int:  # noqa: ANN001 - where the JSON goes for --json -
    svc = Service()
    traces = ["step ×4", "spike ×10 (30 s)"] if args.quick else list(TRACES)
    print(f"pod capacity {svc.capacity:.0f} req/s (batch ≤ {svc.max_batch}); base load {0.5 * svc.capacity:.0f} req/s; "
          f"start delay {args.start_delay:.0f} s; target queue time {TARGET_MS:.0f} ms", flush=True)
    results = []
    for trace in traces:
        for policy in ("builtin", "hpa", "keda", "floor"):
            started = time.perf_counter()
            result = run(trace, policy, args.start_delay, svc)
            results.append(result)
            print(f"  {trace:<20} {policy:<8} SLO-violation {result.slo_seconds:6.0f} s   replica-seconds "
                  f"{result.replica_seconds:7.0f}   peak {result.peak:2d}   scale writes {result.scale_writes:3d}"
                  f"   ({time.perf_counter() - started:.1f} s)", flush=True)
    print("\n| trace | policy | SLO-violation s | replica-seconds | peak replicas | /scale writes |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for r in results:
        print(f"| {r.trace} | {r.policy} | {r.slo_seconds:.0f} | {r.replica_seconds:.0f} | {r.peak} | {r.scale_writes} |")
    ok = True
    verdicts = []
    print()
    for trace in ("step ×4", "spike ×10 (30 s)"):
        b = next(r for r in results if r.trace == trace and r.policy == "builtin")
        h = next(r for r in results if r.trace == trace and r.policy == "hpa")
        floor = next(r for r in results if r.trace == trace and r.policy == "floor")
        met = fewer_than(b, h) >= 0.30 and b.replica_seconds <= h.replica_seconds
        ok &= met
        verdicts.append({"trace": trace, "fewer_slo_seconds_than_hpa": round(fewer_than(b, h), 3),
                         "replica_seconds_vs_hpa": round(b.replica_seconds / h.replica_seconds, 3), "met": met,
                         "floor_fewer_slo_seconds_than_hpa": round(fewer_than(floor, h), 3)})
        print(f"{trace}: builtin {fewer_than(b, h):.0%} fewer SLO-violation seconds than HPA, replica-seconds "
              f"{b.replica_seconds / h.replica_seconds:.2f}× HPA's: {'met' if met else 'NOT met'}; "
              f"the floor for any autoscaler that reacts to load: {floor.slo_seconds:.0f} s ({fewer_than(floor, h):.0%} fewer)"
              + ("" if met or fewer_than(floor, h) >= 0.30 else
                 f": out of reach with pods that take {args.start_delay:.0f} s to start"))
    if args.plot:
        plot(results, args.plot)
        print(f"plot: {args.plot}")
    result = {
        "settings": {"start_delay_seconds": args.start_delay, "target_queue_ms": TARGET_MS,
                     "min_replicas": MIN_REPLICAS, "max_replicas": MAX_REPLICAS,
                     "pod_capacity_per_second": round(svc.capacity, 1)},
        "results": [{k: v for k, v in r.__dict__.items() if k != "series"} for r in results],
        "verdicts": verdicts,
    }
    figures = {}
    for v in verdicts:
        name = v["trace"].split()[0]
        figures[f"{name}_builtin_fewer_slo_seconds_than_hpa"] = Figure(
            v["fewer_slo_seconds_than_hpa"], "higher", f"{v['trace']}: share of HPA's SLO-violation seconds avoided")
        figures[f"{name}_builtin_replica_seconds_over_hpa"] = Figure(
            v["replica_seconds_vs_hpa"], "lower", f"{v['trace']}: replica-seconds of the builtin over HPA's")
    status = finish(args, "autoscaling", figures, result, out)
    if status:
        return status
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
