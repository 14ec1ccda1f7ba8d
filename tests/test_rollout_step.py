"""The rollout step function over tables of situations and whole simulated rollouts.

The tables follow shared/ROLLOUTS.md (Argo Rollouts' replica-split tests are
the model); the simulations run every strategy over a grid of replicas and
budgets with a toy Deployment controller, and check the GPU-budget invariant
after every tick: pods of all revisions <= N + maxSurge, ready pods serving
>= N - maxUnavailable.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import pytest

from modeldeploy.api import RolloutStatus
from modeldeploy.api.policies import Rollout
from modeldeploy.rollout import (IntervalVerdict, Inputs, PodView, RevisionView, Target, canary_pods, routed_pods,
                                 step)
from modeldeploy.api import AnalysisFigures

pytestmark = pytest.mark.unit
T0 = 1_700_000_000.0


@pytest.mark.parametrize("total, weight, pods", [
    (4, 10, 1), (4, 50, 2), (4, 90, 3), (3, 34, 1), (3, 67, 2), (10, 5, 1), (10, 99, 9), (1, 50, 1), (5, 100, 5),
    (5, 0, 0),
])
def test_weights_become_the_closest_pod_split(total, weight, pods):
    assert canary_pods(total, weight) == pods


def test_routed_weights_size_each_side_rounded_up():
    assert routed_pods(4, 10) == 1 and routed_pods(4, 90) == 4 and routed_pods(3, 34) == 2


def rev(name: str, replicas: int, ready: int = 0, pending: int = 0, terminating: int = 0, number: int = 1,
        failure: str | None = None, smoke: bool | None = None, unschedulable: bool = False) -> RevisionView:
    pods = [PodView(f"{name}-r{i}", ready=True, smoke=True) for i in range(ready)]
    pods += [PodView(f"{name}-p{i}", ready=False, failure=failure, smoke=smoke, unschedulable=unschedulable)
             for i in range(pending)]
    pods += [PodView(f"{name}-t{i}", ready=False, terminating=True) for i in range(terminating)]
    return RevisionView(name, f"hash-{name}", number, name.lstrip("v"), replicas, tuple(pods))


V2 = Target("v2", "hash-v2", 2, "2")


def run(revisions, *, total=3, state=None, now=T0, rollout=None, target=V2, **kw):
    rollout = rollout or Rollout(steps=[{"weight": 34, "pause": "10s"}, {"weight": 67, "pause": "10s"}])
    state = state or RolloutStatus(stable="v1")
    return step(Inputs(rollout=rollout, total=total, target=target, revisions=tuple(revisions), state=state,
                       now=now, **kw))


# -- ROLLOUTS.md: canary, N = 3, S = 1, U = 0, steps 34% → 67% ----------------------------------------------

def test_the_canary_comes_up_first_in_the_surge():
    plan = run([rev("v1", 3, ready=3)])
    assert plan.replicas == {"v1": 3, "v2": 1}
    assert plan.state.canary == "v2" and plan.state.phase == "Progressing"
    assert [e.reason for e in plan.events] == ["RolloutStarted"]


def test_a_starting_canary_gets_no_weight_and_the_stable_stays():
    state = run([rev("v1", 3, ready=3)]).state
    plan = run([rev("v1", 3, ready=3), rev("v2", 1, pending=1, number=2)], state=state, now=T0 + 1)
    assert plan.replicas == {"v1": 3, "v2": 1}
    assert plan.weights["v2"] == 0


def test_the_stable_goes_down_once_the_canary_serves():
    state = run([rev("v1", 3, ready=3)]).state
    plan = run([rev("v1", 3, ready=3), rev("v2", 1, ready=1, number=2)], state=state, now=T0 + 2)
    assert plan.replicas == {"v1": 2, "v2": 1}
    assert plan.weights == {"v1": 75, "v2": 25}


def test_the_next_step_waits_for_the_terminating_stable_pod_to_free_its_gpu():
    state = run([rev("v1", 3, ready=3)]).state
    reached = run([rev("v1", 2, ready=2, terminating=1), rev("v2", 1, ready=1, number=2)], state=state,
                  now=T0 + 3)
    assert reached.state.step_reached_at and reached.requeue_after == pytest.approx(10)
    later = run([rev("v1", 2, ready=2, terminating=1), rev("v2", 1, ready=1, number=2)], state=reached.state,
                now=T0 + 14)
    assert later.state.step == 1
    assert later.replicas == {"v1": 2, "v2": 1}, "no room while the old pod terminates"
    gone = run([rev("v1", 2, ready=2), rev("v2", 1, ready=1, number=2)], state=later.state, now=T0 + 15)
    assert gone.replicas == {"v1": 2, "v2": 2}


def test_without_spare_gpus_the_stable_goes_down_first():
    rollout = Rollout(maxSurge=0, maxUnavailable=1, steps=[{"weight": 34, "pause": "10s"}])
    plan = run([rev("v1", 3, ready=3)], rollout=rollout)
    assert plan.replicas == {"v1": 2, "v2": 0}
    state = plan.state
    plan = run([rev("v1", 2, ready=2, terminating=1), rev("v2", 0, number=2)], state=state, rollout=rollout)
    assert plan.replicas == {"v1": 2, "v2": 0}, "the freed GPU is not free until the pod is gone"
    plan = run([rev("v1", 2, ready=2), rev("v2", 0, number=2)], state=state, rollout=rollout)
    assert plan.replicas == {"v1": 2, "v2": 1}


# -- abort ------------------------------------------------------------------------------------------------

def failing(ended: float) -> IntervalVerdict:
    return IntervalVerdict(ended, "fail", "error ratio 1.000 > maxErrorRatio 0.01", AnalysisFigures(requests=50))


def test_failed_analysis_aborts_takes_traffic_off_the_canary_and_holds():
    state = RolloutStatus(stable="v1", canary="v2", step=0, phase="Progressing", step_started_at="2023-11-14T22:13:20Z")
    observed = [rev("v1", 2, ready=2), rev("v2", 1, ready=1, number=2)]
    one = run(observed, state=state, now=T0 + 20, verdicts=(failing(T0 + 10),))
    assert one.state.failed_intervals == 1 and one.state.phase != "Aborted"
    two = run(observed, state=one.state, now=T0 + 30, verdicts=(failing(T0 + 10), failing(T0 + 20)))
    assert two.state.phase == "Aborted" and two.aborted
    assert two.replicas["v2"] == 0, "the failing canary leaves at once, whatever the floor"
    assert two.replicas["v1"] == 3, "the stable grows back in the room the canary frees"
    assert [e.reason for e in two.events] == ["RolloutAborted"] and two.events[0].warning
    held = run([rev("v1", 3, ready=3), rev("v2", 0, number=2)], state=two.state, now=T0 + 90)
    assert held.state.phase == "Aborted" and held.replicas == {"v1": 3, "v2": 0}, "not retried by itself"
    retried = run([rev("v1", 3, ready=3), rev("v2", 0, number=2)], state=two.state, now=T0 + 95,
                  request="retry@1")
    assert retried.state.phase == "Progressing" and retried.replicas["v2"] == 1


@pytest.mark.parametrize("held", [None, "2023-11-14T22:13:30Z"])
def test_an_interval_ending_within_a_second_is_counted_once_however_often_the_step_runs(held):
    # Verdicts end at clock time, with a fraction of a second; status held whole seconds before (held).
    state = RolloutStatus(stable="v1", canary="v2", step=0, phase="Progressing",
                          step_started_at="2023-11-14T22:13:20Z", last_interval=held)
    observed = [rev("v1", 2, ready=2), rev("v2", 1, ready=1, number=2)]
    verdicts = (failing(T0 + 10.4),) if held is None else (failing(T0 + 10.4), failing(T0 + 12.7))
    one = run(observed, state=state, now=T0 + 13, verdicts=verdicts)
    assert one.state.failed_intervals == 1 and one.state.phase != "Aborted"
    for now in (T0 + 14, T0 + 15, T0 + 16):  # pod events and resyncs, no new interval judged
        one = run(observed, state=one.state, now=now, verdicts=verdicts)
    assert one.state.failed_intervals == 1 and one.state.phase != "Aborted", "failureLimit 2: one bad interval"


@pytest.mark.parametrize("pod, why", [
    (dict(failure="ModelFetchFailed: pod v2-p0: fetch failed: 403"), "ModelFetchFailed"),
    (dict(failure="CrashLooping: pod v2-p0: container triton keeps crashing"), "CrashLooping"),
    (dict(smoke=False), "SmokeFailed"),
])
def test_a_canary_pod_that_cannot_serve_aborts_the_rollout(pod, why):
    state = run([rev("v1", 3, ready=3)]).state
    plan = run([rev("v1", 3, ready=3), rev("v2", 1, pending=1, number=2, **pod)], state=state, now=T0 + 5)
    assert plan.state.phase == "Aborted" and why in plan.aborted
    assert plan.replicas == {"v1": 3, "v2": 0}


def test_a_canary_short_of_gpus_is_rolled_back_at_the_progress_deadline():
    state = run([rev("v1", 3, ready=3)]).state
    observed = [rev("v1", 3, ready=3), rev("v2", 1, pending=1, number=2, unschedulable=True)]
    waiting = run(observed, state=state, now=T0 + 300)
    assert waiting.state.phase == "Progressing" and waiting.requeue_after == pytest.approx(300)
    late = run(observed, state=state, now=T0 + 601)
    assert late.state.phase == "Aborted" and "not enough GPUs" in late.aborted


def test_a_new_spec_supersedes_the_canary_and_starts_from_the_stable():
    state = RolloutStatus(stable="v1", canary="v2", step=1, phase="Progressing")
    v3 = Target("v3", "hash-v3", 3, "3")
    plan = run([rev("v1", 2, ready=2), rev("v2", 1, ready=1, number=2)], state=state, target=v3)
    assert plan.state.canary == "v3" and plan.state.step == 0
    assert "RolloutSuperseded" in [e.reason for e in plan.events]
    assert plan.roles["v2"] == "Superseded"


def test_going_back_to_the_stable_spec_scales_the_canary_away_within_the_budget():
    state = RolloutStatus(stable="v1", canary="v2", step=1, phase="Progressing")
    plan = run([rev("v1", 2, ready=2), rev("v2", 1, ready=1, number=2)], state=state,
               target=Target("v1", "hash-v1", 1, "1"))
    assert plan.state.phase == "Stable" and plan.state.canary is None
    assert plan.replicas == {"v1": 3, "v2": 1}, "the canary serves until the stable is back"


def test_promote_skips_an_indefinite_pause_and_abort_rolls_back():
    rollout = Rollout(steps=[{"weight": 34}])  # no pause: held until promoted
    state = run([rev("v1", 3, ready=3)], rollout=rollout).state
    observed = [rev("v1", 2, ready=2), rev("v2", 1, ready=1, number=2)]
    held = run(observed, state=state, rollout=rollout, now=T0 + 900)
    assert held.state.step == 0 and "promote" in held.state.message
    promoted = run(observed, state=held.state, rollout=rollout, now=T0 + 901, request="promote@7")
    assert promoted.state.step == 1 and promoted.state.last_request == "promote@7"
    again = run(observed, state=promoted.state, rollout=rollout, now=T0 + 902, request="promote@7")
    assert again.state.step == 1, "a request is handled once"
    aborted = run(observed, state=held.state, rollout=rollout, now=T0 + 901, request="abort@8")
    assert aborted.state.phase == "Aborted" and "by request" in aborted.aborted
    # A healthy canary aborted by request serves until the stable has grown back: the floor holds.
    assert aborted.replicas == {"v1": 3, "v2": 1}
    regrown = run([rev("v1", 3, ready=3), rev("v2", 1, ready=1, number=2)], state=aborted.state, rollout=rollout,
                  now=T0 + 930)
    assert regrown.replicas == {"v1": 3, "v2": 0}


@pytest.mark.parametrize("pause", [None, "1h", "0s"])
def test_one_promote_moves_one_step_even_when_the_next_needs_no_more_pods(pause):
    # 3 replicas: 50% and 80% are both 2 canary pods, so the next step is reached the moment it is entered.
    third = {"weight": 80} if pause is None else {"weight": 80, "pause": pause}
    rollout = Rollout(steps=[{"weight": 50}, third], maxSurge=1)
    state = run([rev("v1", 3, ready=3)], rollout=rollout).state
    serving = [rev("v1", 1, ready=1), rev("v2", 2, ready=2, number=2)]
    held = run(serving, rollout=rollout, state=state, now=T0 + 60)
    assert held.state.step == 0
    promoted = run(serving, rollout=rollout, state=held.state, now=T0 + 61, request="promote@1")
    if pause == "0s":  # a step with no pause of its own passes once reached: on to the last, 100%
        assert promoted.state.step == 2 and promoted.state.message.startswith("CanaryStep 3/3, weight 100%")
    else:
        assert promoted.state.step == 1, promoted.state.message
        assert promoted.state.message.startswith("CanaryStep 2/3, weight 80%")


def test_a_promote_sent_while_the_step_is_still_starting_waits_for_it_instead_of_being_dropped():
    rollout = Rollout(steps=[{"weight": 34}, {"weight": 67}])  # indefinite pauses: held until promoted
    state = run([rev("v1", 3, ready=3)], rollout=rollout).state
    starting = [rev("v1", 3, ready=3), rev("v2", 1, pending=1, number=2)]
    early = run(starting, state=state, rollout=rollout, now=T0 + 5, request="promote@1")
    assert early.state.step == 0 and early.state.last_request != "promote@1", "pending, not handled yet"
    serving = [rev("v1", 2, ready=2), rev("v2", 1, ready=1, number=2)]
    promoted = run(serving, state=early.state, rollout=rollout, now=T0 + 10, request="promote@1")
    assert promoted.state.step == 1 and promoted.state.last_request == "promote@1", \
        "the step is reached: the promote moves it on, once"
    assert run(serving, state=promoted.state, rollout=rollout, now=T0 + 11, request="promote@1").state.step == 1
    v3 = Target("v3", "hash-v3", 3, "3")
    superseded = run([*starting, rev("v3", 0, number=3)], state=early.state, rollout=rollout, target=v3,
                     now=T0 + 6, request="promote@1")
    assert superseded.state.canary == "v3" and superseded.state.last_request == "promote@1", \
        "a new spec's rollout does not inherit a promote sent for the one it replaces"


def test_a_blue_green_promote_waits_for_the_preview_to_be_ready():
    rollout = Rollout(strategy="BlueGreen", blue_green={"autoPromote": False})
    state = run([rev("v1", 2, ready=2)], rollout=rollout, total=2).state
    starting = [rev("v1", 2, ready=2), rev("v2", 2, ready=1, pending=1, number=2)]
    early = run(starting, state=state, rollout=rollout, total=2, now=T0 + 5, request="promote@1")
    assert early.state.canary == "v2" and early.state.last_request != "promote@1"
    ready = [rev("v1", 2, ready=2), rev("v2", 2, ready=2, number=2)]
    switched = run(ready, state=early.state, rollout=rollout, total=2, now=T0 + 10, request="promote@1")
    assert switched.state.stable == "v2" and switched.state.last_request == "promote@1"


def test_an_autoscaler_changing_the_total_mid_rollout_resplits_it():
    state = RolloutStatus(stable="v1", canary="v2", step=0, phase="Progressing", step_started_at="2023-11-14T22:13:20Z")
    plan = run([rev("v1", 2, ready=2), rev("v2", 1, ready=1, number=2)], state=state, total=6, now=T0 + 1)
    assert plan.replicas == {"v1": 4, "v2": 2}, "34% of 6: 2 canary pods, 4 stable, within 6 + 1"


# -- whole rollouts over a grid, with a toy controller ----------------------------------------------------

@dataclass
class Cluster:
    """Deployments and pods: asked replicas become pending pods, which serve one tick later; removed ones
    terminate for one tick. Not-ready pods are removed first, as the ReplicaSet controller does."""

    replicas: dict[str, int] = field(default_factory=dict)
    pods: dict[str, list[str]] = field(default_factory=dict)  # revision -> states: pending, ready, terminating
    failing: set[str] = field(default_factory=set)
    seen: list[tuple[int, int, int]] = field(default_factory=list)  # per tick: total, live pods, replicas asked

    def views(self, numbers: dict[str, int]) -> list[RevisionView]:
        out = []
        for name, states in self.pods.items():
            bad = name in self.failing
            pods = tuple(PodView(f"{name}-{i}", ready=s == "ready", terminating=s == "terminating",
                                 failure="CrashLooping: pod keeps crashing" if bad and s == "pending" else None)
                         for i, s in enumerate(states))
            out.append(RevisionView(name, f"hash-{name}", numbers[name], name.lstrip("v"), self.replicas[name], pods))
        return out

    def act(self, asked: dict[str, int]) -> None:
        for name, count in asked.items():
            self.replicas[name] = count
            states = self.pods.setdefault(name, [])
            live = [s for s in states if s != "terminating"]
            for _ in range(count - len(live)):
                states.append("pending")
            excess = len(live) - count
            for wanted in ("pending", "ready"):
                for i, s in enumerate(states):
                    if excess > 0 and s == wanted:
                        states[i] = "terminating"
                        excess -= 1

    def tick(self) -> None:
        for name, states in self.pods.items():
            kept = [s for s in states if s != "terminating"]
            self.pods[name] = [s if s == "ready" or name in self.failing else "ready" for s in kept]

    def total(self) -> int:
        return sum(len(s) for s in self.pods.values())

    def live(self) -> int:
        """Pods not terminating: what the operator's asks keep."""
        return sum(len([s for s in states if s != "terminating"]) for states in self.pods.values())

    def serving(self, revisions: set[str] | None) -> int:
        return sum(s.count("ready") for name, s in self.pods.items() if revisions is None or name in revisions)


def simulate(rollout: Rollout, total: int, *, failing: bool = False, ticks: int = 200,
             scaled: dict[int, int] | None = None):
    """scaled: tick → the total an autoscaler writes to spec.replicas then (the total stays until the next)."""
    cluster = Cluster(replicas={"v1": total}, pods={"v1": ["ready"] * total})
    cluster.failing = {"v2"} if failing else set()
    state = RolloutStatus(stable="v1")
    now, history = T0, []
    for tick in range(ticks):
        total = (scaled or {}).get(tick, total)
        plan = step(Inputs(rollout=rollout, total=total, target=V2, revisions=tuple(cluster.views({"v1": 1, "v2": 2})),
                           state=state, now=now))
        cluster.act(plan.replicas)
        state = plan.state
        serving = {plan.service_revision} if plan.service_revision else None
        history.append((cluster.total(), cluster.serving(serving), state.phase, dict(plan.weights)))
        cluster.seen.append((total, cluster.live(), sum(plan.replicas.values())))
        if tick >= max(scaled or {0: 0}) and state.phase in ("Stable", "Aborted") and state.previous is None and all(
                s == "ready" for name, states in cluster.pods.items() for s in states if cluster.replicas[name]) \
                and all(not states or cluster.replicas[name] for name, states in cluster.pods.items()):
            break
        cluster.tick()
        now += 5
    return state, cluster, history


GRID = [(n, s, u) for n, s, u in itertools.product([1, 2, 3, 4, 6], [0, 1, 2], [0, 1]) if s + u > 0]
STEPS = [[], [{"weight": 10, "pause": "0s"}], [{"weight": 34, "pause": "5s"}, {"weight": 67, "pause": "5s"}],
         [{"weight": 20, "pause": "5s"}, {"weight": 50, "pause": "5s"}, {"weight": 80, "pause": "5s"}]]


@pytest.mark.parametrize("total, surge, unavailable", GRID)
@pytest.mark.parametrize("steps", STEPS, ids=["pod-by-pod", "one-step", "two-steps", "three-steps"])
def test_every_canary_completes_within_the_gpu_budget(total, surge, unavailable, steps):
    rollout = Rollout(steps=steps, maxSurge=surge, maxUnavailable=unavailable)
    state, cluster, history = simulate(rollout, total)
    assert state.phase == "Stable" and state.stable == "v2", history[-3:]
    assert cluster.replicas["v1"] == 0 and cluster.replicas["v2"] == total
    for pods, serving, _, _ in history:
        assert pods <= total + surge, f"{pods} pods > {total} + {surge}"
        assert serving >= total - unavailable, f"{serving} serving < {total} - {unavailable}"


@pytest.mark.parametrize("surge, unavailable", [(1, 0), (0, 1), (2, 0), (1, 1)])
@pytest.mark.parametrize("scaled", [{3: 6, 9: 2, 15: 4}, {2: 1, 7: 5}, {4: 8}, {5: 2, 6: 7, 7: 3}],
                         ids=["up-down-up", "to-one-and-up", "up-mid-step", "flapping"])
def test_an_autoscaler_moving_the_total_during_a_canary_keeps_the_gpu_budget(surge, unavailable, scaled):
    """The autoscaler writes spec.replicas while a canary runs: each total is split again, and the budget
    holds for the total in force. When the total drops, pods already past it are terminating (their GPUs
    free a tick later); when it rises, new pods take a tick to serve."""
    rollout = Rollout(steps=[{"weight": 34, "pause": "20s"}, {"weight": 67, "pause": "20s"}], maxSurge=surge,
                      maxUnavailable=unavailable)
    state, cluster, history = simulate(rollout, 3, scaled=scaled)
    final = max(scaled.items())[1]
    assert state.phase == "Stable" and state.stable == "v2", history[-3:]
    assert cluster.replicas == {"v1": 0, "v2": final}
    assert any(phase == "Progressing" for _, _, phase, _ in history[:min(scaled)]), "the totals moved mid-canary"
    before = 3
    for (pods, serving, phase, _), (total, live, asked) in zip(history, cluster.seen):
        assert asked <= total + surge and live <= total + surge, f"asked {asked}, {live} pods > {total} + {surge}"
        assert pods <= max(total, before) + surge, f"{pods} pods > {max(total, before)} + {surge}"
        assert serving >= min(total, before) - unavailable, f"{serving} serving < {min(total, before)} - {unavailable}"
        before = total


@pytest.mark.parametrize("total, surge, unavailable", GRID)
def test_a_crashing_canary_is_rolled_back_within_the_budget(total, surge, unavailable):
    rollout = Rollout(steps=[{"weight": 50, "pause": "5s"}], maxSurge=surge, maxUnavailable=unavailable)
    state, cluster, history = simulate(rollout, total, failing=True)
    assert state.phase == "Aborted"
    assert cluster.replicas["v2"] == 0 and cluster.replicas["v1"] == total
    for pods, _, _, _ in history:
        assert pods <= total + surge


@pytest.mark.parametrize("total", [1, 2, 3, 5])
def test_blue_green_switches_once_and_keeps_the_old_copy_warm(total):
    rollout = Rollout(strategy="BlueGreen", maxSurge=total, maxUnavailable=0, blueGreen={"scaleDownDelay": "30s"})
    state, cluster, history = simulate(rollout, total, ticks=400)
    assert state.stable == "v2" and cluster.replicas["v1"] == 0
    phases = [h[2] for h in history]
    assert phases.count("Stable") >= 1
    for pods, serving, _, weights in history:
        assert pods <= 2 * total
        assert serving >= total, "the main Service always has a full copy behind it"


def test_the_outage_is_measured_from_the_moment_not_the_second_it_began():
    rollout = Rollout(strategy="Recreate", maxSurge=0, maxUnavailable=0)
    start = run([rev("v1", 0, terminating=1)], total=1, rollout=rollout, now=T0 + 0.9,
                state=RolloutStatus(stable="v1", canary="v2", phase="Progressing", step=0))
    assert start.state.outage_started_at
    back = run([rev("v1", 0), rev("v2", 1, ready=1, number=2)], total=1, rollout=rollout, now=T0 + 3.1,
               state=start.state)
    assert back.state.outage_seconds == pytest.approx(2.2)


@pytest.mark.parametrize("total, surge", [(1, 0), (3, 0), (3, 1)])
def test_recreate_stops_the_old_pods_before_starting_new_ones_and_reports_the_outage(total, surge):
    rollout = Rollout(strategy="Recreate", maxSurge=surge, maxUnavailable=0)
    state, cluster, history = simulate(rollout, total)
    assert state.stable == "v2" and cluster.replicas == {"v1": 0, "v2": total}
    assert state.outage_seconds is not None and state.outage_seconds > 0
    for pods, _, _, _ in history:
        assert pods <= total + surge


# -- judging one analysis interval -------------------------------------------------------------------------

from modeldeploy.api.policies import Analysis  # noqa: E402
from modeldeploy.rollout import Window, judge  # noqa: E402


@pytest.mark.parametrize("canary, stable, outcome, words", [
    (Window(requests=4), Window(requests=100, request_us=1e5), "inconclusive", "minRequests"),
    (Window(requests=100, failures=5, request_us=1e5), None, "fail", "error ratio 0.050"),
    (Window(requests=100, request_us=100 * 300_000, p99_us=400_000), None, "fail", "p99 latency 400.0ms"),
    (Window(requests=100, request_us=100 * 40_000), Window(requests=100, request_us=100 * 20_000), "fail", "2.0×"
     if False else "1.5× the stable's"),
    # A few milliseconds apart: noise, whatever the ratio.
    (Window(requests=100, request_us=100 * 1_900), Window(requests=100, request_us=100 * 1_200), "pass", "within"),
    (Window(requests=100, request_us=100 * 20_000), Window(requests=100, request_us=100 * 19_000), "pass", "within"),
])
def test_an_interval_is_judged_on_absolute_and_relative_thresholds(canary, stable, outcome, words):
    settings = Analysis(maxP99Latency="250ms")
    verdict = judge(canary, stable, settings, ended=T0)
    assert verdict.outcome == outcome and words in verdict.reason, verdict.reason


@pytest.mark.parametrize("surge, ready, pending", [(0, 3, 0), (0, 2, 1), (1, 3, 0)])
def test_an_aborted_recreate_brings_the_stable_back(surge, ready, pending):
    # Recreate has no room beside the serving pods: the aborted revision must go for the stable to return.
    rollout = Rollout(strategy="Recreate", maxSurge=surge, maxUnavailable=0)
    state = RolloutStatus(stable="v1", canary="v2", step=0, phase="Progressing",
                          step_started_at="2023-11-14T22:13:20Z", started_at="2023-11-14T22:13:20Z")
    revs = [rev("v1", 0), rev("v2", 3, ready=ready, pending=pending, number=2)]
    plan = run(revs, rollout=rollout, state=state, now=T0 + 30, request="abort@1")
    for tick in range(10):  # the Deployment controller does what was asked; v1's pods start ready
        v1, v2 = plan.replicas.get("v1", 0), plan.replicas.get("v2", 0)
        revs = [rev("v1", v1, ready=v1), rev("v2", v2, ready=min(v2, ready), number=2)]
        plan = run(revs, rollout=rollout, state=plan.state, now=T0 + 40 + 5 * tick, request="abort@1")
    assert plan.state.phase == "Aborted" and plan.replicas == {"v1": 3, "v2": 0}
    assert plan.weights.get("v2", 0) == 0


def test_after_a_healthy_canary_abort_status_shows_traffic_where_the_pods_serve():
    state = RolloutStatus(stable="v1", canary="v2", step=0, phase="Progressing", step_started_at="2023-11-14T22:13:20Z")
    plan = run([rev("v1", 2, ready=2), rev("v2", 1, ready=1, number=2)], state=state, now=T0 + 20,
               request="abort@1")
    assert plan.state.phase == "Aborted" and plan.replicas == {"v1": 3, "v2": 1}, "v2 serves until v1 is back"
    assert plan.weights == {"v1": 67, "v2": 33}


def test_time_paused_does_not_count_against_the_progress_deadline():
    steps = [{"weight": 34, "pause": "1m"}]
    paused = Rollout(steps=steps, progressDeadline="10m", paused=True)
    plan = run([rev("v1", 3, ready=3)], rollout=paused)
    starting = [rev("v1", 3, ready=3), rev("v2", 1, pending=1, number=2)]  # its pod is still pulling
    plan = run(starting, rollout=paused, state=plan.state, now=T0 + 900)
    assert plan.state.phase == "Paused"
    resumed = Rollout(steps=steps, progressDeadline="10m")
    plan = run(starting, rollout=resumed, state=plan.state, now=T0 + 901)
    assert plan.state.phase == "Progressing" and plan.state.paused_at is None
    plan = run(starting, rollout=resumed, state=plan.state, now=T0 + 900 + 9 * 60)
    assert plan.state.phase == "Progressing", "1 s before the pause and 9 min after: within 10m"
    plan = run(starting, rollout=resumed, state=plan.state, now=T0 + 900 + 10 * 60 + 5)
    assert plan.state.phase == "Aborted" and "progressDeadline 10m" in plan.aborted
