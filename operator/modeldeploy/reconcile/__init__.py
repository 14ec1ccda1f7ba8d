"""Reconcile: desired children from the builders, applied with the fewest writes, and status."""

from .metrics import OperatorMetrics
from .observed import ObservedCache, key_of, owner_key
from .reconciler import Outcome, Reconciler

__all__ = ["ObservedCache", "OperatorMetrics", "Outcome", "Reconciler", "key_of", "owner_key"]
