"""What a newcomer sees when a file or a command is wrong: one line saying what and how to fix it.

Every test runs the `modeldeploy` console script as a user would and checks
the message and the exit code, and that no traceback is printed.
"""

from __future__ import annotations

import http.server
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from support.specs import minimal, with_

from conftest import EXAMPLES, REPO

pytestmark = pytest.mark.unit

EXE = shutil.which("modeldeploy") or str(Path(sys.executable).parent / "modeldeploy")


def modeldeploy(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    proc = subprocess.run([EXE, *args], capture_output=True, text=True, cwd=REPO, timeout=timeout,
                          env={**os.environ, **(env or {})})
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    return proc


def write(tmp_path: Path, *docs: object, raw: str | None = None) -> str:
    path = tmp_path / "md.yaml"
    path.write_text(raw if raw is not None else yaml.safe_dump_all(docs))
    return str(path)


# -- issue 14 item 1: the operator without a cluster ---------------------------------------------------------

def test_operator_without_kubeconfig_says_so_in_one_line(tmp_path: Path) -> None:
    env = {"KUBECONFIG": str(tmp_path / "missing"), "KUBERNETES_SERVICE_HOST": ""}
    proc = modeldeploy("operator", "--all-namespaces", env=env)
    assert proc.returncode == 3
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("modeldeploy operator: no cluster to talk to: not running in a pod")
    assert "point KUBECONFIG at your cluster's kubeconfig" in lines[0]


# -- issue 14 item 4: validate reports everything, in one run ------------------------------------------------

def test_validate_reports_field_errors_and_cross_field_rules_together(tmp_path: Path) -> None:
    doc = with_(("spec.autoscaling", {"minReplicas": 5, "maxReplicas": 2, "target": "fast"}),
                ("spec.rollout", {"strategy": "BlueGreen", "steps": [{"weight": 50}, {"weight": 10}]}))
    proc = modeldeploy("validate", "-f", write(tmp_path, doc))
    assert proc.returncode == 1
    for line in ("spec.autoscaling.target: must be an integer or a duration",
                 "spec.autoscaling.minReplicas: must be ≤ maxReplicas (5 > 2)",
                 "spec.rollout.steps: apply to the Canary strategy only",
                 "spec.rollout.steps[1].weight: weights must be strictly increasing (10 after 50)"):
        assert line in proc.stderr, proc.stderr


def test_a_misspelt_kind_is_an_error_with_did_you_mean(tmp_path: Path) -> None:
    proc = modeldeploy("validate", "-f", write(tmp_path, {**minimal(), "kind": "ModelDeploymnt"}))
    assert proc.returncode == 1
    assert "document 1 (line 1) demo: kind: 'ModelDeploymnt' is not a kind of serving.modeldeploy.io; " \
           "did you mean ModelDeployment?" in proc.stderr


def test_skipped_documents_are_named_when_nothing_is_left(tmp_path: Path) -> None:
    other = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}}
    proc = modeldeploy("validate", "-f", write(tmp_path, other))
    assert proc.returncode == 1
    assert "document 1 (line 1) web: note: skipped apps/v1 Deployment: not a ModelDeployment" in proc.stderr
    assert "no ModelDeployment found" in proc.stderr and "every document was skipped" in proc.stderr


def test_two_documents_with_one_name_are_an_error(tmp_path: Path) -> None:
    proc = modeldeploy("validate", "-f", write(tmp_path, minimal(), minimal()))
    assert proc.returncode == 1
    assert "document 2 (line 12) demo: metadata.name: team-a/demo is already defined by document 1 (line 1) demo" \
        in proc.stderr
    assert "valid (" not in proc.stdout


def test_misspelt_metadata_field_gets_did_you_mean(tmp_path: Path) -> None:
    proc = modeldeploy("validate", "-f", write(tmp_path, with_(("metadata", {"nmae": "demo", "namespace": "a"}))))
    assert proc.returncode == 1
    assert "metadata.nmae: unknown field; did you mean name?" in proc.stderr


def test_the_name_limit_says_why(tmp_path: Path) -> None:
    proc = modeldeploy("validate", "-f", write(tmp_path, with_(("metadata.name", "m" * 51))))
    assert proc.returncode == 1
    assert "metadata.name: is 51 characters; the limit is 50 because the operator derives its children's names" \
        in proc.stderr


# -- issue 14 item 5: relative file: URIs in cluster manifests -----------------------------------------------

def test_render_and_validate_warn_about_relative_file_uris() -> None:
    quickstart = str(REPO / "examples" / "quickstart.yaml")
    for command in ("render", "validate"):
        proc = modeldeploy(command, "-f", quickstart)
        assert proc.returncode == 0
        assert "warning: spec.model.uri: file:models/quickstart is relative to this file" in proc.stderr
        assert "PersistentVolumeClaim (pvc://CLAIM/path), an object store" in proc.stderr
        quiet = modeldeploy(command, "-f", quickstart, "--local")
        assert quiet.returncode == 0 and "warning" not in quiet.stderr
    for example in EXAMPLES:
        if example.name != "quickstart.yaml":
            assert "warning" not in modeldeploy("validate", "-f", str(example)).stderr


# -- issue 14 item 7: MIG profiles from NVIDIA's table --------------------------------------------------------

def test_mig_profiles_are_checked_against_nvidias_table(tmp_path: Path) -> None:
    doc = with_(("spec.runtime", {"resources": {"migProfile": "9g.99gb"}}))
    proc = modeldeploy("validate", "-f", write(tmp_path, doc))
    assert proc.returncode == 1
    assert "spec.runtime.resources.migProfile: '9g.99gb' is not a MIG profile of any GPU in NVIDIA's MIG user " \
           "guide; known profiles: 1g.5gb," in proc.stderr
    doc = with_(("spec.runtime", {"resources": {"gpuProduct": "NVIDIA-H100-80GB-HBM3", "migProfile": "3g.47gb"}}))
    proc = modeldeploy("validate", "-f", write(tmp_path, doc))
    assert "'3g.47gb' does not exist on NVIDIA-H100-80GB-HBM3 (H100 80GB); its profiles: 1g.10gb," in proc.stderr
    doc = with_(("spec.runtime", {"resources": {"gpuProduct": "NVIDIA-H100-NVL", "migProfile": "3g.47gb"}}))
    assert modeldeploy("validate", "-f", write(tmp_path, doc)).returncode == 0


# -- issue 11 item 8: YAML alias bombs ------------------------------------------------------------------------

BILLION_LAUGHS = """\
apiVersion: serving.modeldeploy.io/v1alpha1
kind: ModelDeployment
metadata: {name: bomb}
spec:
  model: {uri: "s3://b/m.onnx", version: "1", format: onnx}
  runtime:
    affinity:
      a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
      b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
      c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
      d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
      e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
      f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
      g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
      h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
      i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


@pytest.mark.parametrize("command", ["validate", "render", "serve"])
def test_alias_bombs_are_refused_before_parsing(tmp_path: Path, command: str) -> None:
    start = time.monotonic()
    proc = modeldeploy(command, "-f", write(tmp_path, raw=BILLION_LAUGHS), timeout=30)
    assert time.monotonic() - start < 15
    assert proc.returncode in (1, 2) and proc.stdout == ""
    assert "expands to more than 50,000 YAML nodes (anchors and aliases" in proc.stderr


def test_recursive_aliases_are_refused(tmp_path: Path) -> None:
    proc = modeldeploy("validate", "-f", write(tmp_path, raw="a: &a [*a]\n"))
    assert proc.returncode == 1 and "an alias refers to its own anchor" in proc.stderr


# -- issue 11 item 9: oversized specs -------------------------------------------------------------------------

def test_a_megabyte_of_backend_parameters_is_refused(tmp_path: Path) -> None:
    parameters = {f"p{i}": "x" * 4096 for i in range(270)}  # 1.1 MB, all of it headed for the ConfigMap
    proc = modeldeploy("validate", "-f", write(tmp_path, with_(("spec.model.config", {"parameters": parameters}))))
    assert proc.returncode == 1
    assert "spec.model.config.parameters: has 270 entries; at most 64 are allowed" in proc.stderr


def test_a_huge_file_is_refused_before_parsing(tmp_path: Path) -> None:
    proc = modeldeploy("validate", "-f", write(tmp_path, raw="# " + "x" * (5 << 20) + "\n"))
    assert proc.returncode == 1 and "the file is over 4 MiB" in proc.stderr


# -- issue 11 item 10: image references -----------------------------------------------------------------------

def test_an_image_with_a_newline_is_refused_and_a_digest_accepted(tmp_path: Path) -> None:
    bad = with_(("spec.runtime", {"image": "nvcr.io/nvidia/tritonserver:24.10-py3\n  privileged: true"}))
    proc = modeldeploy("render", "-f", write(tmp_path, bad))
    assert proc.returncode == 1 and proc.stdout == ""
    assert "spec.runtime.image: contains a newline; an image reference is one word" in proc.stderr
    pinned = "nvcr.io/nvidia/tritonserver@sha256:" + "ab" * 32
    proc = modeldeploy("render", "-f", write(tmp_path, with_(("spec.runtime", {"image": pinned}))))
    assert proc.returncode == 0
    triton = next(o for o in yaml.safe_load_all(proc.stdout) if o["kind"] == "Deployment")
    assert triton["spec"]["template"]["spec"]["containers"][0]["image"] == pinned


def test_a_bad_runtime_image_flag_is_a_usage_error(tmp_path: Path) -> None:
    proc = modeldeploy("render", "-f", str(EXAMPLES[0]), "--runtime-image", "registry.local/rt:1\nx")
    assert proc.returncode == 2 and "argument --runtime-image: contains a newline" in proc.stderr


def test_rendered_objects_over_the_size_limit_name_the_heaviest_fields() -> None:
    from modeldeploy.api import parse_model_deployment
    from modeldeploy.builders import build_all
    from modeldeploy.builders.object_size import size_problems

    md = parse_model_deployment(with_(("spec.model.config", {"parameters": {f"p{i}": "x" * 4000 for i in range(64)}})))
    objects = build_all(md)
    assert size_problems(md, objects) == []  # the bounds keep every object under the limit
    config_map = objects[0]
    config_map["data"]["config.pbtxt"] *= 5  # as if a future field let it grow past 1 MiB
    [problem] = size_problems(md, objects)
    assert str(problem).startswith("ConfigMap demo-v1-config data would be 1.2")
    assert "Kubernetes stores at most 1.00 MiB per object. The largest fields: spec.model.config.parameters" \
        in str(problem)


def test_a_spec_whose_recorded_revision_passes_the_annotation_limit_is_refused() -> None:
    # 64 parameters of 4,096 characters are each within their bounds; the revision-spec annotation that
    # records them on the Deployment passes Kubernetes' 256 KiB for all annotations of one object.
    from modeldeploy.api import parse_model_deployment
    from modeldeploy.builders import build_all
    from modeldeploy.builders.object_size import size_problems

    md = parse_model_deployment(with_(("spec.model.config", {"parameters": {f"p{i}": "x" * 4096 for i in range(64)}})))
    problems = [str(p) for p in size_problems(md, build_all(md))]
    assert problems and problems[0].startswith("the annotations of Deployment demo-v1 would be 2")
    assert "Kubernetes allows 256 KiB (a revision records its spec in an annotation). The largest fields: " \
           "spec.model.config.parameters" in problems[0]


# -- issue 14 item 6: progress on long steps -------------------------------------------------------------------

def test_fetch_from_a_closed_port_says_what_it_is_waiting_for(monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str],
                                                              tmp_path: Path) -> None:
    from modeldeploy.cli import main
    from modeldeploy_runtime.fetch import http
    from modeldeploy_runtime.triton_process import free_port

    monkeypatch.setattr(http, "RETRY", http.RETRY.new(backoff_factor=0.01))  # the real schedule waits 15 s
    port = free_port()
    code = main(["fetch", f"http://127.0.0.1:{port}/model.onnx", str(tmp_path / "dest")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 12
    for n, line in enumerate(err[:5], start=1):
        assert re.fullmatch(rf"fetch: connection refused at 127\.0\.0\.1:{port}, retrying \({n}/5\) in [\d.]+s", line)
    assert err[5] == f"NETWORK: connection refused at 127.0.0.1:{port} after 5 retries " \
                     f"(GET http://127.0.0.1:{port}/model.onnx)"


def test_infer_with_a_malformed_url_is_a_usage_error() -> None:
    quickstart = str(REPO / "examples" / "quickstart.yaml")
    for url in ("127.0.0.1:PORT", "http://127.0.0.1:8000"):
        proc = modeldeploy("infer", "-f", quickstart, "--url", url)
        assert proc.returncode == 2
        assert proc.stderr.strip() == f"USAGE: --url {url}: write HOST:PORT, e.g. 127.0.0.1:8000 (no scheme, no path)"
    for port in ("99999", "65536", "0"):
        for protocol in ("http", "grpc"):
            proc = modeldeploy("infer", "-f", quickstart, "--url", f"127.0.0.1:{port}", "--protocol", protocol)
            assert proc.returncode == 2, proc.stderr
            assert proc.stderr == f"USAGE: --url 127.0.0.1:{port}: port {port} is out of range: give a TCP port " \
                                  "from 1 to 65535\n"


@pytest.mark.parametrize("data, message", [
    ('{"INPUT_0": [[1]]}', "USAGE: --data names 'INPUT_0', which the model does not take; its inputs are INPUT__0 "
                           "(spec.model.config.inputs)"),
    ('[[1, 2]]', 'USAGE: --data is a JSON list, not an object: write {"INPUT__0": [[...]]}, one nested list per '
                 'input'),
    ('{"INPUT__0": "abc"}', 'USAGE: --data INPUT__0: "abc" is not a nested list of FP32 values'),
    ('{"INPUT__0": [[1, 2], [3]]}', "USAGE: --data INPUT__0: not a nested list of FP32 values of one shape"),
])
def test_infer_data_that_does_not_fit_the_inputs_is_a_usage_error(data: str, message: str) -> None:
    # Checked before any request: nothing needs to listen at --url.
    proc = modeldeploy("infer", "-f", str(REPO / "examples" / "quickstart.yaml"), "--url", "127.0.0.1:9",
                       "--data", data)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stderr.startswith(message), proc.stderr


def test_infer_against_a_server_that_is_not_triton_says_so_in_one_line() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"127.0.0.1:{server.server_address[1]}"
    try:
        proc = modeldeploy("infer", "-f", str(REPO / "examples" / "quickstart.yaml"), "--url", url)
    finally:
        server.shutdown()
        server.server_close()
    assert proc.returncode == 12
    assert proc.stderr == f"NETWORK: the server at {url} answered, but is not a Triton (KServe v2) server: check " \
                          "--url (modeldeploy serve prints Triton's address; 8000 in a pod)\n"


TYPED_INPUTS = with_(("spec.model.config", {
    "maxBatchSize": 8, "outputs": [{"name": "OUTPUT__0", "dataType": "FP32", "dims": [1]}],
    "inputs": [{"name": "ids", "dataType": "INT64", "dims": [2]}, {"name": "mask", "dataType": "BOOL", "dims": [2]},
               {"name": "n", "dataType": "INT32", "dims": [1]}, {"name": "byte", "dataType": "UINT8", "dims": [1]},
               {"name": "x", "dataType": "FP32", "dims": [-1]}]}))


@pytest.mark.parametrize("data, message", [
    ('{"ids": [[1.5, 2]]}', "USAGE: --data ids: 1.5 is not a valid INT64 value: give whole numbers from "
                            "-9223372036854775808 to 9223372036854775807"),
    ('{"ids": [[true, 2]]}', "USAGE: --data ids: true is not a valid INT64 value: give whole numbers"),
    ('{"n": [[2.7]]}', "USAGE: --data n: 2.7 is not a valid INT32 value: give whole numbers from -2147483648 to "
                       "2147483647"),
    ('{"byte": [[-1]]}', "USAGE: --data byte: -1 is not a valid UINT8 value: give whole numbers from 0 to 255"),
    ('{"mask": [["yes", true]]}', 'USAGE: --data mask: "yes" is not a valid BOOL value: give true or false'),
    ('{"mask": [[1, 0]]}', "USAGE: --data mask: 1 is not a valid BOOL value: give true or false"),
    ('{"x": [[false]]}', "USAGE: --data x: false is not a valid FP32 value: give numbers"),
    ('{"ids": 3}', "USAGE: --data ids: 3 has shape [], and ids (INT64) takes [batch, 2]: one nested list per sample, "
                   "batch first"),
    ('{"ids": [1, 2]}', "USAGE: --data ids: [1, 2] has shape [2], and ids (INT64) takes [batch, 2]"),
    ('{"ids": [[1, 2, 3]]}', "USAGE: --data ids: [[1, 2, 3]] has shape [1, 3], and ids (INT64) takes [batch, 2]"),
])
def test_infer_data_not_of_the_inputs_type_or_shape_is_a_usage_error(tmp_path: Path, data: str, message: str) -> None:
    # numpy would have sent 1 for 1.5 and for true, True for "yes"; a scalar fails only in Triton.
    proc = modeldeploy("infer", "-f", write(tmp_path, TYPED_INPUTS), "--url", "127.0.0.1:9", "--data", data)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stderr.startswith(message), proc.stderr


def test_infer_data_of_the_inputs_types_is_sent(tmp_path: Path) -> None:
    data = '{"ids": [[1, 2]], "mask": [[true, false]], "n": [[7]], "byte": [[255]], "x": [[1, 2.5, 3]]}'
    proc = modeldeploy("infer", "-f", write(tmp_path, TYPED_INPUTS), "--url", "127.0.0.1:9", "--data", data)
    assert proc.returncode == 12 and "nothing answers at 127.0.0.1:9" in proc.stderr  # checked, then sent


def test_one_large_anchor_repeated_by_aliases_is_refused_without_expanding_it(tmp_path: Path) -> None:
    big = "x" * (3 << 20)  # 3 MiB: under the file limit once, gigabytes once its 999 aliases are expanded
    aliases = "".join(f"    a{i}: *s\n" for i in range(1, 1000))
    raw = ("apiVersion: serving.modeldeploy.io/v1alpha1\nkind: ModelDeployment\nmetadata:\n  name: demo\n"
           f"  annotations:\n    a0: &s {big}\n{aliases}spec:\n  model: {{uri: 's3://b/m.onnx', version: '1', "
           "format: onnx}\n")
    start = time.monotonic()
    proc = modeldeploy("validate", "-f", write(tmp_path, raw=raw), timeout=60)
    assert time.monotonic() - start < 20
    assert proc.returncode == 1
    assert proc.stderr.strip().endswith("its aliases expand to more than 4 MiB of text (an anchor repeated by "
                                        "aliases?); a ModelDeployment is a few KiB: refused before parsing it")


@pytest.mark.parametrize("raw, line", [
    ("  replicas: 1\n  replicas: 3\n", "key 'replicas' appears twice in one mapping (lines 6 and 7)"),
    ("  runtime: {resources: {cpu: '1', cpu: '2'}}\n", "key 'cpu' appears twice in one mapping (lines 6 and 6)"),
])
def test_a_duplicate_key_is_an_error_naming_it_and_its_lines(tmp_path: Path, raw: str, line: str) -> None:
    head = ("apiVersion: serving.modeldeploy.io/v1alpha1\nkind: ModelDeployment\nmetadata: {name: demo}\nspec:\n"
            "  model: {uri: 's3://b/m.onnx', version: '1', format: onnx}\n")
    proc = modeldeploy("validate", "-f", write(tmp_path, raw=head + raw))
    assert proc.returncode == 1 and line in proc.stderr and "only the last would count: keep one" in proc.stderr


def test_a_duplicate_key_hides_no_other_problem_of_the_file(tmp_path: Path) -> None:
    raw = ("apiVersion: serving.modeldeploy.io/v1alpha1\nkind: ModelDeployment\nmetadata: {name: demo}\nspec:\n"
           "  replicas: 1\n  model: {uri: 'ftp://b/m.onnx', version: '1', format: onnx}\n  replicas: 2\n---\n"
           "apiVersion: serving.modeldeploy.io/v1alpha1\nkind: ModelDeploymnt\nmetadata: {name: x}\n")
    proc = modeldeploy("validate", "-f", write(tmp_path, raw=raw))
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 3, proc.stderr
    assert "document 1 (line 1) demo: key 'replicas' appears twice in one mapping (lines 5 and 7)" in lines[0]
    assert "document 1 (line 1) demo: spec.model.uri: unsupported scheme ftp://" in lines[1]
    assert "document 2 (line 9) x: kind: 'ModelDeploymnt' is not a kind" in lines[2]
    assert modeldeploy("render", "-f", write(tmp_path, raw=raw)).returncode != 0, "nothing rendered from it"


def test_a_missing_api_version_says_what_to_add(tmp_path: Path) -> None:
    raw = "kind: ModelDeployment\nmetadata: {name: demo}\nspec:\n  model: {uri: 's3://b/m.onnx', version: '1'}\n"
    proc = modeldeploy("validate", "-f", write(tmp_path, raw=raw))
    assert proc.returncode == 1
    assert proc.stderr.strip().endswith("demo: apiVersion: required field is missing; add apiVersion: "
                                        "serving.modeldeploy.io/v1alpha1")


def test_merge_keys_overriding_a_merged_value_are_no_duplicate(tmp_path: Path) -> None:
    raw = ("apiVersion: serving.modeldeploy.io/v1alpha1\nkind: ModelDeployment\nmetadata: {name: demo}\nspec:\n"
           "  model: {uri: 's3://b/m.onnx', version: '1', format: onnx}\n"
           "  runtime:\n    resources:\n      <<: &base {cpu: '1', memory: 1Gi}\n      cpu: '2'\n")
    proc = modeldeploy("validate", "-f", write(tmp_path, raw=raw))
    assert proc.returncode == 0, proc.stderr


# -- the operator: an unreachable API server, flags out of range -------------------------------------------

def free_port_flags() -> list[str]:
    """Metrics and health ports no other test holds (the defaults may be taken by a parallel worker)."""
    ports = []
    for _ in range(2):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            ports.append(str(probe.getsockname()[1]))
    return ["--bind-address", "127.0.0.1", "--metrics-port", ports[0], "--health-port", ports[1]]


def test_operator_with_a_port_already_taken_says_which_flag(tmp_path: Path, apiserver) -> None:
    flags = free_port_flags()
    kubeconfig = apiserver.kubeconfig(str(tmp_path / "kubeconfig"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", int(flags[3])))
        taken.listen(1)
        proc = modeldeploy("operator", "--all-namespaces", "--standalone", *flags,
                           env={"KUBECONFIG": kubeconfig, "KUBERNETES_SERVICE_HOST": ""}, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert f"127.0.0.1:{flags[3]} (--metrics-port)" in proc.stderr and "already in use" in proc.stderr


@pytest.mark.parametrize("flags", [["--all-namespaces"], ["--all-namespaces", "--standalone"],
                                   ["-n", "default", "--standalone"]])
def test_operator_with_an_unreachable_api_server_names_it_and_exits_4(tmp_path: Path, flags: list[str]) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (tmp_path / "kubeconfig").write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "x",
        "clusters": [{"name": "c", "cluster": {"server": f"https://127.0.0.1:{port}"}}],
        "users": [{"name": "u", "user": {"token": "abc"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}]}))
    env = {"KUBECONFIG": str(tmp_path / "kubeconfig"), "KUBERNETES_SERVICE_HOST": ""}
    proc = modeldeploy("operator", *flags, *free_port_flags(), env=env, timeout=120)
    assert proc.returncode == 4, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        f"modeldeploy operator: API server at 127.0.0.1:{port} unreachable: connection refused; check that the "
        "cluster is up and that KUBECONFIG (or the pod's in-cluster config) points at it")
    assert "unexpected error" not in proc.stderr


@pytest.mark.parametrize("flags, words", [
    (["--metrics-port", "70000"], "argument --metrics-port: 70000 is out of range: give a TCP port from 1 to 65535"),
    (["--health-port", "0"], "argument --health-port: 0 is out of range"),
    (["--metrics-port", "9000", "--health-port", "9000"], "argument --health-port: 9000 is also --metrics-port"),
    (["--peering-lifetime", "0"], "argument --peering-lifetime: 0 is out of range: give a whole number of at least 1"),
    (["--peering-lifetime", "-3"], "argument --peering-lifetime: -3 is out of range"),
])
def test_operator_flags_out_of_range_are_usage_errors(tmp_path: Path, flags: list[str], words: str) -> None:
    env = {"KUBECONFIG": str(tmp_path / "missing"), "KUBERNETES_SERVICE_HOST": ""}
    proc = modeldeploy("operator", "--all-namespaces", *flags, env=env)
    assert proc.returncode == 2
    assert words in proc.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("variable, value, words", [
    ("RESYNC_SECONDS", "abc", "argument --resync-seconds: invalid float value: 'abc'"),
    ("PRIORITY", "x", "argument --priority: invalid int value: 'x'"),
    ("DRAIN_SECONDS", "1.5", "argument --drain-seconds: invalid int value: '1.5'"),
    ("STANDALONE", "maybe", "MODELDEPLOY_STANDALONE='maybe': give true or false"),
])
def test_a_bad_environment_value_is_a_usage_error_of_the_operator_alone(tmp_path: Path, variable: str, value: str,
                                                                       words: str) -> None:
    env = {f"MODELDEPLOY_{variable}": value, "KUBECONFIG": str(tmp_path / "missing"), "KUBERNETES_SERVICE_HOST": ""}
    proc = modeldeploy("operator", "--all-namespaces", env=env)
    assert proc.returncode == 2 and words in proc.stderr.strip().splitlines()[-1], proc.stderr
    other = modeldeploy("validate", "-f", str(REPO / "examples" / "bert-keda.yaml"), env=env)
    assert other.returncode == 0, "another command does not read the operator's settings"


# -- flags checked where they are read: usage errors (exit 2), never exit 70 -----------------------------------

QUICKSTART = str(REPO / "examples" / "quickstart.yaml")


@pytest.mark.parametrize("args, words", [
    (["fetch", "s3://models/m/", "/tmp/unused", "--endpoint", "127.0.0.1:18555"],
     "argument --endpoint: '127.0.0.1:18555': write the endpoint as a URL with its scheme, e.g. "
     "http://127.0.0.1:18555"),
    (["fetch", "file:///nowhere", "/tmp/unused", "--tree-sha256", "abc"],
     "argument --tree-sha256: 'abc' is not a sha256: write its 64 lowercase hex digits"),
    (["fetch", "file:///nowhere", "/tmp/unused", "--sha256", "Z" * 64], "argument --sha256: "),
    (["fetch", "file:///nowhere", "/tmp/unused", "--max-bytes", "-5"], "argument --max-bytes: -5 is out of range"),
    (["fetch", "file:///nowhere", "/tmp/unused", "--parallel", "0"], "argument --parallel: 0 is out of range"),
    (["tune", "-f", QUICKSTART, "--instances", "0"], "argument --instances: '0': write comma-separated integers >= 1"),
    (["tune", "-f", QUICKSTART, "--concurrency", "0"], "argument --concurrency: 0 is out of range"),
    (["tune", "-f", QUICKSTART, "--window-ms", "0"], "argument --window-ms: 0 is out of range"),
    (["serve", "-f", QUICKSTART, "--ready-timeout", "0"], "argument --ready-timeout: 0 is out of range"),
])
def test_flags_out_of_range_are_usage_errors_before_any_work(args: list[str], words: str) -> None:
    proc = modeldeploy(*args)
    assert proc.returncode == 2, proc.stderr
    assert words in proc.stderr.strip().splitlines()[-1]


def test_a_preferred_batch_over_max_batch_size_is_a_usage_error() -> None:
    proc = modeldeploy("tune", "-f", QUICKSTART, "--preferred", "999", "--instances", "1", "--delays", "500")
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("USAGE: --preferred 999: over spec.model.config.maxBatchSize (64); give sizes up "
                                   "to 64, or 'none'")


def test_serve_with_a_name_the_file_lacks_names_it() -> None:
    proc = modeldeploy("serve", "-f", QUICKSTART, "--name", "zzz")
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"USAGE: --name zzz: {QUICKSTART} holds no ModelDeployment of that name; it holds " \
                                  "quickstart"


def test_render_takes_every_file_given() -> None:
    proc = modeldeploy("render", "--local", "-f", QUICKSTART, "-f", str(REPO / "examples" / "resnet50-onnx-gpu.yaml"))
    assert proc.returncode == 0, proc.stderr
    names = {doc["metadata"]["name"] for doc in yaml.safe_load_all(proc.stdout) if doc}
    assert {"quickstart", "resnet50"} <= names


def _flags(command: str) -> list:
    """The options of one `modeldeploy COMMAND`, --help left out."""
    from modeldeploy.cli import _parser  # noqa: PLC0415
    commands = next(a for a in _parser()._actions if isinstance(a.choices, dict) and command in a.choices)
    return [a for a in commands.choices[command]._actions if a.option_strings and a.dest != "help"]


@pytest.mark.parametrize("command", ["serve", "infer", "tune", "package", "build-repo", "fetch", "operator"])
def test_every_flag_says_what_it_is_for(command: str) -> None:
    silent = [a.option_strings[-1] for a in _flags(command) if not a.help]
    assert silent == [], f"{command}: flags without help text"


def test_the_operator_docs_list_every_flag() -> None:
    table = (REPO / "docs" / "operator.md").read_text()
    assert [a.option_strings[-1] for a in _flags("operator") if f"`{a.option_strings[-1]}" not in table] == []


def test_a_file_that_is_no_archive_fails_in_one_line(tmp_path: Path) -> None:
    # The operator reads a fetch container's last line as the cause: a multi-line reason would lose it.
    bad = tmp_path / "model.tar.gz"
    bad.write_bytes(b"this is not gzip")
    proc = modeldeploy("fetch", bad.as_uri(), str(tmp_path / "out"))
    assert proc.returncode == 16, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "BAD_ARTIFACT: model.tar.gz is not a readable tar archive: neither a gzip, bzip2 or xz compressed tar nor "
        "a plain one"]


def test_a_failure_is_one_line_whatever_its_reason_holds() -> None:
    from modeldeploy_runtime.errors import ExitCode, RuntimeFailure
    assert RuntimeFailure(ExitCode.NETWORK, "cannot reach it:\n  first\n\n  second").line() == \
        "NETWORK: cannot reach it:; first; second"


@pytest.mark.parametrize("uri", ["s3://AKIAX:topsecretvalue@models/one/model.onnx",
                                 "gs://someone:topsecretvalue@models/one/model.onnx"])
def test_fetch_refuses_credentials_in_an_object_store_uri_without_echoing_them(tmp_path: Path, uri: str) -> None:
    proc = modeldeploy("fetch", uri, str(tmp_path / "out"))
    assert proc.returncode == 2 and "topsecretvalue" not in proc.stdout + proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert "URIs carry no credentials (there is user info before '@')" in proc.stderr
