"""The `modeldeploy` command as a user meets it: exit codes, messages, output."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from modeldeploy.cli import main
from support.specs import minimal, with_

from conftest import EXAMPLES, REPO

pytestmark = pytest.mark.unit


def _write(tmp_path: Path, *docs: object, raw: str | None = None) -> str:
    path = tmp_path / "md.yaml"
    path.write_text(raw if raw is not None else yaml.safe_dump_all(docs))
    return str(path)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_render_prints_every_object(capsys: pytest.CaptureFixture[str], example: Path) -> None:
    code, out, err = _run(capsys, "render", "-f", str(example))
    assert code == 0, err
    kinds = [o["kind"] for o in yaml.safe_load_all(out)]
    engine = (yaml.safe_load(example.read_text())["spec"].get("autoscaling") or {}).get("engine", "builtin")
    autoscaler = {"hpa": ["HorizontalPodAutoscaler"], "keda": ["ScaledObject"]}.get(engine, [])
    assert kinds == ["ConfigMap", "Deployment", "Service", "Service", "PodDisruptionBudget", "NetworkPolicy",
                     *autoscaler]


def test_render_json_is_a_list(capsys: pytest.CaptureFixture[str]) -> None:
    quickstart = next(e for e in EXAMPLES if e.stem == "quickstart")
    code, out, _ = _run(capsys, "render", "-f", str(quickstart), "-o", "json")
    assert code == 0
    assert json.loads(out)["kind"] == "List" and len(json.loads(out)["items"]) == 6


def test_render_uses_the_given_runtime_image(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = _run(capsys, "render", "-f", str(EXAMPLES[0]), "--runtime-image", "registry.local/runtime:1")
    deployment = next(o for o in yaml.safe_load_all(out) if o["kind"] == "Deployment")
    assert {c["image"] for c in deployment["spec"]["template"]["spec"]["initContainers"]} == {"registry.local/runtime:1"}


def test_render_of_invalid_input_prints_no_manifests(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = _run(capsys, "render", "-f", _write(tmp_path, minimal(), with_(("spec.replicas", -2))))
    assert code == 1 and out == ""
    assert "document 2 (line" in err and "spec.replicas: must be ≥ 0" in err


def test_validate_reports_min_above_max(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    doc = with_(("spec.autoscaling", {"minReplicas": 5, "maxReplicas": 2, "target": "50ms"}))
    code, _, err = _run(capsys, "validate", "-f", _write(tmp_path, doc))
    assert code == 1
    assert "demo: spec.autoscaling.minReplicas: must be ≤ maxReplicas (5 > 2)" in err


def test_validate_accepts_every_example(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "validate", *[a for e in EXAMPLES for a in ("-f", str(e))])
    assert code == 0 and out.count(": valid (") == len(EXAMPLES)


def test_empty_file_is_an_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = _run(capsys, "validate", "-f", _write(tmp_path, raw="# nothing here\n"))
    assert code == 1 and "no ModelDeployment found" in err


def test_yaml_syntax_error_names_the_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    raw = "apiVersion: serving.modeldeploy.io/v1alpha1\nkind: ModelDeployment\nspec:\n  model: {uri: [\n"
    code, _, err = _run(capsys, "validate", "-f", _write(tmp_path, raw=raw))
    assert code == 1 and "YAML syntax error at line 5" in err


def test_other_kinds_are_skipped_with_a_note(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s3"}, "stringData": {"key": "x"}}
    code, out, _ = _run(capsys, "render", "-f", _write(tmp_path, secret, minimal()))
    assert code == 0
    assert [o["kind"] for o in yaml.safe_load_all(out)][0] == "ConfigMap"
    code, out, _ = _run(capsys, "validate", "-f", _write(tmp_path, secret, minimal()))
    assert code == 0 and "note: skipped v1 Secret" in out


def test_only_other_kinds_is_an_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = _run(capsys, "validate", "-f", _write(tmp_path, {"apiVersion": "v1", "kind": "ConfigMap"}))
    assert code == 1 and "no ModelDeployment found" in err


def test_wrong_api_version_and_non_objects(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    old = {**minimal(), "apiVersion": "serving.modeldeploy.io/v1beta9"}
    code, _, err = _run(capsys, "validate", "-f", _write(tmp_path, old, ["a", "list"]))
    assert code == 1
    assert "apiVersion: 'serving.modeldeploy.io/v1beta9' is not served" in err
    assert "document 2 (line 12): not a Kubernetes object (a YAML list, not a mapping)" in err


def test_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = _run(capsys, "validate", "-f", str(tmp_path / "nope.yaml"))
    assert code == 1 and "cannot read" in err


def test_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import io
    monkeypatch.setattr(sys, "stdin", io.StringIO(yaml.safe_dump(minimal())))
    code, out, _ = _run(capsys, "validate", "-f", "-")
    assert code == 0 and "<stdin>: valid (demo)" in out


BAD_FILES = {
    "empty": "",
    "syntax": "kind: [\n",
    "unknown-field": yaml.safe_dump(with_(("spec.runtime", {"privileged": True}))),
    "wrong-type": yaml.safe_dump(with_(("spec.replicas", "many"))),
    "scalar": "just a string\n",
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_console_script_never_shows_a_traceback(tmp_path: Path, name: str) -> None:
    path = _write(tmp_path, raw=BAD_FILES[name])
    exe = shutil.which("modeldeploy") or str(Path(sys.executable).parent / "modeldeploy")
    for command in ("validate", "render"):
        proc = subprocess.run([exe, command, "-f", path], capture_output=True, text=True, cwd=REPO, timeout=60)
        assert proc.returncode == 1, proc.stderr
        assert "Traceback" not in proc.stderr and proc.stderr.strip()
        assert proc.stdout == "" or command == "validate"
