"""`modeldeploy tune` and what it measures with: perf_analyzer, Triton's statistics, CPU accounting."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from modeldeploy.api import parse_model_deployment
from modeldeploy_runtime.errors import ExitCode, RuntimeFailure
from modeldeploy_runtime.measured_run import run_measured, split_cores
from modeldeploy_runtime.perf_analyzer import LoadResult, find_perf_analyzer, parse_report, shape_args
from modeldeploy_runtime.triton_statistics import parse_statistics
from modeldeploy_runtime.tune import (Candidate, Trial, best, candidates, parse_latency_ms, snippet,
                                      with_candidate)
from support.quickstart import make_quickstart

QUICKSTART = yaml.safe_load((Path(__file__).resolve().parent.parent / "examples/quickstart.yaml").read_text())

# A report perf_analyzer 2.47 wrote (-f) against the benchmark's MLP.
REPORT = """Concurrency,Inferences/Second,Client Send,Network+Server Send/Recv,Server Queue,Server Compute Input,\
Server Compute Infer,Server Compute Output,Client Recv,p50 latency,p90 latency,p95 latency,p99 latency
4,2453.86,46,228,487,23,743,95,0,1555,2037,2263,3694
"""


def _md(**config: object):
    doc = yaml.safe_load(yaml.safe_dump(QUICKSTART))
    doc["spec"]["model"]["config"].update(config)
    return parse_model_deployment(doc)


def _trial(throughput: float, p99: float, delay: int = 0) -> Trial:
    return Trial(Candidate(1, delay, None), LoadResult(32, throughput, p99 / 2, p99, 1.0, 2.0))


@pytest.mark.unit
@pytest.mark.parametrize(("text", "ms"), [("10ms", 10.0), ("500us", 0.5), ("500µs", 0.5), ("0.25s", 250.0),
                                          ("7", 7.0), (" 2.5 ms ", 2.5)])
def test_latency_budgets(text: str, ms: float) -> None:
    assert parse_latency_ms(text) == pytest.approx(ms)


@pytest.mark.unit
@pytest.mark.parametrize("text", ["", "ten ms", "0ms", "-3ms", "10 min"])
def test_bad_latency_budget_is_a_usage_error(text: str) -> None:
    with pytest.raises(RuntimeFailure) as caught:
        parse_latency_ms(text)
    assert caught.value.code == ExitCode.USAGE


@pytest.mark.unit
def test_grid_tries_a_preferred_size_only_with_a_delay_and_within_max_batch() -> None:
    grid = candidates(_md(), [1, 2], [0, 500], [None, 32, 128])
    assert Candidate(1, 0, None) in grid and Candidate(2, 500, 32) in grid
    assert not [c for c in grid if c.max_queue_delay_us == 0 and c.preferred_batch]
    assert not [c for c in grid if c.preferred_batch == 128], "above maxBatchSize 64"
    assert len(grid) == 2 * (1 + 2)


@pytest.mark.unit
def test_grid_without_batching_varies_instances_only() -> None:
    md = _md(maxBatchSize=0, dynamicBatching=None)
    assert candidates(md, [1, 3], [0, 500], [None, 8]) == [Candidate(1, None, None), Candidate(3, None, None)]
    assert "dynamicBatching" not in with_candidate(md, Candidate(3, None, None)).to_wire()["spec"]["model"]["config"]


@pytest.mark.unit
def test_best_is_the_fastest_within_budget_and_ties_go_to_lower_p99() -> None:
    trials = [_trial(9000, 14.0), _trial(6000, 9.0), _trial(6000, 5.0, delay=500), _trial(3000, 2.0)]
    assert best(trials, 10.0) is trials[2]
    assert best(trials, 1.0) is None


@pytest.mark.unit
def test_snippet_is_yaml_that_a_model_deployment_accepts() -> None:
    md = _md()
    trial = Trial(Candidate(2, 500, 32), LoadResult(32, 5000.0, 3.0, 8.0, 1.0, 2.0))
    text = snippet(md, trial, 10.0, "HTTP (binary tensors)")
    assert text.startswith("# modeldeploy tune: best within p99 <= 10 ms at concurrency 32")
    tuned = yaml.safe_load(text)["spec"]["model"]["config"]
    assert tuned == {"dynamicBatching": {"maxQueueDelayMicroseconds": 500, "preferredBatchSizes": [32]},
                     "instanceGroups": [{"kind": "CPU", "count": 2}]}
    merged = _md(**tuned).spec.model.config
    assert merged.instance_groups[0].count == 2 and merged.dynamic_batching.preferred_batch_sizes == [32]


@pytest.mark.unit
def test_perf_analyzer_report_and_variable_shapes() -> None:
    result = parse_report(REPORT, client_cpu_seconds=0.5, wall_seconds=2.0)
    assert (result.concurrency, result.throughput, result.p50_ms, result.p99_ms) == (4, 2453.86, 1.555, 3.694)
    assert result.client_cpu_share == 0.25
    md = _md(inputs=[{"name": "TOKENS", "dataType": "INT64", "dims": [-1, 8]},
                     {"name": "MASK", "dataType": "INT64", "dims": [16]}])
    assert shape_args(md) == ["--shape=TOKENS:1,8"]


@pytest.mark.unit
def test_statistics_windows_subtract_and_keep_only_batch_sizes_that_ran() -> None:
    def body(count: int, executions: int, by_batch: dict[int, int]) -> dict:
        phase = {"count": count, "ns": count * 1000}
        return {"model_stats": [{
            "inference_count": count, "execution_count": executions,
            "inference_stats": {p: phase for p in ("success", "queue", "compute_input", "compute_infer",
                                                   "compute_output")},
            "batch_stats": [{"batch_size": b, "compute_infer": {"count": n, "ns": 0}} for b, n in by_batch.items()],
        }]}

    before = parse_statistics(body(10, 10, {1: 10}))
    after = parse_statistics(body(74, 14, {1: 10, 16: 4}))
    window = after - before
    assert (window.inferences, window.executions, window.mean_batch) == (64, 4, 16.0)
    assert window.executions_by_batch == {16: 4}
    assert window.per_request_us("queue") == pytest.approx(1.0)


@pytest.mark.unit
def test_measured_run_accounts_the_childs_own_cpu_and_pins_it() -> None:
    spin = run_measured([sys.executable, "-c", "import time\nend = time.process_time() + 0.4\n"
                                               "while time.process_time() < end: pass"])
    idle = run_measured([sys.executable, "-c", "import time; time.sleep(0.4)"])
    # Both pay the interpreter's start; only the spinning one burns 0.4 s more (whatever else runs here).
    assert spin.returncode == idle.returncode == 0
    assert spin.cpu_seconds - idle.cpu_seconds == pytest.approx(0.4, abs=0.1)
    assert spin.cpu_share == spin.cpu_seconds / spin.wall_seconds
    core = max(os.sched_getaffinity(0))
    pinned = run_measured([sys.executable, "-c", "import os; print(sorted(os.sched_getaffinity(0)))"], cpus={core})
    assert pinned.output.strip() == f"[{core}]"
    killed = run_measured([sys.executable, "-c", "import time; time.sleep(30)"], timeout_seconds=0.3)
    assert killed.returncode == -9 and killed.wall_seconds < 10


@pytest.mark.unit
def test_client_gets_a_core_of_its_own_when_there_are_two() -> None:
    client, server = split_cores(pin=True)
    cores = os.sched_getaffinity(0)
    if len(cores) < 2:
        assert (client, server) == (None, None)
    else:
        assert client and server and not client & server and client | server == cores
    assert split_cores(pin=False) == (None, None)


@pytest.mark.unit
def test_bad_budget_stops_before_any_server_starts(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "modeldeploy.cli", "tune", "-f", "examples/quickstart.yaml",
                           "--p99", "soon", "--workdir", str(tmp_path)], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parent.parent, timeout=60)
    assert done.returncode == ExitCode.USAGE and done.stderr.startswith("USAGE: --p99 'soon'")
    assert not list(tmp_path.iterdir())


def _tune_quickstart(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """A short real sweep of the quickstart; skipped (with the reason) only where perf_analyzer cannot run."""
    try:
        find_perf_analyzer()
    except RuntimeFailure as err:
        pytest.skip(err.reason)
    quickstart = make_quickstart(tmp_path)
    return subprocess.run([sys.executable, "-m", "modeldeploy.cli", "tune", "-f", str(quickstart), "--instances", "1",
                           "--workdir", str(tmp_path / "work"), *args], capture_output=True, text=True, timeout=180)


@pytest.mark.runtime
def test_tune_sweeps_real_triton_and_prints_a_config_that_validates(tmp_path: Path) -> None:
    done = _tune_quickstart(tmp_path, "--p99", "5s", "--concurrency", "4", "--delays", "0,300", "--preferred", "none",
                            "--window-ms", "300")
    assert done.returncode == 0, done.stderr
    progress = [line for line in done.stderr.splitlines() if line.startswith("[")]
    assert len(progress) == 2 and all("infer/s" in line for line in progress), done.stderr
    tuned = yaml.safe_load(done.stdout)["spec"]["model"]["config"]
    assert tuned["instanceGroups"] == [{"kind": "CPU", "count": 1}]
    assert tuned["dynamicBatching"]["maxQueueDelayMicroseconds"] in (0, 300)
    _md(**tuned)


@pytest.mark.runtime
def test_tune_says_so_when_no_config_meets_the_budget(tmp_path: Path) -> None:
    done = _tune_quickstart(tmp_path, "--p99", "1us", "--concurrency", "2", "--delays", "0", "--window-ms", "200")
    assert done.returncode == 1 and done.stdout == ""
    assert "no config kept p99 within 0.001 ms at concurrency 2; the lowest p99 was" in done.stderr
