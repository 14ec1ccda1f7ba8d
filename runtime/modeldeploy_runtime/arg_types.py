"""argparse types for numbers with a range: a value out of it is a usage error (exit 2) naming the flag.

argparse prints `modeldeploy X: error: argument --flag: <this message>`, one
line after the usage, instead of the value failing deep inside a command
(OverflowError from a socket, a sweep of nothing, a negative size limit).
"""

from __future__ import annotations

import argparse
from typing import Callable


def bounded_int(low: int, high: int | None = None, what: str = "a whole number") -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if value < low or (high is not None and value > high):
            bounds = f"from {low} to {high}" if high is not None else f"of at least {low}"
            raise argparse.ArgumentTypeError(f"{value} is out of range: give {what} {bounds}")
        return value
    return parse


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} is out of range: give a number above 0")
    return value


tcp_port = bounded_int(1, 65535, "a TCP port")
positive_int = bounded_int(1)
