"""Small workloads for testing the harness itself: python's http.server pods, cheap to start by the dozen.

Each pod serves its /srv folder on its own address; an init container writes
`whoami` (the pod's name) and `ready` there. The readiness probe gets
/ready, so a test makes one pod unready by removing the file from the pod's
volume folder.
"""

from __future__ import annotations

import copy
from typing import Any

PYTHON = "python:3.11-slim"
NAMESPACE = "default"


def web_pod_spec(*, grace: int = 5, readiness_period: int = 1) -> dict:
    return {
        "terminationGracePeriodSeconds": grace,
        "initContainers": [{
            "name": "hello", "image": PYTHON,
            "command": ["python3", "-c", "import os\nfor f in ('whoami', 'ready'):\n"
                        "    open(f'/srv/{f}', 'w').write(os.environ['POD_NAME'])"],
            "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
            "volumeMounts": [{"name": "srv", "mountPath": "/srv"}],
        }],
        "containers": [{
            "name": "web", "image": PYTHON,
            "command": ["python3", "-m", "http.server", "8080", "--bind", "$(POD_IP)", "--directory", "/srv"],
            "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
            "ports": [{"name": "http", "containerPort": 8080}],
            "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"},
                               "periodSeconds": readiness_period, "failureThreshold": 1},
            "volumeMounts": [{"name": "srv", "mountPath": "/srv"}],
        }],
        "volumes": [{"name": "srv", "emptyDir": {}}],
    }


def web_deployment(name: str = "web", replicas: int = 2, strategy: dict | None = None, **spec: Any) -> dict:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "replicas": replicas, "selector": {"matchLabels": {"app": name}},
            "strategy": strategy or {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": web_pod_spec()},
            **spec,
        },
    }


def web_service(name: str = "web", selector: dict | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"selector": selector or {"app": name},
                     "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}


def pod(name: str, spec: dict) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": copy.deepcopy(spec)}


def python_container(name: str, script: str, **fields: Any) -> dict:
    """A container running a python script (the python image's python3)."""
    return {"name": name, "image": PYTHON, "command": ["python3", "-c", script], **fields}
