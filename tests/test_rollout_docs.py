"""docs/rollouts.md says what the code does: its examples validate, its Role is what the commands use,
its exit-code table is the commands' own."""

from __future__ import annotations

import re

import pytest
import yaml

from conftest import REPO
from modeldeploy.api import parse_model_deployment
from modeldeploy.clients.permissions import USER_PERMISSIONS
from modeldeploy.rollout_commands.exits import ExitCode

pytestmark = pytest.mark.unit

DOC = (REPO / "docs" / "rollouts.md").read_text()
BLOCKS = [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", DOC, re.S)]


def test_every_modeldeployment_example_validates():
    examples = [b for b in BLOCKS if isinstance(b, dict) and b.get("kind") == "ModelDeployment"]
    assert len(examples) == 5, "one per strategy"
    strategies = set()
    for example in examples:
        md = parse_model_deployment(example)
        strategies.add((md.spec.rollout.strategy, bool(md.spec.rollout.steps),
                        md.spec.rollout.traffic_routing is not None))
    assert strategies == {("Canary", True, False), ("Canary", False, False), ("Canary", True, True),
                          ("BlueGreen", False, False), ("Recreate", False, False)}


def test_the_documented_role_is_what_the_commands_need():
    (role,) = [b for b in BLOCKS if isinstance(b, dict) and b.get("kind") == "Role"]
    documented = {(g, r, v) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]
                  for v in rule["verbs"]}
    assert documented == {(p.api_group, p.resource, v) for p in USER_PERMISSIONS for v in p.verbs}


def test_every_exit_code_is_documented():
    table = DOC[DOC.index("### Exit codes"):DOC.index("### Permissions")]
    for code in ExitCode:
        named = f"| `{code.name}` |" if code not in (ExitCode.OK, ExitCode.USAGE) else "| |"
        assert re.search(rf"^\| {int(code)} {re.escape(named)}", table, re.M), code
