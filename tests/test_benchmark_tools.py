"""The serving benchmark's own instruments: wrk's report, the compute limit, Triton's traces."""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from compute_limit import forward_seconds, limit  # noqa: E402
from triton_trace import read_traces, summarize  # noqa: E402
from wrk_load import have_wrk, run_wrk  # noqa: E402

pytestmark = pytest.mark.unit


def test_limit_weighs_each_batch_size_by_how_often_it_ran() -> None:
    seconds = {1: 100e-6, 32: 1000e-6}
    assert limit({1: 10}, seconds) == pytest.approx(10_000)
    assert limit({32: 10}, seconds) == pytest.approx(32_000)
    # 10 + 320 samples in 1 ms + 10 ms
    assert limit({1: 10, 32: 10}, seconds) == pytest.approx(330 / 0.011)
    assert limit({}, seconds) == 0.0


def test_forward_seconds_times_the_torchscript_in_a_pinned_child(tmp_path: Path) -> None:
    model = torch.jit.trace(torch.nn.Linear(8, 4).eval(), torch.randn(1, 8))
    model.save(str(tmp_path / "model.pt"))
    seconds = forward_seconds(tmp_path / "model.pt", [8], [1, 16, 16], budget_seconds=0.02)
    assert set(seconds) == {1, 16} and all(0 < s < 0.01 for s in seconds.values())


def test_traces_join_fragments_by_id_across_files(tmp_path: Path) -> None:
    def fragment(trace_id: int, name: str, ns: int) -> dict:
        return {"id": trace_id, "timestamps": [{"name": name, "ns": ns}]}

    first = [fragment(1, "HTTP_RECV_START", 0), fragment(1, "HTTP_RECV_END", 5_000),
             fragment(1, "REQUEST_START", 25_000), fragment(2, "HTTP_RECV_START", 0)]
    (tmp_path / "trace.json").write_text(json.dumps(first))
    (tmp_path / "trace.json.0").write_text(json.dumps([fragment(2, "HTTP_RECV_END", 1_000),
                                                       fragment(2, "REQUEST_START", 41_000)]))
    (tmp_path / "trace.json.1").write_text('[{"id": 3, "timest')  # cut off when the server stopped
    traces = read_traces(tmp_path / "trace.json")
    assert len(traces) == 2
    phases = {label: (median, n) for label, median, _, n in summarize(traces)}
    assert phases["receive the request"] == (3.0, 2)
    assert phases["parse it into an inference request"] == (30.0, 2)
    assert "wait in the batcher's queue" not in phases


class _Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Triton answers

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers["Content-Length"]))
        status = 200 if self.path == "/ok" else 500
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.skipif(not have_wrk(), reason="wrk is not installed (apt-get install wrk)")
def test_wrk_reports_rate_latency_and_its_own_cpu_and_refuses_errors() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        result = run_wrk(f"{base}/ok", b'{"inputs": []}', concurrency=2, seconds=1)
        assert result.throughput > 0 and 0 < result.p50_ms <= result.p99_ms
        assert 0 < result.client_cpu_seconds and 0 < result.client_cpu_share < 1.5
        with pytest.raises(RuntimeError, match="failed requests"):
            run_wrk(f"{base}/fail", b"{}", concurrency=1, seconds=1)
    finally:
        server.shutdown()
