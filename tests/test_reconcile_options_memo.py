"""A pass that was running when the cluster's optional APIs changed (the Gateway API's CRDs appeared) must not
leave children built without them behind: the next pass builds with what the cluster has now."""

from __future__ import annotations

import kubernetes.client as k8s
import pytest

from modeldeploy.builders import BuildOptions
from modeldeploy.clients import KubeClient
from modeldeploy.reconcile import ObservedCache, OperatorMetrics, Reconciler
from modeldeploy.reconcile import reconciler as reconciler_module
from test_operator import NS, create, install_crd, quickstart

pytestmark = pytest.mark.integration

ROUTES = f"/apis/gateway.networking.k8s.io/v1/namespaces/{NS}/httproutes"
ROUTED = {"trafficRouting": {"gatewayApi": {"parentRefs": [{"name": "gateway"}]}}}


def test_options_changed_mid_pass_are_built_with_by_the_next_pass(apiserver, monkeypatch):
    install_crd(apiserver, "gateway.networking.k8s.io", "httproutes", "HTTPRoute")
    cache = ObservedCache()
    reconciler = Reconciler(KubeClient(k8s.ApiClient(k8s.Configuration(host=apiserver.url))), cache, metrics=OperatorMetrics(),
                            options=BuildOptions(gateway_available=False))
    md = quickstart()
    md["spec"]["rollout"] = {**md["spec"].get("rollout", {}), **ROUTED}
    key, _ = cache.put_md(create(apiserver, md))

    build_shared = reconciler_module.build_shared

    def discovered_while_building(*args, **kwargs):
        # The Gateway API is discovered (another thread) after this pass built its children, before it kept them.
        built = build_shared(*args, **kwargs)
        reconciler.set_options(BuildOptions(gateway_available=True))
        return built

    monkeypatch.setattr(reconciler_module, "build_shared", discovered_while_building)
    reconciler.reconcile(key)
    assert apiserver.get(f"{ROUTES}/quickstart") is None  # that pass started before the Gateway API was known
    monkeypatch.setattr(reconciler_module, "build_shared", build_shared)
    reconciler.reconcile(key)  # the same generation, the same layout: only the options changed
    route = apiserver.get(f"{ROUTES}/quickstart")
    assert route is not None, "the pass after the discovery must build the HTTPRoute"
    assert route["metadata"]["ownerReferences"][0]["name"] == "quickstart"
