"""The simulation benchmark's verdicts, on the real decide() (benchmarks/autoscaling.py; a few seconds)."""

from __future__ import annotations

import sys

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))

from autoscaling import run  # noqa: E402
from autoscaling_sim import Service  # noqa: E402

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def results():
    svc = Service()
    return {(trace, policy): run(trace, policy, 60.0, svc)
            for trace in ("step ×4", "spike ×10 (30 s)") for policy in ("builtin", "hpa", "floor")}


def test_on_a_step_the_builtin_misses_the_slo_far_less_with_fewer_replicas(results) -> None:
    builtin, hpa = results["step ×4", "builtin"], results["step ×4", "hpa"]
    assert builtin.slo_seconds <= 0.7 * hpa.slo_seconds
    assert builtin.replica_seconds <= hpa.replica_seconds


def test_on_a_spike_shorter_than_a_pod_start_the_builtin_is_no_worse_and_cheaper(results) -> None:
    # No pod can start within a 30 s spike: the SLO damage is the backlog the pods serving then hold.
    builtin, hpa = results["spike ×10 (30 s)", "builtin"], results["spike ×10 (30 s)", "hpa"]
    assert builtin.slo_seconds <= hpa.slo_seconds
    assert builtin.replica_seconds <= 0.85 * hpa.replica_seconds


def test_the_builtin_reacts_within_seconds_and_never_exceeds_max(results) -> None:
    series = results["step ×4", "builtin"].series
    first_up = next(t for t, r in zip(series["t"], series["replicas"]) if r > 1)
    assert 120 < first_up <= 125  # the step comes at 120 s; tick 2 s, panic window 6 s
    assert max(series["replicas"]) <= 16


@pytest.mark.parametrize("trace", ["step ×4", "spike ×10 (30 s)"])
def test_no_policy_misses_the_slo_for_fewer_seconds_than_the_floor(results, trace) -> None:
    floor = results[trace, "floor"].slo_seconds
    assert floor > 0
    assert results[trace, "builtin"].slo_seconds >= floor
    assert results[trace, "hpa"].slo_seconds >= floor


def test_on_a_spike_shorter_than_a_pod_start_the_builtin_is_within_a_few_ticks_of_the_floor(results) -> None:
    # The floor reacts at the instant the load rises, with no scrape; the builtin sees it on its next 2 s tick.
    builtin, floor = results["spike ×10 (30 s)", "builtin"], results["spike ×10 (30 s)", "floor"]
    assert builtin.slo_seconds <= floor.slo_seconds + 10


def test_the_benchmark_refuses_a_negative_start_delay_and_writes_pure_json_to_stdout(capsys) -> None:
    import json

    from autoscaling import main
    with pytest.raises(SystemExit) as exited:
        main(["--quick", "--start-delay", "-5"])
    assert exited.value.code == 2 and "--start-delay: must be a number of seconds ≥ 0, not -5" in capsys.readouterr().err
    status = main(["--quick", "--start-delay", "10", "--json", "-"])
    run = json.loads(capsys.readouterr().out)
    report = run["result"]
    assert report["settings"]["start_delay_seconds"] == 10.0
    assert {v["trace"]: v["met"] for v in report["verdicts"]} == {"step ×4": True, "spike ×10 (30 s)": True}
    assert run["benchmark"] == "autoscaling" and run["machine"]["cores"]
    assert run["figures"]["step_builtin_fewer_slo_seconds_than_hpa"]["value"] == \
        next(v["fewer_slo_seconds_than_hpa"] for v in report["verdicts"] if v["trace"] == "step ×4")
    assert status == 0
