"""Rollout benchmark on the loopback cluster: real Triton pods, the real operator, side by side.

    python benchmarks/rollouts.py [--quick] [--replicas 2] [--runs 3] [--json FILE]

For the same model and pods it measures, median of the runs:
- a ModelDeployment canary without steps (pod by pod, maxSurge 1: each new pod smoke-tested before it
  takes traffic), from the spec change to the last old pod gone;
- a plain Deployment rolling update of the same pod template (maxSurge 1, maxUnavailable 0), the
  Kubernetes default an incumbent without a rollout controller gets;
- a full-size second copy then a switch (BlueGreen with maxSurge = replicas): the doubling that
  KServe's default revision rollout and Argo Rollouts' blue-green spend;
- rollback latency: a new version failing every request (raising in the model), from the end of the
  analysis interval that condemns it to the last failed request a client sees.
GPU-pod-seconds integrate every pod that holds a GPU (pending, starting, serving or terminating) over the
rollout, sampled every 0.1 s; "extra" is what goes above the replicas the model needs.
"""

from __future__ import annotations

import argparse
import copy
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "tests"), str(REPO)]

import numpy as np  # noqa: E402
import yaml  # noqa: E402

from figures import Figure, add_arguments, finish  # noqa: E402
from support.cluster import Cluster, HarnessSettings  # noqa: E402
from support.cluster.polling import Poller  # noqa: E402
from support.quickstart import make_quickstart  # noqa: E402

QUICKSTART = yaml.safe_load((REPO / "examples" / "quickstart.yaml").read_text())
INPUTS = {"INPUT__0": np.ones((1, 16), dtype=np.float32)}
DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"
BROKEN = "class TritonPythonModel:\n    def execute(self, requests):\n        raise RuntimeError('broken')\n"


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class PodSeconds(Poller):
    """Integrates the pods that hold a GPU, and the most at once, while it runs."""

    def __init__(self, cluster: Cluster):
        super().__init__(every=0.1)
        self.cluster, self.total, self.peak, self._last = cluster, 0.0, 0, time.monotonic()

    def poll(self) -> None:
        now, pods = time.monotonic(), len(self.cluster.pods())
        self.total += pods * (now - self._last)
        self.peak, self._last = max(self.peak, pods), now


def spec(replicas: int, rollout: dict, version: str = "1", uri: str | None = None) -> dict:
    md = copy.deepcopy(QUICKSTART)
    md["spec"].update(replicas=replicas, rollout=rollout)
    md["spec"]["model"]["version"] = version
    if uri:
        md["spec"]["model"]["uri"] = uri
    return md


def rollout_state(cluster: Cluster) -> dict:
    return ((cluster.md("quickstart") or {}).get("status") or {}).get("rollout") or {}


def only(cluster: Cluster, revision: str, replicas: int) -> bool:
    pods = cluster.pods()
    return len(pods) == replicas and all(p.revision == revision and p.ready for p in pods)


def run_operator(root: Path, replicas: int, rollout: dict, label: str) -> dict:
    with Cluster(HarnessSettings(runtime_image_root=root, max_pods=2 * replicas + 2)) as cluster:
        cluster.apply(spec(replicas, rollout))
        cluster.wait(lambda: only(cluster, "v1", replicas), timeout=180, what="v1 serving")
        with PodSeconds(cluster) as gpu:
            started = time.monotonic()
            cluster.apply(spec(replicas, rollout, version="2"))
            cluster.wait(lambda: rollout_state(cluster).get("stable") == "v2" and only(cluster, "v2", replicas),
                         timeout=300, what=f"{label} done")
            seconds = time.monotonic() - started
    return {"seconds": seconds, "gpu_pod_seconds": gpu.total, "peak_pods": gpu.peak}


def run_deployment(root: Path, replicas: int) -> dict:
    """The same pods as a plain Deployment, changed in place: the controller's own rolling update."""
    from modeldeploy.api import parse_model_deployment
    from modeldeploy.builders import build_config_map, build_deployment

    def objects(version: str) -> list[dict]:
        md = spec(replicas, {"analysis": {"smokeTest": False}}, version=version)
        parsed = parse_model_deployment(md)
        deployment = build_deployment(parsed, rev="plain", replicas=replicas)
        deployment["spec"]["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1,
                                                                                      "maxUnavailable": 0}}
        return [build_config_map(parsed, "plain"), deployment]

    with Cluster(HarnessSettings(runtime_image_root=root, max_pods=2 * replicas + 2, operator=False)) as cluster:
        for obj in objects("1"):
            cluster.apply(obj)
        cluster.wait(lambda: len(cluster.pods()) == replicas and all(p.ready for p in cluster.pods()), timeout=180,
                     what="v1 serving")
        with PodSeconds(cluster) as gpu:
            started = time.monotonic()
            for obj in objects("2"):
                cluster.apply(obj)

            def rolled() -> bool:
                status = (cluster.api.get(f"{DEPLOYMENTS}/quickstart-plain") or {}).get("status") or {}
                return status.get("updatedReplicas") == status.get("availableReplicas") == replicas \
                    and len(cluster.pods()) == replicas
            cluster.wait(rolled, timeout=300, what="rolling update done")
            seconds = time.monotonic() - started
    return {"seconds": seconds, "gpu_pod_seconds": gpu.total, "peak_pods": gpu.peak}


def run_rollback(root: Path, replicas: int) -> dict:
    rollout = {"steps": [{"weight": 50, "pause": "5m"}], "maxSurge": 1,
               "analysis": {"interval": "2s", "minRequests": 5, "failureLimit": 1, "smokeTest": False}}
    with Cluster(HarnessSettings(runtime_image_root=root, max_pods=2 * replicas + 2)) as cluster:
        cluster.apply(spec(replicas, rollout))
        cluster.wait(lambda: only(cluster, "v1", replicas), timeout=180, what="v1 serving")
        load = cluster.load(cluster.service_address("quickstart", "http"), "quickstart", INPUTS, ["OUTPUT__0"],
                            concurrency=2, requests_per_connection=1)
        failed_at: list[float] = []
        with load:
            load.wait_for(20, timeout=60)
            cluster.apply(spec(replicas, rollout, version="2", uri="file:models/broken"))
            seen = 0
            deadline = time.monotonic() + 180
            while rollout_state(cluster).get("phase") != "Aborted":
                if load.report.failures > seen:
                    seen, failed_at = load.report.failures, failed_at + [time.time()]
                if time.monotonic() > deadline:
                    raise SystemExit("the broken version was never rolled back")
                time.sleep(0.05)
            quiet_until = time.monotonic() + 5
            while time.monotonic() < quiet_until:
                if load.report.failures > seen:
                    seen, failed_at = load.report.failures, failed_at + [time.time()]
                time.sleep(0.05)
        state = rollout_state(cluster)
        condemned = time.mktime(time.strptime(state["abortedAt"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    return {"seconds": max(failed_at) - condemned if failed_at else 0.0, "failures": load.report.failures}


def median(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one run of each")
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    add_arguments(parser)
    args = parser.parse_args(argv)
    runs = 1 if args.quick else args.runs
    n = args.replicas
    root = Path(tempfile.mkdtemp(prefix="modeldeploy-rollout-bench-"))
    try:
        make_quickstart(root)
        shutil.copytree(root / "models" / "quickstart", root / "models" / "broken")
        (root / "models" / "broken" / "model.py").write_text(BROKEN)
        cases = {
            "ModelDeployment canary, pod by pod (maxSurge 1)": lambda: run_operator(root, n, {"maxSurge": 1},
                                                                                   "canary"),
            "plain Deployment rolling update (maxSurge 1)": lambda: run_deployment(root, n),
            f"full second copy, then switch (BlueGreen, maxSurge {n})": lambda: run_operator(
                root, n, {"strategy": "BlueGreen", "maxSurge": n, "blueGreen": {"scaleDownDelay": "0s"}}, "switch"),
        }
        results: dict[str, list[dict]] = {}
        for name, case in cases.items():
            results[name] = []
            for i in range(runs):
                say(f"{name}: run {i + 1}/{runs}")
                results[name].append(case())
        rollbacks = []
        for i in range(runs):
            say(f"rollback of a failing version: run {i + 1}/{runs}")
            rollbacks.append(run_rollback(root, n))
    finally:
        shutil.rmtree(root, ignore_errors=True)

    print(f"\nRollouts of {n} quickstart replicas on the loopback cluster, median of {runs} run(s)\n")
    print("| rollout | seconds | GPU-pod-seconds | extra over the replicas | peak pods |")
    print("| --- | ---: | ---: | ---: | ---: |")
    summary = {}
    for name, rs in results.items():
        seconds, pod_seconds = median(rs, "seconds"), median(rs, "gpu_pod_seconds")
        extra = pod_seconds - n * seconds
        peak = max(r["peak_pods"] for r in rs)
        summary[name] = {"seconds": seconds, "gpu_pod_seconds": pod_seconds, "extra": extra, "peak_pods": peak}
        print(f"| {name} | {seconds:.1f} | {pod_seconds:.0f} | {extra:.0f} | {peak} |")
    latency = median(rollbacks, "seconds")
    print(f"\nRollback: traffic back on the stable revision {latency:.1f} s after the failing interval "
          f"(median; clients saw {statistics.median(r['failures'] for r in rollbacks):.0f} failures, all on the "
          "canary's share before the abort)")
    canary, deployment, copy = (summary[name] for name in cases)
    figures = {
        "canary_extra_gpu_pod_seconds_over_deployment": Figure(
            canary["extra"] / deployment["extra"] if deployment["extra"] else float("nan"), "lower",
            "GPU-pod-seconds above the replicas: the ModelDeployment canary over a plain Deployment update"),
        "canary_seconds_over_deployment": Figure(canary["seconds"] / deployment["seconds"], "lower",
                                                 "rollout time: the canary over a plain Deployment update"),
        "second_copy_extra_over_canary": Figure(copy["extra"] / canary["extra"] if canary["extra"] else float("nan"),
                                                "higher", "extra GPU-pod-seconds a full second copy costs over the canary"),
        "rollback_seconds": Figure(latency, "lower", "s from the failing analysis interval to traffic on stable"),
    }
    return finish(args, "rollouts", figures, {"replicas": n, "runs": runs, "rollouts": summary,
                                              "rollback_seconds": latency})


if __name__ == "__main__":
    sys.exit(main())
