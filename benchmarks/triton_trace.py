"""Triton's own request traces (TIMESTAMPS level), summed up per phase.

Statistics say how long requests queued and computed; a trace also times what
happens before a request reaches the scheduler (HTTP receive, body parsing)
and after the backend is done (response serialization). Triton writes a trace
file per `log-frequency` traces (file, file.0, file.1, ...), each a JSON list
of fragments that share an id.

    --trace-config=triton,file=PATH --trace-config=triton,log-frequency=200
    --trace-config=rate=100 --trace-config=level=TIMESTAMPS --trace-config=count=-1
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from pathlib import Path

# (label, from, to): consecutive phases of one request's life in Triton.
PHASES = [
    ("receive the request", "HTTP_RECV_START", "HTTP_RECV_END"),
    ("parse it into an inference request", "HTTP_RECV_END", "REQUEST_START"),
    ("wait in the batcher's queue", "QUEUE_START", "COMPUTE_START"),
    ("hand inputs to the backend", "COMPUTE_START", "COMPUTE_INPUT_END"),
    ("backend execute (python stub: IPC + forward)", "COMPUTE_INPUT_END", "COMPUTE_OUTPUT_START"),
    ("take outputs back", "COMPUTE_OUTPUT_START", "COMPUTE_END"),
    ("write and send the response", "INFER_RESPONSE_COMPLETE", "HTTP_SEND_END"),
    ("whole request inside Triton", "HTTP_RECV_START", "HTTP_SEND_END"),
]


def trace_args(path: Path, rate: int = 100) -> list[str]:
    """tritonserver flags that trace one request in `rate` into path."""
    return [f"--trace-config=triton,file={path}", "--trace-config=triton,log-frequency=200",
            f"--trace-config=rate={rate}", "--trace-config=level=TIMESTAMPS", "--trace-config=count=-1"]


def read_traces(path: Path) -> list[dict[str, int]]:
    """Every traced request as {timestamp name: ns}, from path and its numbered siblings."""
    by_id: dict[int, dict[str, int]] = defaultdict(dict)
    for file in sorted(path.parent.glob(path.name + "*")):
        try:
            fragments = json.loads(file.read_text())
        except json.JSONDecodeError:  # the file being written when the server stopped
            continue
        for fragment in fragments:
            for stamp in fragment.get("timestamps", []):
                by_id[fragment["id"]][stamp["name"]] = stamp["ns"]
    return list(by_id.values())


def summarize(traces: list[dict[str, int]]) -> list[tuple[str, float, float, int]]:
    """(phase, median µs, mean µs, traces) for each phase present."""
    out = []
    for label, start, end in PHASES:
        spans = [t[end] - t[start] for t in traces if start in t and end in t]
        if spans:
            out.append((label, statistics.median(spans) / 1000, statistics.fmean(spans) / 1000, len(spans)))
    return out
