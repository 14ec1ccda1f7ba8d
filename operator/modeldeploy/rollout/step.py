"""The rollout as one pure step: observed revisions, verdicts and a clock in; replicas, traffic and state out.

Level-triggered like the reconciler that calls it: nothing here remembers
anything between calls but what it returns in `RolloutStatus`, which the
reconciler writes to the ModelDeployment's status. An operator restarted in
the middle of a step therefore resumes from what the status says.
"""

from __future__ import annotations

from ..api.base import duration_seconds
from ..timestamps import epoch, iso
from .budget import Budget, allocate, canary_pods, ready_share, routed_pods
from .messages import deadline_reason, step_message
from .plan import ABORT, PROMOTE, PROMOTE_FULL, RETRY, Event, Inputs, Plan, replace

# An HTTPRoute sends to a revision's Service as soon as it names it: weight goes to pods only once they
# have been Ready this long, so their endpoints have reached the routers (kube-proxy and the gateway).
ENDPOINT_SETTLE_SECONDS = 2.0


def step(inp: Inputs) -> Plan:
    return _Stepper(inp).run()


def _millis(text: str) -> int:
    return round(epoch(text) * 1000)


class _Stepper:
    def __init__(self, inp: Inputs):
        self.inp = inp
        self.spec = inp.rollout
        self.revs = {r.name: r for r in inp.revisions}
        self.budget = Budget(inp.total, inp.rollout.max_surge, inp.rollout.max_unavailable)
        self.state = inp.state
        self.events: list[Event] = []
        self.wakeups: list[float] = []
        action, _, _ = (inp.request or "").partition("@")
        self.request = action if inp.request and inp.request != inp.state.last_request else None
        self.promoted = False  # a promote request moved the rollout in this call
        if self.request:
            self.state = replace(self.state, last_request=inp.request)

    # -- the cases ---------------------------------------------------------------------------------

    def run(self) -> Plan:
        target, state = self.inp.target, self.state
        stable = state.stable if state.stable in self.revs else self._guess_stable()
        if state.stable != stable:
            self.state = state = replace(state, stable=stable)
        if target.name == stable:
            return self._steady(stable)
        if state.aborted_hash == target.hash:
            if self.request == RETRY:
                self.events.append(Event("RolloutRetried", f"retrying revision {target.name} as asked"))
                self.state = replace(self.state, aborted_hash=None, aborted_reason=None, aborted_at=None,
                                     aborted_failing=None, canary=None)
            else:
                return self._held_after_abort(stable)
        if self.request == ABORT and self.state.canary == target.name:
            return self._abort(stable, "aborted by request (modeldeploy rollout abort)")
        return self._rolling(stable)

    def _guess_stable(self) -> str:
        """No status to say which revision serves (first deploy, or status lost): the one serving most."""
        others = [r for r in self.revs.values() if r.name != self.inp.target.name]
        if not others:
            return self.inp.target.name
        return max(others, key=lambda r: (r.ready, r.live, r.number)).name

    def _steady(self, stable: str) -> Plan:
        """Serving one revision: it takes the total; the rest go (a superseded canary within the budget)."""
        state = self.state
        if state.canary and state.canary != stable:
            self.events.append(Event("RolloutSuperseded", f"revision {state.canary} superseded: back to {stable}"))
        want = {stable: self.inp.total}
        keep_warm = None
        if state.previous and state.switched_at and state.previous in self.revs:
            until = epoch(state.switched_at) + duration_seconds(self.spec.blue_green.scale_down_delay)
            if self.inp.now < until:
                keep_warm = state.previous
                want[state.previous] = self.inp.total
                self.wakeups.append(until)
        self.state = replace(state, phase="Stable", canary=None, step=None, step_started_at=None,
                             step_reached_at=None, started_at=None,
                             previous=keep_warm, switched_at=state.switched_at if keep_warm else None,
                             aborted_hash=None if state.aborted_hash != self.inp.target.hash else state.aborted_hash,
                             message=f"revision {stable} serves")
        serving = {stable} if self.spec.strategy == "BlueGreen" else None
        replicas = allocate(self.revs.values(), want, self.budget, serving=serving, grow_order=[stable],
                            floor=self.spec.strategy != "Recreate")
        roles = {name: "Old" for name in self.revs}
        roles[stable] = "Stable"
        if keep_warm:
            roles[keep_warm] = "Old"
        return self._plan(replicas, roles, {stable: 100}, serving_revision=stable if serving else None)

    def _held_after_abort(self, stable: str) -> Plan:
        target = self.inp.target
        reason = self.state.aborted_reason or "aborted"
        want = {stable: self.inp.total, target.name: 0}
        # A failing revision's pods leave at once, below the floor if need be: they serve errors. A healthy one
        # (aborted by request, or late) keeps serving until the stable revision has grown back.
        # Recreate has no room beside the serving pods: the aborted revision goes first, as the old one did (the
        # outage Recreate accepts), or the stable could never come back.
        failing = self.state.aborted_failing is not False or self.spec.strategy == "Recreate"
        replicas = allocate(self.revs.values(), want, self.budget, serving=self._serving(stable),
                            exempt={target.name} if failing else frozenset(), grow_order=[stable])
        self.state = replace(self.state, phase="Aborted", canary=None, message=(
            f"revision {target.name} was rolled back: {reason}; change the spec or run "
            "`modeldeploy rollout retry` to try again"))
        roles = {name: "Old" for name in self.revs}
        roles[stable] = "Stable"
        roles[target.name] = "Aborted"
        # What takes traffic until the aborted pods are gone: the stable alone behind a BlueGreen switch or an
        # HTTPRoute; every ready pod behind a canary's Service.
        routed = self.inp.routed and self.spec.traffic_routing is not None and \
            self.spec.traffic_routing.gateway_api is not None
        weights = {stable: 100} if self.spec.strategy == "BlueGreen" or routed else \
            ready_share(self.revs.values(), None) or {stable: 100}
        return self._plan(replicas, roles, weights, serving_revision=self._main_service(stable), aborted=reason)

    def _abort(self, stable: str, reason: str, failing: bool = False) -> Plan:
        target = self.inp.target
        self.events.append(Event("RolloutAborted", f"revision {target.name} rolled back to {stable}: {reason}",
                                 warning=True))
        self.state = replace(self.state, aborted_hash=target.hash, aborted_reason=reason,
                             aborted_at=iso(self.inp.now), aborted_failing=failing)
        return self._held_after_abort(stable)

    def _rolling(self, stable: str) -> Plan:
        target, state, now = self.inp.target, self.state, self.inp.now
        if state.canary != target.name:
            if state.canary and state.canary in self.revs:
                self.events.append(Event("RolloutSuperseded", f"revision {state.canary} superseded by {target.name}"))
            self.events.append(Event("RolloutStarted", f"rolling out revision {target.name} "
                                                       f"(version {target.version}) by {self.spec.strategy}"))
            self.state = state = replace(state, phase="Progressing", canary=target.name, step=0,
                                         started_at=iso(now), step_started_at=iso(now), step_reached_at=None,
                                         failed_intervals=0, inconclusive_intervals=0, passed_intervals=0,
                                         last_interval=None, outage_started_at=None, outage_seconds=None,
                                         previous=None, switched_at=None, message="",
                                         paused_at=iso(now, millis=True) if self.spec.paused else None)
        self._hold_deadline_while_paused()
        canary = self.revs.get(target.name)
        failure = canary.failure() if canary else None
        if failure:
            return self._abort(stable, failure, failing=True)
        self._count_verdicts()
        if self.state.failed_intervals >= self.spec.analysis.failure_limit:
            return self._abort(stable, f"analysis failed {self.state.failed_intervals} interval(s): "
                                       f"{self._last_failure()}", failing=True)
        if self.spec.strategy == "BlueGreen":
            return self._blue_green(stable)
        if self.spec.strategy == "Recreate":
            return self._recreate(stable)
        return self._canary(stable)

    # -- strategies --------------------------------------------------------------------------------

    def _canary(self, stable: str) -> Plan:
        target, now, total = self.inp.target, self.inp.now, self.inp.total
        weights = [s.weight for s in self.spec.steps] or [100]
        if weights[-1] != 100:
            weights.append(100)
        index = min(self.state.step or 0, len(weights) - 1)
        if self.request == PROMOTE_FULL:
            self.promoted = True
            index = len(weights) - 1
            self._enter_step(index, "promoted to 100% by request")
        weight = weights[index]
        routed = self.inp.routed and self.spec.traffic_routing is not None and \
            self.spec.traffic_routing.gateway_api is not None
        if routed:
            canary_want = routed_pods(total, weight)
            stable_want = min(routed_pods(total, 100 - weight), self.budget.ceiling - canary_want) if weight < 100 else 0
        else:
            canary_want = canary_pods(total, weight)
            stable_want = total - canary_want
            if weight < 100 and stable_want == 0 and self.budget.surge >= 1:
                stable_want = 1  # one pod cannot be split: keep the stable one beside the canary
        want = {target.name: canary_want, stable: max(0, stable_want)}
        replicas = allocate(self.revs.values(), want, self.budget, serving=None,
                            grow_order=[target.name, stable])
        canary = self.revs.get(target.name)
        stable_rev = self.revs.get(stable)
        reached = (canary is not None and canary.ready >= canary_want and replicas.get(target.name) == canary_want
                   and (stable_rev is None or stable_rev.live <= want[stable]))
        plan_weights = self._weights(stable, weight, routed)
        label = f"CanaryStep {index + 1}/{len(weights)}, weight {weight}%"
        if weight == 100 and reached:
            return self._complete(stable, replicas, f"revision {target.name} took all traffic")
        if reached:
            if not self.state.step_reached_at:
                self.state = replace(self.state, step_reached_at=iso(now))
                self.events.append(Event("CanaryStep", f"{label}: {canary_want} of {total} pods serving "
                                                       f"revision {target.name}"))
            if self._may_advance(index, weights):
                self._enter_step(index + 1, f"step {index + 1} passed")
                return self._canary(stable)
            elif self.spec.analysis.require_traffic and not self.state.passed_intervals and self._deadline_passed():
                return self._abort(stable, f"no analysis interval with at least {self.spec.analysis.min_requests} "
                                           f"requests within progressDeadline {self.spec.progress_deadline}")
        elif self._deadline_passed():
            return self._abort(stable, deadline_reason(self.spec, self.revs.get(self.inp.target.name)))
        roles = {name: "Superseded" if r.live else "Old" for name, r in self.revs.items()}
        roles[stable], roles[target.name] = "Stable", "Canary"
        self.state = replace(self.state, phase="Paused" if self.spec.paused else "Progressing",
                             message=step_message(self.spec, self.state, self.revs.get(target.name), label, reached,
                                                  index))
        route = {stable: 100 - plan_weights.get(target.name, 0), target.name: plan_weights.get(target.name, 0)} \
            if routed else None
        self._promote_waits()
        return self._plan(replicas, roles, plan_weights, desired={target.name: weight, stable: 100 - weight},
                          route_weights=route, progress=label)

    def _blue_green(self, stable: str) -> Plan:
        target, now, total = self.inp.target, self.inp.now, self.inp.total
        want = {stable: total, target.name: total}
        replicas = allocate(self.revs.values(), want, self.budget, serving={stable},
                            grow_order=[stable, target.name])
        preview = self.revs.get(target.name)
        reached = preview is not None and preview.ready >= total
        if reached:
            if not self.state.step_reached_at:
                self.state = replace(self.state, step_reached_at=iso(now))
                self.events.append(Event("PreviewReady", f"revision {target.name} serves at full size behind "
                                                         "the preview Service"))
            ready_for = now - (epoch(self.state.step_reached_at) or now)
            hold = duration_seconds(self.spec.blue_green.preview_duration)
            if ready_for < hold:
                self.wakeups.append(now + hold - ready_for)
            elif not self.spec.paused and self._analysis_allows() and \
                    (self.spec.blue_green.auto_promote or self.request in (PROMOTE, PROMOTE_FULL)):
                self.promoted = True
                self.events.append(Event("TrafficSwitched", f"traffic switched from {stable} to {target.name}"))
                self.state = replace(self.state, previous=stable, switched_at=iso(now))
                return self._complete(stable, replicas, f"revision {target.name} took all traffic", switch=True)
        elif self._deadline_passed():
            return self._abort(stable, deadline_reason(self.spec, self.revs.get(self.inp.target.name)))
        roles = {name: "Old" for name in self.revs}
        roles[stable], roles[target.name] = "Stable", "Preview"
        waiting = "waiting for `modeldeploy rollout promote`" if reached and not self.spec.blue_green.auto_promote \
            else ("preview serving; analysis running" if reached else f"preview {preview.ready if preview else 0}/"
                                                                          f"{total} pods ready")
        self.state = replace(self.state, phase="Paused" if self.spec.paused else "Progressing",
                             message=f"BlueGreen: {waiting}")
        self._promote_waits()
        return self._plan(replicas, roles, {stable: 100, target.name: 0}, desired={stable: 100, target.name: 0},
                          serving_revision=stable, preview=target.name, progress=f"BlueGreen preview of {target.name}")

    def _recreate(self, stable: str) -> Plan:
        target, now, total = self.inp.target, self.inp.now, self.inp.total
        others_left = any(r.live + r.terminating for name, r in self.revs.items() if name != target.name)
        want = {name: 0 for name in self.revs if name != target.name}
        want[target.name] = 0 if others_left else total
        replicas = allocate(self.revs.values(), want, self.budget, serving=None, floor=False,
                            grow_order=[target.name])
        serving_now = sum(r.ready for r in self.revs.values())
        if serving_now == 0 and not self.state.outage_started_at:
            self.state = replace(self.state, outage_started_at=iso(now, millis=True))
        new = self.revs.get(target.name)
        if new is not None and new.ready >= 1 and self.state.outage_started_at and self.state.outage_seconds is None:
            self.state = replace(self.state, outage_seconds=round(now - epoch(self.state.outage_started_at), 1))
        if new is not None and new.ready >= total and not others_left:
            return self._complete(stable, replicas, f"revision {target.name} recreated; outage "
                                                    f"{self.state.outage_seconds or 0:.1f}s")
        if self._deadline_passed():
            return self._abort(stable, deadline_reason(self.spec, self.revs.get(self.inp.target.name)))
        roles = {name: "Old" for name in self.revs}
        roles[stable], roles[target.name] = "Stable", "Canary"
        self.state = replace(self.state, phase="Progressing", message=(
            f"Recreate: {'stopping the old pods' if others_left else 'starting the new pods'}"))
        return self._plan(replicas, roles, ready_share(self.revs.values(), None), progress="Recreate")

    # -- shared pieces -----------------------------------------------------------------------------

    def _complete(self, stable: str, replicas: dict[str, int], message: str, *, switch: bool = False) -> Plan:
        target = self.inp.target
        self.events.append(Event("RolloutCompleted", message))
        self.state = replace(self.state, stable=target.name, canary=None, phase="Stable", step=None,
                             step_started_at=None, step_reached_at=None, message=message,
                             previous=self.state.previous if switch else None,
                             switched_at=self.state.switched_at if switch else None)
        # The next call sees a steady state; this one already lets the old revision go within the budget.
        plan = _Stepper(replace(self.inp, state=self.state, request=None)).run()
        return replace(plan, events=tuple(self.events) + plan.events)

    def _enter_step(self, index: int, why: str) -> None:
        self.state = replace(self.state, step=index, step_started_at=iso(self.inp.now), step_reached_at=None,
                             inconclusive_intervals=0, passed_intervals=0)

    def _may_advance(self, index: int, weights: list[int]) -> bool:
        if self.spec.paused or not self._analysis_allows():
            return False
        if self.request == PROMOTE and not self.promoted:  # one promote, one step: the next holds its pause
            self.promoted = True
            return True
        pause = self.spec.steps[index].pause if index < len(self.spec.steps) else "0s"
        if pause is None:
            return False  # an indefinite pause: held until promoted
        due = epoch(self.state.step_reached_at) + duration_seconds(pause)
        if self.inp.now >= due:
            return True
        self.wakeups.append(due)
        return False

    def _promote_waits(self) -> None:
        """A promote that could not act yet (the step's pods still start, a pause or the analysis holds) stays
        pending: it counts as handled only once it moved the rollout, so it is never dropped unseen. It belongs
        to the rollout it was sent during: one that a new spec starts does not inherit it."""
        if self.request in (PROMOTE, PROMOTE_FULL) and not self.promoted and \
                self.inp.state.canary == self.inp.target.name:
            self.state = replace(self.state, last_request=self.inp.state.last_request)

    def _analysis_allows(self) -> bool:
        if not self.spec.analysis.require_traffic:
            return True
        if self.state.passed_intervals > 0:
            return True
        self.wakeups.append(self.inp.now + duration_seconds(self.spec.analysis.interval))
        return False

    def _hold_deadline_while_paused(self) -> None:
        """The deadline counts the time a step may take to serve while the rollout runs: a pause stops its clock,
        and resume moves the step's start by the time paused (as Argo Rollouts resets it on resume)."""
        now, state = self.inp.now, self.state
        if self.spec.paused and not state.paused_at:
            self.state = replace(state, paused_at=iso(now, millis=True))
        elif not self.spec.paused and state.paused_at:
            started = epoch(state.step_started_at)
            moved = None if started is None else iso(started + max(0.0, now - epoch(state.paused_at)))
            self.state = replace(state, paused_at=None, step_started_at=moved or state.step_started_at)

    def _deadline_passed(self) -> bool:
        """The step has run past progressDeadline (never while paused: a paused rollout waits)."""
        if self.spec.paused:
            return False
        started = epoch(self.state.step_started_at) or self.inp.now
        due = started + duration_seconds(self.spec.progress_deadline)
        if self.inp.now >= due:
            return True
        self.wakeups.append(due)
        return False

    def _count_verdicts(self) -> None:
        held = self.state.last_interval
        # Compared in whole milliseconds, as stored, so a verdict is counted once; a value in whole seconds (an
        # older status) covers its whole second.
        covered = (_millis(held) + (1 if "." in held else 1000)) if held else 0
        state = self.state
        for verdict in self.inp.verdicts:
            ended = iso(verdict.ended, millis=True)
            if _millis(ended) < covered:
                continue
            covered = _millis(ended) + 1
            counts = {"fail": "failed_intervals", "pass": "passed_intervals", "inconclusive": "inconclusive_intervals"}
            attr = counts[verdict.outcome]
            state = replace(state, **{attr: getattr(state, attr) + 1}, last_interval=ended)
        self.state = state

    def _last_failure(self) -> str:
        failing = [v for v in self.inp.verdicts if v.outcome == "fail"]
        return failing[-1].reason if failing else "thresholds exceeded"

    def _weights(self, stable: str, asked: int, routed: bool) -> dict[str, int]:
        target = self.inp.target.name
        if routed:
            canary = self.revs.get(target)
            want = routed_pods(self.inp.total, asked)
            routable = canary.routable(self.inp.now, ENDPOINT_SETTLE_SECONDS) if canary else 0
            if canary is not None and routable < canary.ready:
                self.wakeups.append(self.inp.now + ENDPOINT_SETTLE_SECONDS)
            share = 0 if routable == 0 else asked if routable >= want else round(asked * routable / want)
            return {stable: 100 - share, target: share}
        return ready_share(self.revs.values(), None)

    def _serving(self, stable: str) -> set[str] | None:
        return {stable} if self.spec.strategy == "BlueGreen" else None

    def _main_service(self, stable: str) -> str | None:
        return stable if self.spec.strategy == "BlueGreen" else None

    def _plan(self, replicas: dict[str, int], roles: dict[str, str], weights: dict[str, int], *,
              desired: dict[str, int] | None = None, serving_revision: str | None = None,
              preview: str | None = None, route_weights: dict[str, int] | None = None, progress: str = "",
              aborted: str | None = None) -> Plan:
        now = self.inp.now
        future = [t for t in self.wakeups if t > now]
        keep = {n for n, role in roles.items() if role != "Old"} | {self.state.stable or "", self.state.previous or ""}
        return Plan(
            replicas=replicas, state=self.state, roles=roles, weights=weights, desired_weights=desired or {},
            service_revision=serving_revision, preview_revision=preview, route_weights=route_weights,
            events=tuple(self.events), requeue_after=(min(future) - now) if future else None,
            progress=progress, aborted=aborted, keep=frozenset(k for k in keep if k),
        )
