"""What the operator loads at start is what its memory figure pays for (docs/performance.md): the gRPC client
and torch belong to the runtime's other commands, never to `modeldeploy operator`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit

HEAVY = ("grpc", "tritonclient.grpc", "torch", "transformers", "boto3", "google.cloud.storage")


def test_the_operator_loads_no_grpc_torch_or_storage_client_at_start() -> None:
    code = ("import json, sys; import modeldeploy.handlers.runner; "
            f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                       timeout=120).stdout)
    assert loaded == [], f"the operator imports {loaded} at start"
