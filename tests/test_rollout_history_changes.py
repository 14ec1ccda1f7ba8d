"""What `modeldeploy rollout history` and `undo` say changed between two revisions' serving specs."""

from __future__ import annotations

import pytest

from modeldeploy.rollout_commands.revisions import changes

pytestmark = pytest.mark.unit


def test_each_changed_leaf_is_one_line_model_first():
    before = {"model": {"version": "3", "config": {"inputs": [{"name": "x", "dims": [16]}]}},
              "runtime": {"image": "nvcr.io/nvidia/tritonserver:24.08-py3", "env": [{"name": "A", "value": "1"}]}}
    after = {"model": {"version": "4", "config": {"inputs": [{"name": "x", "dims": [32]}]},
                       "sha256": "5f2b2c8f3b8e0c9c4a3f1d7e6b5a4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b"},
             "runtime": {"image": "nvcr.io/nvidia/tritonserver:24.10-py3"}}
    assert changes(before, after) == [
        "model.config.inputs[0].dims[0]: 16 → 32",
        "model.sha256: 5f2b2c8f3b8e0c9c4a3f1d7e6b5a4c3d2e1f0a9… (added)",
        "model.version: 3 → 4",
        "runtime.env[0].name: A (removed)",
        "runtime.env[0].value: 1 (removed)",
        "runtime.image: nvcr.io/nvidia/tritonserver:24.08-py3 → nvcr.io/nvidia/tritonserver:24.10-py3",
    ]


def test_the_same_spec_has_no_change_and_a_missing_one_says_so():
    spec = {"model": {"version": "1"}}
    assert changes(spec, dict(spec)) == []
    assert changes(None, spec) == ["spec not recorded"]


def test_an_entry_added_to_an_empty_list_reads_as_that_entry_added():
    before = {"runtime": {"env": []}}
    after = {"runtime": {"env": [{"name": "PROBE", "value": "1"}]}}
    assert changes(before, after) == ["runtime.env[0].name: PROBE (added)", "runtime.env[0].value: 1 (added)"]
    assert changes(after, before) == ["runtime.env[0].name: PROBE (removed)", "runtime.env[0].value: 1 (removed)"]


@pytest.mark.parametrize("verb", ["promote", "promote-full", "abort", "retry"])
def test_a_request_on_an_invalid_spec_is_refused_and_nothing_is_written(verb) -> None:
    from modeldeploy.rollout_commands.exits import CommandFailure, ExitCode
    from modeldeploy.rollout_commands.requests import abort, promote, retry
    from support.specs import with_

    body = with_(("spec.rollout", {"maxSurge": 0, "maxUnavailable": 0}), ("metadata.generation", 3))
    body["status"] = {"observedGeneration": 3, "rollout": {"phase": "Progressing", "stable": "quickstart-v1",
                                                            "canary": "quickstart-v2", "step": 0}}

    class Session:
        patched: list = []

        def get(self) -> dict:
            return body

        def patch(self, change: dict, **_) -> dict:
            self.patched.append(change)
            return body

    session = Session()
    act = {"promote": lambda: promote(session, full=False), "promote-full": lambda: promote(session, full=True),
           "abort": lambda: abort(session), "retry": lambda: retry(session)}[verb]
    with pytest.raises(CommandFailure) as refused:
        act()
    assert refused.value.code == ExitCode.REFUSED and session.patched == []
    assert "is invalid, and the operator acts on no request until it is fixed: spec.rollout.maxUnavailable: " \
           "maxSurge and maxUnavailable cannot both be 0" in str(refused.value)
