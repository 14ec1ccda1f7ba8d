"""GPU instance groups on a machine without a GPU: run them as CPU ones, and say so.

The same file serves in the cluster and on a laptop (README). Triton refuses to
load a model whose instance group has kind KIND_GPU when it finds no GPU, so
locally, with none, `serve` gives Triton the config with those groups as
KIND_CPU (count kept, `gpus` dropped) and warns in one line; `validate
--local` warns the same. The cluster's pods keep what the file says.
"""

from __future__ import annotations

import ctypes

from modeldeploy.api import ModelDeployment


def gpu_count() -> int:
    """NVIDIA GPUs NVML sees here (what Triton counts); 0 without the driver."""
    try:
        nvml = ctypes.CDLL("libnvidia-ml.so.1")
    except OSError:
        return 0
    if nvml.nvmlInit_v2() != 0:
        return 0
    try:
        count = ctypes.c_uint(0)
        return count.value if nvml.nvmlDeviceGetCount_v2(ctypes.byref(count)) == 0 else 0
    finally:
        nvml.nvmlShutdown()


def gpu_groups(md: ModelDeployment) -> list[int]:
    """Indexes of spec.model.config.instanceGroups of kind GPU."""
    config = md.spec.model.config
    return [i for i, group in enumerate(config.instance_groups if config else []) if group.kind == "GPU"]


def cpu_fallback_warning(md: ModelDeployment) -> str | None:
    """The one-line warning for GPU instance groups on this machine, or None when they can run as written."""
    groups = gpu_groups(md)
    if not groups or gpu_count() > 0:
        return None
    fields = ", ".join(f"spec.model.config.instanceGroups[{i}]" for i in groups)
    return (f"no GPU on this machine: {fields} of kind GPU run{'s' if len(groups) == 1 else ''} as KIND_CPU "
            "locally (Triton loads no KIND_GPU instance without a GPU); the cluster's pods keep kind GPU")


def as_cpu_groups(md: ModelDeployment) -> ModelDeployment:
    """md with every instance group of kind GPU as kind CPU, its count kept and its gpus list dropped."""
    spec, model = md.spec, md.spec.model
    groups = [group.model_copy(update={"kind": "CPU", "gpus": None}) if group.kind == "GPU" else group
              for group in model.config.instance_groups]
    config = model.config.model_copy(update={"instance_groups": groups})
    model = model.model_copy(update={"config": config})
    return md.model_copy(update={"spec": spec.model_copy(update={"model": model})})
