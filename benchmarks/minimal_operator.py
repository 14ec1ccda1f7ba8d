"""The floor for benchmarks/operator_reconcile.py: kopf that only applies the builders' children.

No cache, no drift check, no status, no events, no metrics: what any kopf
operator producing the same objects must at least spend.
Run: KUBECONFIG=... kopf run benchmarks/minimal_operator.py --all-namespaces --standalone
"""

import kopf

from modeldeploy.api import parse_model_deployment
from modeldeploy.builders import build_all
from modeldeploy.clients import KubeClient

client = KubeClient.from_environment()


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_):
    settings.posting.enabled = False


@kopf.on.event("serving.modeldeploy.io", "v1alpha1", "modeldeployments")
def apply_children(event, **_):
    if event.get("type") == "DELETED":
        return
    body = event["object"]
    md = parse_model_deployment({k: body[k] for k in ("apiVersion", "kind", "metadata", "spec")})
    for obj in build_all(md):
        client.apply(obj)
