"""Reconcile one ModelDeployment: desired children in, the fewest API writes out.

Level-triggered: everything is derived from the current spec and the observed
cache, never from what event arrived. Concurrent requests for the same
ModelDeployment coalesce (one runs, the rest mark it dirty and it runs once
more), so a burst of edits converges on the last one with no races.
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from .. import rollout
from ..api import API_VERSION, KIND, InvalidSpec, ModelDeployment, RolloutStatus, parse_model_deployment
from ..builders import (BuildOptions, SecretRevisions, api_key_problem, autoscaler_unavailable, build_revision,
                        build_shared, desired_replicas, secret_revision, template_hash)
from ..builders import naming as n
from ..clients import ApiError, Conflict, Invalid, KubeClient, NotFound
from ..clients.permissions import KINDS
from ..rollout import IntervalVerdict, Target
from .compact import pack, unpack
from .conditions import Facts, compute_status, status_patch
from .diff import applied_hash, in_sync, stamp
from .events import build_event, transition_event
from .metrics import OperatorMetrics
from .observed import Key, Observed, ObservedCache, full_object
from .redact import redact
from .revisions import kept_deployment, observe as observe_revisions, pods_of, revision_md, target_of

log = logging.getLogger("modeldeploy.reconcile")

CONFLICT_ATTEMPTS = 3
MAX_BACKOFF_SECONDS = 300.0
# A server's Retry-After is honoured up to this: a bogus hour-long value must not stall a model.
MAX_RETRY_AFTER_SECONDS = 120.0


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


class Analyst(Protocol):
    """Judges rolling-out revisions on their metrics (modeldeploy.rollout.analyst)."""

    def verdicts(self, key: Key, revision: str) -> Sequence[IntervalVerdict]: ...

    def figures(self, key: Key, revision: str) -> dict | None: ...

    def follow(self, key: Key, md: ModelDeployment, canary: str | None, stable: str | None,
               pods: Sequence[dict]) -> None: ...


class SmokeGate(Protocol):
    """Sends each new pod a smoke inference before it may take traffic (modeldeploy.rollout.gate)."""

    def check(self, key: Key, mds: dict[str, ModelDeployment], pods: Sequence[dict]) -> None: ...


@dataclass(frozen=True)
class Addresses:
    """Where the model answers: the same for every revision of a spec."""

    url: str
    grpc_address: str
    selector: str

    @classmethod
    def of(cls, md: ModelDeployment) -> Addresses:
        host = f"{n.service_name(md)}.{md.namespace}.svc"
        return cls(
            url=f"http://{host}:{n.HTTP_PORT}/v2/models/{md.model_name}",
            grpc_address=f"{host}:{n.GRPC_PORT}",
            selector=",".join(f"{k}={v}" for k, v in n.selector_labels(md).items()),
        )


@dataclass(frozen=True)
class Parsed:
    """A validated spec and what follows from it (and the API key's revision), kept per generation."""

    md: ModelDeployment
    addresses: Addresses
    secrets: SecretRevisions
    template_hash: str


SecretGetter = Callable[[str, str], "dict | None"]  # (namespace, name) -> the Secret, None when missing
AutoscalingStatus = Callable[[Key, ModelDeployment, Observed], "dict | None"]


@dataclass(frozen=True)
class Outcome:
    result: str  # applied | unchanged | invalid | rejected | gone | retry | error
    writes: int = 0
    retry_after: float | None = None  # a failure's backoff: nothing for this ModelDeployment before then
    requeue_after: float | None = None  # a rollout's next moment (a pause ends, a deadline falls): look again


def utcnow(at: float | None = None) -> str:
    moment = datetime.datetime.now(datetime.UTC) if at is None else datetime.datetime.fromtimestamp(at, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class Reconciler:
    def __init__(self, client: KubeClient, cache: ObservedCache, *, metrics: OperatorMetrics,
                 options: BuildOptions = BuildOptions(), instance: str = "modeldeploy",
                 clock: Callable[[], float] = time.time, analyst: Analyst | None = None,
                 gate: SmokeGate | None = None, secrets: SecretGetter | None = None,
                 autoscaling: AutoscalingStatus | None = None):
        self._client = client
        self._cache = cache
        self._metrics = metrics
        self._options = options
        self._instance = instance
        self._clock = clock
        self._analyst = analyst
        self._gate = gate
        self._secrets = secrets
        self._autoscaling = autoscaling
        self._revision_mds: dict[Key, dict[str, tuple[str, ModelDeployment]]] = {}
        self._guard = threading.Lock()
        self._running: set[Key] = set()
        self._dirty: set[Key] = set()
        self._failures: dict[Key, int] = {}
        # (uid, generation) → the validated spec: it cannot change without a new generation, so resyncs
        # and event echoes skip validation.
        self._parsed: dict[Key, tuple[tuple, Parsed]] = {}
        # The desired children of the last layout (rollout replicas, routing): rebuilt only when it changes.
        self._built: dict[Key, tuple[tuple, list[Desired]]] = {}
        # Children found in sync, by resourceVersion: unchanged since, they need no field-by-field check.
        self._verified: dict[Key, dict[tuple[str, str], tuple[str, str]]] = {}

    def reconcile(self, key: Key) -> Outcome | None:
        """Reconcile now, or make the reconcile already running for this key go once more."""
        with self._guard:
            if key in self._running:
                self._dirty.add(key)
                return None
            self._running.add(key)
        try:
            while True:
                outcome = self._measured(key)
                with self._guard:
                    if outcome.retry_after is not None:
                        self._dirty.discard(key)  # backing off: the scheduled retry sees the latest state
                    if key not in self._dirty:
                        self._running.discard(key)
                        return outcome
                    self._dirty.discard(key)
        except BaseException:
            with self._guard:
                self._running.discard(key)
                self._dirty.discard(key)
            raise

    # -- one pass -----------------------------------------------------------------------------------

    def _measured(self, key: Key) -> Outcome:
        started = time.perf_counter()
        try:
            outcome = self._once(key)
            self._failures.pop(key, None)
        except ApiError as err:
            outcome = self._retry(key, err, f"{err.verb} {err.kind} failed with {err.status}: {redact(err.message)}")
        except Exception as err:  # a bug must not kill the operator nor leak into status
            log.exception("reconcile of %s/%s failed unexpectedly", *key)
            outcome = self._retry(key, err, f"unexpected {type(err).__name__}")
        self._metrics.reconcile_seconds.observe(time.perf_counter() - started)
        self._metrics.reconciles.labels(result=outcome.result).inc()
        return outcome

    def _retry(self, key: Key, err: Exception, message: str) -> Outcome:
        failures = self._failures[key] = self._failures.get(key, 0) + 1
        delay = min(MAX_BACKOFF_SECONDS, 2.0 ** (failures - 1))
        told = getattr(err, "retry_after", None)
        if told is not None:
            delay = max(delay, min(told, MAX_RETRY_AFTER_SECONDS))
        log.warning("%s/%s: %s; retrying in %.0fs", *key, message, delay)
        return Outcome("retry", retry_after=delay)

    def _once(self, key: Key) -> Outcome:
        body = self._cache.md(key)
        if body is None or body["metadata"].get("deletionTimestamp"):
            for table in (self._parsed, self._built, self._verified, self._revision_mds):
                table.pop(key, None)
            return Outcome("gone")
        generation = int(body["metadata"].get("generation") or 0)
        try:
            parsed = self._parse(key, body, generation)
        except InvalidSpec as err:
            # Nothing is applied or pruned: what already serves keeps serving.
            self._built.pop(key, None)
            writes = self._finish(body, Facts(generation, spec_error=redact(str(err))))
            return Outcome("invalid", writes)
        md = parsed.md
        observed = self._cache.snapshot(key)
        plan, target = self._plan(key, body, parsed, observed)
        kept = self._kept(md, plan, observed)
        desired = self._desired(key, body, parsed, plan, target, observed, kept)
        writes, apply_error = self._apply(key, desired, observed)
        if writes:
            observed = self._cache.snapshot(key)  # with what the writes returned
        if apply_error is not None:
            writes += self._finish(body, Facts(generation, apply_error=apply_error))
            return Outcome("rejected", writes)
        pruned = self._prune(key, body, desired, observed, kept)
        if pruned:
            writes += pruned
            observed = self._cache.snapshot(key)
        writes += self._finish(body, self._facts(key, parsed, generation, plan, observed))
        self._watch(key, md, plan, target, observed)
        return Outcome("applied" if writes else "unchanged", writes, requeue_after=plan.requeue_after)

    def set_options(self, options: BuildOptions) -> None:
        """The cluster changed what can be built (KEDA's or Gateway API's CRDs came or went): build anew."""
        with self._guard:
            self._options = options
            self._parsed.clear()
            self._built.clear()

    def _parse(self, key: Key, body: dict, generation: int) -> Parsed:
        held = self._parsed.get(key)
        md = held[1].md if held is not None and held[0][:2] == (body["metadata"].get("uid"), generation) \
            and generation else None
        if md is None:
            md = parse_model_deployment({k: body[k] for k in ("apiVersion", "kind", "metadata", "spec")
                                         if k in body})
        secrets = self._secret_revisions(md)
        version = (body["metadata"].get("uid"), generation, secrets)
        if held is not None and held[0] == version and generation:
            return held[1]
        parsed = Parsed(md, Addresses.of(md), secrets, template_hash(md, self._options, secrets))
        self._parsed[key] = (version, parsed)
        return parsed

    def _secret_revisions(self, md: ModelDeployment) -> SecretRevisions:
        """The API key's revision: stamped into the pod template, so a rotated key rolls the pods."""
        if md.spec.auth is None or self._secrets is None:
            return SecretRevisions()
        secret = self._secrets(md.namespace, md.spec.auth.api_key_secret)
        return SecretRevisions(api_key=secret_revision(secret) if secret else None)

    # -- the rollout ----------------------------------------------------------------------------------

    def _plan(self, key: Key, body: dict, parsed: Parsed, observed: Observed) -> tuple[rollout.Plan, Target]:
        md = parsed.md
        views, _ = observe_revisions(observed)
        target = target_of(md, parsed.template_hash, views)
        state = RolloutStatus.model_validate((body.get("status") or {}).get("rollout") or {})
        verdicts = self._analyst.verdicts(key, target.name) if self._analyst else ()
        request = (body["metadata"].get("annotations") or {}).get(n.REQUEST_ANNOTATION)
        plan = rollout.step(rollout.Inputs(
            rollout=md.spec.rollout, total=desired_replicas(md), target=target, revisions=tuple(views),
            state=state, now=self._clock(), verdicts=tuple(verdicts), request=request,
            routed=self._options.gateway_available,
        ))
        return plan, target

    def _desired(self, key: Key, body: dict, parsed: Parsed, plan: rollout.Plan, target: Target,
                 observed: Observed, kept: set[str]) -> list[Desired]:
        """The children of this layout: each revision at its share, the Services routed as the plan says."""
        _, wholes = observe_revisions(observed)
        others = tuple(sorted((rev, wholes[rev]["metadata"].get("resourceVersion"), count)
                              for rev, count in plan.replicas.items()
                              if rev != target.name and rev in wholes and rev in kept))
        stable = plan.state.stable or target.name
        weights = plan.route_weights or {stable: 100}
        # The generation is in the key: a spec edit that touches neither the pods nor the counts
        # (an autoscaler's behavior, a network policy) still changes the shared children.
        generation = body["metadata"].get("generation")
        layout = (body["metadata"].get("uid"), generation, parsed.secrets, parsed.template_hash, target,
                  plan.replicas.get(target.name, 0), others, plan.service_revision, plan.preview_revision,
                  tuple(sorted(weights.items())))
        held = self._built.get(key)
        if held is not None and held[0] == layout and generation:
            return held[1]
        md = parsed.md
        live = wholes.get(target.name)
        objects = build_revision(md, self._options, parsed.secrets, rev=target.name,
                                 replicas=plan.replicas.get(target.name, 0), number=target.number,
                                 smoke_gate=None if live is None else n.has_smoke_gate(
                                     ((live.get("spec") or {}).get("template") or {}).get("spec") or {}))
        objects += [kept_deployment(wholes[rev], count) for rev, _, count in others]
        objects += build_shared(md, self._options, active=plan.service_revision, preview=plan.preview_revision, weights=weights)
        desired = [Desired.of(self._owned(obj, md, body)) for obj in objects]
        self._built[key] = (layout, desired)
        return desired

    @staticmethod
    def _owned(obj: dict, md: ModelDeployment, body: dict) -> dict:
        uid = body["metadata"].get("uid")
        if uid:
            obj["metadata"]["ownerReferences"] = [{
                "apiVersion": API_VERSION, "kind": KIND, "name": md.name, "uid": uid,
                "controller": True, "blockOwnerDeletion": True,
            }]
        return stamp(obj)

    @staticmethod
    def _kept(md: ModelDeployment, plan: rollout.Plan, observed: Observed) -> set[str]:
        """Revisions never pruned now: those the rollout uses, and the newest others up to the history limit."""
        views, _ = observe_revisions(observed)
        busy = set(plan.keep) | {rev for rev, count in plan.replicas.items() if count > 0} | \
            {v.name for v in views if v.live or v.terminating}
        history = sorted((v for v in views if v.name not in busy), key=lambda v: v.number, reverse=True)
        return busy | {v.name for v in history[:md.spec.rollout.revision_history_limit]}

    def _watch(self, key: Key, md: ModelDeployment, plan: rollout.Plan, target: Target,
               observed: Observed) -> None:
        """Hand new pods to the smoke gate and a rolling-out revision to the analysis."""
        if self._gate is not None:
            self._gate.check(key, self._revision_specs(key, md, target, observed), observed.pods)
        if self._analyst is not None:
            canary = plan.state.canary if plan.state.phase in ("Progressing", "Paused") else None
            self._analyst.follow(key, md, canary, plan.state.stable, observed.pods)

    def _revision_specs(self, key: Key, md: ModelDeployment, target: Target,
                        observed: Observed) -> dict[str, ModelDeployment]:
        """Each revision as the ModelDeployment it serves (its own model config), for its pods' smoke."""
        _, wholes = observe_revisions(observed)
        held = self._revision_mds.setdefault(key, {})
        specs = {target.name: md}
        for rev, whole in wholes.items():
            if rev == target.name:
                continue
            recorded = (whole["metadata"].get("annotations") or {}).get(n.REVISION_SPEC_ANNOTATION)
            if not recorded:
                continue
            if rev not in held or held[rev][0] != recorded:
                try:
                    held[rev] = (recorded, revision_md(md, recorded))
                except (InvalidSpec, ValueError):
                    continue
            specs[rev] = held[rev][1]
        for gone in set(held) - set(wholes):
            del held[gone]
        return specs

    # -- children -----------------------------------------------------------------------------------

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

    def _apply(self, key: Key, desired: list[Desired], observed: Observed) -> tuple[int, str | None]:
        writes = 0
        for want in desired:
            current = observed.children.get(want.slot)
            if self._in_sync(key, want, current):
                continue
            obj = want.obj()
            try:
                self._record(key, want, self._apply_one(obj))
                writes += 1
            except Invalid as err:
                return writes, redact(f"the API server rejected {want.kind} {want.name}: {err.message}")
        return writes, None

    def _apply_one(self, obj: dict, **kwargs) -> dict:
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            try:
                return self._client.apply(obj, **kwargs)
            except Conflict:
                if attempt == CONFLICT_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    def _record(self, key: Key, want: Desired, applied: dict) -> None:
        """Write-through of an apply's response: its watch echo is then no news, its content verified."""
        # A Deployment is kept whole: a revision the rollout keeps is re-applied with its own template.
        self._cache.put(applied, whole=applied.get("kind") == "Deployment")
        self._verified.setdefault(key, {})[want.slot] = (want.hash, applied["metadata"].get("resourceVersion"))

    def _prune(self, key: Key, body: dict, desired: list[Desired], observed: Observed, kept: set[str]) -> int:
        """Delete owned children the spec no longer produces; a revision's, once the rollout lets it go."""
        wanted = {want.slot for want in desired}
        uid = body["metadata"].get("uid")
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

    # -- status -------------------------------------------------------------------------------------

    def _facts(self, key: Key, parsed: Parsed, generation: int, plan: rollout.Plan, observed: Observed) -> Facts:
        md, addresses = parsed.md, parsed.addresses
        views, _ = observe_revisions(observed)
        by_name = {v.name: v for v in views}
        stable = plan.state.stable
        serving_revs = {plan.service_revision} if plan.service_revision else set(by_name)
        figures = self._analyst.figures(key, plan.state.canary) if self._analyst and plan.state.canary else None
        revisions = []
        for view in sorted(views, key=lambda v: v.number):
            role = plan.roles.get(view.name, "Old")
            if role == "Old" and not view.live:
                continue
            entry = {"name": view.name, "revision": view.number, "version": view.version, "role": role,
                     "weight": plan.weights.get(view.name, 0), "replicas": view.live,
                     "readyReplicas": view.ready}
            if view.name in plan.desired_weights:
                entry["desiredWeight"] = plan.desired_weights[view.name]
            if role in ("Canary", "Preview") and figures is not None:
                entry.update(figures)
            revisions.append(entry)
        stable_view = by_name.get(stable or "")
        return Facts(
            generation=generation, url=addresses.url, grpc_address=addresses.grpc_address,
            selector=addresses.selector,
            total=desired_replicas(md), floor=desired_replicas(md) - md.spec.rollout.max_unavailable,
            stable=stable, stable_version=stable_view.version if stable_view else md.spec.model.version,
            created=stable_view is not None,
            serving=sum(v.ready for v in views if v.name in serving_revs),
            pods=pods_of(observed, {stable} if stable else set()),
            replicas=sum(v.live for v in views),
            revisions=tuple(revisions),
            rollout=plan.state.to_wire(),
            progress=plan.progress, aborted=plan.aborted,
            events=tuple((e.reason, e.message, e.warning) for e in plan.events),
            autoscaling=self._autoscaling(key, md, observed) if self._autoscaling and md.spec.autoscaling else None,
            unavailable=self._unavailable(md),
        )

    def _unavailable(self, md: ModelDeployment) -> str | None:
        """What the spec asks of the cluster that it lacks (a Secret, a CRD), said in the Degraded condition."""
        secrets = self._secret_problem(md)
        if secrets:
            return secrets
        missing = autoscaler_unavailable(md, self._options.keda_available)
        if missing:
            return f"AutoscalerUnavailable: {missing}"
        routing = md.spec.rollout.traffic_routing
        if routing is not None and routing.gateway_api is not None and not self._options.gateway_available:
            return ("TrafficRoutingUnavailable: rollout.trafficRouting.gatewayApi needs the Gateway API CRDs "
                    "(httproutes.gateway.networking.k8s.io); until they are installed the canary's weight "
                    "follows its share of pods")
        return None

    def _secret_problem(self, md: ModelDeployment) -> str | None:
        """A Secret the pods need that is missing (a kubelet reports a volume it cannot mount only in Events,
        so the pod just waits), or an API key no client could send."""
        if self._secrets is None:
            return None
        storage = md.spec.model.storage
        needed = [("model.storage.credentialsSecret", storage.credentials_secret if storage else None),
                  ("auth.apiKeySecret", md.spec.auth.api_key_secret if md.spec.auth else None)]
        for field, name in needed:
            if not name:
                continue
            secret = self._secrets(md.namespace, name)
            if secret is None:
                return (f"SecretNotFound: spec.{field}: Secret {name} is not in namespace {md.namespace} (or the "
                        "operator cannot read it); the pods wait for it: create it there")
            if field == "auth.apiKeySecret" and (problem := api_key_problem(secret)):
                return f"ApiKeyInvalid: spec.{field}: {problem}"
        return None

    def _finish(self, body: dict, facts: Facts) -> int:
        """The one place status is written: only when it changed, then one Event per transition."""
        now = utcnow(self._clock())
        status, transitions = compute_status(facts, body.get("status"), now)
        patch = status_patch(body.get("status"), status)
        if patch is None:
            return 0
        meta = body["metadata"]
        self._cache.put_md(self._client.patch_status(meta.get("namespace", "default"), meta["name"], patch))
        writes = 1
        # A transition the rollout's own Event already tells (with more detail) is not told twice.
        told = {reason for reason, _, _ in facts.events}
        events = [transition_event(body, t, now, self._instance) for t in transitions
                  if not (t.status == "True" and t.reason in told)]
        events += [build_event(body, reason, message, warning=warning, now=now, instance=self._instance)
                   for reason, message, warning in facts.events]
        for event in events:
            try:
                self._client.create_event(event)
                writes += 1
            except ApiError as err:  # an Event is best effort; the status already says it
                log.warning("event for %s/%s not recorded: %s", meta.get("namespace"), meta["name"],
                            redact(err.message))
        return writes


def _owned_by(child: dict, uid: str | None) -> bool:
    refs = child["metadata"].get("ownerReferences") or []
    return uid is not None and any(ref.get("uid") == uid and ref.get("controller") for ref in refs)


__all__ = ["Outcome", "Reconciler"]
