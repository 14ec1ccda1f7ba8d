"""What the operator has seen of the cluster, fed by watch events and by its own writes.

Reconciles read this instead of the API (zero reads per reconcile, like an
informer cache). Entries keep only what reconciles look at, so 1,000
ModelDeployments stay cheap: no managedFields, and only the status (and readiness gates) of pods.
A newer resourceVersion always wins, so a late watch event never undoes what
a write just returned.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass, field

from ..api import KIND
from ..builders.naming import MODELDEPLOYMENT_LABEL
from .compact import pack, unpack
from .diff import HASH_ANNOTATION

Key = tuple[str, str]  # (namespace, ModelDeployment name)
ChildKey = tuple[str, str]  # (kind, name)


def key_of(body: dict) -> Key:
    meta = body["metadata"]
    return meta.get("namespace") or "", meta["name"]


def owner_key(body: dict) -> Key | None:
    """The ModelDeployment a child or pod belongs to, by the label the builders set."""
    meta = body.get("metadata", {})
    owner = (meta.get("labels") or {}).get(MODELDEPLOYMENT_LABEL)
    return (meta.get("namespace") or "", owner) if owner else None


def _version(body: dict) -> int | None:
    rv = body.get("metadata", {}).get("resourceVersion")
    return int(rv) if isinstance(rv, str) and rv.isdigit() else None


# A cache entry: (resourceVersion, the readable part, the whole object), both parts compressed JSON.
# At 1,000 ModelDeployments the cache holds ~10,000 long-lived entries: as bytes they are a fraction
# of the size of the dicts they come from.
Entry = tuple[int | None, bytes, bytes | None]


def _pack(body: dict, whole: bool = True) -> Entry:
    head, raw = _split(body, whole)
    return _version(body), pack(head), raw


def _unpack(entry: Entry) -> dict:
    head = unpack(entry[1])
    if entry[2] is not None:
        head[RAW] = entry[2]
    return head


def _newer_or_equal(new: dict, old: Entry | None) -> bool:
    if old is None:
        return True
    a, b = _version(new), old[0]
    return a is None or b is None or a >= b


def _same_version(new: dict, old: Entry | None) -> bool:
    return old is not None and _version(new) is not None and _version(new) == old[0]


RAW = "_raw"  # the whole object, compressed; `full_object` opens it
_HEAD_META = ("name", "namespace", "labels", "ownerReferences", "generation", "resourceVersion", "uid",
              "deletionTimestamp")


def _split(body: dict, whole: bool = True) -> tuple[dict, bytes | None]:
    """What a reconcile reads on every pass (the head), and the whole object packed for drift checks."""
    meta = body.get("metadata", {})
    if body.get("kind") in (KIND, None):
        return {**body, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}, None
    head_meta = {k: meta[k] for k in _HEAD_META if k in meta}
    if body.get("kind") == "Pod":
        head = {"kind": "Pod", "metadata": head_meta, "status": body.get("status") or {}}
        gates = (body.get("spec") or {}).get("readinessGates")
        if gates:  # the smoke gate opens only the pods that carry it
            head["spec"] = {"readinessGates": gates}
        return head, None
    applied = (meta.get("annotations") or {}).get(HASH_ANNOTATION)
    if applied:
        head_meta["annotations"] = {HASH_ANNOTATION: applied}
    head: dict = {"kind": body["kind"], "metadata": head_meta}
    if body["kind"] == "Deployment":
        head["spec"] = {"replicas": (body.get("spec") or {}).get("replicas", 1)}
        head["status"] = body.get("status") or {}
    elif body["kind"] == "HorizontalPodAutoscaler":
        head["status"] = body.get("status") or {}  # what status.autoscaling reports for engine hpa
    if not whole:
        return head, None
    return head, pack({**{k: v for k, v in body.items() if k != "status"},
                       "metadata": {k: v for k, v in meta.items() if k != "managedFields"}})


def full_object(child: dict) -> dict:
    """A cached child as the API server returned it (without status and managedFields)."""
    return unpack(child[RAW]) if RAW in child else child


@dataclass(frozen=True)
class Observed:
    md: dict | None
    children: dict[ChildKey, dict]
    pods: tuple[dict, ...]


@dataclass
class ObservedCache:
    _mds: dict[Key, Entry] = field(default_factory=dict)
    _children: dict[Key, dict[ChildKey, Entry]] = field(default_factory=lambda: defaultdict(dict))
    _pods: dict[Key, dict[str, Entry]] = field(default_factory=lambda: defaultdict(dict))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # ModelDeployments -----------------------------------------------------------------------------

    def put_md(self, body: dict) -> tuple[Key, bool]:
        """Record a ModelDeployment; also says whether it is news (not the echo of a version already held)."""
        key = key_of(body)
        with self._lock:
            old = self._mds.get(key)
            if _same_version(body, old):
                return key, False  # the echo of what is held already: nothing to store or do
        entry = _pack(body)
        with self._lock:
            if _newer_or_equal(body, self._mds.get(key)):
                self._mds[key] = entry
        return key, True

    def drop_md(self, body: dict) -> Key:
        key = key_of(body)
        with self._lock:
            self._mds.pop(key, None)
            self._children.pop(key, None)
            self._pods.pop(key, None)
        return key

    def md(self, key: Key) -> dict | None:
        with self._lock:
            entry = self._mds.get(key)
        return None if entry is None else _unpack(entry)

    def md_keys(self) -> list[Key]:
        with self._lock:
            return list(self._mds)

    def md_bodies(self) -> list[dict]:
        with self._lock:
            entries = list(self._mds.values())
        return [_unpack(entry) for entry in entries]

    # Children and pods ----------------------------------------------------------------------------

    def put(self, body: dict, *, whole: bool = True) -> tuple[Key | None, bool]:
        """Record a child or pod (from a watch event or a write's response).

        Returns its owner, and whether this is news: the watch echo of an object
        the operator itself just wrote (same resourceVersion) needs no reconcile.
        `whole=False` keeps only the readable part: for the response to the
        operator's own apply, whose content the reconciler records as verified.
        """
        owner = owner_key(body) or self._held_by(body)
        if owner is None:
            return None, False
        name = body["metadata"]["name"]
        with self._lock:
            if body.get("kind") == "Pod":
                table: dict = self._pods[owner]
                slot: object = name
            else:
                table = self._children[owner]
                slot = (body["kind"], name)
            if _same_version(body, table.get(slot)):
                return owner, False
        entry = _pack(body, whole)  # outside the lock: compressing is the costly part
        with self._lock:
            if _newer_or_equal(body, table.get(slot)):
                table[slot] = entry
        return owner, True

    def _held_by(self, body: dict) -> Key | None:
        """The ModelDeployment a child is cached under, for a child that lost its label by hand: its change is
        still news to that owner (which puts the label back), not an object of nobody's."""
        if body.get("kind") == "Pod":
            return None
        meta = body.get("metadata", {})
        namespace, slot = meta.get("namespace") or "", (body.get("kind"), meta.get("name"))
        with self._lock:
            return next((key for key, table in self._children.items() if key[0] == namespace and slot in table),
                        None)

    def drop(self, body: dict) -> Key | None:
        owner = owner_key(body) or self._held_by(body)
        if owner is None:
            return None
        name = body["metadata"]["name"]
        with self._lock:
            table: dict = self._pods[owner] if body.get("kind") == "Pod" else self._children[owner]
            slot = name if body.get("kind") == "Pod" else (body["kind"], name)
            if _newer_or_equal(body, table.get(slot)):
                table.pop(slot, None)
        return owner

    def forget(self, kind: str, owner: Key, name: str) -> None:
        """After our own delete: the object is gone whatever its last version was."""
        with self._lock:
            self._children[owner].pop((kind, name), None)

    def relisted(self, kind: str, items: list[dict], list_version: str | None) -> set[Key]:
        """Make the cache agree with a fresh list of one kind; the ModelDeployments whose view changed.

        This is how the operator learns what its watches missed (a deletion while the API was
        unreachable, an object that stopped matching the label selector): whatever the cache
        holds that the list lacks is gone, unless it is newer than the list itself.
        """
        listed_at = int(list_version) if isinstance(list_version, str) and list_version.isdigit() else None
        changed: set[Key] = set()
        present: set[tuple[Key, object]] = set()
        for item in items:
            if kind == KIND:
                key, news = self.put_md(item)
                present.add((key, None))
            else:
                key, news = self.put(item)
                if key is None:
                    continue
                present.add((key, item["metadata"]["name"] if kind == "Pod" else (kind, item["metadata"]["name"])))
            if news:
                changed.add(key)

        def stale(slot_key: tuple[Key, object], entry: Entry) -> bool:
            return slot_key not in present and (listed_at is None or entry[0] is None or entry[0] <= listed_at)

        with self._lock:
            if kind == KIND:
                for key in [k for k, e in self._mds.items() if stale((k, None), e)]:
                    del self._mds[key]
                    self._children.pop(key, None)
                    self._pods.pop(key, None)
                    changed.add(key)
                return changed
            tables = self._pods if kind == "Pod" else self._children
            for owner, table in tables.items():
                for slot in [s for s, e in table.items()
                             if (kind == "Pod" or s[0] == kind) and stale((owner, s), e)]:
                    del table[slot]
                    changed.add(owner)
        return changed

    def snapshot(self, key: Key) -> Observed:
        with self._lock:
            md = self._mds.get(key)
            children = dict(self._children.get(key, {}))
            pods = list(self._pods.get(key, {}).values())
        return Observed(
            md=None if md is None else _unpack(md),
            children={slot: _unpack(entry) for slot, entry in children.items()},
            pods=tuple(_unpack(entry) for entry in pods),
        )

    def __len__(self) -> int:
        with self._lock:
            return len(self._mds)
