"""`modeldeploy tune`: find the model config that serves most within a latency budget.

What Triton's Model Analyzer does, for a ModelDeployment: serve the model on
this machine through the real Triton once per candidate (instance count ×
dynamic batching's max queue delay × preferred batch size), load each with
perf_analyzer at one concurrency, and keep the highest throughput whose p99
fits the budget. The answer is a YAML snippet for spec.model.config.

The figures are this machine's: a config tuned on a laptop's CPU is a starting
point for a GPU node, not its answer (docs/performance.md).
"""

from __future__ import annotations

import argparse
import itertools
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TextIO

import yaml

from modeldeploy.api import ModelDeployment, parse_model_deployment

from .arg_types import positive_int
from .errors import ExitCode, RuntimeFailure
from .measured_run import split_cores
from .perf_analyzer import LoadResult, find_perf_analyzer, run_perf_analyzer

_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(us|µs|ms|s)?\s*$")
_TO_MS = {"us": 1e-3, "µs": 1e-3, "ms": 1.0, "s": 1000.0, None: 1.0}


@dataclass(frozen=True)
class Candidate:
    instances: int
    max_queue_delay_us: int | None  # None: no dynamic batching (maxBatchSize 0)
    preferred_batch: int | None

    def describe(self) -> str:
        if self.max_queue_delay_us is None:
            return f"{self.instances} instance(s), no batching"
        preferred = f", preferred {self.preferred_batch}" if self.preferred_batch else ""
        return f"{self.instances} instance(s), delay {self.max_queue_delay_us} µs{preferred}"


@dataclass(frozen=True)
class Trial:
    candidate: Candidate
    result: LoadResult


def parse_latency_ms(text: str) -> float:
    """'10ms', '500us', '0.01s' or a bare number of milliseconds."""
    match = _DURATION.match(text)
    if not match or float(match[1]) <= 0:
        raise RuntimeFailure(ExitCode.USAGE, f"--p99 {text!r}: write a positive duration such as 10ms, 500us or 0.5s")
    return float(match[1]) * _TO_MS[match[2]]


def candidates(md: ModelDeployment, instances: list[int], delays_us: list[int],
               preferred: list[int | None]) -> list[Candidate]:
    """The sweep's grid. With no added delay a preferred size changes nothing, so it is tried once."""
    config = md.spec.model.config
    if config is None or config.max_batch_size == 0:
        return [Candidate(n, None, None) for n in instances]
    sizes = [p for p in preferred if p is None or p <= config.max_batch_size]
    grid = []
    for n, delay, size in itertools.product(instances, delays_us, sizes):
        if delay == 0 and size is not None:
            continue
        grid.append(Candidate(n, delay, size))
    return grid


def tuned_config(md: ModelDeployment, candidate: Candidate) -> dict:
    """The spec.model.config fields a candidate sets (camelCase, as written in YAML)."""
    config = md.spec.model.config
    groups = config.instance_groups if config else []
    kind = groups[0].kind if groups else "AUTO"
    out: dict = {}
    if candidate.max_queue_delay_us is not None:
        batching: dict = {"maxQueueDelayMicroseconds": candidate.max_queue_delay_us}
        if candidate.preferred_batch:
            batching["preferredBatchSizes"] = [candidate.preferred_batch]
        out["dynamicBatching"] = batching
    out["instanceGroups"] = [{"kind": kind, "count": candidate.instances}]
    return out


def with_candidate(md: ModelDeployment, candidate: Candidate) -> ModelDeployment:
    wire = md.to_wire()
    config = wire["spec"]["model"].setdefault("config", {})
    config.pop("dynamicBatching", None)
    config.update(tuned_config(md, candidate))
    return parse_model_deployment(wire)


def best(trials: list[Trial], p99_budget_ms: float) -> Trial | None:
    """Highest throughput within the budget; ties go to the lower p99."""
    fitting = [t for t in trials if t.result.p99_ms <= p99_budget_ms]
    return max(fitting, key=lambda t: (t.result.throughput, -t.result.p99_ms), default=None)


def snippet(md: ModelDeployment, trial: Trial, p99_budget_ms: float, protocol: str) -> str:
    r = trial.result
    head = (f"# modeldeploy tune: best within p99 <= {p99_budget_ms:g} ms at concurrency {r.concurrency} "
            f"over {protocol}: {r.throughput:,.0f} infer/s, p50 {r.p50_ms:.2f} ms, p99 {r.p99_ms:.2f} ms\n")
    body = {"spec": {"model": {"config": tuned_config(md, trial.candidate)}}}
    return head + yaml.safe_dump(body, default_flow_style=None, sort_keys=False)


def sweep(md: ModelDeployment, base_dir: Path, grid: list[Candidate], *, concurrency: int, protocol: str,
          window_ms: int, workdir: Path, pin: bool = True, log: TextIO = sys.stderr) -> list[Trial]:
    from .serve import ServeOptions, serving  # noqa: PLC0415 - Triton's client libraries load only when tuning

    binary = find_perf_analyzer()
    client_cpus, server_cpus = split_cores(pin)
    where = f"perf_analyzer on core(s) {sorted(client_cpus)}, Triton on {sorted(server_cpus)}" if client_cpus \
        else "perf_analyzer and Triton share the cores"
    print(f"tuning {md.name}: {len(grid)} configs, concurrency {concurrency}, {protocol}; {where}", file=log)
    trials = []
    for i, candidate in enumerate(grid, 1):
        variant = with_candidate(md, candidate)
        with serving(variant, base_dir, ServeOptions(workdir=workdir, cpus=server_cpus, exit_timeout_seconds=1)) \
                as server:
            url = server.grpc_url if protocol == "grpc" else server.http_url
            result = run_perf_analyzer(variant, url, concurrency, protocol=protocol, window_ms=window_ms,
                                       cpus=client_cpus, binary=binary)
        trials.append(Trial(candidate, result))
        print(f"[{i}/{len(grid)}] {candidate.describe():42} {result.throughput:9,.0f} infer/s  "
              f"p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:6.2f} ms", file=log, flush=True)
    return trials


def _int_list(low: int) -> Callable[[str], list[int]]:
    """Comma-separated integers, each at least low (a count of instances of 0 would serve nothing)."""
    def parse(text: str) -> list[int]:
        try:
            values = [int(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: write comma-separated integers, e.g. 0,500,2000") from None
        if not values or min(values) < low:
            raise argparse.ArgumentTypeError(f"{text!r}: write comma-separated integers >= {low}")
        return values
    return parse


def _preferred_list(text: str) -> list[int | None]:
    return [None if v.strip() == "none" else _int_list(1)(v)[0] for v in text.split(",")]


def _check_preferred(md: ModelDeployment, preferred: list[int | None] | None) -> None:
    """A preferred batch size over maxBatchSize can never form; the sweep would silently try none of them."""
    config = md.spec.model.config
    limit = config.max_batch_size if config else 0
    over = [p for p in preferred or [] if p is not None and p > limit]
    if over and limit > 0:
        raise RuntimeFailure(ExitCode.USAGE, f"--preferred {over[0]}: over spec.model.config.maxBatchSize "
                                             f"({limit}); give sizes up to {limit}, or 'none'")


def add_tune_command(sub: Any, pick: Callable[[argparse.Namespace], ModelDeployment],
                     guard: Callable[[Callable[[argparse.Namespace], int]], Callable[[argparse.Namespace], int]]) -> None:
    tune = sub.add_parser("tune", help="sweep instance count and dynamic batching against local Triton; print the "
                                       "best spec.model.config for a p99 budget")
    tune.add_argument("-f", "--filename", required=True,
                      help="YAML file with the ModelDeployment (choose with --name when it holds several)")
    tune.add_argument("--name", help="which ModelDeployment, when the file holds several")
    tune.add_argument("--p99", default="10ms", help="latency budget for p99 (default 10ms)")
    tune.add_argument("--concurrency", type=positive_int, default=32, help="requests in flight (default 32)")
    tune.add_argument("--instances", type=_int_list(1), default=[1, 2], help="instance counts to try (default 1,2)")
    tune.add_argument("--delays", type=_int_list(0), default=[0, 500, 2000],
                      help="maxQueueDelayMicroseconds values to try (default 0,500,2000)")
    tune.add_argument("--preferred", type=_preferred_list, default=None,
                      help="preferred batch sizes to try, 'none' for none (default: none and the concurrency)")
    tune.add_argument("--protocol", choices=["http", "grpc"], default="http",
                      help="perf_analyzer's protocol, binary tensors (default http)")
    tune.add_argument("--window-ms", type=positive_int, default=1000, help="perf_analyzer's measurement window; three per "
                                                                   "config (default 1000)")
    tune.add_argument("--no-pin", action="store_true", help="let perf_analyzer and Triton share every core")
    tune.add_argument("--workdir", type=Path, help="where the fetched model and repository go")
    tune.set_defaults(func=guard(lambda args: _tune(args, pick(args))))


def _tune(args: argparse.Namespace, md: ModelDeployment) -> int:
    from .serve import default_workdir  # noqa: PLC0415

    budget = parse_latency_ms(args.p99)
    _check_preferred(md, args.preferred)
    preferred = args.preferred if args.preferred is not None else [None, args.concurrency]
    grid = candidates(md, args.instances, args.delays, preferred)
    base_dir = Path(args.filename).resolve().parent
    trials = sweep(md, base_dir, grid, concurrency=args.concurrency,
                   protocol=args.protocol, window_ms=args.window_ms,
                   workdir=args.workdir or default_workdir(md, base_dir, "tune"),
                   pin=not args.no_pin)
    protocol = "gRPC" if args.protocol == "grpc" else "HTTP (binary tensors)"
    chosen = best(trials, budget)
    if chosen is None:
        fastest = min(trials, key=lambda t: t.result.p99_ms)
        print(f"no config kept p99 within {budget:g} ms at concurrency {args.concurrency}; the lowest p99 was "
              f"{fastest.result.p99_ms:.2f} ms ({fastest.candidate.describe()}). Lower --concurrency or raise "
              f"--p99.", file=sys.stderr)
        return 1
    print(snippet(md, chosen, budget, protocol), end="")
    return 0
