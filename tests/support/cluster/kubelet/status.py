"""A pod's status as the kubelet reports it: phase, IPs, conditions, container statuses."""

from __future__ import annotations

from ..objects import set_condition


def pod_phase(init: list[dict], containers: list[dict], initialized: bool, restart_policy: str,
              failed: bool) -> str:
    """The kubelet's getPhase, for the states the harness produces."""
    if failed:
        return "Failed"
    if not initialized:
        return "Pending"
    states = [c["state"] for c in containers]
    if any("running" in s for s in states):
        return "Running"
    if states and all("terminated" in s for s in states):
        if all(s["terminated"]["exitCode"] == 0 for s in states):
            return "Succeeded"
        return "Failed" if restart_policy == "Never" else "Running"
    # Waiting: Running again once it has run before (crash loop), Pending before its first start.
    return "Running" if any(c["restartCount"] or c["lastState"] for c in containers) else "Pending"


def pod_status(previous: dict, *, phase: str, pod_ip: str, host_ip: str, start_time: str, sandbox_ready: bool,
               init: list[dict], containers: list[dict], initialized: bool, gates: list[str] = ()) -> dict:
    """`gates`: the pod's readinessGates; their conditions belong to another controller, which sets them."""
    conditions = list(previous.get("conditions") or [])  # PodScheduled is the scheduler's
    conditions = set_condition(conditions, "PodReadyToStartContainers", _bool(sandbox_ready), "", "")
    pending_init = [c["name"] for c in init if "terminated" not in c["state"]
                    or c["state"]["terminated"]["exitCode"] != 0]
    conditions = set_condition(conditions, "Initialized", _bool(initialized),
                               "" if initialized else "ContainersNotInitialized",
                               "" if initialized else f"containers with incomplete status: [{' '.join(pending_init)}]")
    unready = [c["name"] for c in containers if not c["ready"]]
    conditions = set_condition(conditions, "ContainersReady", _bool(not unready), "ContainersNotReady" if unready else "",
                               f"containers with unready status: [{' '.join(unready)}]" if unready else "")
    # Ready also waits for every readiness gate's condition to be True (the kubelet's own rule).
    held = [g for g in gates if not any(c.get("type") == g and c.get("status") == "True" for c in conditions)]
    if unready:
        reason, message = "ContainersNotReady", f"containers with unready status: [{' '.join(unready)}]"
    elif held:
        reason, message = "ReadinessGatesNotReady", f"corresponding condition of pod readiness gate \"{held[0]}\" " \
                                                    "does not exist." if not any(c.get("type") == held[0]
                                                                                 for c in conditions) else \
            f"the status of pod readiness gate \"{held[0]}\" is not \"True\""
    else:
        reason, message = "", ""
    conditions = set_condition(conditions, "Ready", _bool(not unready and not held), reason, message)
    status = {"phase": phase, "conditions": conditions, "hostIP": host_ip, "hostIPs": [{"ip": host_ip}],
              "podIP": pod_ip, "podIPs": [{"ip": pod_ip}], "startTime": start_time,
              "containerStatuses": containers, "qosClass": previous.get("qosClass", "Burstable")}
    if init:
        status["initContainerStatuses"] = init
    return status


def _bool(value: bool) -> str:
    return "True" if value else "False"
