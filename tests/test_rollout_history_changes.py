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
