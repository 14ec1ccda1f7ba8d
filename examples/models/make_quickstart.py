"""Build the quickstart model from torch: a small seeded MLP (16 → 64 → 4), a few KB.

Writes examples/models/quickstart/{model.pt,model.py} through `modeldeploy
package`'s own code path. Run: python examples/models/make_quickstart.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from modeldeploy_runtime.package import package_module

OUT = Path(__file__).resolve().parent / "quickstart"


def build() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.ReLU(), torch.nn.Linear(64, 4))


def main(out: Path = OUT) -> Path:
    report = package_module(build(), [torch.randn(1, 16)], out)
    print(f"wrote {out} (inputs {report.inputs}, outputs {report.outputs})", file=sys.stderr)
    return out


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
