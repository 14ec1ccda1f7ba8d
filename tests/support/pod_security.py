"""The Pod Security Standards "restricted" profile, checked on a pod spec.

Follows https://kubernetes.io/docs/concepts/security/pod-security-standards/
(restricted, latest): returns every violation so a test shows them all.
"""

from __future__ import annotations

ALLOWED_VOLUME_TYPES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                        "persistentVolumeClaim", "projected", "secret"}


def restricted_violations(pod_spec: dict) -> list[str]:
    out: list[str] = []
    pod_ctx = pod_spec.get("securityContext", {})
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if pod_spec.get(flag):
            out.append(f"pod sets {flag}")
    for volume in pod_spec.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= ALLOWED_VOLUME_TYPES:
            out.append(f"volume {volume['name']} has a disallowed type {sorted(kinds - ALLOWED_VOLUME_TYPES)}")
    containers = pod_spec.get("initContainers", []) + pod_spec.get("containers", [])
    for c in containers:
        ctx = c.get("securityContext", {})
        name = c["name"]
        if ctx.get("privileged"):
            out.append(f"{name}: privileged")
        if ctx.get("allowPrivilegeEscalation") is not False:
            out.append(f"{name}: allowPrivilegeEscalation must be false")
        if not (ctx.get("runAsNonRoot") or pod_ctx.get("runAsNonRoot")):
            out.append(f"{name}: runAsNonRoot must be true")
        if ctx.get("runAsUser", pod_ctx.get("runAsUser")) == 0:
            out.append(f"{name}: runs as UID 0")
        seccomp = (ctx.get("seccompProfile") or pod_ctx.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            out.append(f"{name}: seccompProfile must be RuntimeDefault or Localhost")
        caps = ctx.get("capabilities", {})
        if "ALL" not in caps.get("drop", []):
            out.append(f"{name}: must drop ALL capabilities")
        if set(caps.get("add", [])) - {"NET_BIND_SERVICE"}:
            out.append(f"{name}: adds capabilities {caps['add']}")
        for port in c.get("ports", []):
            if port.get("hostPort"):
                out.append(f"{name}: uses a hostPort")
    return out
