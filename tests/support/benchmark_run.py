"""Running a benchmark's --quick mode as CI does: it runs to its end, writes its figures, and compares them with
the recorded reference (CI times nothing: a benchmark that no longer runs is red)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def check_quick_run(name: str, tmp_path: Path, ok: frozenset[int] = frozenset({0})) -> None:
    out = tmp_path / f"{name}.json"
    reference = REPO / "benchmarks" / "reference" / f"{name}.json"
    run = subprocess.run([sys.executable, str(REPO / "benchmarks" / f"{name}.py"), "--quick", "--json", str(out),
                          "--compare", str(reference)],
                         cwd=REPO, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "PYTHONUNBUFFERED": "1"})
    # --compare exits 3 when a figure regressed: on a shared CI machine that is noise, not a failure here.
    assert run.returncode in ok | {3}, run.stdout[-3000:] + run.stderr[-3000:]
    written = json.loads(out.read_text())
    assert written["benchmark"] == name and written["quick"] is True and written["figures"]
    recorded = json.loads(reference.read_text())
    assert set(recorded["figures"]) <= set(written["figures"]), "the figures the reference holds are still measured"
    assert f"compared with the run recorded {recorded['when']}" in run.stdout + run.stderr
