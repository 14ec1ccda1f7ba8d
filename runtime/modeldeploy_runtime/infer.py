"""Send a real inference to a served ModelDeployment with tritonclient.

Tensors travel as binary data on both protocols: over HTTP that is Triton's
binary tensor extension (raw bytes after a small JSON header) instead of
JSON number lists. Measured in docs/performance.md: per request it costs the
Python client and the server markedly less CPU than JSON, and a lone request
answers sooner.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http
from tritonclient.utils import InferenceServerException, np_to_triton_dtype, triton_to_np_dtype

from modeldeploy.api import ModelDeployment

from .errors import ExitCode, RuntimeFailure


def example_inputs(md: ModelDeployment, batch: int = 1, data: dict[str, Any] | None = None) -> dict[str, np.ndarray]:
    """Request tensors: the given data, else ones shaped by the declared config."""
    config = md.spec.model.config
    if config is None or not config.inputs:
        raise RuntimeFailure(ExitCode.USAGE, "spec.model.config.inputs is not declared; cannot build a request")
    out = {}
    for tensor in config.inputs:
        dtype = triton_to_np_dtype(tensor.data_type)
        dims = [1 if d == -1 else d for d in tensor.dims]
        shape = ([batch] if config.max_batch_size > 0 else []) + dims
        if data and tensor.name in data:
            out[tensor.name] = np.asarray(data[tensor.name], dtype=dtype)
        else:
            out[tensor.name] = np.ones(shape, dtype=dtype)
    return out


def infer(md: ModelDeployment, url: str, inputs: dict[str, np.ndarray], protocol: str = "http",
          timeout_seconds: float = 30.0) -> dict[str, np.ndarray]:
    lib = triton_grpc if protocol == "grpc" else triton_http
    config = md.spec.model.config
    outputs = [t.name for t in config.outputs] if config else []
    client = lib.InferenceServerClient(url) if protocol == "grpc" else \
        lib.InferenceServerClient(url, connection_timeout=timeout_seconds, network_timeout=timeout_seconds)
    try:
        request = []
        for name, array in inputs.items():
            tensor = lib.InferInput(name, list(array.shape), _triton_type(array))
            tensor.set_data_from_numpy(array, **_BINARY[protocol])
            request.append(tensor)
        result = client.infer(md.model_name, request, model_version=md.spec.model.version,
                              outputs=[lib.InferRequestedOutput(n, **_BINARY[protocol]) for n in outputs] or None)
        return {name: result.as_numpy(name) for name in outputs}
    except InferenceServerException as err:
        raise RuntimeFailure(ExitCode.TRITON_FAILED, f"inference failed: {err.message()}") from None
    finally:
        client.close()


# gRPC always carries raw bytes; HTTP does when asked (tritonclient's default, made explicit here).
_BINARY = {"http": {"binary_data": True}, "grpc": {}}


def _triton_type(array: np.ndarray) -> str:
    return np_to_triton_dtype(array.dtype)


def as_json(outputs: dict[str, np.ndarray]) -> str:
    return json.dumps({name: array.tolist() for name, array in outputs.items()})


def curl_example(md: ModelDeployment, http_url: str) -> str:
    body = {"inputs": [
        {"name": name, "shape": list(array.shape), "datatype": _triton_type(array), "data": array.flatten().tolist()}
        for name, array in example_inputs(md).items()
    ]}
    path = f"/v2/models/{md.model_name}/versions/{md.spec.model.version}/infer"
    return f"curl -s -X POST http://{http_url}{path} -H 'Content-Type: application/json' -d '{json.dumps(body)}'"
