"""benchmarks/rollouts.py --quick runs, writes its figures and compares them with the recorded reference."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.benchmark_run import check_quick_run

pytestmark = pytest.mark.bench


def test_the_quick_mode_runs_and_writes_figures_that_compare(tmp_path: Path) -> None:
    check_quick_run("rollouts", tmp_path)
