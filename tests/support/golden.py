"""Golden files: compare with tests/golden, or rewrite them with --update-golden."""

from __future__ import annotations

from pathlib import Path

GOLDEN_ROOT = Path(__file__).resolve().parent.parent / "golden"


def check_golden(relative: str, actual: str, update: bool) -> None:
    path = GOLDEN_ROOT / relative
    if update:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        return
    assert path.exists(), f"golden file {path} is missing; run pytest --update-golden and review the diff"
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, f"{relative} differs from its golden file; if intended, run pytest --update-golden"
