"""Reading Kubernetes objects as the controllers do: selectors, owners, pod readiness, timestamps."""

from __future__ import annotations

import datetime


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(stamp: str) -> datetime.datetime:
    return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)


def seconds_since(stamp: str) -> float:
    return (datetime.datetime.now(datetime.UTC) - parse_time(stamp)).total_seconds()


def matches(selector: dict | None, labels: dict | None) -> bool:
    """A LabelSelector (matchLabels and matchExpressions); an empty selector matches everything."""
    labels = labels or {}
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        ok = {"In": key in labels and labels[key] in values, "NotIn": labels.get(key) not in values,
              "Exists": key in labels, "DoesNotExist": key not in labels}[op]
        if not ok:
            return False
    return True


def controller_uid(obj: dict) -> str | None:
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return ref["uid"]
    return None


def terminating(obj: dict) -> bool:
    return bool(obj["metadata"].get("deletionTimestamp"))


def condition(obj: dict, type_: str) -> dict | None:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == type_), None)


def pod_ready(pod: dict) -> bool:
    ready = condition(pod, "Ready")
    return bool(ready and ready.get("status") == "True")


def pod_active(pod: dict) -> bool:
    """Counted by its controller: not being deleted, not finished."""
    return not terminating(pod) and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


def set_condition(conditions: list[dict], type_: str, status: str, reason: str, message: str,
                  **extra: str) -> list[dict]:
    """The list with this condition set; lastTransitionTime moves only when the status flips."""
    old = next((c for c in conditions if c.get("type") == type_), None)
    since = old["lastTransitionTime"] if old and old.get("status") == status else now()
    new = {"type": type_, "status": status, "reason": reason, "message": message,
           "lastTransitionTime": since, **extra}
    new = {k: v for k, v in new.items() if v != ""}  # the API omits empty reasons and messages
    if old is None:
        return [*conditions, new]
    return [new if c is old else c for c in conditions]
