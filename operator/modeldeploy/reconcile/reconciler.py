"""Reconcile one ModelDeployment: desired children in, the fewest API writes out.

Level-triggered: everything is derived from the current spec and the observed
cache, never from what event arrived. Concurrent requests for the same
ModelDeployment coalesce (one runs, the rest mark it dirty and it runs once
more), so a burst of edits converges on the last one with no races.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from .. import rollout
from ..api import InvalidSpec, ModelDeployment, RolloutStatus, parse_model_deployment
from ..builders import (BuildOptions, SecretRevisions, build_revision, build_shared, desired_replicas, secret_revision,
                        template_hash)
from ..builders import naming as n
from ..clients import ApiError, KubeClient
from ..rollout import IntervalVerdict, Target
from ..timestamps import iso
from .children import Children, Desired, owned
from .conditions import Facts, compute_status, status_patch
from .events import EventPoster, build_event, transition_event
from .metrics import OperatorMetrics
from .needs import SecretGetter, unavailable
from .observed import Key, Observed, ObservedCache
from .redact import redact
from .revisions import Observation, pods_of, revision_md, target_of

log = logging.getLogger("modeldeploy.reconcile")

MAX_BACKOFF_SECONDS = 300.0
# A server's Retry-After is honoured up to this: a bogus hour-long value must not stall a model.
MAX_RETRY_AFTER_SECONDS = 120.0


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
    """A validated spec and what follows from it (the API key's revision, what the cluster can build), kept per
    generation. One pass reads the options once, here: a pass that was running when they changed builds, and
    memoises, with the ones it started with, and the next pass misses that memo."""

    md: ModelDeployment
    options: BuildOptions
    addresses: Addresses
    secrets: SecretRevisions
    template_hash: str


AutoscalingStatus = Callable[[Key, ModelDeployment, Observed], "dict | None"]


@dataclass(frozen=True)
class Outcome:
    result: str  # applied | unchanged | invalid | rejected | gone | retry | error
    writes: int = 0
    retry_after: float | None = None  # a failure's backoff: nothing for this ModelDeployment before then
    requeue_after: float | None = None  # a rollout's next moment (a pause ends, a deadline falls): look again


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
        self._children = Children(client, cache)
        self._events = EventPoster(client)

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
            for table in (self._parsed, self._built, self._revision_mds):
                table.pop(key, None)
            self._events.forget(key)
            self._children.forget(key)
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
        seen = Observation.of(self._cache.snapshot(key))
        plan, target = self._plan(key, body, parsed, seen)
        kept = self._kept(md, plan, seen)
        desired = self._desired(key, body, parsed, plan, target, seen)
        writes, apply_error = self._children.apply(key, desired, seen.observed)
        if apply_error is None:
            writes += self._children.scale(key, self._kept_replicas(plan, target, seen, kept), seen.observed)
        if writes:
            seen = Observation.of(self._cache.snapshot(key))  # with what the writes returned
        if apply_error is not None:
            writes += self._finish(body, Facts(generation, apply_error=apply_error))
            return Outcome("rejected", writes)
        pruned = self._children.prune(key, body["metadata"].get("uid"), desired, seen.observed, kept)
        if pruned:
            writes += pruned
            seen = Observation.of(self._cache.snapshot(key))
        writes += self._finish(body, self._facts(key, parsed, generation, plan, seen))
        self._watch(key, md, plan, target, seen)
        return Outcome("applied" if writes else "unchanged", writes, requeue_after=plan.requeue_after)

    def set_options(self, options: BuildOptions) -> None:
        """The cluster changed what can be built (KEDA's or Gateway API's CRDs came or went): build anew.
        The memos are keyed on the options too; clearing them only frees what no pass will hit again."""
        with self._guard:
            self._options = options
            self._parsed.clear()
            self._built.clear()

    def _parse(self, key: Key, body: dict, generation: int) -> Parsed:
        options = self._options
        held = self._parsed.get(key)
        md = held[1].md if held is not None and held[0][:2] == (body["metadata"].get("uid"), generation) \
            and generation else None
        if md is None:
            md = parse_model_deployment({k: body[k] for k in ("apiVersion", "kind", "metadata", "spec")
                                         if k in body})
        secrets = self._secret_revisions(md)
        version = (body["metadata"].get("uid"), generation, secrets, options)
        if held is not None and held[0] == version and generation:
            return held[1]
        parsed = Parsed(md, options, Addresses.of(md), secrets, template_hash(md, options, secrets))
        self._parsed[key] = (version, parsed)
        return parsed

    def _secret_revisions(self, md: ModelDeployment) -> SecretRevisions:
        """The API key's revision: stamped into the pod template, so a rotated key rolls the pods."""
        if md.spec.auth is None or self._secrets is None:
            return SecretRevisions()
        secret = self._secrets(md.namespace, md.spec.auth.api_key_secret)
        return SecretRevisions(api_key=secret_revision(secret) if secret else None)

    # -- the rollout ----------------------------------------------------------------------------------

    def _plan(self, key: Key, body: dict, parsed: Parsed, seen: Observation) -> tuple[rollout.Plan, Target]:
        md = parsed.md
        views = seen.revisions
        target = target_of(md, parsed.template_hash, views)
        state = RolloutStatus.model_validate((body.get("status") or {}).get("rollout") or {})
        verdicts = self._analyst.verdicts(key, target.name) if self._analyst else ()
        request = (body["metadata"].get("annotations") or {}).get(n.REQUEST_ANNOTATION)
        plan = rollout.step(rollout.Inputs(
            rollout=md.spec.rollout, total=desired_replicas(md), target=target, revisions=tuple(views),
            state=state, now=self._clock(), verdicts=tuple(verdicts), request=request,
            routed=parsed.options.gateway_available,
        ))
        return plan, target

    def _desired(self, key: Key, body: dict, parsed: Parsed, plan: rollout.Plan, target: Target,
                 seen: Observation) -> list[Desired]:
        """The target revision's children and the shared ones, the Services routed as the plan says (the other
        revisions are only scaled: `_kept_replicas`)."""
        wholes = seen.wholes
        stable = plan.state.stable or target.name
        weights = plan.route_weights or {stable: 100}
        # The generation is in the key: a spec edit that touches neither the pods nor the counts
        # (an autoscaler's behavior, a network policy) still changes the shared children.
        generation = body["metadata"].get("generation")
        layout = (body["metadata"].get("uid"), generation, parsed.options, parsed.secrets, parsed.template_hash,
                  target, plan.replicas.get(target.name, 0), plan.service_revision, plan.preview_revision,
                  tuple(sorted(weights.items())))
        held = self._built.get(key)
        if held is not None and held[0] == layout and generation:
            return held[1]
        md = parsed.md
        live = wholes.get(target.name)
        objects = build_revision(md, parsed.options, parsed.secrets, rev=target.name,
                                 replicas=plan.replicas.get(target.name, 0), number=target.number,
                                 smoke_gate=None if live is None else n.has_smoke_gate(
                                     ((live.get("spec") or {}).get("template") or {}).get("spec") or {}))
        objects += build_shared(md, parsed.options, active=plan.service_revision, preview=plan.preview_revision,
                                weights=weights)
        desired = [owned(obj, md, body) for obj in objects]
        self._built[key] = (layout, desired)
        return desired

    @staticmethod
    def _kept_replicas(plan: rollout.Plan, target: Target, seen: Observation, kept: set[str]) -> dict[str, int]:
        """The other revisions' Deployments at the replicas the rollout gives them, by Deployment name."""
        wholes = seen.wholes
        return {wholes[rev]["metadata"]["name"]: count for rev, count in plan.replicas.items()
                if rev != target.name and rev in wholes and rev in kept}

    @staticmethod
    def _kept(md: ModelDeployment, plan: rollout.Plan, seen: Observation) -> set[str]:
        """Revisions never pruned now: those the rollout uses, and the newest others up to the history limit."""
        views = seen.revisions
        busy = set(plan.keep) | {rev for rev, count in plan.replicas.items() if count > 0} | \
            {v.name for v in views if v.live or v.terminating}
        history = sorted((v for v in views if v.name not in busy), key=lambda v: v.number, reverse=True)
        return busy | {v.name for v in history[:md.spec.rollout.revision_history_limit]}

    def _watch(self, key: Key, md: ModelDeployment, plan: rollout.Plan, target: Target,
               seen: Observation) -> None:
        """Hand new pods to the smoke gate and a rolling-out revision to the analysis."""
        if self._gate is not None:
            self._gate.check(key, self._revision_specs(key, md, target, seen), seen.observed.pods)
        if self._analyst is not None:
            canary = plan.state.canary if plan.state.phase in ("Progressing", "Paused") else None
            self._analyst.follow(key, md, canary, plan.state.stable, seen.observed.pods)

    def _revision_specs(self, key: Key, md: ModelDeployment, target: Target,
                        seen: Observation) -> dict[str, ModelDeployment]:
        """Each revision as the ModelDeployment it serves (its own model config), for its pods' smoke."""
        wholes = seen.wholes
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

    # -- status -------------------------------------------------------------------------------------

    def _facts(self, key: Key, parsed: Parsed, generation: int, plan: rollout.Plan, seen: Observation) -> Facts:
        md, addresses = parsed.md, parsed.addresses
        views = seen.revisions
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
            pods=pods_of(seen.observed, {stable} if stable else set()),
            replicas=sum(v.live for v in views),
            revisions=tuple(revisions),
            rollout=plan.state.to_wire(),
            progress=plan.progress, aborted=plan.aborted,
            events=tuple((e.reason, e.message, e.warning) for e in plan.events),
            autoscaling=self._autoscaling(key, md, seen.observed) if self._autoscaling and md.spec.autoscaling else None,
            unavailable=unavailable(md, parsed.options, self._secrets),
        )

    def _finish(self, body: dict, facts: Facts) -> int:
        """The one place status is written: only when it changed, then one Event per transition."""
        now = iso(self._clock())
        status, transitions = compute_status(facts, body.get("status"), now)
        patch = status_patch(body.get("status"), status)
        meta = body["metadata"]
        key = (meta.get("namespace", "default"), meta["name"])
        if patch is None:
            return self._events.post(key, [])
        self._cache.put_md(self._client.patch_status(meta.get("namespace", "default"), meta["name"], patch))
        writes = 1
        # A transition the rollout's own Event already tells (with more detail) is not told twice.
        told = {reason for reason, _, _ in facts.events}
        events = [transition_event(body, t, now, self._instance) for t in transitions
                  if not (t.status == "True" and t.reason in told)]
        events += [build_event(body, reason, message, warning=warning, now=now, instance=self._instance)
                   for reason, message, warning in facts.events]
        return writes + self._events.post(key, events)


__all__ = ["Outcome", "Reconciler"]
