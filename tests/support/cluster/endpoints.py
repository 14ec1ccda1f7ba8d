"""A Service's endpoints, as the EndpointSlice controller computes them and kube-proxy uses them.

Serving endpoints: pods in the Service's namespace matching its selector, with
an IP, Ready, and not terminating (kube-proxy sends new connections to
terminating pods only when no other endpoint is left; the harness never
does). targetPort resolves per pod, by number or by container port name.
"""

from __future__ import annotations

from .objects import pod_ready, terminating

Address = tuple[str, int]


def target_port(port: dict, pod: dict) -> int | None:
    target = port.get("targetPort", port["port"])
    if isinstance(target, int) or str(target).isdigit():
        return int(target)
    for container in (pod.get("spec") or {}).get("containers") or []:
        for declared in container.get("ports") or []:
            if declared.get("name") == target:
                return int(declared["containerPort"])
    return None


def serving_endpoints(service: dict, pods: list[dict]) -> dict[int, tuple[Address, ...]]:
    """Service port → the ready endpoints behind it, in a stable order."""
    selector = (service.get("spec") or {}).get("selector")
    namespace = service["metadata"]["namespace"]
    if not selector:
        return {}  # a Service without a selector has hand-made Endpoints; not modelled
    ready = [p for p in pods if p["metadata"].get("namespace") == namespace
             and all((p["metadata"].get("labels") or {}).get(k) == v for k, v in selector.items())
             and pod_ready(p) and not terminating(p) and (p.get("status") or {}).get("podIP")]
    table = {}
    for port in service["spec"].get("ports") or []:
        found = [(p["status"]["podIP"], number) for p in ready if (number := target_port(port, p)) is not None]
        table[int(port["port"])] = tuple(sorted(found))
    return table
