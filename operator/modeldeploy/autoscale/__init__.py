"""The builtin autoscaler: a pure decision (decide), the scraping, and the loop that writes /scale.

Beside `reconcile`: it may use clients, builders and the API, never kopf. The
reconciler never learns KPA windows; it writes `status.autoscaling` from what
the loop keeps (`autoscaling_status`).
"""

from .decide import Decision, Pod, PodSample, Samples, Settings, State, Verdict, decide

__all__ = ["Decision", "Pod", "PodSample", "Samples", "Settings", "State", "Verdict", "decide"]
