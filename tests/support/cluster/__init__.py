"""A Kubernetes cluster on loopback for tests: pods are real processes, Services route real traffic.

Test support only (never shipped). See docs/harness.md for what each part
stands in for and what it leaves out.
"""

from .harness import Cluster, OrphanProcesses
from .load import LoadClient, LoadReport, infer
from .settings import HarnessSettings
from .views import PodView, kubectl_status

__all__ = ["Cluster", "HarnessSettings", "LoadClient", "LoadReport", "OrphanProcesses", "PodView", "infer",
           "kubectl_status"]
