"""checkov, the policy scanner platform teams run, over what the project renders.

Every rendered example and the Helm chart (defaults, and HA) must pass, but
for the checks below. Each is skipped for a reason a reviewer can weigh;
docs/install.md ("Security decisions") says the same.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import EXAMPLES, REPO

pytestmark = pytest.mark.chart

CHECKOV = REPO / ".cache" / "tools" / "checkov" / "bin" / "checkov"
HELM = REPO / ".cache" / "tools" / "bin" / "helm"
CHART = REPO / "charts" / "modeldeploy-operator"

SKIPPED = {
    "CKV_K8S_11": "no CPU limit on Triton: CFS throttling adds latency spikes to every inference at the limit; "
                  "the CPU request reserves the cores (the operator itself has a CPU limit)",
    "CKV_K8S_43": "examples and chart defaults name tags so they read well; digests are supported and "
                  "recommended (spec.runtime.image and --runtime-image take name@sha256:..., chart image.digest)",
    "CKV_K8S_38": "the operator pod needs its service account token: it is a controller talking to the API "
                  "(Triton pods do not mount one)",
    "CKV_K8S_40": "Triton runs as UID 1000, the triton-server user of NVIDIA's images; its files belong to it",
    "CKV_K8S_35": "spec.auth's API key reaches Triton as an environment variable from its Secret: Triton takes the "
                  "key only as a flag value, which the kubelet expands from that variable; a mounted file would "
                  "end up in the same argument list",
    "CKV_K8S_21": "the quickstart renders into the namespace its file names (default) so it runs anywhere; "
                  "real deployments name their own",
}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    if not CHECKOV.exists() or not HELM.exists():
        pytest.fail("scripts/tools installs checkov and helm; run it (scripts/test does)")
    folder = tmp_path_factory.mktemp("rendered")
    for example in EXAMPLES:
        out = subprocess.run([sys.executable, "-m", "modeldeploy.cli", "render", "-f", str(example)],
                             capture_output=True, text=True, check=True).stdout
        (folder / f"{example.stem}.yaml").write_text(out)
    for name, extra in (("chart", []), ("chart-ha", ["--set", "replicaCount=2"])):
        out = subprocess.run([str(HELM), "template", "md", str(CHART), "-n", "modeldeploy-system", *extra],
                             capture_output=True, text=True, check=True).stdout
        (folder / f"{name}.yaml").write_text(out)
    return folder


def test_rendered_manifests_pass_checkov(rendered):
    result = subprocess.run(
        [str(CHECKOV), "-d", str(rendered), "--framework", "kubernetes", "-o", "json",
         "--skip-check", ",".join(SKIPPED)],
        capture_output=True, text=True, timeout=300,
    )
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    failed = [f"{c['check_id']} {c['check_name']}: {c['resource']} ({c['file_path']})"
              for r in reports for c in r.get("results", {}).get("failed_checks", [])]
    passed = sum(len(r.get("results", {}).get("passed_checks", [])) for r in reports)
    assert passed > 100, "checkov scanned the manifests"
    assert failed == [], "\n".join(failed)
