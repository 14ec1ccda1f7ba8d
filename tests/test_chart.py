"""The Helm chart, rendered by real helm, checked against the official schemas and the operator's code."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from conftest import EXAMPLES, REPO
from modeldeploy.api import parse_model_deployment
from modeldeploy.builders import build_all
from modeldeploy.clients.permissions import PERMISSIONS
from modeldeploy.documents import load_file
from support.pod_security import restricted_violations

pytestmark = pytest.mark.chart

CHART = REPO / "charts" / "modeldeploy-operator"
HELM = REPO / ".cache" / "tools" / "bin" / "helm"
KUBERNETES_VERSION = "1.33"
VALUE_SETS = {
    "default": [],
    "namespaced": ["--set", "watchNamespaces={ml,vision}"],
    "ha": ["--set", "replicaCount=2"],
    "monitoring": ["--set", "metrics.serviceMonitor.enabled=true", "--set", "grafanaDashboard.enabled=true",
                   "--set", "networkPolicy.enabled=true"],
    "autoscaling": ["--set", "prometheusAdapter.rules=true", "--set", "prometheusAdapter.namespace=monitoring",
                    "--set", "keda.prometheusServer=http://prometheus.monitoring:9090"],
}
# Prometheus Operator's kind is not in the official Kubernetes schemas.
NOT_IN_OFFICIAL_SCHEMAS = {"monitoring.coreos.com/v1"}


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    assert HELM.exists(), f"{HELM} is missing: run scripts/tools (scripts/test does)"
    return subprocess.run([str(HELM), *args], capture_output=True, text=True, check=check)


def render(values: list[str]) -> list[dict]:
    out = helm("template", "md", str(CHART), "--namespace", "modeldeploy-system", "--include-crds", *values).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


@pytest.fixture(scope="module", params=list(VALUE_SETS))
def rendered(request) -> tuple[str, list[dict]]:
    return request.param, render(VALUE_SETS[request.param])


def test_helm_lint_passes():
    result = helm("lint", str(CHART), "--strict")
    assert "0 chart(s) failed" in result.stdout, result.stdout + result.stderr


def test_every_rendered_object_passes_the_strict_official_schema(rendered):
    _, objects = rendered
    for obj in objects:
        if obj["apiVersion"] in NOT_IN_OFFICIAL_SCHEMAS or obj["apiVersion"] == "kopf.dev/v1":
            continue
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_the_operator_pod_meets_the_restricted_profile_and_probes_its_health(rendered):
    _, objects = rendered
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert restricted_violations(pod) == []
    container = pod["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_triton_pods_meet_the_restricted_profile(example: Path):
    for md in load_file(str(example)).model_deployments:
        deployment = next(o for o in build_all(md) if o["kind"] == "Deployment")
        assert restricted_violations(deployment["spec"]["template"]["spec"]) == []


def _granted(objects: list[dict]) -> set[tuple[str, str, str]]:
    return {(group, resource, verb)
            for obj in objects if obj["kind"] in ("ClusterRole", "Role")
            for rule in obj["rules"]
            for group in rule["apiGroups"] for resource in rule["resources"] for verb in rule["verbs"]}


def _declared(mode: str) -> set[tuple[str, str, str]]:
    return {(p.api_group, p.resource, verb) for p in PERMISSIONS if p.only in (None, mode) for verb in p.verbs}


def test_rbac_grants_exactly_what_the_operator_uses_without_wildcards_and_secrets_only_by_name(rendered):
    name, objects = rendered
    granted = _granted(objects)
    assert granted == _declared("namespaced" if name == "namespaced" else "cluster")
    assert not any("*" in part for rule in granted for part in rule)
    assert {verb for _, resource, verb in granted if resource == "secrets"} == {"get"}, \
        "Secrets are read one by one (spec.auth's API key), never listed or watched"


def test_namespaced_mode_grants_workload_access_only_in_the_watched_namespaces():
    objects = render(VALUE_SETS["namespaced"])
    roles = {o["metadata"]["namespace"] for o in objects if o["kind"] == "Role"}
    assert roles == {"ml", "vision"}
    cluster_role = next(o for o in objects if o["kind"] == "ClusterRole")
    assert {r for rule in cluster_role["rules"] for r in rule["resources"]} == {"customresourcedefinitions", "namespaces"}
    args = next(o for o in objects if o["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--namespace=ml" in args and "--namespace=vision" in args and "--all-namespaces" not in args


def test_ha_runs_two_peered_replicas_and_one_replica_runs_standalone():
    ha = render(VALUE_SETS["ha"])
    deployment = next(o for o in ha if o["kind"] == "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert "--peering=modeldeploy" in deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert any(o["kind"] == "ClusterKopfPeering" and o["metadata"]["name"] == "modeldeploy" for o in ha)
    single = next(o for o in render([]) if o["kind"] == "Deployment")
    assert "--standalone" in single["spec"]["template"]["spec"]["containers"][0]["args"]


def test_monitoring_values_add_servicemonitors_and_a_dashboard():
    objects = render(VALUE_SETS["monitoring"])
    monitors = [o for o in objects if o["kind"] == "ServiceMonitor"]
    assert len(monitors) == 2
    triton = next(m for m in monitors if m["metadata"]["name"].endswith("-triton"))
    assert triton["spec"]["selector"]["matchLabels"] == {"serving.modeldeploy.io/metrics": "true"}
    # It selects the metrics Service the builders make for every ModelDeployment.
    md = parse_model_deployment(yaml.safe_load((REPO / "examples" / "quickstart.yaml").read_text()))
    metrics_service = next(o for o in build_all(md) if o["metadata"]["name"].endswith("-metrics"))
    assert triton["spec"]["selector"]["matchLabels"].items() <= metrics_service["metadata"]["labels"].items()
    dashboard = next(o for o in objects if o["kind"] == "ConfigMap")
    text = dashboard["data"]["modeldeploy.json"]
    assert "modeldeploy_reconciles_total" in text and "nv_inference_request_success" in text
    assert any(o["kind"] == "NetworkPolicy" for o in objects)


def test_prometheus_adapter_rules_serve_the_metrics_the_hpas_ask_for():
    from modeldeploy.builders.autoscaling import ADAPTER_METRICS
    assert not any(o["kind"] == "ConfigMap" for o in render([]))  # opt-in
    objects = render(VALUE_SETS["autoscaling"])
    rules_map = next(o for o in objects if o["metadata"]["name"].endswith("-prometheus-adapter-rules"))
    assert rules_map["metadata"]["namespace"] == "monitoring"
    rules = yaml.safe_load(rules_map["data"]["config.yaml"])["rules"]
    assert {r["name"]["as"] for r in rules} == set(ADAPTER_METRICS.values())
    for rule in rules:
        assert rule["resources"]["overrides"]["pod"] == {"resource": "pod"}
        assert "<<.LabelMatchers>>" in rule["metricsQuery"] and "<<.GroupBy>>" in rule["metricsQuery"]
    queue = next(r for r in rules if r["name"]["as"] == ADAPTER_METRICS["queueTime"])
    # Per request, never a division by zero on an idle pod (NaN would drop the pod from the HPA's average).
    assert "nv_inference_request_success" in queue["metricsQuery"] and "clamp_min" in queue["metricsQuery"]


def test_keda_prometheus_server_reaches_the_operator():
    deployment = next(o for o in render(VALUE_SETS["autoscaling"]) if o["kind"] == "Deployment")
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "MODELDEPLOY_KEDA_PROMETHEUS_SERVER", "value": "http://prometheus.monitoring:9090"} in env


def test_the_dashboard_shows_the_autoscaler():
    objects = render(VALUE_SETS["monitoring"])
    text = next(o for o in objects if o["kind"] == "ConfigMap")["data"]["modeldeploy.json"]
    panels = {p["title"]: p for p in json.loads(text)["panels"]}
    autoscaler = [t for t in panels if t.startswith("Autoscaler")]
    assert len(autoscaler) == 3
    exprs = " ".join(t["expr"] for title in autoscaler for t in panels[title]["targets"])
    from prometheus_client import generate_latest
    from modeldeploy.autoscale import AutoscalerMetrics
    exported = generate_latest(AutoscalerMetrics().registry).decode()
    for series in set(re.findall(r"modeldeploy_autoscaler_\w+", exprs)):
        assert f"# TYPE {series} " in exported, f"the operator exports no {series}"


@pytest.mark.parametrize("values, message", [
    (["--set", "replicaCount=-3"], "/replicaCount"),
    (["--set", "logFormat=xml"], "/logFormat"),
    (["--set", "watchNamespaces={Bad_Name}"], "/watchNamespaces/0"),
    (["--set", "replicaCont=2"], "replicaCont"),
    (["--set", "keda.prometheusServer=prometheus:9090"], "/keda/prometheusServer"),
])
def test_bad_values_are_refused_with_the_field(values, message):
    result = helm("template", "md", str(CHART), *values, check=False)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


def test_chart_crds_are_the_same_bytes_as_crds_and_kept_on_uninstall():
    for path in sorted((REPO / "crds").glob("*.yaml")):
        assert (CHART / "crds" / path.name).read_bytes() == path.read_bytes(), f"{path.name} differs"
    assert {p.name for p in (CHART / "crds").glob("*.yaml")} == {p.name for p in (REPO / "crds").glob("*.yaml")}
    for doc in yaml.safe_load_all((CHART / "crds" / "serving.modeldeploy.io_modeldeployments.yaml").read_text()):
        assert doc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_notes_tell_what_to_apply_next():
    out = helm("install", "md", str(CHART), "--dry-run=client", "--namespace", "ms").stdout
    assert "kubectl apply -f my-model.yaml" in out and "examples/resnet50-onnx-gpu.yaml" in out
    assert "examples/quickstart.yaml" not in out, "its file: model exists on a laptop, not in a cluster"
    assert "modeldeploy crd | kubectl apply --server-side -f -" in out


# -- images ---------------------------------------------------------------------------------------------

DOCKERFILES = [REPO / "operator" / "Dockerfile", REPO / "runtime" / "Dockerfile"]


def test_dockerfiles_pass_hadolint():
    result = subprocess.run([str(REPO / ".venv" / "bin" / "hadolint"), *map(str, DOCKERFILES)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_dockerfiles_are_multistage_pinned_non_root_and_versioned(dockerfile: Path):
    text = dockerfile.read_text()
    bases = re.findall(r"^FROM (\S+)", text, re.M)
    assert len(bases) >= 2, "multi-stage"
    assert all(re.fullmatch(r"[\w./-]+:\d+\.\d+\.\d+[\w.-]*(@sha256:[0-9a-f]{64})?", b) for b in bases), bases
    assert re.search(r"^USER 65532", text, re.M)
    version = re.search(r"^ARG VERSION=(\S+)", text, re.M).group(1)
    assert f'version = "{version}"' in (REPO / "pyproject.toml").read_text()


def _entrypoint(dockerfile: Path) -> list[str]:
    text = dockerfile.read_text()
    return yaml.safe_load(re.search(r"^ENTRYPOINT (\[.*\])", text, re.M).group(1))


def test_the_entrypoints_the_images_and_pods_call_exist():
    modeldeploy = str(REPO / ".venv" / "bin" / "modeldeploy")
    for dockerfile in DOCKERFILES:
        assert _entrypoint(dockerfile) == ["modeldeploy"]
    # The operator image's command, and the chart's:
    cmd = yaml.safe_load(re.search(r"^CMD (\[.*\])", DOCKERFILES[0].read_text(), re.M).group(1))
    chart_args = next(o for o in render([]) if o["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    for args in (cmd, chart_args):
        assert subprocess.run([modeldeploy, args[0], "--help"], capture_output=True).returncode == 0
    # The runtime image's commands, as the init containers of every example call them:
    for example in EXAMPLES:
        for md in load_file(str(example)).model_deployments:
            pod = next(o for o in build_all(md) if o["kind"] == "Deployment")["spec"]["template"]["spec"]
            for init in pod["initContainers"]:
                assert "command" not in init, "init containers rely on the image's ENTRYPOINT"
                result = subprocess.run([modeldeploy, init["args"][0], "--help"], capture_output=True, text=True)
                assert result.returncode == 0, f"modeldeploy {init['args'][0]}: {result.stderr}"
