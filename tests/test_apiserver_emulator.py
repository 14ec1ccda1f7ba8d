"""The API emulator the integration tests trust: it must behave like an API server where they depend on it."""

from __future__ import annotations

import pytest

from support.apiserver import LiveApiServer

pytestmark = pytest.mark.integration

MDS = "/apis/serving.modeldeploy.io/v1alpha1/namespaces/ml/modeldeployments"
CMS = "/api/v1/namespaces/ml/configmaps"
MD = {"apiVersion": "serving.modeldeploy.io/v1alpha1", "kind": "ModelDeployment",
      "metadata": {"name": "m", "namespace": "ml"}, "spec": {"replicas": 1}}


@pytest.fixture
def api():
    with LiveApiServer() as server:
        yield server


def test_create_sets_identity_and_versions(api):
    status, md = api.request("POST", MDS, {**MD, "status": {"x": 1}})
    assert status == 201
    assert md["metadata"]["uid"] and md["metadata"]["creationTimestamp"]
    assert md["metadata"]["generation"] == 1 and md["metadata"]["resourceVersion"]
    assert "status" not in md, "status is ignored on create of a resource with a status subresource"


def test_generation_bumps_on_spec_changes_only_and_status_is_split(api):
    api.request("POST", MDS, MD)
    _, md = api.request("PATCH", f"{MDS}/m", {"metadata": {"labels": {"a": "b"}}, "status": {"x": 1}},
                        "application/merge-patch+json")
    assert md["metadata"]["generation"] == 1 and "status" not in md
    _, md = api.request("PATCH", f"{MDS}/m/status", {"status": {"x": 1}, "spec": {"replicas": 9}},
                        "application/merge-patch+json")
    assert md["status"] == {"x": 1} and md["spec"]["replicas"] == 1
    _, md = api.request("PATCH", f"{MDS}/m", {"spec": {"replicas": 2}}, "application/merge-patch+json")
    assert md["metadata"]["generation"] == 2


def test_apply_creates_then_a_no_op_apply_changes_nothing(api):
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "ml"}, "data": {"k": "v"}}
    status, first = api.request("PATCH", f"{CMS}/c?fieldManager=t", cm, "application/apply-patch+yaml")
    assert status == 201
    _, again = api.request("PATCH", f"{CMS}/c?fieldManager=t", cm, "application/apply-patch+yaml")
    assert again["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    assert api.request("PATCH", f"{CMS}/nope", {"data": {}}, "application/merge-patch+json")[0] == 404


def test_stale_resourceversion_conflicts_and_finalizers_hold_deletion(api):
    _, md = api.request("POST", MDS, {**MD, "metadata": {**MD["metadata"], "finalizers": ["x"]}})
    rv = md["metadata"]["resourceVersion"]
    api.request("PATCH", f"{MDS}/m", {"spec": {"replicas": 3}}, "application/merge-patch+json")
    test_op = [{"op": "test", "path": "/metadata/resourceVersion", "value": rv},
               {"op": "replace", "path": "/spec/replicas", "value": 4}]
    assert api.request("PATCH", f"{MDS}/m", test_op, "application/json-patch+json")[0] == 409
    assert api.request("DELETE", f"{MDS}/m")[0] == 200
    assert api.get(f"{MDS}/m")["metadata"]["deletionTimestamp"]
    api.request("PATCH", f"{MDS}/m", {"metadata": {"finalizers": None}}, "application/merge-patch+json")
    assert api.get(f"{MDS}/m") is None


def test_writes_are_logged_and_faults_injected(api):
    api.fail("POST", "/modeldeployments$", 500, "boom")
    assert api.request("POST", MDS, MD)[0] == 500
    assert api.request("POST", MDS, MD)[0] == 201
    assert [w[0] for w in api.write_log()] == ["POST", "POST"]


def test_the_request_log_can_be_bounded_for_long_benchmarks():
    with LiveApiServer(request_log_limit=5) as api:
        for i in range(20):
            api.request("POST", MDS, {**MD, "metadata": {"name": f"m{i}", "namespace": "ml"}})
        assert api.on_loop(lambda: api.server.requests_total) == 20
        assert api.on_loop(lambda: len(api.server._requests)) <= 10
        assert len(api.items(MDS)) == 20, "objects are kept whatever the log keeps"


def _watch(api, path: str, seconds: float) -> list[dict]:
    """The events of one watch request, read for `seconds`."""
    import json
    import urllib3

    http = urllib3.PoolManager()
    response = http.request("GET", api.url + path, preload_content=False, timeout=urllib3.Timeout(read=seconds))
    events = []
    try:
        for line in response.stream(1 << 16):
            for chunk in line.splitlines():
                if chunk.strip():
                    events.append(json.loads(chunk))
    except (urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.ProtocolError):
        pass
    return events


def test_label_selectors_filter_lists_and_watches_like_a_real_server(api):
    import threading

    labelled = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "ml",
                                                                        "labels": {"team": "x"}}}
    api.request("POST", CMS, labelled)
    api.request("POST", CMS, {**labelled, "metadata": {"name": "b", "namespace": "ml"}})
    listed = api.get(f"{CMS}?labelSelector=team%3Dx")
    assert [o["metadata"]["name"] for o in listed["items"]] == ["a"]
    assert int(listed["metadata"]["resourceVersion"]) >= 2, "a list says which version it was read at"

    seen: list[dict] = []
    watcher = threading.Thread(target=lambda: seen.extend(_watch(api, f"{CMS}?watch=true&labelSelector=team%3Dx", 2)))
    watcher.start()
    import time
    time.sleep(0.5)
    merge = "application/merge-patch+json"
    api.request("PATCH", f"{CMS}/a", {"metadata": {"labels": {"team": "y"}}}, merge)  # leaves the selection
    api.request("PATCH", f"{CMS}/b", {"metadata": {"labels": {"team": "x"}}}, merge)  # enters it
    api.request("PATCH", f"{CMS}/a", {"data": {"k": "v"}}, merge)  # outside: not seen
    watcher.join()
    changes = [(e["type"], e["object"]["metadata"]["name"]) for e in seen][1:]  # after the replay of "a"
    assert changes == [("DELETED", "a"), ("ADDED", "b")]
    assert all("_old" not in e for e in seen)


def test_an_outage_refuses_clients_and_ends_watches_and_unseen_writes_send_no_event(api):
    import threading
    import time

    api.request("POST", CMS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "ml"}})
    seen: list[dict] = []
    started = time.monotonic()
    watcher = threading.Thread(target=lambda: seen.extend(_watch(api, f"{CMS}?watch=true", 5)))
    watcher.start()
    time.sleep(0.5)
    api.outage(1.0)
    watcher.join()
    assert time.monotonic() - started < 4, "the outage ends open watches at once"
    import urllib3
    assert urllib3.PoolManager().request("GET", api.url + CMS).status == 503, "other clients get 503"
    assert api.request("GET", CMS)[0] == 200, "the test itself still reaches the server"
    assert api.unseen("DELETE", f"{CMS}/a")[0] == 200
    time.sleep(1.0)
    events = _watch(api, f"{CMS}?watch=true", 1)
    assert events == [], "the deletion is done and no watch ever reports it"


def test_faults_can_say_when_to_retry(api):
    import urllib3

    api.fail("POST", "/modeldeployments$", 429, "slow down", retry_after=7)
    response = urllib3.PoolManager().request("POST", api.url + MDS, body=b"{}",
                                             headers={"Content-Type": "application/json"})
    assert response.status == 429 and response.headers["Retry-After"] == "7"


def test_apply_replaces_atomic_selectors_whole(api):
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "ml"},
           "spec": {"selector": {"app": "a"}}}
    path = "/api/v1/namespaces/ml/services/s?fieldManager=t"
    api.request("PATCH", path, svc, "application/apply-patch+yaml")
    api.request("PATCH", path, {"spec": {"selector": {"extra": "x"}}}, "application/merge-patch+json")
    _, applied = api.request("PATCH", path, svc, "application/apply-patch+yaml")
    assert applied["spec"]["selector"] == {"app": "a"}


PODS = "/api/v1/namespaces/ml/pods"
POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ml"},
       "spec": {"nodeName": "node-1", "terminationGracePeriodSeconds": 20, "containers": [{"name": "c"}]}}


def test_a_bound_pod_is_deleted_gracefully_until_its_kubelet_deletes_it_with_grace_zero(api):
    api.request("POST", PODS, POD)
    status, marked = api.request("DELETE", f"{PODS}/p")
    assert status == 200 and marked["metadata"]["deletionGracePeriodSeconds"] == 20
    assert api.get(f"{PODS}/p")["metadata"]["deletionTimestamp"], "kept while its containers stop"
    # A shorter grace period shortens it; a longer one does not lengthen it.
    api.request("DELETE", f"{PODS}/p", {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 5})
    api.request("DELETE", f"{PODS}/p", {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 50})
    assert api.get(f"{PODS}/p")["metadata"]["deletionGracePeriodSeconds"] == 5
    api.request("DELETE", f"{PODS}/p", {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0})
    assert api.get(f"{PODS}/p") is None


def test_a_pod_no_node_runs_is_deleted_at_once(api):
    api.request("POST", PODS, {**POD, "spec": {"containers": [{"name": "c"}]}})
    assert api.request("DELETE", f"{PODS}/p")[0] == 200
    assert api.get(f"{PODS}/p") is None


def test_the_scale_subresource_speaks_scale_and_writes_spec_replicas(api):
    api.request("POST", MDS, MD)
    api.request("PATCH", f"{MDS}/m/status", {"status": {"replicas": 1, "selector": "app=m"}},
                "application/merge-patch+json")
    status, scale = api.request("GET", f"{MDS}/m/scale")
    assert status == 200 and scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1"
    assert scale["spec"] == {"replicas": 1} and scale["status"] == {"replicas": 1, "selector": "app=m"}
    status, scale = api.request("PATCH", f"{MDS}/m/scale", {"spec": {"replicas": 3}}, "application/merge-patch+json")
    assert status == 200 and scale["spec"]["replicas"] == 3
    md = api.get(f"{MDS}/m")
    assert md["spec"]["replicas"] == 3 and md["metadata"]["generation"] == 2
    assert api.request("PATCH", f"{MDS}/m/scale", {"spec": {"replicas": -1}}, "application/merge-patch+json")[0] == 422
    assert api.request("GET", f"{MDS}/nope/scale")[0] == 404
    assert ("PATCH", "/apis/serving.modeldeploy.io/v1alpha1/namespaces/ml/modeldeployments/m/scale") in \
        [w[:2] for w in api.write_log()]


def test_services_get_a_cluster_ip_from_the_allocator_when_given_one():
    addresses = iter(["127.9.100.1", "127.9.100.2"])
    with LiveApiServer(service_ips=lambda: next(addresses)) as api:
        svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "ml"},
               "spec": {"ports": [{"port": 80}]}}
        _, created = api.request("POST", "/api/v1/namespaces/ml/services", svc)
        assert created["spec"]["clusterIP"] == "127.9.100.1" and created["spec"]["clusterIPs"] == ["127.9.100.1"]
        _, applied = api.request("PATCH", "/api/v1/namespaces/ml/services/t?fieldManager=x",
                                 {**svc, "metadata": {"name": "t", "namespace": "ml"}}, "application/apply-patch+yaml")
        assert applied["spec"]["clusterIP"] == "127.9.100.2"


def test_a_binding_assigns_the_node_and_marks_the_pod_scheduled_at_once(api):
    api.request("POST", PODS, {**POD, "spec": {"containers": [{"name": "c"}]}})
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"},
               "target": {"apiVersion": "v1", "kind": "Node", "name": "node-1"}}
    assert api.request("POST", f"{PODS}/p/binding", binding)[0] == 201
    bound = api.get(f"{PODS}/p")
    assert bound["spec"]["nodeName"] == "node-1"
    assert [c["type"] for c in bound["status"]["conditions"] if c["status"] == "True"] == ["PodScheduled"]
    assert api.request("POST", f"{PODS}/p/binding", binding)[0] == 409, "a pod is bound once"
