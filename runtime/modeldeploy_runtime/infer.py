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
from typing import Any, Iterator

import numpy as np
from tritonclient.utils import InferenceServerException, np_to_triton_dtype, triton_to_np_dtype

from modeldeploy.api import ModelDeployment, TensorSpec

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
    _check_data_names(data, [tensor.name for tensor in config.inputs])
    out = {}
    for tensor in config.inputs:
        dtype = triton_to_np_dtype(tensor.data_type)
        if data and tensor.name in data:
            out[tensor.name] = _data_tensor(tensor.name, tensor.data_type, data[tensor.name], dtype)
            _check_data_shape(md, tensor, out[tensor.name], data[tensor.name])
        elif tensor.data_type == "STRING":
            out[tensor.name] = np.full(declared_shape(md, tensor.dims, batch), b"1", dtype=np.object_)
        else:
            out[tensor.name] = np.ones(declared_shape(md, tensor.dims, batch), dtype=dtype)
    return out


def _check_data_names(data: Any, names: list[str]) -> None:
    """--data is an object whose keys are declared inputs: anything else would silently send ones instead."""
    if data is None:
        return
    if not isinstance(data, dict):
        raise RuntimeFailure(ExitCode.USAGE, f"--data is a JSON {type(data).__name__}, not an object: write "
                                             f"{{\"{names[0]}\": [[...]]}}, one nested list per input")
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise RuntimeFailure(ExitCode.USAGE, f"--data names {', '.join(map(repr, unknown))}, which the model does "
                                             f"not take; its inputs are {', '.join(names)} (spec.model.config.inputs)")


def _data_tensor(name: str, data_type: str, value: Any, dtype: Any) -> np.ndarray:
    if isinstance(value, dict) or (data_type != "STRING" and isinstance(value, str)):
        raise RuntimeFailure(ExitCode.USAGE, f"--data {name}: {json.dumps(value)[:40]} is not a nested list of "
                                             f"{data_type} values")
    if data_type != "STRING":
        # numpy converts what it is given (1.5 to 1, true to 1, "yes" to True): the request would carry
        # values the user never wrote.
        for leaf in _leaves(value):
            fix = _value_fix(data_type, leaf)
            if fix:
                raise RuntimeFailure(ExitCode.USAGE, f"--data {name}: {json.dumps(leaf)[:40]} is not a valid "
                                                     f"{data_type} value: {fix}")
    try:
        return np.asarray(value, dtype=dtype)
    except (ValueError, TypeError, OverflowError) as err:
        raise RuntimeFailure(ExitCode.USAGE, f"--data {name}: not a nested list of {data_type} values of one "
                                             f"shape ({err})") from None


def _leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    else:
        yield value


def _value_fix(data_type: str, value: Any) -> str | None:
    """What to give instead of a JSON value that is not of data_type; None when it is."""
    if data_type == "BOOL":
        return None if isinstance(value, bool) else "give true or false"
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if data_type.startswith(("INT", "UINT")):
        bounds = np.iinfo(triton_to_np_dtype(data_type))
        whole = number and isinstance(value, int) and bounds.min <= value <= bounds.max
        return None if whole else f"give whole numbers from {bounds.min} to {bounds.max}"
    return None if number else "give numbers"


def _check_data_shape(md: ModelDeployment, tensor: TensorSpec, array: np.ndarray, value: Any) -> None:
    """--data has the declared rank and fixed dims, batch first when the model batches: else Triton refuses it."""
    batched = md.spec.model.config.max_batch_size > 0
    expected = ([-1] if batched else []) + list(tensor.dims)
    if array.ndim == len(expected) and all(e in (-1, a) for a, e in zip(array.shape, expected)):
        return
    takes = "[" + ", ".join(["batch"] * batched + ["any" if d == -1 else str(d) for d in tensor.dims]) + "]"
    how = ": one nested list per sample, batch first" if batched else ""
    raise RuntimeFailure(ExitCode.USAGE, f"--data {tensor.name}: {json.dumps(value)[:40]} has shape "
                                         f"{list(array.shape)}, and {tensor.name} ({tensor.data_type}) takes "
                                         f"{takes}{how}")


_BACKEND_WRAPPING = re.compile(r"^Failed to process the request\(s\) for model '[^']*', message: (?:\w+(?:Error|Exception): )?")


def model_reason(message: str) -> str:
    """The model's own words in an error Triton wraps: the python backend adds its prefix and a trace."""
    first = message.split("\n\nAt:", 1)[0].strip()
    return _BACKEND_WRAPPING.sub("", first) or message


def check_url(url: str) -> None:
    """--url is HOST:PORT with a port from 1 to 65535: else tritonclient fails making its client, with a trace."""
    host, _, port = url.rpartition(":")
    if not host or not port.isdigit() or "/" in url:
        raise RuntimeFailure(ExitCode.USAGE, f"--url {url}: write HOST:PORT, e.g. 127.0.0.1:8000 (no scheme, no path)")
    if not 1 <= int(port) <= 65535:
        raise RuntimeFailure(ExitCode.USAGE, f"--url {url}: port {port} is out of range: give a TCP port from 1 to "
                                             "65535")


def infer(md: ModelDeployment, url: str, inputs: dict[str, np.ndarray], protocol: str = "http",
          timeout_seconds: float = 30.0, headers: dict[str, str] | None = None) -> dict[str, np.ndarray]:
    """The declared outputs of one inference; a RuntimeFailure with one line when it cannot be had."""
    lib = _client_library(protocol)
    config = md.spec.model.config
    outputs = [t.name for t in config.outputs] if config else []
    check_url(url)
    key_sent = bool(headers)  # before the call: tritonclient adds its own entries to this dict
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
        refused = key_refused(md, message, key_sent)
        if refused:
            raise RuntimeFailure(ExitCode.ACCESS_DENIED, refused) from None
        raise RuntimeFailure(ExitCode.TRITON_FAILED, f"inference failed: {model_reason(message)}") from None
    finally:
        client.close()


def key_refused(md: ModelDeployment, message: str, key_sent: bool) -> str | None:
    """Triton's refusal of a request without the right API key, as what to do about it; else None."""
    from modeldeploy.api import API_KEY_ENV  # noqa: PLC0415

    found = re.search(r"expecting header '([^']+)'", message)
    if not found:
        return None
    sent = "the key sent was refused" if key_sent else "none was sent"
    where = (f"the key in Secret {md.spec.auth.api_key_secret} for a cluster, or the one `modeldeploy serve` printed"
             if md.spec.auth is not None else "the server's key")
    return (f"the server wants an API key (expecting header '{found[1]}') and {sent}: set ${API_KEY_ENV} to "
            f"{where}")


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
    if protocol == "http" and "while decoding the response" in text:
        # Triton answers JSON (errors included); an HTML page or other text comes from some other server.
        return (f"the server at {url} answered, but is not a Triton (KServe v2) server: check --url (modeldeploy "
                "serve prints Triton's address; 8000 in a pod)")
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


def curl_example(md: ModelDeployment, http_url: str, request_file: Path, api_key_header: str | None = None) -> str:
    """A short curl line; the request body (one example, shaped by the config) goes to request_file.

    api_key_header: `x-api-key: ...` as the line should send it, when spec.auth asks for a key."""
    body = {"inputs": [
        {"name": name, "shape": list(array.shape), "datatype": _triton_type(array),
         "data": [v.decode() if isinstance(v, bytes) else v for v in array.flatten().tolist()]}
        for name, array in example_inputs(md).items()
    ]}
    request_file.parent.mkdir(parents=True, exist_ok=True)
    request_file.write_text(json.dumps(body) + "\n")
    path = f"/v2/models/{md.model_name}/versions/{md.spec.model.version}/infer"
    key = f' -H "{api_key_header}"' if api_key_header else ""
    return f"curl -s http://{http_url}{path} -H 'Content-Type: application/json'{key} -d @{request_file}"


def _client_library(protocol: str):  # noqa: ANN202 - tritonclient.grpc or tritonclient.http
    """Each protocol's client loads when first used: the operator's smoke gate speaks HTTP, and grpc alone
    would add about 15 MiB to its memory."""
    if protocol == "grpc":
        import tritonclient.grpc as library  # noqa: PLC0415
    else:
        import tritonclient.http as library  # noqa: PLC0415
    return library
