"""The builtin autoscaler: a pure decision (decide), the scraping, and the loop that writes /scale.

Beside `reconcile`: it may use clients, builders and the API, never kopf. The
reconciler never learns KPA windows; it writes `status.autoscaling` from what
the loop keeps (`autoscaling_status`).
"""

from .decide import Decision, Pod, PodSample, Samples, Settings, State, Verdict, decide
from .events import scale_event
from .loop import AutoscaleLoop, EventRecorder, ScaleWriter
from .metrics import AutoscalerMetrics
from .scraper import Scraper
from .status import autoscaling_status
from .targets import Target, TargetPod, Targets, pod_view

__all__ = ["AutoscaleLoop", "AutoscalerMetrics", "Decision", "EventRecorder", "Pod", "PodSample", "Samples",
           "ScaleWriter", "Scraper", "Settings", "State", "Target", "TargetPod", "Targets", "Verdict",
           "autoscaling_status", "decide", "pod_view", "scale_event"]
