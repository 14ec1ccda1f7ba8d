"""What a spec asks of the cluster that it lacks (a Secret, a CRD), said in the Degraded condition."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..api import ModelDeployment
from ..builders import BuildOptions, api_key_problem, autoscaler_unavailable

SecretGetter = Callable[[str, str], "dict | None"]  # (namespace, name) -> the Secret, None when missing


def unavailable(md: ModelDeployment, options: BuildOptions, secrets: SecretGetter | None) -> str | None:
    """The first thing missing, as "Reason: message", or None."""
    if problem := secret_problem(md, secrets):
        return problem
    if missing := autoscaler_unavailable(md, options.keda_available):
        return f"AutoscalerUnavailable: {missing}"
    routing = md.spec.rollout.traffic_routing
    if routing is not None and routing.gateway_api is not None and not options.gateway_available:
        return ("TrafficRoutingUnavailable: rollout.trafficRouting.gatewayApi needs the Gateway API CRDs "
                "(httproutes.gateway.networking.k8s.io); until they are installed the canary's weight "
                "follows its share of pods")
    return None


def waiting_for_an_optional_api(bodies: Iterable[dict], options: BuildOptions) -> bool:
    """Some ModelDeployment asks for KEDA or the Gateway API, which the cluster lacked at the last look."""
    for body in bodies:
        spec = body.get("spec") or {}
        if not options.keda_available and (spec.get("autoscaling") or {}).get("engine") == "keda":
            return True
        if not options.gateway_available and (spec.get("rollout") or {}).get("trafficRouting"):
            return True
    return False


def secret_problem(md: ModelDeployment, secrets: SecretGetter | None) -> str | None:
    """A Secret the pods need that is missing (a kubelet reports a volume it cannot mount only in Events,
    so the pod just waits), or an API key no client could send."""
    if secrets is None:
        return None
    storage = md.spec.model.storage
    needed = [("model.storage.credentialsSecret", storage.credentials_secret if storage else None),
              ("auth.apiKeySecret", md.spec.auth.api_key_secret if md.spec.auth else None)]
    for field, name in needed:
        if not name:
            continue
        secret = secrets(md.namespace, name)
        if secret is None:
            return (f"SecretNotFound: spec.{field}: Secret {name} is not in namespace {md.namespace} (or the "
                    "operator cannot read it); the pods wait for it: create it there")
        if field == "auth.apiKeySecret" and (problem := api_key_problem(secret)):
            return f"ApiKeyInvalid: spec.{field}: {problem}"
    return None


__all__ = ["SecretGetter", "secret_problem", "unavailable"]
