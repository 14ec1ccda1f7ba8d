"""The compute limit: the served TorchScript run in-process, no server at all.

A server can at best spend all its CPU in the model's forward pass. This
times that forward pass at each batch size a server actually executed (read
from Triton's statistics), on the cores the server had and with the torch
thread count it used, so a row's "% of limit" compares like with like:

    limit = Σ executions(b) · b / Σ executions(b) · t(b)     samples per second

It runs in a child process pinned to the server's cores, so it neither shares
this process's torch threads nor lands on the client's core.

    python benchmarks/compute_limit.py MODEL.pt --dims 256 --batches 1,8,32
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path


def forward_seconds(model: Path, dims: list[int], batches: list[int], threads: int = 1,
                    cpus: set[int] | None = None, budget_seconds: float = 0.3) -> dict[int, float]:
    """Seconds per forward pass at each batch size (the best of five repeats: noise only slows a pass)."""
    command = [sys.executable, __file__, str(model), "--dims", ",".join(map(str, dims)),
               "--batches", ",".join(map(str, sorted(set(batches)))), "--threads", str(threads),
               "--budget", str(budget_seconds)]
    done = subprocess.run(command, capture_output=True, text=True, check=True,
                          preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)
    return {int(k): v for k, v in json.loads(done.stdout).items()}


def limit(executions_by_batch: dict[int, int], seconds_by_batch: dict[int, float]) -> float:
    """Samples per second the model alone reaches over the same mix of batch sizes."""
    samples = sum(b * n for b, n in executions_by_batch.items())
    seconds = sum(seconds_by_batch[b] * n for b, n in executions_by_batch.items())
    return samples / seconds if seconds else 0.0


def _measure(model_path: str, dims: list[int], batches: list[int], threads: int, budget: float) -> dict[int, float]:
    import torch  # noqa: PLC0415 - only the child process loads torch

    torch.set_num_threads(threads)
    model = torch.jit.load(model_path, map_location="cpu").eval()
    out = {}
    with torch.inference_mode():
        for batch in batches:
            x = torch.randn(batch, *dims)
            for _ in range(5):
                model(x)
            start = time.perf_counter()
            model(x)
            repeats = max(3, int(budget / 5 / max(time.perf_counter() - start, 1e-6)))
            best = float("inf")
            for _ in range(5):
                start = time.perf_counter()
                for _ in range(repeats):
                    model(x)
                best = min(best, (time.perf_counter() - start) / repeats)
            out[batch] = best
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--dims", required=True, help="input dims without the batch, e.g. 256 or 3,224,224")
    parser.add_argument("--batches", required=True, help="batch sizes, e.g. 1,8,32")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--budget", type=float, default=0.3, help="seconds of timing per batch size")
    args = parser.parse_args()
    dims = [int(d) for d in args.dims.split(",")]
    batches = [int(b) for b in args.batches.split(",")]
    print(json.dumps(_measure(args.model, dims, batches, args.threads, args.budget)))


if __name__ == "__main__":
    main()
