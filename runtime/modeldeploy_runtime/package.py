"""`modeldeploy package`: a torch model → a Triton model folder.

Writes model.pt (TorchScript, for Triton's libtorch backend in production
images) and model.py (a python-backend model serving that same TorchScript),
and infers tensor names, data types and dims from the example inputs.
Loading (torch_loading), example inputs (example_inputs) and int8
quantization (quantization) live in their own modules.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import torch
import yaml

from .errors import ExitCode, RuntimeFailure
from .quantization import QuantizationReport, quantize_int8
from .torch_loading import last_error_line
from .tracing import run_examples, trace

SERVING_MODEL = Path(__file__).with_name("torch_serving_model.py")
# What package writes into the output folder, and its record of their digests: only files it wrote
# (unchanged since) are replaced by a later run without --force.
WRITES = ("model.pt", "model.py")
PACKAGE_MARKER = ".modeldeploy-package.json"

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
            return "".join("      - {" + ", ".join(f"{k}: {v}" for k, v in t.items()) + "}\n" for t in tensors)
        serving = {k: v for k, v in self.config(max_batch_size).items() if k not in ("maxBatchSize", "inputs", "outputs")}
        text = (f"    config:\n      maxBatchSize: {max_batch_size}\n      inputs:\n{rows(self.inputs)}"
                f"      outputs:\n{rows(self.outputs)}")
        if serving:
            text += textwrap.indent(yaml.safe_dump(serving, default_flow_style=None, sort_keys=False), "      ")
        return text


def package_module(module: torch.nn.Module, examples: list[torch.Tensor], out_dir: Path,
                   quantize: str | None = None, specs: list[str] | None = None) -> PackageReport:
    module = module.eval()
    specs = specs or [f"{'x'.join(map(str, e.shape))}:{str(e.dtype).removeprefix('torch.')}" for e in examples]
    _check_returns_tensors(run_examples(module, examples, specs))  # a wrong example fails here, in one line
    report = PackageReport(out_dir=out_dir)
    if quantize is not None:
        if quantize != "int8":
            raise RuntimeFailure(ExitCode.USAGE, f"--quantize {quantize}: only int8 is supported")
        module, report.quantization = quantize_int8(module, examples)
    scripted = module if isinstance(module, torch.jit.ScriptModule) else trace(module, examples)
    result = run_examples(scripted, examples, specs)
    outputs = result if isinstance(result, (tuple, list)) else (result,)
    batch = examples[0].shape[0]
    report.inputs = [_tensor_spec(f"INPUT__{i}", t, batch) for i, t in enumerate(examples)]
    report.outputs = [_tensor_spec(f"OUTPUT__{i}", t, batch) for i, t in enumerate(outputs)]
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        scripted.save(str(out_dir / "model.pt"))
        shutil.copyfile(SERVING_MODEL, out_dir / "model.py")
        (out_dir / PACKAGE_MARKER).write_text(json.dumps({name: _sha256(out_dir / name) for name in WRITES}) + "\n")
    except (OSError, RuntimeError) as err:  # torch's save raises RuntimeError for an unwritable path
        raise RuntimeFailure(ExitCode.USAGE, f"-o {out_dir}: cannot write there "
                                             f"({getattr(err, 'strerror', None) or last_error_line(err)}); choose a "
                                             "folder you can write") from None
    return report


def _check_returns_tensors(result: object) -> None:
    """Before tracing: Triton serves a tensor or a tuple of tensors, named OUTPUT__i by position.

    torch.jit.trace refuses anything else with a RuntimeError that names none of this."""
    if isinstance(result, dict):
        keys = list(result)
        example = ", ".join(f"out[{k!r}]" for k in keys[:3]) + (", ..." if len(keys) > 3 else "")
        raise RuntimeFailure(ExitCode.BAD_ARTIFACT, f"forward() returns a dict ({', '.join(map(str, keys))}); Triton "
                                                    "serves tensors by position: return its values as a tuple in a "
                                                    f"fixed order ({example}), which become OUTPUT__0, OUTPUT__1, "
                                                    "... in that order")
    outputs = result if isinstance(result, (tuple, list)) else (result,)
    for i, value in enumerate(outputs):
        if not isinstance(value, torch.Tensor):
            where = f" at position {i} (OUTPUT__{i})" if isinstance(result, (tuple, list)) else ""
            raise RuntimeFailure(ExitCode.BAD_ARTIFACT, f"forward() returns a {type(value).__name__}{where}; Triton "
                                                        "serves tensors: return a tensor or a tuple of tensors from "
                                                        "forward()")


def check_output(out_dir: Path, inputs: list[Path], force: bool = False) -> None:
    """Before any work: -o names a folder, and package replaces nothing it did not write itself."""
    if out_dir.exists() and not out_dir.is_dir():
        raise RuntimeFailure(ExitCode.USAGE, f"-o {out_dir}: is a file; give a folder to write model.pt and "
                                             "model.py into")
    for name in WRITES:
        target = out_dir / name
        if any(target.exists() and target.resolve() == given.resolve() for given in inputs if given.exists()):
            raise RuntimeFailure(ExitCode.USAGE, f"-o {out_dir}: {target} is this command's own input and would be "
                                                 "overwritten; write the package to another folder")
    if force:
        return
    ours = _written_by_package(out_dir)
    for name in WRITES:
        if (out_dir / name).exists() and name not in ours:
            raise RuntimeFailure(ExitCode.USAGE, f"-o {out_dir}: {out_dir / name} is there and was not written by "
                                                 "modeldeploy package; choose another folder, or pass --force to "
                                                 "replace it")


def _written_by_package(out_dir: Path) -> set[str]:
    """Which of WRITES in out_dir are, unchanged, what an earlier package run wrote."""
    try:
        recorded = json.loads((out_dir / PACKAGE_MARKER).read_text())
    except (OSError, ValueError):
        recorded = {}
    ours = {name for name in WRITES if isinstance(recorded, dict) and (out_dir / name).is_file()
            and recorded.get(name) == _sha256(out_dir / name)}
    # A folder packaged before the record existed: its model.py is exactly the serving model package copies.
    if "model.py" not in ours and (out_dir / "model.py").is_file() and \
            _sha256(out_dir / "model.py") == _sha256(SERVING_MODEL) and not (out_dir / PACKAGE_MARKER).exists():
        ours |= set(WRITES)
    return ours


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tensor_spec(name: str, tensor: torch.Tensor, batch: int) -> dict:
    if not isinstance(tensor, torch.Tensor):
        raise RuntimeFailure(ExitCode.BAD_ARTIFACT, f"{name} is a {type(tensor).__name__}; Triton serves tensors "
                                                    "(return a tensor or a tuple of tensors from forward())")
    if tensor.dtype not in TRITON_TYPES:
        raise RuntimeFailure(ExitCode.BAD_ARTIFACT, f"{name}: torch dtype {tensor.dtype} has no Triton type")
    if tensor.dim() == 0 or tensor.shape[0] != batch:
        raise RuntimeFailure(ExitCode.BAD_ARTIFACT,
                             f"{name} has shape {list(tensor.shape)}, whose first dimension is not the batch "
                             f"({batch}): Triton's batching splits every output along its first dimension, so "
                             "forward() must return one row per sample")
    spec = {"name": name, "dataType": TRITON_TYPES[tensor.dtype], "dims": list(tensor.shape[1:])}
    if not spec["dims"]:
        # One value per sample ([batch]): Triton needs a dimension, so it is declared [1] and
        # reshaped to [] for the model (requests and responses carry [batch, 1]).
        spec.update(dims=[1], reshape=[])
    return spec
