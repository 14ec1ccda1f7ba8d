"""`modeldeploy rollout ...` as a user runs it, against the API emulator and the real operator process.

Each command is the console script, run with a kubeconfig pointing at the
emulator; the operator acts on what it writes. The tests stand in for the
Deployment controller and the kubelet only (pods appear ready, or go away),
and check what the user sees: the lines printed, the exit codes, and what
the operator did with the request.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from modeldeploy.rollout_commands.exits import CommandFailure, ExitCode
from modeldeploy.rollout_commands.status import status as status_command

from conftest import REPO
from support.operator_process import wait_for
from test_cli_messages import EXE
from test_operator import (DEPLOYMENTS, EVENTS, NS, PODS, READY, add_pod, condition, converged, create, md_of,
                           patch_md, quickstart, set_deployment_ready)

pytestmark = pytest.mark.integration

REQUEST = "serving.modeldeploy.io/rollout-request"


class Rollout:
    """`modeldeploy rollout VERB NAME -n ml` with the operator's kubeconfig."""

    def __init__(self, kubeconfig: str):
        self.env = {**os.environ, "KUBECONFIG": kubeconfig}
        self.env.pop("KUBERNETES_SERVICE_HOST", None)

    def __call__(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        proc = subprocess.run(self._argv(args), capture_output=True, text=True, cwd=REPO, env=self.env,
                              timeout=timeout)
        assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr
        return proc

    def start(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(self._argv(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                cwd=REPO, env=self.env)

    @staticmethod
    def _argv(args: tuple[str, ...]) -> list[str]:
        verb, name, *rest = args
        return [EXE, "rollout", verb, name, "-n", NS, *rest]


@pytest.fixture
def rollout(operator_process) -> Rollout:
    return Rollout(operator_process.kubeconfig)


def one_line(proc: subprocess.CompletedProcess | tuple, code: int) -> str:
    """A failure: the exit code asked, and exactly one line on stderr."""
    returncode, stderr = (proc.returncode, proc.stderr) if isinstance(proc, subprocess.CompletedProcess) else proc
    assert returncode == code, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def finished(proc: subprocess.Popen, timeout: float = 30) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    assert "Traceback" not in out + err, err
    return proc.returncode, out, err


# -- the pods, as the Deployment controller and the kubelet would make them -------------------------------

def pods_of(api, md: str, revision: str) -> list[str]:
    return sorted(p["metadata"]["name"] for p in api.items(PODS)
                  if p["metadata"]["labels"].get("serving.modeldeploy.io/modeldeployment") == md
                  and p["metadata"]["labels"].get("serving.modeldeploy.io/revision") == revision)


def follow(api, revision: str, md: str = "quickstart") -> int:
    """Make a revision's ready pods match its Deployment's replicas, as the controllers would; return them."""
    dep = api.get(f"{DEPLOYMENTS}/{md}-{revision}")
    want = dep["spec"]["replicas"] if dep else 0
    have = pods_of(api, md, revision)
    for name in have[want:]:
        api.request("DELETE", f"{PODS}/{name}")
    taken = set(have)
    for i in range(want - len(have[:want])):
        name = next(f"{md}-{revision}-{k}" for k in range(100) if f"{md}-{revision}-{k}" not in taken)
        taken.add(name)
        add_pod(api, name, READY, md=md, revision=revision)
    if dep and api.get(f"{DEPLOYMENTS}/{md}-{revision}") is not None:
        try:
            set_deployment_ready(api, f"{md}-{revision}", want)
        except (AssertionError, TypeError):  # pruned by the operator between the reads or before the write
            if api.get(f"{DEPLOYMENTS}/{md}-{revision}") is not None:
                raise
    return want


def replicas(api, revision: str, md: str = "quickstart") -> int | None:
    dep = api.get(f"{DEPLOYMENTS}/{md}-{revision}")
    return dep["spec"]["replicas"] if dep else None


def rollout_status(api, md: str = "quickstart") -> dict:
    return (md_of(api, md).get("status") or {}).get("rollout") or {}


def serving(api, spec_patch: dict, total: int, md: str = "quickstart") -> None:
    """A ModelDeployment with `total` ready replicas of version 1."""
    body = quickstart(md)
    body["spec"].update(replicas=total, **spec_patch)
    create(api, body)
    converged(api, md)
    follow(api, "v1", md)
    wait_for(lambda: condition(md_of(api, md), "Ready")["status"] == "True", what=f"{md} v1 serving")


def new_version(api, version: str, md: str = "quickstart") -> None:
    spec = md_of(api, md)["spec"]
    spec["model"]["version"] = version
    patch_md(api, md, {"spec": spec})
    wait_for(lambda: api.get(f"{DEPLOYMENTS}/{md}-v{version}"), what=f"revision v{version}")


def step_until(api, done, revisions: tuple[str, ...], timeout: float = 20, what: str = "",
               md: str = "quickstart") -> None:
    """Play the controllers (pods follow each Deployment) until `done()` holds."""
    def tick():
        for revision in revisions:
            follow(api, revision, md)
        return done()
    wait_for(tick, timeout=timeout, interval=0.3, what=what)


def held_for_promote(api) -> bool:
    return "waiting for `modeldeploy rollout promote`" in rollout_status(api).get("message", "")


# -- status and promote ---------------------------------------------------------------------------------------

def test_promote_moves_a_canary_on_and_status_follows_it_to_the_end(apiserver, rollout):
    serving(apiserver, {"rollout": {"steps": [{"weight": 50}]}}, total=2)
    done = rollout("status", "quickstart")
    assert done.returncode == 0, done.stderr
    assert "rollout complete: revision v1 (version 1) takes all traffic, 2/2 replicas ready" in done.stdout
    assert "Strategy:    Canary, steps 50% → 100% (replica weights); maxSurge 1, maxUnavailable 0" in done.stdout
    nothing = one_line(rollout("promote", "quickstart"), 5)
    assert nothing == "NOTHING_TO_DO: nothing to promote: no rollout of ml/quickstart is in progress; revision v1 " \
                      "(version 1) serves all traffic"

    new_version(apiserver, "2")
    watcher = rollout.start("status", "quickstart", "--timeout", "90s")
    step_until(apiserver, lambda: held_for_promote(apiserver), ("v1", "v2"), what="step 1 reached")
    assert (replicas(apiserver, "v1"), replicas(apiserver, "v2")) == (1, 1), "50% of 2 pods: one each"
    now = rollout("status", "quickstart", "--no-watch")
    assert now.returncode == 0, now.stderr
    rows = [line.split() for line in now.stdout.splitlines() if line.startswith("  ")]
    assert ["1", "v1", "1", "Stable", "50%", "50%", "1/1", "-"] in rows, now.stdout
    assert ["2", "v2", "2", "Canary", "50%", "50%", "1/1"] == rows[-1][:7], now.stdout
    assert "Progressing: True (CanaryStep) CanaryStep 1/2, weight 50%: waiting for `modeldeploy rollout promote`" \
        in now.stdout
    assert "Ready:       True (Available) 2/2 replicas ready" in now.stdout
    timed_out = one_line(rollout("status", "quickstart", "--timeout", "1s"), 6)
    assert timed_out.startswith("TIMEOUT: the rollout of ml/quickstart did not finish within 1s; it stands at: "
                                "CanaryStep 1/2, weight 50%: waiting for `modeldeploy rollout promote`")

    promoted = rollout("promote", "quickstart")
    assert promoted.returncode == 0, promoted.stderr
    assert promoted.stdout.startswith("promoting ml/quickstart: CanaryStep 1/2 (50%) → CanaryStep 2/2 (100%) now; "
                                      "at 100% v2 takes all traffic and the rollout completes\n")
    request = md_of(apiserver)["metadata"]["annotations"][REQUEST]
    assert request.startswith("promote@") and f"request {request} written to ml/quickstart" in promoted.stdout
    step_until(apiserver, lambda: rollout_status(apiserver).get("phase") == "Stable" and
               replicas(apiserver, "v1") == 0 and not pods_of(apiserver, "quickstart", "v1"),
               ("v1", "v2"), what="v2 took all traffic")
    code, out, err = finished(watcher)
    assert code == 0, out + err
    lines = out.splitlines()
    assert "CanaryStep 1/2, weight 50%: waiting for `modeldeploy rollout promote` [v1 Stable 50% 1/1 ready, " \
           "v2 Canary 50% 1/1 ready, analysis Pending]" in lines, out
    assert lines[-1] == "rollout complete: revision v2 (version 2) takes all traffic, 2/2 replicas ready", out
    assert rollout_status(apiserver)["lastRequest"] == request, "handled once, recorded for a restart"
    again = one_line(rollout("promote", "quickstart", "--full"), 5)
    assert again.startswith("NOTHING_TO_DO: nothing to promote: no rollout of ml/quickstart is in progress")


def test_a_promote_sent_while_the_canary_starts_waits_for_it(apiserver, rollout):
    serving(apiserver, {"rollout": {"steps": [{"weight": 50}]}}, total=2)
    new_version(apiserver, "2")
    promoted = rollout("promote", "quickstart")
    assert promoted.returncode == 0, promoted.stderr
    assert promoted.stdout.startswith("promoting ml/quickstart: CanaryStep 1/2 (50%) → CanaryStep 2/2 (100%) once "
                                      "this step's pods serve")
    request = md_of(apiserver)["metadata"]["annotations"][REQUEST]
    twice = one_line(rollout("promote", "quickstart"), 5)
    assert twice.startswith(f"NOTHING_TO_DO: a promote of ml/quickstart is already pending ({request})")
    step_until(apiserver, lambda: replicas(apiserver, "v2") == 2, ("v1", "v2"), what="the promote acted")
    assert rollout_status(apiserver)["lastRequest"] == request


# -- abort and retry ----------------------------------------------------------------------------------------------

def test_abort_rolls_back_status_exits_non_zero_and_retry_rolls_out_again(apiserver, rollout):
    serving(apiserver, {"rollout": {"steps": [{"weight": 50}]}}, total=1)
    new_version(apiserver, "2")
    step_until(apiserver, lambda: held_for_promote(apiserver), ("v1", "v2"), what="the canary serves")
    watcher = rollout.start("status", "quickstart")
    aborted = rollout("abort", "quickstart")
    assert aborted.returncode == 0, aborted.stderr
    assert aborted.stdout.startswith("aborting the rollout of revision v2 (version 2) in ml/quickstart: revision v1 "
                                     "grows back to all 1 replica(s) within the GPU budget, then its pods go to 0.")
    code, out, err = finished(watcher)
    assert one_line((code, err), 1) == (
        "ROLLOUT_FAILED: revision v2 (version 2) was rolled back to v1: aborted by request (modeldeploy rollout "
        "abort); `modeldeploy rollout retry quickstart` tries it again, `modeldeploy rollout undo quickstart` "
        "writes the serving spec back")
    md = md_of(apiserver)
    assert condition(md, "Degraded")["reason"] == "RolloutAborted" and replicas(apiserver, "v2") == 0
    assert condition(md, "Ready")["status"] == "True", "v1 served throughout"
    told = [e["message"] for e in apiserver.items(EVENTS) if e["reason"] == "RolloutAborted"]
    assert len(told) == 1 and "rolled back to v1" in told[0], f"one Event for one abort: {told}"
    assert one_line(rollout("status", "quickstart", "--no-watch"), 1).startswith("ROLLOUT_FAILED: revision v2")
    assert one_line(rollout("abort", "quickstart"), 5).startswith(
        "NOTHING_TO_DO: nothing to abort: v2 of ml/quickstart was rolled back (aborted by request")
    assert one_line(rollout("promote", "quickstart"), 5).startswith("NOTHING_TO_DO: nothing to promote: v2")

    retried = rollout("retry", "quickstart")
    assert retried.returncode == 0, retried.stderr
    assert retried.stdout.startswith("retrying revision v2 (version 2) of ml/quickstart, rolled back before (aborted "
                                     "by request (modeldeploy rollout abort)): the rollout starts again")
    step_until(apiserver, lambda: held_for_promote(apiserver), ("v1", "v2"), what="v2 rolls out again")
    assert condition(md_of(apiserver), "Degraded")["status"] == "False"
    assert one_line(rollout("retry", "quickstart"), 5) == \
        "NOTHING_TO_DO: nothing to retry: no rollout of ml/quickstart was rolled back (phase Progressing)"
    undone = rollout("undo", "quickstart")
    assert undone.stdout.startswith("rolled ml/quickstart back to revision 1 (v1, version 1): model.version: 2 → 1"), \
        "mid-rollout, undo goes back to the revision that serves"
    assert md_of(apiserver)["spec"]["model"]["version"] == "1"


# -- blue-green and recreate ---------------------------------------------------------------------------------------

def test_a_blue_green_promote_switches_the_service_and_recreate_has_nothing_to_pause(apiserver, rollout):
    blue_green = {"strategy": "BlueGreen", "blueGreen": {"autoPromote": False, "scaleDownDelay": "1s"}}
    serving(apiserver, {"rollout": blue_green}, total=1, md="bg")
    new_version(apiserver, "2", md="bg")
    step_until(apiserver, lambda: "waiting for `modeldeploy rollout promote`" in
               rollout_status(apiserver, "bg").get("message", ""), ("v1", "v2"), md="bg", what="preview ready")
    promoted = rollout("promote", "bg")
    assert promoted.returncode == 0, promoted.stderr
    assert promoted.stdout.startswith("switching the Service of ml/bg to v2 once its preview serves at full size "
                                      "(1/1 ready now); the old revision stays warm for 1s")
    step_until(apiserver, lambda: rollout_status(apiserver, "bg").get("stable") == "v2", ("v1", "v2"), md="bg",
               what="traffic switched")
    selector = apiserver.get(f"/api/v1/namespaces/{NS}/services/bg")["spec"]["selector"]
    assert selector["serving.modeldeploy.io/revision"] == "v2", "the main Service selects the new revision"
    assert rollout("status", "bg").stdout.splitlines()[-1].startswith("rollout complete: revision v2 (version 2)")

    create(apiserver, {**quickstart("rc"), "spec": {**quickstart()["spec"], "rollout": {"strategy": "Recreate"}}})
    converged(apiserver, "rc")
    assert one_line(rollout("pause", "rc"), 5).startswith("NOTHING_TO_DO: ml/rc rolls out by Recreate, which does "
                                                           "not pause")


# -- pause and resume ----------------------------------------------------------------------------------------------

def test_pause_holds_the_next_rollout_at_its_first_step_and_resume_lets_it_go(apiserver, rollout):
    serving(apiserver, {"rollout": {"steps": [{"weight": 50, "pause": "1s"}]}}, total=1)
    paused = rollout("pause", "quickstart")
    assert paused.returncode == 0, paused.stderr
    assert paused.stdout == "paused ml/quickstart: no rollout is in progress; the next one holds at its first step " \
                            "until `modeldeploy rollout resume quickstart`\n"
    assert md_of(apiserver)["spec"]["rollout"]["paused"] is True, "a spec change, as GitOps sees it"
    assert one_line(rollout("pause", "quickstart"), 5) == "NOTHING_TO_DO: ml/quickstart is already paused " \
                                                           "(spec.rollout.paused)"
    new_version(apiserver, "2")
    step_until(apiserver, lambda: rollout_status(apiserver).get("phase") == "Paused" and
               replicas(apiserver, "v2") == 1, ("v1", "v2"), what="held at step 1")
    time.sleep(2)  # longer than the step's pause: it still holds
    assert rollout_status(apiserver)["step"] == 0 and replicas(apiserver, "v1") == 1
    shown = rollout("status", "quickstart", "--no-watch")
    assert "Paused:      yes (spec.rollout.paused); `modeldeploy rollout resume quickstart` goes on" in shown.stdout
    assert "Progressing: True (RolloutPaused) CanaryStep 1/2, weight 50%: paused (spec.rollout.paused)" in shown.stdout
    assert one_line(rollout("promote", "quickstart"), 5).startswith(
        "NOTHING_TO_DO: the rollout of ml/quickstart is paused (spec.rollout.paused): a promote would wait")

    resumed = rollout("resume", "quickstart")
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.strip() == "resumed ml/quickstart: the rollout goes on from CanaryStep 1/2, weight 50%"
    assert "paused" not in md_of(apiserver)["spec"]["rollout"], "the spec reads as before the pause"
    step_until(apiserver, lambda: rollout_status(apiserver).get("phase") == "Stable" and
               rollout_status(apiserver).get("stable") == "v2", ("v1", "v2"), what="completed after resume")
    assert one_line(rollout("resume", "quickstart"), 5) == "NOTHING_TO_DO: ml/quickstart is not paused"


# -- undo and history ---------------------------------------------------------------------------------------------

def test_history_lists_the_revisions_and_undo_writes_an_earlier_spec_back(apiserver, rollout):
    serving(apiserver, {}, total=1)
    new_version(apiserver, "2")
    step_until(apiserver, lambda: rollout_status(apiserver).get("stable") == "v2" and
               not pods_of(apiserver, "quickstart", "v1"), ("v1", "v2"), what="v2 rolled out")
    shown = rollout("history", "quickstart")
    assert shown.returncode == 0, shown.stderr
    rows = [line.split(None, 5) for line in shown.stdout.splitlines()[1:]]
    assert rows[:3] == [["REVISION", "NAME", "VERSION", "ROLE", "REPLICAS", "CHANGES"],
                        ["1", "v1", "1", "Old", "0", "initial"],
                        ["2*", "v2", "2", "Stable", "1", "model.version: 1 → 2"]], shown.stdout
    spec = rollout("history", "quickstart", "--revision", "1")
    assert "revision 1 (v1, version 1) of ml/quickstart served this spec" in spec.stdout
    assert "    version: '1'" in spec.stdout

    gone = one_line(rollout("undo", "quickstart", "--to-revision", "7"), 4)
    assert gone == "NOT_FOUND: revision 7 of ml/quickstart is no longer kept (spec.rollout.revisionHistoryLimit " \
                   "is 3); kept: 1 (v1), 2 (v2)"
    before = md_of(apiserver)
    undone = rollout("undo", "quickstart")
    assert undone.returncode == 0, undone.stderr
    assert undone.stdout.splitlines() == [
        "rolled ml/quickstart back to revision 1 (v1, version 1): model.version: 2 → 1",
        "the operator rolls it out by Canary; `modeldeploy rollout status quickstart` follows it"]
    after = md_of(apiserver)
    assert after["spec"]["model"]["version"] == "1" and after["spec"]["replicas"] == before["spec"]["replicas"]
    assert after["metadata"]["generation"] == before["metadata"]["generation"] + 1
    step_until(apiserver, lambda: rollout_status(apiserver).get("stable") == "v1", ("v1", "v2"),
               what="back on v1")
    assert apiserver.get(f"{DEPLOYMENTS}/quickstart-v1-2") is None, "v1's own Deployment was reused"
    assert one_line(rollout("undo", "quickstart", "--to-revision", "1"), 5) == \
        "NOTHING_TO_DO: the spec of ml/quickstart already asks for revision 1 (v1, version 1)"


def test_undo_refuses_when_the_history_limit_let_the_revision_go(apiserver, rollout):
    serving(apiserver, {"rollout": {"revisionHistoryLimit": 0}}, total=1)
    new_version(apiserver, "2")
    step_until(apiserver, lambda: apiserver.get(f"{DEPLOYMENTS}/quickstart-v1") is None, ("v1", "v2"),
               what="v1 pruned")
    refused = one_line(rollout("undo", "quickstart"), 4)
    assert refused == "NOT_FOUND: no revision before revision 2 (v2) of ml/quickstart is kept " \
                      "(spec.rollout.revisionHistoryLimit is 0); kept: 2 (v2)"
    assert md_of(apiserver)["spec"]["model"]["version"] == "2", "nothing written"


# -- errors and permissions ----------------------------------------------------------------------------------------

def test_a_missing_modeldeployment_and_no_cluster_are_one_line_each(apiserver, rollout, tmp_path):
    missing = one_line(rollout("status", "nope"), 4)
    assert missing == "NOT_FOUND: modeldeployment ml/nope not found; check the name and the namespace (-n)"
    config = json.loads(open(rollout.env["KUBECONFIG"]).read())
    config["contexts"][0]["context"]["namespace"] = "vision"
    (tmp_path / "kubeconfig").write_text(json.dumps(config))
    proc = subprocess.run([EXE, "rollout", "status", "nope"], capture_output=True, text=True, timeout=60,
                          env={**rollout.env, "KUBECONFIG": str(tmp_path / "kubeconfig")})
    assert one_line(proc, 4).startswith("NOT_FOUND: modeldeployment vision/nope not found"), \
        "without -n, the kubeconfig context's namespace, as kubectl"
    rollout.env["KUBECONFIG"] = str(tmp_path / "none")
    no_cluster = one_line(rollout("promote", "quickstart"), 3)
    assert no_cluster.startswith("NO_CLUSTER: no cluster to talk to: not running in a pod, and ")
    assert no_cluster.endswith("; point KUBECONFIG at your cluster's kubeconfig")


def test_the_commands_ask_only_what_user_permissions_declare_and_the_operator_cannot(apiserver, rollout):
    from modeldeploy.clients.permissions import MODELDEPLOYMENT, PERMISSIONS, USER_PERMISSIONS, allowed
    from test_operator import _permission

    serving(apiserver, {}, total=1)
    for args in (("status", "--no-watch"), ("pause",), ("resume",), ("history",), ("abort",)):
        rollout(args[0], "quickstart", *args[1:])
    new_version(apiserver, "2")
    rollout("abort", "quickstart")
    rollout("undo", "quickstart")
    made = apiserver.on_loop(lambda: [(str(r.method.value).upper(), r.url.path, dict(r.params))
                                      for r in apiserver.server._requests
                                      if r.headers.get("User-Agent", "").startswith("modeldeploy/")])
    used = {perm for r in made if (perm := _permission(*r))}
    declared = {(p.api_group, p.resource, v) for p in USER_PERMISSIONS for v in p.verbs}
    assert used == declared, "USER_PERMISSIONS (docs/rollouts.md's Role) is what the commands use"
    assert not allowed(MODELDEPLOYMENT, "patch", permissions=PERMISSIONS), "the operator never patches a spec"


def test_a_watching_status_waits_for_an_api_server_that_does_not_answer_yet():
    class Down:
        reads = 0

        def get(self):
            self.reads += 1
            raise CommandFailure(ExitCode.UNAVAILABLE, "the API server did not answer about ml/quickstart")

    said: list[str] = []
    down = Down()
    with pytest.raises(CommandFailure) as failure:
        status_command(down, watch=True, timeout=0.3, out=said.append, poll=0.05)
    assert failure.value.code is ExitCode.TIMEOUT and down.reads > 2, "--timeout passed: its own exit code"
    assert said == ["the API server did not answer about ml/quickstart; trying again every 0.05s (Ctrl-C stops)"]
    once = Down()
    with pytest.raises(CommandFailure):
        status_command(once, watch=False, timeout=None, out=said.append)
    assert once.reads == 1, "without --watch it says so at once"
