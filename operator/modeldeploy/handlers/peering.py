"""Never two active operators: peering where its CRD exists, with the peering object made if missing.

kopf, told that peering is optional, runs standalone when the peering object
is absent, even with its CRD installed; two replicas then both write. A hand
install (no chart) has exactly that. So the operator makes the object itself
and then requires it; only where the CRD is missing does it run standalone,
and it says so.
"""

from __future__ import annotations

import datetime
import logging
import time

from ..clients import ApiError, Conflict, KubeClient, NotFound
from ..clients.permissions import CLUSTER_PEERING, PEERING
from .options import OperatorOptions

log = logging.getLogger("modeldeploy.operator")


def ensure_peering(client: KubeClient, options: OperatorOptions) -> bool:
    """True when the replicas can peer (the object now exists), False to run standalone."""
    if options.standalone:
        return False
    kind = CLUSTER_PEERING if options.all_namespaces else PEERING
    for namespace in [None] if options.all_namespaces else list(options.namespaces):
        try:
            client.list(kind, namespace, limit=1)
        except NotFound:
            log.warning("kopf's peering CRD (%s) is not installed: running standalone. Run ONE replica, or "
                        "install it (`modeldeploy crd --peering | kubectl apply -f -`) for HA.", kind.plural)
            return False
        try:
            client.get(kind, namespace, options.peering)
            continue
        except NotFound:
            pass
        meta = {"name": options.peering, **({"namespace": namespace} if namespace else {})}
        try:
            client.create({"apiVersion": kind.api_version, "kind": kind.kind, "metadata": meta})
            log.info("created the %s %r: replicas of this operator now elect one active", kind.kind, options.peering)
        except Conflict:
            pass  # another replica made it first
        except ApiError as err:
            raise RuntimeError(f"cannot create the {kind.kind} {options.peering!r} ({err.status}: {err.message}); "
                               "without it two replicas could both write. Create it, or run with --standalone "
                               "and one replica") from None
    return True


def standing_by(status: dict | None, identity: str, priority: int, now: datetime.datetime) -> bool:
    """Whether kopf has paused this replica: a live peer has a higher priority, or the same one.

    kopf pauses the watches of a paused replica but not the operator's own loops (resync, relist,
    retries); they ask this, from the peering object's records, with kopf's own rules.
    """
    for peer_id, record in (status or {}).items():
        if peer_id == identity or not isinstance(record, dict):
            continue
        try:
            seen = datetime.datetime.fromisoformat(str(record.get("lastseen")))
            alive = seen + datetime.timedelta(seconds=int(record.get("lifetime", 60))) > now
            higher = int(record.get("priority", 0)) >= priority
        except (TypeError, ValueError):
            continue
        if alive and higher:
            return True
    return False


class Leadership:
    """Is this replica the active one? Asked by the loops kopf does not pause; read at most every `every` s."""

    def __init__(self, client: KubeClient, options: OperatorOptions, *, peered: bool, identity: str,
                 every: float):
        self._client, self._options, self._peered = client, options, peered
        self.identity = identity
        self._every = every
        self._checked = -float("inf")
        self._active = not peered

    def active(self) -> bool:
        if not self._peered:
            return True
        now = time.monotonic()
        if now - self._checked < self._every:
            return self._active
        self._checked = now
        kind = CLUSTER_PEERING if self._options.all_namespaces else PEERING
        namespace = None if self._options.all_namespaces else self._options.namespaces[0]
        try:
            status = self._client.get(kind, namespace, self._options.peering).get("status")
        except ApiError as err:
            log.warning("cannot read the peering object (%s); pausing the resync until it answers", err.status)
            self._active = False
            return False
        active = not standing_by(status, self.identity, self._options.priority, datetime.datetime.now(datetime.UTC))
        if active != self._active:
            log.info("this replica is %s", "active" if active else "on standby: its loops pause with its watches")
        self._active = active
        return active
