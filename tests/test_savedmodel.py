"""TF SavedModel (format: savedmodel): the config Triton's TensorFlow backend reads, and the folder it loads.

The TensorFlow backend is not in the local Triton, so the proof is Triton's own
proto (text and binary round-trips), the golden files, and the repository
layout build-repo makes from a fetched SavedModel folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from modeldeploy.api import parse_model_deployment
from modeldeploy.builders import render_model_config
from modeldeploy_runtime.fetch import fetch
from modeldeploy_runtime.fetch.tree import tree_digest
from modeldeploy_runtime.repository import build_repository

from conftest import EXAMPLES, REPO

pytestmark = pytest.mark.unit

EXAMPLE = REPO / "examples" / "savedmodel-minio-auth.yaml"


def _md(path: Path = EXAMPLE):
    return parse_model_deployment(yaml.safe_load(path.read_text()))


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_config_round_trips_through_tritons_proto(example: Path) -> None:
    text = render_model_config(_md(example))
    parsed = text_format.Parse(text, model_config_pb2.ModelConfig())
    assert text_format.MessageToString(parsed) == text
    assert model_config_pb2.ModelConfig.FromString(parsed.SerializeToString()) == parsed


def test_savedmodel_config_is_the_tensorflow_backends() -> None:
    config = text_format.Parse(render_model_config(_md()), model_config_pb2.ModelConfig())
    # The TensorFlow backend serves platform tensorflow_savedmodel from <version>/model.savedmodel/.
    assert config.platform == "tensorflow_savedmodel" and not config.backend
    assert not config.default_model_filename
    assert config.max_batch_size == 32
    assert [(i.name, i.data_type, list(i.dims)) for i in config.input] == [
        ("input_1", model_config_pb2.TYPE_FP32, [224, 224, 3])]
    assert [(o.name, list(o.dims)) for o in config.output] == [("predictions", [1000])]
    assert config.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_CPU


def _saved_model(root: Path) -> Path:
    (root / "variables").mkdir(parents=True)
    (root / "assets").mkdir()
    (root / "saved_model.pb").write_bytes(b"\x08\x01\x12\x00")
    (root / "fingerprint.pb").write_bytes(b"\x08\x02")
    (root / "variables" / "variables.index").write_bytes(b"index")
    (root / "variables" / "variables.data-00000-of-00001").write_bytes(bytes(4096))
    (root / "assets" / "labels.txt").write_text("tench\ngoldfish\n")
    return root


def test_a_fetched_savedmodel_folder_becomes_the_layout_triton_loads(tmp_path: Path) -> None:
    source = _saved_model(tmp_path / "efficientnet-b0")
    md = _md()
    fetched = fetch(f"file://{source}", tmp_path / "staging", tree_sha256=tree_digest(source))
    model_dir = build_repository(fetched.dest, tmp_path / "repository", md.model_name, md.spec.model.version,
                                 md.spec.model.format, render_model_config(md))
    saved = model_dir / "2" / "model.savedmodel"
    assert sorted(str(p.relative_to(saved)) for p in saved.rglob("*") if p.is_file()) == [
        "assets/labels.txt", "fingerprint.pb", "saved_model.pb", "variables/variables.data-00000-of-00001",
        "variables/variables.index"]
    assert (model_dir / "config.pbtxt").read_text() == render_model_config(md)
