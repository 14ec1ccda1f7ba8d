"""API-key auth and the unknowable admin key, against a real Triton started the way the pod starts it.

The Triton container's command and args come from the built Deployment; the
kubelet's part (the Secret into the environment, $(VAR) expansion) is done
here as the kubelet does it, and `tritonserver` on PATH is a shim to the
bundled binary, so the pod's own shell wrapper generates the admin key.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http
import yaml
from tritonclient.utils import InferenceServerException

from modeldeploy.api import parse_model_deployment
from modeldeploy.builders import (
    ADMIN_HEADER, API_KEY_HEADER, GRPC_ADMIN_HEADER, GRPC_API_KEY_HEADER, build_deployment, render_model_config,
)
from modeldeploy.yamlio import dump
from modeldeploy_runtime.errors import RuntimeFailure
from modeldeploy_runtime.fetch import fetch
from modeldeploy_runtime.infer import example_inputs, infer
from modeldeploy_runtime.repository import build_repository
from modeldeploy_runtime.serve import ServeOptions, serving
from modeldeploy_runtime.triton_process import (
    TritonProcess, free_port, prepare_backends, triton_env, triton_home,
)
from support.kubelet_expansion import container_env, expand
from support.quickstart import make_quickstart

pytestmark = pytest.mark.runtime

# Quotes, $, ; and spaces: the Secret's value must reach Triton as data, never as shell.
API_KEY = "k3y with 'quotes' \"and\" $HOME; `id`"


class PodTriton:
    """The pod's Triton container, run on loopback."""

    def __init__(self, md, deployment: dict, workdir: Path):  # noqa: ANN001 - a ModelDeployment
        self.md = md
        self.deployment = deployment
        self.container = deployment["spec"]["template"]["spec"]["containers"][0]
        self.ports = {8000: free_port(), 8001: free_port(), 8002: free_port()}
        self.log = workdir / "triton.log"
        self.repository = workdir / "repository"
        self.workdir = workdir

    def start(self, base_dir: Path) -> PodTriton:
        model = self.md.spec.model
        fetched = fetch(model.uri, self.workdir / "staging", base_dir=base_dir)
        build_repository(fetched.dest, self.repository, self.md.model_name, model.version, model.format,
                         render_model_config(self.md))
        home = triton_home()
        shim = self.workdir / "bin" / "tritonserver"
        shim.parent.mkdir()
        shim.write_text(f'#!/bin/sh\nexec {home / "bin" / "tritonserver"} '
                        f'--backend-directory={prepare_backends(home, self.workdir)} "$@"\n')
        shim.chmod(0o755)
        env = container_env(self.container, {self.md.spec.auth.api_key_secret: {"api-key": API_KEY}})
        command = [expand(part, env) for part in self.container["command"]]
        args = [self._local(expand(arg, env)) for arg in self.container["args"]]
        args += [f"--{kind}-address=127.0.0.1" for kind in ("http", "grpc", "metrics")]
        base = triton_env({"HOME": str(self.workdir)})
        base["PATH"] = f"{shim.parent}:{base['PATH']}:/usr/bin:/bin"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen([*command, *args], env={**base, **env}, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        self._wait_ready()
        return self

    def _local(self, arg: str) -> str:
        """In-pod paths and ports to this machine's."""
        arg = arg.replace("/mnt/models", str(self.repository))
        for pod_port, port in self.ports.items():
            arg = re.sub(rf"-port={pod_port}$", f"-port={port}", arg)
        return re.sub(r"^--exit-timeout-secs=\d+$", "--exit-timeout-secs=2", arg)

    def _wait_ready(self) -> None:
        self.triton = TritonProcess(self.process, self.ports[8000], self.ports[8001], self.ports[8002], self.log)
        self.triton.wait_model_ready(self.md.model_name, self.md.spec.model.version, 120)
        self.http, self.grpc = self.triton.http_url, self.triton.grpc_url

    def stop(self) -> None:
        self.triton.stop(15)


@pytest.fixture(scope="module")
def pod(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PodTriton]:
    quickstart = make_quickstart(tmp_path_factory.mktemp("quickstart"))
    doc = yaml.safe_load(quickstart.read_text())
    doc["spec"]["auth"] = {"apiKeySecret": "quickstart-api-key"}
    md = parse_model_deployment(doc)
    triton = PodTriton(md, build_deployment(md), tmp_path_factory.mktemp("pod")).start(quickstart.parent)
    yield triton
    triton.stop()


def _http_status(url: str, headers: dict[str, str] | None = None, body: bytes | None = None) -> int:
    request = urllib.request.Request(url, data=body, headers=headers or {}, method="POST" if body else "GET")
    try:
        return urllib.request.urlopen(request, timeout=10).status
    except urllib.error.HTTPError as err:
        return err.code


def _refused(call) -> str:  # noqa: ANN001 - a zero-argument callable
    with pytest.raises((InferenceServerException, RuntimeFailure)) as caught:
        call()
    return str(caught.value)


def test_inference_needs_the_api_key_over_http_and_grpc(pod: PodTriton) -> None:
    inputs = example_inputs(pod.md)
    for protocol, url, header in (("http", pod.http, API_KEY_HEADER), ("grpc", pod.grpc, GRPC_API_KEY_HEADER)):
        missing = _refused(lambda: infer(pod.md, url, inputs, protocol=protocol))
        wrong = _refused(lambda: infer(pod.md, url, inputs, protocol=protocol, headers={header: "guess"}))
        assert f"expecting header '{header}'" in missing and f"expecting header '{header}'" in wrong
        outputs = infer(pod.md, url, inputs, protocol=protocol, headers={header: API_KEY})
        assert outputs["OUTPUT__0"].shape == (1, 4) and np.isfinite(outputs["OUTPUT__0"]).all()


def test_health_stays_open_for_probes_and_metrics_for_scrapes(pod: PodTriton) -> None:
    base = f"http://{pod.http}"
    assert _http_status(f"{base}/v2/health/ready") == 200
    assert _http_status(f"{base}/v2/models/quickstart/versions/1/ready") == 200  # the readiness probe's path
    assert _http_status(f"{base}/v2/models/quickstart") == 403  # metadata is behind the key
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{pod.ports[8002]}/metrics", timeout=10).read().decode()
    assert 'nv_inference_request_success{model="quickstart",version="1"}' in metrics


def test_model_config_is_readable_with_the_key_and_loading_stays_locked(pod: PodTriton) -> None:
    http = triton_http.InferenceServerClient(pod.http)
    grpc = triton_grpc.InferenceServerClient(pod.grpc)
    assert http.get_model_config("quickstart", headers={API_KEY_HEADER: API_KEY})["max_batch_size"] == 64
    assert grpc.get_model_config("quickstart", headers={GRPC_API_KEY_HEADER: API_KEY}).config.name == "quickstart"
    assert "expecting header 'x-api-key'" in _refused(lambda: http.get_model_config("quickstart"))
    for client, header in ((http, API_KEY_HEADER), (grpc, GRPC_API_KEY_HEADER)):
        refusal = _refused(lambda: client.load_model("quickstart", headers={header: API_KEY}))
        assert "triton-admin-key" in refusal


def _strings(node: object) -> set[str]:
    if isinstance(node, dict):
        return {s for v in node.values() for s in _strings(v)} | {k for k in node if isinstance(k, str)}
    if isinstance(node, list):
        return {s for v in node for s in _strings(v)}
    return {str(node)}


def _admin_key_inside(pod: PodTriton) -> str:
    """What only a process inside the container can read: tritonserver's own arguments."""
    args = Path(f"/proc/{pod.process.pid}/cmdline").read_bytes().decode().split("\0")
    found = {a.rsplit("=", 1)[1] for a in args if a.startswith("--http-restricted-api=model-repository")}
    assert len(found) == 1
    return found.pop()


def test_nobody_outside_the_container_can_call_an_admin_api(pod: PodTriton) -> None:
    # Everything someone who may read the pod sees: the whole pod spec, its name, its UID; and, as if
    # leaked, the API key too.
    visible = _strings(pod.deployment) | {str(uuid.uuid4()), "quickstart-v1-7d9f8c6b5-x2x7q", API_KEY, ""}
    # Header values are one line (the wrapper script is many, so it cannot be a key at all).
    guesses = {s for s in visible if s.isprintable()}
    assert len(guesses) > 50
    index = f"http://{pod.http}/v2/repository/index"
    grpc = triton_grpc.InferenceServerClient(pod.grpc)
    for guess in guesses:
        assert _http_status(index, {ADMIN_HEADER: guess}, b"{}") == 403, guess
        _refused(lambda: grpc.get_model_repository_index(headers={GRPC_ADMIN_HEADER: guess}))
    # The lock is a real key, not a broken API: from inside the container it opens.
    key = _admin_key_inside(pod)
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    assert _http_status(index, {ADMIN_HEADER: key}, b"{}") == 200
    assert grpc.get_model_repository_index(headers={GRPC_ADMIN_HEADER: key}).models
    # And it is in no manifest, no environment, no log.
    assert key not in dump(pod.deployment)
    assert key.encode() not in Path(f"/proc/{pod.process.pid}/environ").read_bytes()
    log = pod.log.read_text()
    assert key not in log and API_KEY not in log


def test_every_start_makes_a_new_admin_key(tmp_path: Path) -> None:
    # The wrapper alone, with a tritonserver on PATH that prints what it was given.
    md = parse_model_deployment(yaml.safe_load((Path(__file__).parent.parent / "examples/quickstart.yaml")
                                               .read_text()))
    command = build_deployment(md)["spec"]["template"]["spec"]["containers"][0]["command"]
    (tmp_path / "tritonserver").write_text('#!/bin/sh\nfor a in "$@"; do echo "$a"; done\n')
    (tmp_path / "tritonserver").chmod(0o755)
    keys = set()
    for _ in range(3):
        out = subprocess.run([*command, "--model-repository=/m"], env={"PATH": f"{tmp_path}:/usr/bin:/bin"},
                             capture_output=True, text=True, check=True).stdout.splitlines()
        assert out[0] == "--model-repository=/m"
        keys |= {line.rsplit("=", 1)[1] for line in out[1:]}
    assert len(keys) == 3 and all(re.fullmatch(r"[0-9a-f]{64}", k) for k in keys)


def test_local_serve_asks_for_the_key_too(tmp_path: Path) -> None:
    quickstart = make_quickstart(tmp_path / "quickstart")
    doc = yaml.safe_load(quickstart.read_text())
    doc["spec"]["auth"] = {"apiKeySecret": "quickstart-api-key"}
    md = parse_model_deployment(doc)
    with serving(md, quickstart.parent, ServeOptions(workdir=tmp_path / "work", api_key=API_KEY)) as server:
        inputs = example_inputs(md)
        for protocol, url in (("http", server.http_url), ("grpc", server.grpc_url)):
            _refused(lambda: infer(md, url, inputs, protocol=protocol))
            assert infer(md, url, inputs, protocol=protocol, headers=server.headers(protocol))["OUTPUT__0"].shape \
                == (1, 4)


def test_serve_prints_try_it_lines_that_carry_the_key_and_infer_says_how_to_send_it(tmp_path: Path) -> None:
    quickstart = make_quickstart(tmp_path / "quickstart")
    doc = yaml.safe_load(quickstart.read_text())
    doc["spec"]["auth"] = {"apiKeySecret": "quickstart-api-key"}
    (quickstart.parent / "auth.yaml").write_text(yaml.safe_dump(doc))
    env = {k: v for k, v in os.environ.items() if k != "MODELDEPLOY_API_KEY"}
    exe = [sys.executable, "-m", "modeldeploy.cli"]
    serve = subprocess.Popen([*exe, "serve", "-f", str(quickstart.parent / "auth.yaml"), "--workdir", str(tmp_path / "work")],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        lines = []
        while not lines or not lines[-1].startswith("Ctrl-C"):
            line = serve.stdout.readline()
            assert line, "serve stopped before saying ready: " + "".join(lines)
            lines.append(line.strip())
        curl = next(line for line in lines if line.startswith("curl "))
        infer_line = next(line for line in lines if "modeldeploy infer" in line)
        key = re.search(r"API key  ([0-9a-f]+) \(made for this run", "\n".join(lines))[1]
        assert f'-H "{API_KEY_HEADER}: {key}"' in curl
        assert infer_line.startswith(f"MODELDEPLOY_API_KEY={key} modeldeploy infer -f ")
        answer = subprocess.run(["bash", "-c", curl], capture_output=True, text=True, timeout=30).stdout
        assert '"name":"OUTPUT__0"' in answer.replace(" ", "")
        url = infer_line.rsplit("--url ", 1)[1]
        base = [*exe, "infer", "-f", str(quickstart.parent / "auth.yaml"), "--url", url]
        good = subprocess.run(base, capture_output=True, text=True, env={**env, "MODELDEPLOY_API_KEY": key})
        assert good.returncode == 0 and '"OUTPUT__0"' in good.stdout, good.stderr
        for extra, words in (({}, "none was sent"), ({"MODELDEPLOY_API_KEY": "guess"}, "the key sent was refused")):
            bad = subprocess.run(base, capture_output=True, text=True, env={**env, **extra})
            assert bad.returncode == 11, bad.stderr
            assert bad.stderr.strip() == (
                f"ACCESS_DENIED: the server wants an API key (expecting header '{API_KEY_HEADER}') and {words}: set "
                "$MODELDEPLOY_API_KEY to the key in Secret quickstart-api-key for a cluster, or the one "
                "`modeldeploy serve` printed")
    finally:
        serve.terminate()
        serve.wait(60)
