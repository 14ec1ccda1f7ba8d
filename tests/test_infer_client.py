"""`modeldeploy infer` sends tensors the cheap way: HTTP with Triton's binary tensor extension."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import yaml

from modeldeploy.api import parse_model_deployment
from modeldeploy_runtime.infer import example_inputs, infer

pytestmark = pytest.mark.unit

QUICKSTART = Path(__file__).resolve().parent.parent / "examples" / "quickstart.yaml"


class _Recorder(BaseHTTPRequestHandler):
    seen: list[tuple[dict, bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append((dict(self.headers), body))
        reply = json.dumps({"model_name": "quickstart", "outputs": [
            {"name": "OUTPUT__0", "datatype": "FP32", "shape": [1, 4], "data": [1.0, 2.0, 3.0, 4.0]}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[HTTPServer]:
    server = HTTPServer(("127.0.0.1", 0), _Recorder)
    _Recorder.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


def test_http_request_carries_the_tensor_as_raw_bytes(recorder: HTTPServer) -> None:
    md = parse_model_deployment(yaml.safe_load(QUICKSTART.read_text()))
    inputs = example_inputs(md)
    out = infer(md, f"127.0.0.1:{recorder.server_port}", inputs)
    np.testing.assert_array_equal(out["OUTPUT__0"], [[1.0, 2.0, 3.0, 4.0]])
    headers, body = _Recorder.seen[0]
    header_length = int(headers["Inference-Header-Content-Length"])
    header = json.loads(body[:header_length])
    assert header["inputs"][0]["parameters"] == {"binary_data_size": inputs["INPUT__0"].nbytes}
    assert "data" not in header["inputs"][0]
    assert header["outputs"][0]["parameters"]["binary_data"] is True
    assert body[header_length:] == inputs["INPUT__0"].tobytes()
