"""`--example-input` specs: the tensors `modeldeploy package` traces a model with.

    SHAPE[:DTYPE][VALUES]      batch first; DTYPE defaults to float32
    8x16                       float32, standard normal
    8x4:int64                  integers in [0, 100)
    '8x4:int64[0,10)'          integers 0..9 (an Embedding(10) index); [0,9] is the same range, closed
    '8x3:float32[-1,1)'        uniform in [-1, 1)
    '8x4:int64{1,5,7}'         only these values
    8x2:bool                   random true/false

Brackets and braces mean something to the shell: quote the spec. Values are
seeded, so the same spec gives the same tensor.
"""

from __future__ import annotations

import re

import torch

from .errors import ExitCode, RuntimeFailure

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16, "float64": torch.float64,
          "int64": torch.int64, "int32": torch.int32, "int16": torch.int16, "int8": torch.int8,
          "uint8": torch.uint8, "bool": torch.bool}
DEFAULT_INT_RANGE = (0, 100)
_NUMBER = r"-?[0-9]+(?:\.[0-9]*)?(?:e-?[0-9]+)?"
_SPEC = re.compile(
    rf"^(?P<shape>[0-9]+(?:x[0-9]+)*)(?::(?P<dtype>[a-z0-9]+))?"
    rf"(?:(?P<range>\[(?P<low>{_NUMBER}),(?P<high>{_NUMBER})(?P<close>[)\]]))|(?P<values>\{{[^}}]*\}}))?$"
)
SYNTAX = ("SHAPE[:DTYPE][VALUES] with the batch first, e.g. 8x16:float32, '8x4:int64[0,10)' (integers 0 to 9), "
          "'8x4:int64{1,5,7}' (these values); quote it in the shell")


def parse_example_input(spec: str) -> torch.Tensor:
    """A seeded tensor for one --example-input spec (see the module docstring)."""
    match = _SPEC.match(spec.replace(" ", ""))
    if not match:
        raise RuntimeFailure(ExitCode.USAGE, f"example input {spec!r}: write {SYNTAX}")
    if match["dtype"] and match["dtype"] not in DTYPES:
        raise RuntimeFailure(ExitCode.USAGE, f"example input {spec!r}: unknown dtype {match['dtype']!r}; "
                                             f"use one of {', '.join(DTYPES)}")
    shape = [int(d) for d in match["shape"].split("x")]
    if len(shape) < 2:
        raise RuntimeFailure(ExitCode.USAGE, f"example input {spec!r} needs a batch dimension first, e.g. 1x{spec}")
    dtype = DTYPES[match["dtype"] or "float32"]
    generator = torch.Generator().manual_seed(0)
    if match["values"]:
        return _from_values(spec, match["values"], shape, dtype, generator)
    if match["range"]:
        return _from_range(spec, match, shape, dtype, generator)
    if dtype.is_floating_point:
        return torch.randn(shape, generator=generator).to(dtype)
    if dtype == torch.bool:
        return torch.randint(0, 2, shape, generator=generator).bool()
    return torch.randint(*DEFAULT_INT_RANGE, shape, generator=generator).to(dtype)


def _from_range(spec: str, match: re.Match, shape: list[int], dtype: torch.dtype,
                generator: torch.Generator) -> torch.Tensor:
    low, high, closed = float(match["low"]), float(match["high"]), match["close"] == "]"
    if dtype.is_floating_point:
        if not low < high:
            raise RuntimeFailure(ExitCode.USAGE, f"example input {spec!r}: the range is empty ({low} to {high})")
        return (low + (high - low) * torch.rand(shape, generator=generator)).to(dtype)
    if low != int(low) or high != int(high):
        raise RuntimeFailure(ExitCode.USAGE, f"example input {spec!r}: an integer range takes whole numbers")
    top = int(high) + (1 if closed else 0)
    if not int(low) < top:
        raise RuntimeFailure(ExitCode.USAGE, f"example input {spec!r}: the range holds no integer")
    return torch.randint(int(low), top, shape, generator=generator).to(dtype)


def _from_values(spec: str, written: str, shape: list[int], dtype: torch.dtype,
                 generator: torch.Generator) -> torch.Tensor:
    try:
        values = [float(v) for v in written.strip("{}").split(",") if v]
    except ValueError:
        raise RuntimeFailure(ExitCode.USAGE, f"example input {spec!r}: values are numbers, e.g. {{1,5,7}}") from None
    if not values:
        raise RuntimeFailure(ExitCode.USAGE, f"example input {spec!r}: give at least one value, e.g. {{1,5,7}}")
    pool = torch.tensor(values, dtype=torch.float64)
    picks = torch.randint(0, len(values), shape, generator=generator)
    return pool[picks].to(dtype)

