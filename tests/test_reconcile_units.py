"""Pure parts of the reconciler: what decides writes, the status, and what is redacted."""

from __future__ import annotations

import copy

import pytest

from modeldeploy.reconcile.conditions import Facts, compute_status, status_patch
from modeldeploy.reconcile.diff import contains, in_sync, stamp
from modeldeploy.reconcile.observed import ObservedCache
from modeldeploy.reconcile.pods import diagnose
from modeldeploy.reconcile.redact import redact

pytestmark = pytest.mark.unit

DESIRED = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "m", "namespace": "ml", "labels": {"a": "1"}},
           "spec": {"ports": [{"name": "http", "port": 8000}], "selector": {"app": "m"}}}


def served(obj: dict) -> dict:
    """What an API server hands back: defaults and server fields added."""
    out = {**obj, "metadata": {**obj["metadata"], "uid": "u", "resourceVersion": "7", "managedFields": []}}
    out["spec"] = {**obj["spec"], "clusterIP": "10.0.0.1",
                   "ports": [{**p, "protocol": "TCP", "targetPort": p["port"]} for p in obj["spec"]["ports"]]}
    return out


def test_server_added_fields_do_not_count_as_drift():
    desired = stamp(copy.deepcopy(DESIRED))
    assert in_sync(desired, served(desired))


def test_a_changed_owned_field_is_drift():
    desired = stamp(copy.deepcopy(DESIRED))
    observed = served(desired)
    observed["spec"]["selector"] = {"app": "other"}
    assert not in_sync(desired, observed)


def test_a_field_no_longer_desired_is_caught_by_the_hash():
    old = stamp({**copy.deepcopy(DESIRED), "metadata": {**DESIRED["metadata"], "labels": {"a": "1", "b": "2"}}})
    assert not in_sync(stamp(copy.deepcopy(DESIRED)), served(old))


def test_quantities_the_server_rewrites_are_equal_and_empty_values_it_drops_too():
    assert contains({"cpu": "500m", "memory": "1Gi"}, {"cpu": "0.5", "memory": "1024Mi"})
    assert contains({"x": 1}, {"x": 1, "env": [], "annotations": {}})
    assert not contains({"cpu": "500m"}, {"cpu": "1"})
    assert not contains({"items": [1, 2]}, {"items": [1]})


def test_status_keeps_lasttransitiontime_until_a_flip_and_reports_transitions():
    first, transitions = compute_status(Facts(generation=1, stable_version="1"), None, "T1")
    assert [t.reason for t in transitions] == ["Creating"]
    starting = Facts(generation=1, stable="v1", stable_version="1", created=True, total=2, floor=2, serving=1)
    second, transitions = compute_status(starting, first, "T2")
    by_type = {c["type"]: c for c in second["conditions"]}
    assert by_type["Ready"]["reason"] == "RollingOut" and by_type["Ready"]["lastTransitionTime"] == "T1"
    assert [(t.type, t.reason) for t in transitions] == [("Ready", "RollingOut")]
    third, transitions = compute_status(Facts(**{**starting.__dict__, "serving": 2}), second, "T3")
    assert {c["type"]: c["status"] for c in third["conditions"]} == \
           {"Ready": "True", "Progressing": "False", "Degraded": "False"}
    assert {c["type"]: c["lastTransitionTime"] for c in third["conditions"]}["Ready"] == "T3"
    assert status_patch(third, third) is None
    assert status_patch({**third, "url": "http://old"}, third) == {"url": None}


def test_a_rollout_field_the_operator_stops_setting_is_removed_from_status():
    """A merge patch merges objects: without an explicit null, a retried rollout kept its old abortedHash
    and was held as aborted again."""
    aborted = {"rollout": {"phase": "Aborted", "stable": "v1", "abortedHash": "h2", "abortedReason": "by request",
                           "lastRequest": "abort@1"}}
    retried = {"rollout": {"phase": "Progressing", "stable": "v1", "canary": "v2", "lastRequest": "retry@2"}}
    patch = status_patch(aborted, retried)
    assert patch == {"rollout": {"phase": "Progressing", "canary": "v2", "lastRequest": "retry@2",
                                 "abortedHash": None, "abortedReason": None}}
    from kmock._internal.dicts import merge_patch_dict
    assert merge_patch_dict(aborted, patch) == retried, "what the API server stores is what the operator meant"


def test_ready_holds_while_the_stable_serves_through_a_rollout_and_an_abort_degrades():
    rolling = Facts(generation=2, stable="v1", stable_version="1", created=True, total=3, floor=3, serving=3,
                    rollout={"phase": "Progressing", "message": "CanaryStep 1/3, weight 34%: holding 60s"},
                    progress="CanaryStep 1/3, weight 34%")
    status, _ = compute_status(rolling, None, "T")
    by_type = {c["type"]: c for c in status["conditions"]}
    assert by_type["Ready"]["status"] == "True"
    assert (by_type["Progressing"]["status"], by_type["Progressing"]["reason"]) == ("True", "CanaryStep")
    aborted = Facts(**{**rolling.__dict__, "rollout": {"phase": "Aborted"}, "aborted": "error ratio 1.0 > 0.01"})
    status, transitions = compute_status(aborted, status, "T2")
    by_type = {c["type"]: c for c in status["conditions"]}
    assert by_type["Ready"]["status"] == "True", "the stable revision kept serving"
    assert (by_type["Degraded"]["status"], by_type["Degraded"]["reason"]) == ("True", "RolloutAborted")
    assert any(t.reason == "RolloutAborted" and t.warning for t in transitions)


def test_a_recreate_in_progress_waits_for_the_new_versions_pods_not_the_old():
    outage = Facts(generation=2, stable="v1", stable_version="1", created=True, total=2, floor=2, serving=0,
                   rollout={"phase": "Progressing", "message": "Recreate: old pods stopping"},
                   revisions=({"name": "v1", "version": "1", "role": "Stable", "weight": 100},
                              {"name": "v2", "version": "2", "role": "Canary", "weight": 0}))
    ready = {c["type"]: c for c in compute_status(outage, None, "T")[0]["conditions"]}["Ready"]
    assert ready["message"] == "0/2 replicas ready; waiting for pods of version 2"


def test_the_worst_pod_failure_names_the_reason():
    pods = [
        {"metadata": {"name": "b"}, "status": {"conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "no GPU"}]}},
        {"metadata": {"name": "a"}, "status": {"containerStatuses": [
            {"name": "triton", "state": {"waiting": {"reason": "CrashLoopBackOff"}},
             "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]}},
    ]
    assert diagnose(pods).reason == "OOMKilled"
    assert diagnose(pods[:1]).reason == "Unschedulable"
    assert diagnose([]) is None


def test_a_crashing_triton_is_explained_by_the_models_own_load_error_and_a_failed_smoke_is_a_reason():
    log = ("I1126 02:00:00.000 model_lifecycle.cc:473] loading: paced:1\n"
           "E1126 02:00:01.000 model_lifecycle.cc:626] failed to load 'paced' version 1: Internal: "
           "RuntimeError: weights file is truncated\n"
           "I1126 02:00:01.100 server.cc:307] Waiting for in-flight requests to complete.\n"
           "error: creating server: Internal - failed to load all models\n")
    crashing = {"metadata": {"name": "a"}, "status": {"containerStatuses": [
        {"name": "triton", "state": {"waiting": {"reason": "CrashLoopBackOff"}},
         "lastState": {"terminated": {"exitCode": 1, "message": log}}}]}}
    found = diagnose([crashing])
    assert found.reason == "CrashLooping" and "weights file is truncated" in found.message
    refused = {"metadata": {"name": "b"}, "status": {"conditions": [
        {"type": "serving.modeldeploy.io/smoke", "status": "False",
         "message": "HTTP 401: expecting header 'x-api-key'"}]}}
    found = diagnose([refused])
    assert found.reason == "SmokeFailed" and "x-api-key" in found.message


@pytest.mark.parametrize("text, secret", [
    ("GET https://alice:pa55@models.example/m.onnx failed", "pa55"),
    ("s3 https://b.s3.amazonaws.com/m?X-Amz-Signature=deadbeef&X-Amz-Credential=AKIA123", "deadbeef"),
    ("gs://bucket/model?token=ya29.secret", "ya29.secret"),
    ("401 with Authorization: Bearer eyJhbGciOi", "eyJhbGciOi"),
])
def test_credentials_are_redacted(text, secret):
    assert secret not in redact(text)


def test_a_late_watch_event_never_undoes_a_newer_write():
    cache = ObservedCache()
    labels = {"serving.modeldeploy.io/modeldeployment": "m"}
    new = {"kind": "Service", "metadata": {"name": "m", "namespace": "ml", "labels": labels, "resourceVersion": "9"}}
    old = {**new, "metadata": {**new["metadata"], "resourceVersion": "8"}}
    cache.put(new)
    cache.put(old)
    assert cache.snapshot(("ml", "m")).children[("Service", "m")]["metadata"]["resourceVersion"] == "9"
    cache.drop(old)  # a stale DELETED
    assert ("Service", "m") in cache.snapshot(("ml", "m")).children


def test_a_nested_status_field_that_is_gone_is_cleared_by_the_patch():
    before = {"rollout": {"phase": "Progressing", "step": 0, "stepReachedAt": "T1", "canary": "v2"}}
    after = {"rollout": {"phase": "Progressing", "step": 1, "canary": "v2"}}
    assert status_patch(before, after) == {"rollout": {"step": 1, "stepReachedAt": None}}


def test_an_autoscaler_short_of_gpus_says_so_in_a_condition():
    base = dict(generation=1, stable="v1", stable_version="1", created=True, total=2, floor=2, serving=2)
    status, _ = compute_status(Facts(**base), None, "T")
    assert "ScalingLimited" not in {c["type"] for c in status["conditions"]}, "only for autoscaled models"
    short = Facts(**base, autoscaling={"engine": "builtin", "reason": "InsufficientGPU",
                                       "message": "2 pods Unschedulable for 45s: holding at 4"})
    status, _ = compute_status(short, None, "T")
    limited = {c["type"]: c for c in status["conditions"]}["ScalingLimited"]
    assert (limited["status"], limited["reason"]) == ("True", "InsufficientGPU")
