"""`package --quantize int8`: torch's dynamic quantization, and an honest verdict on it.

Dynamic int8 quantization stores Linear weights as int8 and runs them with
int8 kernels. It pays off for models whose weight sits in large Linear
layers (MLPs, transformer blocks). For a small model, or one made of
convolutions, the packed weights and the quantize/dequantize steps can make
the file bigger and inference slower; the report says so.
"""

from __future__ import annotations

import io
import statistics
import time
import warnings
from dataclasses import dataclass

import torch

from .errors import ExitCode, RuntimeFailure
from .tracing import trace

WORSE = 1.10  # bigger or slower than this factor is worth a warning


@dataclass
class QuantizationReport:
    size_before: int
    size_after: int
    latency_before_ms: float
    latency_after_ms: float
    max_abs_error: float
    mean_rel_error: float
    linear_share: float  # fraction of the parameters in Linear layers, the only ones quantized

    def summary(self) -> str:
        return (f"int8: size {self.size_before} → {self.size_after} bytes ({self.size_after / self.size_before:.2f}×), "
                f"latency {self.latency_before_ms:.3f} → {self.latency_after_ms:.3f} ms, "
                f"max abs error {self.max_abs_error:.2e}, mean relative error {self.mean_rel_error:.2e}")

    def warning(self) -> str | None:
        """A plain sentence when int8 made the model bigger or slower, else None."""
        worse = []
        if self.size_after > self.size_before * WORSE:
            worse.append(f"{self.size_after / self.size_before:.2f}× bigger")
        if self.latency_after_ms > self.latency_before_ms * WORSE:
            worse.append(f"{self.latency_after_ms / self.latency_before_ms:.2f}× slower")
        if not worse:
            return None
        return (f"warning: int8 made this model {' and '.join(worse)} than float32. Dynamic quantization converts "
                f"Linear layers only, which hold {self.linear_share:.0%} of this model's parameters. "
                "Not quantizing is recommended: rerun without --quantize.")


def quantize_int8(module: torch.nn.Module, examples: list[torch.Tensor]) -> tuple[torch.nn.Module, QuantizationReport]:
    if isinstance(module, torch.jit.ScriptModule):
        raise RuntimeFailure(ExitCode.USAGE, "int8 quantization needs the eager module (a torch.save(model) file, "
                                             "or a state dict with --model-class), not TorchScript")
    share = linear_share(module)
    if share == 0:
        raise RuntimeFailure(ExitCode.USAGE, "--quantize int8 converts Linear layers, and this model has none: "
                                             "nothing would change. Package it without --quantize.")
    with warnings.catch_warnings():
        # torch announces the move of this API to torchao; nothing a user of `package` can act on.
        warnings.simplefilter("ignore", (DeprecationWarning, UserWarning))
        quantized = torch.ao.quantization.quantize_dynamic(module, {torch.nn.Linear}, dtype=torch.qint8)
        return quantized, _compare(module, quantized, examples, share)


def linear_share(module: torch.nn.Module) -> float:
    total = sum(p.numel() for p in module.parameters())
    linear = sum(p.numel() for m in module.modules() if isinstance(m, torch.nn.Linear) for p in m.parameters())
    return linear / total if total else 0.0


def _size(module: torch.nn.Module, examples: list[torch.Tensor]) -> int:
    buffer = io.BytesIO()
    torch.jit.save(trace(module, examples), buffer)
    return buffer.tell()


def _latency_ms(module: torch.nn.Module, examples: list[torch.Tensor], runs: int = 50) -> float:
    times = []
    with torch.inference_mode():
        for _ in range(runs):
            start = time.perf_counter()
            module(*examples)
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _compare(original: torch.nn.Module, quantized: torch.nn.Module, examples: list[torch.Tensor],
             share: float) -> QuantizationReport:
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
        linear_share=share,
    )
