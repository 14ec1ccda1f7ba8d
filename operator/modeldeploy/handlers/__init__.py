"""The kopf side of the operator: the only package that imports kopf."""

from .options import OperatorOptions
from .runner import run

__all__ = ["OperatorOptions", "run"]
