"""Run and trace a torch model on the example inputs, with errors a user can act on.

A wrong example shape fails deep inside the model; TorchScript wraps the one
useful line ("mat1 and mat2 shapes cannot be multiplied (8x15 and 16x64)")
in 40 lines of its own trace. Here that line is kept and the fix is said.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch

from .errors import ExitCode, RuntimeFailure
from .torch_loading import last_error_line


def forward_arguments(module: torch.nn.Module) -> list[str] | None:
    """Names of forward()'s tensor arguments, when they can be read."""
    try:
        if isinstance(module, torch.jit.ScriptModule):
            return [a.name for a in module.forward.schema.arguments[1:]]
        parameters = inspect.signature(module.forward).parameters.values()
    except (AttributeError, RuntimeError, TypeError, ValueError):
        return None
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in parameters):
        return None
    return [p.name for p in parameters]


def run_examples(module: torch.nn.Module, examples: list[torch.Tensor], specs: list[str]) -> Any:
    """The model's output for the examples, or a one-line RuntimeFailure saying what to change."""
    names = forward_arguments(module)
    if names is not None and len(names) != len(examples):
        raise RuntimeFailure(ExitCode.USAGE, f"forward() takes {len(names)} input(s) ({', '.join(names)}), and "
                                             f"{len(examples)} --example-input were given: give one per input, in order")
    try:
        with torch.inference_mode():
            return module(*examples)
    except Exception as err:  # noqa: BLE001 - whatever the model raises, the message is what counts
        reason = last_error_line(err)
        hint = ("; if an integer input indexes a table (an Embedding), give its range: '8x4:int64[0,10)'"
                if "index" in reason.lower() and "range" in reason.lower() else "")
        raise RuntimeFailure(ExitCode.USAGE, f"the model refused the example input {' '.join(specs)}: {reason}. "
                                             f"Give --example-input the shape and dtype forward() expects, batch "
                                             f"first{hint}") from None


def trace(module: torch.nn.Module, examples: list[torch.Tensor]) -> torch.jit.ScriptModule:
    with torch.inference_mode(False), torch.no_grad():
        return torch.jit.trace(module, tuple(examples))
