"""The one apply path: a ModelDeployment's desired children in, the fewest API writes out, and the pruning of
owned children the spec no longer produces."""

from __future__ import annotations

from dataclasses import dataclass

from ..api import API_VERSION, KIND, ModelDeployment
from ..builders import naming as n
from ..clients import Conflict, Invalid, KubeClient, NotFound
from ..clients.kube import FIELD_MANAGER
from ..clients.permissions import DEPLOYMENT, KINDS
from .compact import pack, unpack
from .diff import applied_hash, in_sync, stamp
from .observed import Key, Observed, ObservedCache, full_object
from .redact import redact

CONFLICT_ATTEMPTS = 3


@dataclass(frozen=True)
class Desired:
    """One desired child, kept compressed between reconciles (1,000 ModelDeployments stay small)."""

    kind: str
    name: str
    hash: str
    blob: bytes

    @classmethod
    def of(cls, obj: dict) -> Desired:
        return cls(obj["kind"], obj["metadata"]["name"], applied_hash(obj) or "", pack(obj))

    @property
    def slot(self) -> tuple[str, str]:
        return self.kind, self.name

    def obj(self) -> dict:
        return unpack(self.blob)


def owned(obj: dict, md: ModelDeployment, body: dict) -> Desired:
    """A built child as the ModelDeployment's controlled child, stamped with the hash of what is applied."""
    uid = body["metadata"].get("uid")
    if uid:
        obj["metadata"]["ownerReferences"] = [{
            "apiVersion": API_VERSION, "kind": KIND, "name": md.name, "uid": uid,
            "controller": True, "blockOwnerDeletion": True,
        }]
    return Desired.of(stamp(obj))


class Children:
    def __init__(self, client: KubeClient, cache: ObservedCache):
        self._client = client
        self._cache = cache
        # Children found in sync, by resourceVersion: unchanged since, they need no field-by-field check.
        self._verified: dict[Key, dict[tuple[str, str], tuple[str, str]]] = {}

    def forget(self, key: Key) -> None:
        self._verified.pop(key, None)

    def apply(self, key: Key, desired: list[Desired], observed: Observed) -> tuple[int, str | None]:
        """Apply what is not in sync; stops at the first child the API server rejects, and says why."""
        writes = 0
        for want in desired:
            current = observed.children.get(want.slot)
            if self._in_sync(key, want, current):
                continue
            try:
                self._record(key, want, self._apply_one(want.obj()))
                writes += 1
            except Invalid as err:
                return writes, redact(f"the API server rejected {want.kind} {want.name}: {err.message}")
        return writes, None

    def scale(self, key: Key, replicas: dict[str, int], observed: Observed) -> int:
        """Set kept revisions' Deployments (by name) to these replicas, and nothing else of them: their templates
        stay as they were applied, and no field the API server defaulted becomes the operator's (Argo Rollouts'
        scaleReplicaSet). A kept revision deleted by hand stays deleted: it is history, not the target."""
        writes = 0
        for name, count in sorted(replicas.items()):
            current = observed.children.get(("Deployment", name))
            if current is None or (current.get("spec") or {}).get("replicas") == count:
                continue
            try:
                scaled = self._client.patch(DEPLOYMENT, key[0], name, {"spec": {"replicas": count}},
                                            field_manager=FIELD_MANAGER)
            except NotFound:
                self._cache.forget("Deployment", key, name)
                continue
            self._cache.put(scaled, whole=True)
            writes += 1
        return writes

    def prune(self, key: Key, uid: str | None, desired: list[Desired], observed: Observed, kept: set[str]) -> int:
        """Delete owned children the spec no longer produces; a revision's, once the rollout lets it go."""
        wanted = {want.slot for want in desired}
        writes = 0
        for (kind, name), child in observed.children.items():
            if (kind, name) in wanted or not _owned_by(child, uid):
                continue
            if (child["metadata"].get("labels") or {}).get(n.REVISION_LABEL) in kept:
                continue
            try:
                self._client.delete(KINDS[kind], key[0], name)
            except NotFound:
                pass
            self._cache.forget(kind, key, name)
            writes += 1
        return writes

    def _in_sync(self, key: Key, want: Desired, current: dict | None) -> bool:
        if current is None or applied_hash(current) != want.hash:
            return False
        rv = current["metadata"].get("resourceVersion")
        verified = self._verified.setdefault(key, {})
        if rv is not None and verified.get(want.slot) == (want.hash, rv):
            return True
        ok = in_sync(want.obj(), full_object(current))
        if ok and rv is not None:
            verified[want.slot] = (want.hash, rv)
        return ok

    def _apply_one(self, obj: dict) -> dict:
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            try:
                return self._client.apply(obj)
            except Conflict:
                if attempt == CONFLICT_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    def _record(self, key: Key, want: Desired, applied: dict) -> None:
        """Write-through of an apply's response: its watch echo is then no news, its content verified."""
        # A Deployment is kept whole: a revision the rollout keeps is re-applied with its own template.
        self._cache.put(applied, whole=applied.get("kind") == "Deployment")
        self._verified.setdefault(key, {})[want.slot] = (want.hash, applied["metadata"].get("resourceVersion"))


def _owned_by(child: dict, uid: str | None) -> bool:
    refs = child["metadata"].get("ownerReferences") or []
    return uid is not None and any(ref.get("uid") == uid and ref.get("controller") for ref in refs)


__all__ = ["Children", "Desired", "owned"]
