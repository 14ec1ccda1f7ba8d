"""`modeldeploy package`: a torch model → a Triton model folder.

Writes model.pt (TorchScript, for Triton's libtorch backend in production
images) and model.py (a python-backend model serving that same TorchScript),
and infers tensor names, data types and dims from an example input. Optional
dynamic int8 quantization of Linear layers reports what it changed.
"""

from __future__ import annotations

import copy
import io
import re
import shutil
import statistics
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import yaml

from .errors import ExitCode, RuntimeFailure

SERVING_MODEL = Path(__file__).with_name("torch_serving_model.py")

# What `package` recommends for serving a packaged model, from the runs in
# docs/performance.md (python backend on CPU): batch what queued while the
# model ran, with no added wait.
SERVING_DEFAULTS = {
    "dynamicBatching": {"maxQueueDelayMicroseconds": 0},
    "instanceGroups": [{"kind": "CPU", "count": 1}],
}

TRITON_TYPES = {
    torch.float32: "FP32", torch.float16: "FP16", torch.bfloat16: "BF16", torch.float64: "FP64",
    torch.int64: "INT64", torch.int32: "INT32", torch.int16: "INT16", torch.int8: "INT8",
    torch.uint8: "UINT8", torch.bool: "BOOL",
}
_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16, "float64": torch.float64,
           "int64": torch.int64, "int32": torch.int32, "int16": torch.int16, "int8": torch.int8,
           "uint8": torch.uint8, "bool": torch.bool}
_EXAMPLE = re.compile(r"^(?P<shape>[0-9]+(x[0-9]+)*)(:(?P<dtype>[a-z0-9]+))?$")


@dataclass
class QuantizationReport:
    size_before: int
    size_after: int
    latency_before_ms: float
    latency_after_ms: float
    max_abs_error: float
    mean_rel_error: float


@dataclass
class PackageReport:
    out_dir: Path
    inputs: list[dict] = field(default_factory=list)
    outputs: list[dict] = field(default_factory=list)
    quantization: QuantizationReport | None = None

    def config(self, max_batch_size: int) -> dict:
        """spec.model.config for this model: its tensors, plus the serving defaults of SERVING_DEFAULTS."""
        config: dict = {"maxBatchSize": max_batch_size, "inputs": self.inputs, "outputs": self.outputs}
        if max_batch_size > 0:
            config |= copy.deepcopy(SERVING_DEFAULTS)
        return config

    def config_yaml(self, max_batch_size: int) -> str:
        def rows(tensors: list[dict]) -> str:
            return "".join(f"      - {{name: {t['name']}, dataType: {t['dataType']}, dims: {t['dims']}}}\n"
                           for t in tensors)
        serving = {k: v for k, v in self.config(max_batch_size).items() if k not in ("maxBatchSize", "inputs", "outputs")}
        text = (f"    config:\n      maxBatchSize: {max_batch_size}\n      inputs:\n{rows(self.inputs)}"
                f"      outputs:\n{rows(self.outputs)}")
        if serving:
            text += textwrap.indent(yaml.safe_dump(serving, default_flow_style=None, sort_keys=False), "      ")
        return text


def parse_example_input(spec: str) -> torch.Tensor:
    """'8x16:float32' → a seeded random tensor of that shape (first dim is the batch)."""
    match = _EXAMPLE.match(spec)
    if not match or (match["dtype"] and match["dtype"] not in _DTYPES):
        raise RuntimeFailure(ExitCode.USAGE, f"example input {spec!r}: write SHAPE[:DTYPE] such as 8x16:float32 "
                                             f"(dtypes: {', '.join(_DTYPES)})")
    shape = [int(d) for d in match["shape"].split("x")]
    if len(shape) < 2:
        raise RuntimeFailure(ExitCode.USAGE, f"example input {spec!r} needs a batch dimension first, e.g. 1x{spec}")
    dtype = _DTYPES[match["dtype"] or "float32"]
    generator = torch.Generator().manual_seed(0)
    if dtype.is_floating_point:
        return torch.randn(shape, generator=generator).to(dtype)
    if dtype == torch.bool:
        return torch.randint(0, 2, shape, generator=generator).bool()
    return torch.randint(0, 100, shape, generator=generator).to(dtype)


def load_model(path: Path) -> torch.nn.Module:
    """A TorchScript archive, or a whole module saved with torch.save (trusted files only)."""
    if not path.is_file():
        raise RuntimeFailure(ExitCode.SOURCE_NOT_FOUND, f"{path} does not exist")
    try:
        return torch.jit.load(str(path), map_location="cpu")
    except RuntimeError:
        pass
    try:
        module = torch.load(str(path), map_location="cpu", weights_only=False)
    except Exception as err:  # noqa: BLE001 - torch raises many kinds for a bad file
        raise RuntimeFailure(ExitCode.BAD_ARTIFACT, f"{path.name} is neither TorchScript nor a saved module: {err}") \
            from None
    if not isinstance(module, torch.nn.Module):
        raise RuntimeFailure(ExitCode.BAD_ARTIFACT,
                             f"{path.name} holds a {type(module).__name__}, not a module; save the whole model")
    return module


def package_module(module: torch.nn.Module, examples: list[torch.Tensor], out_dir: Path,
                   quantize: str | None = None) -> PackageReport:
    module = module.eval()
    report = PackageReport(out_dir=out_dir)
    if quantize is not None:
        if quantize != "int8":
            raise RuntimeFailure(ExitCode.USAGE, f"--quantize {quantize}: only int8 is supported")
        if isinstance(module, torch.jit.ScriptModule):
            raise RuntimeFailure(ExitCode.USAGE, "int8 quantization needs the eager module (a torch.save(model) file), "
                                                 "not TorchScript")
        original = module
        module = torch.ao.quantization.quantize_dynamic(module, {torch.nn.Linear}, dtype=torch.qint8)
        report.quantization = _compare(original, module, examples)
    scripted = module if isinstance(module, torch.jit.ScriptModule) else _trace(module, examples)
    with torch.inference_mode():
        result = scripted(*examples)
    outputs = result if isinstance(result, (tuple, list)) else (result,)
    report.inputs = [_tensor_spec(f"INPUT__{i}", t) for i, t in enumerate(examples)]
    report.outputs = [_tensor_spec(f"OUTPUT__{i}", t) for i, t in enumerate(outputs)]
    out_dir.mkdir(parents=True, exist_ok=True)
    scripted.save(str(out_dir / "model.pt"))
    shutil.copyfile(SERVING_MODEL, out_dir / "model.py")
    return report


def _trace(module: torch.nn.Module, examples: list[torch.Tensor]) -> torch.jit.ScriptModule:
    with torch.inference_mode(False), torch.no_grad():
        return torch.jit.trace(module, tuple(examples))


def _tensor_spec(name: str, tensor: torch.Tensor) -> dict:
    if tensor.dtype not in TRITON_TYPES:
        raise RuntimeFailure(ExitCode.BAD_ARTIFACT, f"{name}: torch dtype {tensor.dtype} has no Triton type")
    return {"name": name, "dataType": TRITON_TYPES[tensor.dtype], "dims": list(tensor.shape[1:])}


def _size(module: torch.nn.Module, examples: list[torch.Tensor]) -> int:
    buffer = io.BytesIO()
    torch.jit.save(_trace(module, examples), buffer)
    return buffer.tell()


def _latency_ms(module: torch.nn.Module, examples: list[torch.Tensor], runs: int = 50) -> float:
    times = []
    with torch.inference_mode():
        for _ in range(runs):
            start = time.perf_counter()
            module(*examples)
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _compare(original: torch.nn.Module, quantized: torch.nn.Module, examples: list[torch.Tensor]) -> QuantizationReport:
    with torch.inference_mode():
        before, after = original(*examples), quantized(*examples)
    before = before[0] if isinstance(before, (tuple, list)) else before
    after = after[0] if isinstance(after, (tuple, list)) else after
    diff = (before.float() - after.float()).abs()
    return QuantizationReport(
        size_before=_size(original, examples), size_after=_size(quantized, examples),
        latency_before_ms=_latency_ms(original, examples), latency_after_ms=_latency_ms(quantized, examples),
        max_abs_error=float(diff.max()),
        mean_rel_error=float((diff / before.float().abs().clamp_min(1e-6)).mean()),
    )
