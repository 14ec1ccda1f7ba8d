"""Real-cluster tests: the integration scenarios against the cluster of KUBECONFIG (kind, k3d, any).

    MODELDEPLOY_E2E=1 KUBECONFIG=~/.kube/config .venv/bin/python -m pytest e2e -v

They install the CRDs (server-side apply), run `modeldeploy operator` from this
machine against the cluster, and work in a throwaway namespace. Without
MODELDEPLOY_E2E=1 or a reachable cluster they skip and say why.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))


def pytest_collection_modifyitems(config, items):
    items = [item for item in items if Path(str(item.fspath)).is_relative_to(Path(__file__).parent)]
    if not items:
        return
    reason = None
    if os.environ.get("MODELDEPLOY_E2E") != "1":
        reason = "real-cluster tests: set MODELDEPLOY_E2E=1 and KUBECONFIG to run them"
    else:
        try:
            from kubernetes import client, config as kconfig

            kconfig.load_kube_config()
            client.VersionApi().get_code(_request_timeout=5)
        except Exception as err:  # noqa: BLE001 - any failure means: no cluster to test against
            reason = f"no reachable cluster in KUBECONFIG ({type(err).__name__}: {err})"[:300]
    if reason:
        for item in items:
            item.add_marker(pytest.mark.skip(reason=reason))
