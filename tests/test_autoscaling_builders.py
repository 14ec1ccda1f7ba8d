"""The hpa and keda engines' objects: golden files, the official autoscaling/v2 schema, KEDA's published CRD."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from modeldeploy.api import parse_model_deployment
from modeldeploy.builders import (
    BuildOptions, autoscaler_unavailable, build_all, build_autoscaler, build_hpa, build_scaled_object,
)
from modeldeploy.yamlio import dump
from support.golden import check_golden
from support.specs import with_

from conftest import EXAMPLES

pytestmark = pytest.mark.unit

KEDA_CRD = yaml.safe_load((Path(__file__).parent / "schemas" / "keda" / "keda.sh_scaledobjects.yaml").read_text())
KEDA_SCHEMA = KEDA_CRD["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
WITH_KEDA = BuildOptions(keda_available=True)


def _md(engine: str, metric: str = "queueTime", target="50ms", **extra):
    return parse_model_deployment(with_(("spec.autoscaling", {
        "minReplicas": 2, "maxReplicas": 6, "metric": metric, "target": target, "engine": engine, **extra})))


def _unknown_fields(schema: dict, obj, path: str = "") -> list[str]:
    """Fields the CRD does not declare: the API server would prune them silently, so a builder must not emit any."""
    found = []
    if isinstance(obj, dict) and "properties" in schema:
        for key, value in obj.items():
            if key not in schema["properties"]:
                if not schema.get("x-kubernetes-preserve-unknown-fields") and "additionalProperties" not in schema:
                    found.append(f"{path}.{key}")
                continue
            found += _unknown_fields(schema["properties"][key], value, f"{path}.{key}")
    elif isinstance(obj, dict) and isinstance(schema.get("additionalProperties"), dict):
        for key, value in obj.items():
            found += _unknown_fields(schema["additionalProperties"], value, f"{path}.{key}")
    elif isinstance(obj, list) and "items" in schema:
        for i, item in enumerate(obj):
            found += _unknown_fields(schema["items"], item, f"{path}[{i}]")
    return found


def validate_scaled_object(obj: dict) -> None:
    jsonschema.validate(obj, KEDA_SCHEMA)
    assert _unknown_fields(KEDA_SCHEMA, obj) == []


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_golden_autoscaler_objects_where_keda_runs(example: Path, update_golden: bool) -> None:
    md = parse_model_deployment(yaml.safe_load(example.read_text()))
    obj = build_autoscaler(md, WITH_KEDA)
    if obj is None:
        assert md.spec.autoscaling is None or md.spec.autoscaling.engine == "builtin"
        return
    check_golden(f"{example.stem}/{obj['kind'].lower()}-{obj['metadata']['name']}.yaml", dump(obj), update_golden)


@pytest.mark.parametrize("metric,target", [("queueTime", "50ms"), ("pendingRequests", 8), ("inflight", 4),
                                           ("cpu", 70)])
@pytest.mark.parametrize("engine", ["hpa", "keda"])
def test_every_metric_builds_a_valid_object(engine: str, metric: str, target) -> None:
    behavior = {"scaleDown": {"stabilizationWindowSeconds": 60,
                              "policies": [{"type": "Pods", "value": 1, "periodSeconds": 30}]}}
    md = _md(engine, metric, target, behavior=behavior)
    if engine == "hpa":
        hpa = build_hpa(md)
        kubernetes_validate.validate(hpa, "1.33", strict=True)
        assert hpa["spec"]["behavior"] == behavior
    else:
        scaled = build_scaled_object(md, WITH_KEDA)
        validate_scaled_object(scaled)
        assert scaled["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"] == behavior


@pytest.mark.parametrize("engine", ["hpa", "keda"])
def test_the_engines_scale_the_modeldeployment_itself(engine: str) -> None:
    obj = build_autoscaler(_md(engine), WITH_KEDA)
    assert obj["spec"]["scaleTargetRef"] == {"apiVersion": "serving.modeldeploy.io/v1alpha1",
                                             "kind": "ModelDeployment", "name": "demo"}


def test_hpa_reads_triton_metrics_through_the_adapter_per_pod_and_cpu_as_a_resource() -> None:
    queue = build_hpa(_md("hpa"))["spec"]["metrics"][0]
    assert queue == {"type": "Pods", "pods": {
        "metric": {"name": "nv_inference_queue_duration_us_per_request", "selector": {"matchLabels": {"model": "demo"}}},
        "target": {"type": "AverageValue", "averageValue": "50000"}}}  # 50 ms in the adapter's microseconds
    pending = build_hpa(_md("hpa", "pendingRequests", 8))["spec"]["metrics"][0]["pods"]
    assert pending["metric"]["name"] == "nv_inference_pending_request_count"
    assert pending["target"]["averageValue"] == "8"
    cpu = build_hpa(_md("hpa", "cpu", 70))["spec"]["metrics"][0]
    assert cpu == {"type": "Resource", "resource": {"name": "cpu",
                                                    "target": {"type": "Utilization", "averageUtilization": 70}}}


def test_keda_queries_only_this_modeldeployments_pods_on_the_configured_prometheus() -> None:
    options = BuildOptions(keda_available=True, keda_prometheus_server="http://prom.monitoring:9090")
    trigger = build_scaled_object(_md("keda"), options)["spec"]["triggers"][0]
    assert trigger["metadata"]["serverAddress"] == "http://prom.monitoring:9090"
    assert trigger["metricType"] == "Value" and trigger["metadata"]["threshold"] == "50"
    query = trigger["metadata"]["query"]
    assert 'namespace="team-a",service="demo-metrics",model="demo"' in query
    assert "nv_inference_queue_duration_us" in query and "[30s]" in query
    pending = build_scaled_object(_md("keda", "pendingRequests", 8), options)["spec"]["triggers"][0]
    assert pending["metricType"] == "AverageValue"


def _kinds(md, options=BuildOptions()) -> set[str]:
    return {o["kind"] for o in build_all(md, options)}


def test_one_engine_one_object_so_switching_engine_prunes_the_old_one() -> None:
    autoscalers = {"HorizontalPodAutoscaler", "ScaledObject"}
    assert _kinds(_md("builtin"), WITH_KEDA) & autoscalers == set()
    assert _kinds(_md("hpa"), WITH_KEDA) & autoscalers == {"HorizontalPodAutoscaler"}
    assert _kinds(_md("keda"), WITH_KEDA) & autoscalers == {"ScaledObject"}
    assert _kinds(parse_model_deployment(with_())) & autoscalers == set()


def test_keda_without_its_crd_builds_nothing_and_says_why() -> None:
    md = _md("keda")
    assert build_autoscaler(md, BuildOptions(keda_available=False)) is None
    message = autoscaler_unavailable(md, keda_available=False)
    assert "scaledobjects.keda.sh is not installed" in message
    assert autoscaler_unavailable(md, keda_available=True) is None
    assert autoscaler_unavailable(_md("hpa"), keda_available=False) is None


def test_the_vendored_keda_schema_catches_what_keda_would_refuse() -> None:
    scaled = build_scaled_object(_md("keda"), WITH_KEDA)
    broken = {**scaled, "spec": {**scaled["spec"], "triggers": []}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, KEDA_SCHEMA)
    misspelt = {**scaled, "spec": {**scaled["spec"], "minReplicas": 2}}
    assert _unknown_fields(KEDA_SCHEMA, misspelt) == [".spec.minReplicas"]


