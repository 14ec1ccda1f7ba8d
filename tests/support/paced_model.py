"""A python-backend model with a known service time: each request takes exactly SECONDS, one at a time.

With one model instance and no batching, Triton's queue behaves as a
single server with a deterministic service time: a pod completes at most
1 / SECONDS requests a second, and a request waits SECONDS for each request
ahead of it, whatever else the machine is doing (the time is a sleep, not
computation). The answer is the input doubled, so a client can check every
response. numpy only: no torch to import, so the
python-backend stub starts fast and small.
"""

from __future__ import annotations

from pathlib import Path

MODEL = "paced"
SECONDS = 0.05  # per request

MODEL_PY = '''\
"""A request takes {seconds} s (a sleep); the output is the input doubled."""

import time

import triton_python_backend_utils as pb_utils

SECONDS = {seconds}


class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            time.sleep(SECONDS)
            x = pb_utils.get_input_tensor_by_name(request, "INPUT__0").as_numpy()
            responses.append(pb_utils.InferenceResponse([pb_utils.Tensor("OUTPUT__0", x * 2)]))
        return responses
'''

# spec.model of a ModelDeployment serving it (uri relative to the runtime image's root).
SPEC_MODEL = {
    "name": MODEL, "uri": f"file:models/{MODEL}", "version": "1", "format": "python",
    "config": {
        "maxBatchSize": 0,  # no batching: one request per execution, one execution at a time
        "inputs": [{"name": "INPUT__0", "dataType": "FP32", "dims": [1, 4]}],
        "outputs": [{"name": "OUTPUT__0", "dataType": "FP32", "dims": [1, 4]}],
        "instanceGroups": [{"kind": "CPU", "count": 1}],
    },
}


def make_paced_model(root: Path, seconds: float = SECONDS) -> Path:
    """Writes models/paced/model.py under root (a runtime image's filesystem); returns the folder."""
    folder = root / "models" / MODEL
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.py").write_text(MODEL_PY.format(seconds=seconds))
    return folder
