"""Send a real inference to a served ModelDeployment with tritonclient.

Tensors travel as binary data on both protocols: over HTTP that is Triton's
binary tensor extension (raw bytes after a small JSON header) instead of
JSON number lists. Measured in docs/performance.md: per request it costs the
Python client and the server markedly less CPU than JSON, and a lone request
answers sooner.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
from pathlib import Path
from typing import Any

import numpy as np
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http
from tritonclient.utils import InferenceServerException, np_to_triton_dtype, triton_to_np_dtype

from modeldeploy.api import ModelDeployment

from .errors import ExitCode, RuntimeFailure


def declared_shape(md: ModelDeployment, dims: list[int], batch: int = 1) -> list[int]:
    """A request's shape for declared dims: variable dims as 1, the batch first when the model batches."""
    config = md.spec.model.config
    batched = config is not None and config.max_batch_size > 0
    return ([batch] if batched else []) + [1 if d == -1 else d for d in dims]


def example_inputs(md: ModelDeployment, batch: int = 1, data: dict[str, Any] | None = None) -> dict[str, np.ndarray]:
    """Request tensors: the given data, else ones shaped by the declared config."""
    config = md.spec.model.config
    if config is None or not config.inputs:
        raise RuntimeFailure(ExitCode.USAGE, "spec.model.config.inputs is not declared; cannot build a request")
    out = {}
    for tensor in config.inputs:
        dtype = triton_to_np_dtype(tensor.data_type)
        if data and tensor.name in data:
            out[tensor.name] = np.asarray(data[tensor.name], dtype=dtype)
        elif tensor.data_type == "STRING":
            out[tensor.name] = np.full(declared_shape(md, tensor.dims, batch), b"1", dtype=np.object_)
        else:
            out[tensor.name] = np.ones(declared_shape(md, tensor.dims, batch), dtype=dtype)
    return out


_BACKEND_WRAPPING = re.compile(r"^Failed to process the request\(s\) for model '[^']*', message: (?:\w+(?:Error|Exception): )?")


def model_reason(message: str) -> str:
    """The model's own words in an error Triton wraps: the python backend adds its prefix and a trace."""
    first = message.split("\n\nAt:", 1)[0].strip()
    return _BACKEND_WRAPPING.sub("", first) or message


def infer(md: ModelDeployment, url: str, inputs: dict[str, np.ndarray], protocol: str = "http",
          timeout_seconds: float = 30.0, headers: dict[str, str] | None = None) -> dict[str, np.ndarray]:
    """The declared outputs of one inference; a RuntimeFailure with one line when it cannot be had."""
    lib = triton_grpc if protocol == "grpc" else triton_http
    config = md.spec.model.config
    outputs = [t.name for t in config.outputs] if config else []
    host, _, port = url.rpartition(":")
    if not host or not port.isdigit() or "/" in url:
        raise RuntimeFailure(ExitCode.USAGE, f"--url {url}: write HOST:PORT, e.g. 127.0.0.1:8000 (no scheme, no path)")
    client = lib.InferenceServerClient(url) if protocol == "grpc" else \
        lib.InferenceServerClient(url, connection_timeout=timeout_seconds, network_timeout=timeout_seconds)
    try:
        request = []
        for name, array in inputs.items():
            tensor = lib.InferInput(name, list(array.shape), _triton_type(array))
            tensor.set_data_from_numpy(array, **_BINARY[protocol])
            request.append(tensor)
        timeout = {"client_timeout": timeout_seconds} if protocol == "grpc" else {}
        result = client.infer(md.model_name, request, model_version=md.spec.model.version, headers=headers,
                              outputs=[lib.InferRequestedOutput(n, **_BINARY[protocol]) for n in outputs] or None,
                              **timeout)
        return {name: result.as_numpy(name) for name in outputs}
    except (InferenceServerException, OSError, http.client.HTTPException) as err:
        unreachable = transport_problem(err, url, protocol, timeout_seconds)
        if unreachable:
            raise RuntimeFailure(ExitCode.NETWORK, unreachable) from None
        message = err.message() if isinstance(err, InferenceServerException) else str(err)
        raise RuntimeFailure(ExitCode.TRITON_FAILED, f"inference failed: {model_reason(message)}") from None
    finally:
        client.close()


def transport_problem(err: Exception, url: str, protocol: str, timeout_seconds: float) -> str | None:
    """What went wrong on the way to the server, in words, or None when the server itself answered."""
    text = err.message() if isinstance(err, InferenceServerException) else str(err)
    other = "grpc" if protocol == "http" else "http"
    if isinstance(err, ConnectionRefusedError) or "Connection refused" in text:
        return (f"nothing answers at {url} (connection refused): start the server (modeldeploy serve -f FILE prints "
                "its address), or pass --url HOST:PORT")
    if isinstance(err, http.client.HTTPException):
        return (f"{url} does not answer HTTP: is it Triton's gRPC port? Pass --protocol grpc, or the HTTP port "
                "(8000 in a pod)")
    if isinstance(err, (TimeoutError, socket.timeout)) or "Deadline Exceeded" in text or "timed out" in text:
        return f"{url} did not answer within {timeout_seconds:g}s"
    if protocol == "grpc" and "UNAVAILABLE" in text:
        return (f"{url} does not answer gRPC: is it Triton's HTTP port? Drop --protocol {protocol}, or use the gRPC "
                f"port (8001 in a pod)" if "Socket closed" in text else f"cannot reach {url} over gRPC: {text}")
    if isinstance(err, OSError):
        return f"cannot reach {url} over {protocol} ({err.strerror or err}); try --protocol {other} or check --url"
    return None


# gRPC always carries raw bytes; HTTP does when asked (tritonclient's default, made explicit here).
_BINARY = {"http": {"binary_data": True}, "grpc": {}}


def _triton_type(array: np.ndarray) -> str:
    return np_to_triton_dtype(array.dtype)


def as_json(outputs: dict[str, np.ndarray]) -> str:
    return json.dumps({name: array.tolist() for name, array in outputs.items()})


def curl_example(md: ModelDeployment, http_url: str, request_file: Path) -> str:
    """A short curl line; the request body (one example, shaped by the config) goes to request_file."""
    body = {"inputs": [
        {"name": name, "shape": list(array.shape), "datatype": _triton_type(array),
         "data": [v.decode() if isinstance(v, bytes) else v for v in array.flatten().tolist()]}
        for name, array in example_inputs(md).items()
    ]}
    request_file.parent.mkdir(parents=True, exist_ok=True)
    request_file.write_text(json.dumps(body) + "\n")
    path = f"/v2/models/{md.model_name}/versions/{md.spec.model.version}/infer"
    return f"curl -s http://{http_url}{path} -H 'Content-Type: application/json' -d @{request_file}"
