"""The garbage collector of kube-controller-manager: dependents whose owners are all gone are deleted.

Background propagation, as `kubectl delete` and the operator ask for: the
owner goes at once, its dependents follow, theirs after them (a
ModelDeployment → its Deployments → their pods, each pod then stopped by the
kubelet). An owner missing from the cache is looked up on the API server
before anything is deleted, as the real collector does, so a dependent
created just after its owner is never collected by mistake.
"""

from __future__ import annotations

from .api import Api, resource_of, resource_path
from .informer import Informer


class GarbageCollector:
    def __init__(self, api: Api, informers: dict[str, Informer]):
        self._api = api
        self._informers = informers  # resource → informer, for every namespaced resource served

    def sync(self) -> None:
        for resource, informer in self._informers.items():
            for obj in informer.items():
                refs = obj["metadata"].get("ownerReferences") or []
                if refs and not obj["metadata"].get("deletionTimestamp") and \
                        not any(self._owner_exists(obj["metadata"].get("namespace"), ref) for ref in refs):
                    self._api.delete(resource, obj["metadata"]["namespace"], obj["metadata"]["name"])

    def _owner_exists(self, namespace: str | None, ref: dict) -> bool:
        resource = resource_of(ref["apiVersion"], ref["kind"])
        if resource is None:
            return True  # an owner kind this server does not serve: never collect on a guess
        cached = self._informers[resource].get(namespace, ref["name"]) if resource in self._informers else None
        if cached is not None and cached["metadata"]["uid"] == ref["uid"]:
            return True
        live = self._api.get(resource_path(resource, namespace, ref["name"]))
        return bool(live and live.get("metadata", {}).get("uid") == ref["uid"])
