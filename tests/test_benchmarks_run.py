"""Every benchmark's --quick mode runs to its end and writes its figures (CI times nothing: a benchmark that no
longer runs is red, and its recorded reference still compares with what it writes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

pytestmark = pytest.mark.bench

# benchmark → (extra arguments, exit statuses that mean "ran and reported"). autoscaling exits 1 when one
# of its targets is out of reach at the default 60 s start (its verdicts say which; docs/autoscaling.md).
QUICK = {
    "serving_throughput": ([], {0}),
    "operator_reconcile": ([], {0}),
    "autoscaling": ([], {0, 1}),
    "rollouts": ([], {0}),
    "fetch_tree": ([], {0}),
}


@pytest.mark.parametrize("name", sorted(QUICK))
def test_the_quick_mode_runs_and_writes_figures_that_compare(name: str, tmp_path: Path) -> None:
    extra, ok = QUICK[name]
    out = tmp_path / f"{name}.json"
    reference = REPO / "benchmarks" / "reference" / f"{name}.json"
    run = subprocess.run([sys.executable, str(REPO / "benchmarks" / f"{name}.py"), "--quick", "--json", str(out),
                          "--compare", str(reference), *extra],
                         cwd=REPO, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "PYTHONUNBUFFERED": "1"})
    # --compare exits 3 when a figure regressed: on a shared CI machine that is noise, not a failure here.
    assert run.returncode in ok | {3}, run.stdout[-3000:] + run.stderr[-3000:]
    written = json.loads(out.read_text())
    assert written["benchmark"] == name and written["quick"] is True and written["figures"]
    recorded = json.loads(reference.read_text())
    assert set(recorded["figures"]) <= set(written["figures"]), "the figures the reference holds are still measured"
    assert f"compared with the run recorded {recorded['when']}" in run.stdout + run.stderr
