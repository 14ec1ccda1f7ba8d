"""The short benchmarks' --quick modes run, write their figures and compare (the two long ones have files of
their own, so the test workers run them side by side)."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.benchmark_run import check_quick_run

pytestmark = pytest.mark.bench


# autoscaling exits 1 when one of its targets is out of reach at the default 60 s start (its verdicts say
# which; docs/autoscaling.md): it ran and reported.
@pytest.mark.parametrize("name,ok", [("operator_reconcile", {0}), ("autoscaling", {0, 1}), ("fetch_tree", {0})])
def test_the_quick_mode_runs_and_writes_figures_that_compare(name: str, ok: set[int], tmp_path: Path) -> None:
    check_quick_run(name, tmp_path, frozenset(ok))
