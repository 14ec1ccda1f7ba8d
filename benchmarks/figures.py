"""What a benchmark run leaves behind, and how it compares with a recorded one.

Every benchmark ends with `finish(...)`: it writes a machine-readable file
(`--json FILE`: the headline figures, the machine they came from, and the
run's full result) and, with `--compare FILE`, prints every figure that moved
more than 10% against a recorded run. Figures are ratios measured side by
side in one run (Triton over Flask, the operator over the kopf floor), plus
the few absolute ones a goal names; each says which way is better, so a move
is reported as a regression or an improvement. Exit status 3 when a figure
regressed (a guard for whoever runs it; CI times nothing).

Recorded runs live in benchmarks/reference/<benchmark>.json.

    python benchmarks/figures.py compare NEW.json RECORDED.json     # two files, no run
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

THRESHOLD = 0.10
REGRESSED = 3
REFERENCE = Path(__file__).resolve().parent / "reference"


@dataclass(frozen=True)
class Figure:
    value: float
    better: str  # "higher" | "lower"
    what: str    # one line: what it is, with its unit


@dataclass(frozen=True)
class Move:
    name: str
    recorded: float
    now: float
    change: float  # relative, signed: now / recorded - 1
    regression: bool
    what: str

    def line(self) -> str:
        verdict = "REGRESSED" if self.regression else "improved"
        return (f"{verdict:9} {self.name}: {self.recorded:,.4g} → {self.now:,.4g} ({self.change:+.0%}; "
                f"{self.what})")


def machine() -> dict:
    cpu = platform.processor()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "system": platform.platform()}


def moves(now: dict[str, dict], recorded: dict[str, dict], threshold: float = THRESHOLD) -> list[Move]:
    """Every figure in both runs whose value moved by more than threshold (relative), worst first."""
    found = []
    for name, figure in now.items():
        old = recorded.get(name)
        if old is None or old["value"] is None or figure["value"] is None:
            continue
        if old["value"] == 0:  # a count that was zero (writes at steady state): any other value moved
            if figure["value"] == 0:
                continue
            change = float("inf") if figure["value"] > 0 else float("-inf")
        else:
            change = figure["value"] / old["value"] - 1
        if abs(change) <= threshold:
            continue
        worse = change < 0 if figure["better"] == "higher" else change > 0
        found.append(Move(name, old["value"], figure["value"], change, worse, figure["what"]))
    return sorted(found, key=lambda m: (not m.regression, -abs(m.change)))


def report(now: dict, recorded: dict, out=sys.stdout, threshold: float = THRESHOLD) -> int:  # noqa: ANN001
    """Prints what moved; returns the exit status (REGRESSED when any figure got worse)."""
    print(f"\ncompared with the run recorded {recorded.get('when', '?')} on {recorded.get('machine', {}).get('cpu', '?')} "
          f"({recorded.get('machine', {}).get('cores', '?')} cores{', quick' if recorded.get('quick') else ''}):",
          file=out)
    moved = moves(now["figures"], recorded["figures"], threshold)
    missing = sorted(set(recorded["figures"]) - set(now["figures"]))
    for move in moved:
        print("  " + move.line(), file=out)
    for name in missing:
        print(f"  missing   {name}: recorded, not measured in this run", file=out)
    if not moved:
        print(f"  every figure within {threshold:.0%} of the recorded run", file=out)
    return REGRESSED if any(m.regression for m in moved) else 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", help="write the figures, the machine and the whole result to this file "
                                       "(- for standard output, which then carries the JSON alone)")
    parser.add_argument("--compare", type=Path, metavar="FILE",
                        help="print every figure that moved more than 10%% against this recorded run "
                             "(e.g. benchmarks/reference/NAME.json); exit 3 when one regressed")


def envelope(benchmark: str, quick: bool, figures: dict[str, Figure], result: dict) -> dict:
    return {"benchmark": benchmark, "when": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "quick": quick, "machine": machine(), "figures": {k: asdict(v) for k, v in figures.items()},
            "result": result}


def finish(args: argparse.Namespace, benchmark: str, figures: dict[str, Figure], result: dict,
           out=None) -> int:  # noqa: ANN001 - where --json - goes (standard output unless redirected)
    """Writes --json, compares with --compare; returns the exit status the benchmark should end with."""
    run = envelope(benchmark, bool(getattr(args, "quick", False)), figures, result)
    text = json.dumps(run, indent=1, ensure_ascii=False) + "\n"
    if args.json == "-":
        (out or sys.stdout).write(text)
    elif args.json:
        Path(args.json).write_text(text)
    if args.compare:
        recorded = json.loads(args.compare.read_text())
        if recorded.get("benchmark") != benchmark:
            print(f"{args.compare} is a run of {recorded.get('benchmark')!r}, not {benchmark!r}", file=sys.stderr)
            return 2
        return report(run, recorded, out=sys.stderr if args.json == "-" else sys.stdout)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description="compare two recorded benchmark runs")
    parser.add_argument("verb", choices=["compare"])
    parser.add_argument("new", type=Path)
    parser.add_argument("recorded", type=Path)
    args = parser.parse_args()
    return report(json.loads(args.new.read_text()), json.loads(args.recorded.read_text()))


if __name__ == "__main__":
    sys.exit(main())
