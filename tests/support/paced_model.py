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

# The autoscaling scenario of the loopback harness and of e2e/: clients that think THINK_SECONDS between an
# answer and their next request rise through LEVELS; 10 queue well under TARGET_MS on one pod, 17 saturate it
# (about 200 ms of queue), and on two pods they use two thirds of each. Short windows keep the test short.
TARGET_MS = 150
THINK_SECONDS = 0.6
LEVELS = (1, 5, 10, 17)
STABLE_WINDOW = 4.0
SCALE_DOWN_DELAY = 6.0
BUILTIN = {"tick": "500ms", "panicWindow": "2s", "stableWindow": f"{STABLE_WINDOW:.0f}s",
           "scaleDownDelay": f"{SCALE_DOWN_DELAY:.0f}s"}

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


def paced_deployment(*, replicas: int = 1, image: str | None = None, namespace: str = "default",
                     uri: str | None = None, **builtin: str) -> dict:
    """A ModelDeployment of the paced model, scaled by the builtin autoscaler on queue time (1 to 3 replicas);
    `builtin` overrides the scenario's spec.autoscaling.builtin settings."""
    runtime: dict = {"resources": {"cpu": "1", "memory": "1Gi"}}
    if image:
        runtime["image"] = image
    return {
        "apiVersion": "serving.modeldeploy.io/v1alpha1", "kind": "ModelDeployment",
        "metadata": {"name": MODEL, "namespace": namespace},
        "spec": {"model": {**SPEC_MODEL, "uri": uri or SPEC_MODEL["uri"]}, "runtime": runtime, "replicas": replicas,
                 "autoscaling": {"engine": "builtin", "metric": "queueTime", "target": f"{TARGET_MS}ms",
                                 "minReplicas": 1, "maxReplicas": 3, "builtin": {**BUILTIN, **builtin}}},
    }


def make_paced_model(root: Path, seconds: float = SECONDS) -> Path:
    """Writes models/paced/model.py under root (a runtime image's filesystem); returns the folder."""
    folder = root / "models" / MODEL
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.py").write_text(MODEL_PY.format(seconds=seconds))
    return folder
