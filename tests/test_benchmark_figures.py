"""The benchmarks' guard: figures written as JSON, and --compare printing what moved against a recorded run."""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))

from figures import REGRESSED, Figure, finish, moves, report  # noqa: E402
from serving_report import NAIVE, NOOP, serving_figures  # noqa: E402

pytestmark = pytest.mark.unit


def _row(server: str, client: str, protocol: str, c: int, throughput: float, p99: float, cpu: float) -> dict:
    return {"server": server, "client": client, "protocol": protocol, "concurrency": c, "throughput": throughput,
            "p99_ms": p99, "server_cpu_us_per_request": cpu, "percent_of_limit": 25.0 if server != NOOP else None}


def _serving(triton_c32: float, p99_c32: float, naive_c32: float, cpu: float) -> dict:
    generated = "Triton (generated config)"
    return {"rows": [_row(generated, "wrk", "HTTP JSON", 1, 2_000, 4.0, 460),
                     _row(generated, "wrk", "HTTP JSON", 32, triton_c32, p99_c32, cpu),
                     _row(generated, "perf_analyzer", "gRPC", 32, triton_c32 * 1.05, p99_c32, cpu * 0.95),
                     _row(NOOP, "wrk", "HTTP JSON", 32, 10_000, 6.0, 95),
                     _row(NAIVE, "wrk", "HTTP JSON", 1, 1_200, 4.4, 760),
                     _row(NAIVE, "wrk", "HTTP JSON", 32, naive_c32, 50.0, 850)]}


def _run(figures: dict[str, Figure]) -> dict:
    return {"figures": {k: vars(v) for k, v in figures.items()}, "when": "then", "machine": {"cpu": "x", "cores": 2}}


def test_the_serving_regression_of_the_issue_is_printed_and_fails_the_compare():
    # 8,954 req/s p99 6.3 ms → 7,519 req/s p99 15.3 ms, Flask 1,388 → 1,377 in the same runs.
    before = _run(serving_figures(_serving(8_954, 6.3, 1_388, 190)))
    after = _run(serving_figures(_serving(7_519, 15.3, 1_377, 226)))
    out = io.StringIO()
    assert report(after, before, out) == REGRESSED
    text = out.getvalue()
    assert "REGRESSED triton_p99_ms_c32: 6.3 → 15.3 (+143%" in text
    assert "REGRESSED triton_over_naive_throughput_c32: 6.451 → 5.46 (-15%" in text
    assert "REGRESSED server_cpu_us_per_request_http_json_wrk_c32: 190 → 226 (+19%" in text
    assert "triton_over_naive_throughput_c1" not in text, "unchanged figures stay quiet"


def test_small_moves_and_improvements_do_not_fail_the_compare():
    before = _run(serving_figures(_serving(8_000, 8.0, 1_300, 200)))
    same = _run(serving_figures(_serving(8_400, 7.6, 1_320, 195)))
    out = io.StringIO()
    assert report(same, before, out) == 0 and "every figure within 10%" in out.getvalue()
    better = _run(serving_figures(_serving(9_500, 5.0, 1_300, 160)))
    out = io.StringIO()
    assert report(better, before, out) == 0
    assert "improved  triton_p99_ms_c32" in out.getvalue() and "REGRESSED" not in out.getvalue()


def test_a_count_that_was_zero_moves_when_it_is_not_any_more():
    recorded = {"writes_while_idle": {"value": 0, "better": "lower", "what": "writes"}}
    assert moves({"writes_while_idle": {"value": 0, "better": "lower", "what": "writes"}}, recorded) == []
    (move,) = moves({"writes_while_idle": {"value": 3, "better": "lower", "what": "writes"}}, recorded)
    assert move.regression


def test_finish_writes_the_figures_with_the_machine_and_compares_with_a_recorded_file(tmp_path: Path, capsys):
    args = argparse.Namespace(json=str(tmp_path / "run.json"), compare=None, quick=True)
    assert finish(args, "bench", {"ratio": Figure(2.0, "higher", "x over y")}, {"raw": 1}) == 0
    written = json.loads((tmp_path / "run.json").read_text())
    assert written["benchmark"] == "bench" and written["quick"] is True and written["result"] == {"raw": 1}
    assert written["machine"]["cores"] and written["figures"]["ratio"] == {"value": 2.0, "better": "higher",
                                                                           "what": "x over y"}
    args = argparse.Namespace(json=None, compare=tmp_path / "run.json", quick=True)
    assert finish(args, "bench", {"ratio": Figure(1.5, "higher", "x over y")}, {}) == REGRESSED
    assert "REGRESSED ratio: 2 → 1.5 (-25%" in capsys.readouterr().out
    assert finish(args, "other", {}, {}) == 2


@pytest.mark.parametrize("name", ["serving_throughput", "operator_reconcile", "autoscaling", "rollouts",
                                  "fetch_tree"])
def test_every_recorded_reference_names_its_benchmark_machine_and_figures(name: str):
    recorded = json.loads((REPO / "benchmarks" / "reference" / f"{name}.json").read_text())
    assert recorded["benchmark"] == name
    assert recorded["machine"]["cpu"] and recorded["machine"]["cores"]
    assert recorded["figures"] and all(f["better"] in ("higher", "lower") for f in recorded["figures"].values())
