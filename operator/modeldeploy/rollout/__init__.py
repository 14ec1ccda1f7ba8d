"""Rollouts: a pure step function over observed revisions, and the analysis that judges new ones.

The reconciler gathers what is observed, calls `step`, and applies what it
returns; nothing here talks to the Kubernetes API.
"""

from .analysis import IntervalVerdict, Window, judge
from .budget import Budget, allocate, canary_pods, routed_pods
from ..timestamps import epoch, iso
from .plan import ABORT, PROMOTE, PROMOTE_FULL, RETRY, Event, Inputs, Plan
from .step import step
from .views import PodView, RevisionView, Target

__all__ = [
    "ABORT", "PROMOTE", "PROMOTE_FULL", "RETRY", "Budget", "Event", "Inputs", "IntervalVerdict", "Plan", "PodView",
    "RevisionView", "Target", "Window", "allocate", "canary_pods", "epoch", "iso", "judge", "routed_pods", "step",
]
