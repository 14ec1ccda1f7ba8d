"""A smoke inference: does the model answer a config-shaped request as the config says?

Triton reports a model ready once it loaded, whether or not its declared
inputs fit what the model takes; the first real request then fails. One
request built from spec.model.config (variable dims as 1, batch 1 when the
model batches) checks every declared output comes back with the declared
shape and type. `modeldeploy serve` runs it before it says ready; the
operator's rollout gate runs it against a pod's address. It never raises:
the result says what failed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from tritonclient.utils import triton_to_np_dtype

from modeldeploy.api import ModelDeployment

from .errors import RuntimeFailure
from .infer import example_inputs, infer

DEFAULT_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class SmokeResult:
    ok: bool
    message: str
    seconds: float


def smoke(md: ModelDeployment, url: str, *, protocol: str = "http", headers: dict[str, str] | None = None,
          timeout: float = DEFAULT_TIMEOUT_SECONDS) -> SmokeResult:
    """One inference at url (host:port of Triton's HTTP or gRPC endpoint) with inputs shaped by the config."""
    start = time.monotonic()
    config = md.spec.model.config
    if config is None or not config.inputs:
        return SmokeResult(True, "skipped: spec.model.config declares no inputs to build a request from", 0.0)
    try:
        outputs = infer(md, url, example_inputs(md), protocol=protocol, timeout_seconds=timeout, headers=headers)
    except RuntimeFailure as failure:
        return SmokeResult(False, failure.reason, time.monotonic() - start)
    problems = [p for tensor in config.outputs if (p := _output_problem(md, tensor, outputs.get(tensor.name)))]
    seconds = time.monotonic() - start
    if problems:
        return SmokeResult(False, "; ".join(problems), seconds)
    shapes = ", ".join(f"{name} {list(array.shape)}" for name, array in outputs.items())
    return SmokeResult(True, f"answered a config-shaped request in {seconds * 1000:.0f} ms ({shapes})", seconds)


def _output_problem(md: ModelDeployment, tensor, array: np.ndarray | None) -> str | None:  # noqa: ANN001 - TensorSpec
    if array is None:
        return f"output {tensor.name} is declared but did not come back"
    batched = md.spec.model.config is not None and md.spec.model.config.max_batch_size > 0
    expected = ([1] if batched else []) + list(tensor.dims)  # -1: any size
    if len(array.shape) != len(expected) or any(e not in (-1, a) for a, e in zip(array.shape, expected)):
        return (f"output {tensor.name} came back with shape {list(array.shape)}, declared {expected}"
                + (" (batch first)" if batched else ""))
    dtype = np.dtype(triton_to_np_dtype(tensor.data_type))
    if array.dtype != dtype and not (tensor.data_type == "STRING" and array.dtype == np.object_):
        return f"output {tensor.name} came back as {array.dtype}, declared {tensor.data_type}"
    return None
