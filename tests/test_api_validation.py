"""Bad input is refused with the field path and the fix; good input is accepted.

Each bad case is also sent through the CRD the way an API server applies it,
so the CRD schema and the Python models are proven to agree.
"""

from __future__ import annotations

import pytest
import yaml

from modeldeploy.api import InvalidSpec, parse_model_deployment
from support.crd_semantics import api_server_rejections
from support.specs import minimal, with_

from conftest import EXAMPLES

pytestmark = pytest.mark.unit

MODEL = "spec.model"
CONFIG = "spec.model.config"

# (case, document, path the error must name, words the message must carry)
BAD = [
    ("unknown field", with_(("spec.runtime", {"privileged": True})), "spec.runtime.privileged", "unknown field"),
    ("hostNetwork passthrough", with_(("spec.runtime", {"hostNetwork": True})), "spec.runtime.hostNetwork",
     "unknown field"),
    ("serviceAccountName passthrough", with_(("spec.runtime", {"serviceAccountName": "admin"})),
     "spec.runtime.serviceAccountName", "unknown field"),
    ("misspelt field", with_(("spec.replica", 2)), "spec.replica", "did you mean replicas"),
    ("wrong type", with_(("spec.replicas", "three")), "spec.replicas", "must be an integer"),
    ("negative count", with_(("spec.replicas", -1)), "spec.replicas", "≥ 0"),
    ("zero instance count", with_((f"{CONFIG}", {"instanceGroups": [{"kind": "CPU", "count": 0}]})),
     f"{CONFIG}.instanceGroups[0].count", "≥ 1"),
    ("min above max", with_(("spec.autoscaling", {"minReplicas": 5, "maxReplicas": 2, "target": "50ms"})),
     "spec.autoscaling.minReplicas", "must be ≤ maxReplicas (5 > 2)"),
    ("unsupported scheme", with_((f"{MODEL}.uri", "ftp://host/model.onnx")), f"{MODEL}.uri",
     "unsupported scheme ftp://"),
    ("path traversal", with_((f"{MODEL}.uri", "s3://bucket/models/../../etc/passwd")), f"{MODEL}.uri",
     "path traversal"),
    ("encoded path traversal", with_((f"{MODEL}.uri", "https://host/a/%2e%2e/b")), f"{MODEL}.uri",
     "path traversal"),
    ("pvc without path", with_((f"{MODEL}.uri", "pvc://claim")), f"{MODEL}.uri", "names no object path"),
    ("secret in another namespace", with_((f"{MODEL}.storage", {"credentialsSecret": "kube-system/creds"})),
     f"{MODEL}.storage.credentialsSecret", "own namespace"),
    ("credentialsSecret at its old place", with_((f"{MODEL}.credentialsSecret", "creds")),
     f"{MODEL}.credentialsSecret", "moved to storage.credentialsSecret"),
    ("user and password in the uri", with_((f"{MODEL}.uri", "https://alice:s3cr3t@models.example/m.onnx")),
     f"{MODEL}.uri", "storage.credentialsSecret"),
    ("presigned S3 url", with_((f"{MODEL}.uri", "https://b.s3.amazonaws.com/m.onnx?X-Amz-Algorithm=AWS4-HMAC-SHA256"
                                               "&X-Amz-Signature=abc123")),
     f"{MODEL}.uri", "presigned URL"),
    ("signed GCS url", with_((f"{MODEL}.uri", "https://storage.googleapis.com/b/m.onnx?X-Goog-Signature=abc")),
     f"{MODEL}.uri", "presigned URL"),
    ("token in the query", with_((f"{MODEL}.uri", "https://hub.example/m.onnx?token=hf_abc")),
     f"{MODEL}.uri", "storage.credentialsSecret"),
    ("file digest on a folder", with_((f"{MODEL}.uri", "s3://models/resnet/"), (f"{MODEL}.sha256", "a" * 64)),
     f"{MODEL}.sha256", "give treeSha256 instead"),
    ("both digests", with_((f"{MODEL}.sha256", "a" * 64), (f"{MODEL}.treeSha256", "b" * 64)),
     f"{MODEL}.treeSha256", "not both"),
    ("s3 settings on gs", with_((f"{MODEL}.uri", "gs://models/resnet/"), (f"{MODEL}.storage", {"pathStyle": True})),
     f"{MODEL}.storage.pathStyle", "s3:// sources only"),
    ("storage on a pvc", with_((f"{MODEL}.uri", "pvc://claim/resnet/"), (f"{MODEL}.storage", {"region": "eu-west-1"})),
     f"{MODEL}.storage", "remote sources"),
    ("endpoint with a path", with_((f"{MODEL}.storage", {"endpoint": "https://minio:9000/models"})),
     f"{MODEL}.storage.endpoint", "without a path"),
    ("endpoint with credentials", with_((f"{MODEL}.storage", {"endpoint": "https://k:s@minio:9000"})),
     f"{MODEL}.storage.endpoint", "must not carry credentials"),
    ("proxy not a url", with_((f"{MODEL}.storage", {"proxy": {"url": "proxy.corp:3128"}})),
     f"{MODEL}.storage.proxy.url", "http:// or https://"),
    ("auth without a secret", with_(("spec.auth", {})), "spec.auth.apiKeySecret", "required"),
    ("api key secret in another namespace", with_(("spec.auth", {"apiKeySecret": "other/key"})),
     "spec.auth.apiKeySecret", "own namespace"),
    ("api key env set by hand", with_(("spec.runtime", {"env": [{"name": "MODELDEPLOY_API_KEY", "value": "k"}]})),
     "spec.runtime.env[0].name", "spec.auth.apiKeySecret fills it"),
    ("unquoted version", with_((f"{MODEL}.version", 3)), f"{MODEL}.version", 'quote it, version: "3"'),
    ("bad data type", with_((CONFIG, {"inputs": [{"name": "x", "dataType": "FP33", "dims": [4]}]})),
     f"{CONFIG}.inputs[0].dataType", "must be one of"),
    ("zero dim", with_((CONFIG, {"inputs": [{"name": "x", "dataType": "FP32", "dims": [0, 4]}]})),
     f"{CONFIG}.inputs[0].dims", "-1 for variable size"),
    ("dim below -1", with_((CONFIG, {"inputs": [{"name": "x", "dataType": "FP32", "dims": [-2]}]})),
     f"{CONFIG}.inputs[0].dims[0]", "≥ -1"),
    ("no dims", with_((CONFIG, {"inputs": [{"name": "x", "dataType": "FP32", "dims": []}]})),
     f"{CONFIG}.inputs[0].dims", "at least 1"),
    ("weights not increasing", with_(("spec.rollout", {"steps": [{"weight": 50}, {"weight": 10}]})),
     "spec.rollout.steps[1].weight", "strictly increasing (10 after 50)"),
    ("weight above 100", with_(("spec.rollout", {"steps": [{"weight": 50}, {"weight": 120}]})),
     "spec.rollout.steps[1].weight", "≤ 100"),
    ("steps with blue-green", with_(("spec.rollout", {"strategy": "BlueGreen", "steps": [{"weight": 10}]})),
     "spec.rollout.steps", "Canary strategy only"),
    ("mig and gpus", with_(("spec.runtime", {"resources": {"gpus": 1, "migProfile": "1g.10gb"}})),
     "spec.runtime.resources.migProfile", "not both"),
    ("gpuProduct without gpu", with_(("spec.runtime", {"resources": {"gpuProduct": "NVIDIA-H100-80GB-HBM3"}})),
     "spec.runtime.resources.gpuProduct", "needs gpus > 0"),
    ("batching without batch size", with_((CONFIG, {"dynamicBatching": {}})), f"{CONFIG}.dynamicBatching",
     "maxBatchSize > 0"),
    ("preferred above max", with_((CONFIG, {"maxBatchSize": 4, "dynamicBatching": {"preferredBatchSizes": [8]}})),
     f"{CONFIG}.dynamicBatching.preferredBatchSizes", "exceeds maxBatchSize 4"),
    ("GPU instances without GPU", with_((CONFIG, {"instanceGroups": [{"kind": "GPU"}]})),
     f"{CONFIG}.instanceGroups[0].kind", "need a GPU"),
    ("tensorrt on torchscript", with_((f"{MODEL}.format", "torchscript"), (CONFIG, {"optimization": {"tensorrt": "FP16"}})),
     f"{CONFIG}.optimization.tensorrt", "onnx models only"),
    ("cpu metric on builtin", with_(("spec.autoscaling", {"maxReplicas": 3, "metric": "cpu", "target": 70})),
     "spec.autoscaling.engine", "engine: hpa"),
    ("queueTime with a number", with_(("spec.autoscaling", {"maxReplicas": 3, "target": 50})),
     "spec.autoscaling.target", "duration"),
    ("bad duration", with_(("spec.autoscaling", {"maxReplicas": 3, "target": "fast"})),
     "spec.autoscaling.target", "a duration such as"),
    ("bad quantity", with_(("spec.runtime", {"resources": {"memory": "lots"}})), "spec.runtime.resources.memory",
     "a quantity such as"),
    ("specific policy without versions", with_((CONFIG, {"versionPolicy": {"policy": "Specific"}})),
     f"{CONFIG}.versionPolicy.versions", "required with policy Specific"),
    ("unsafe triton flag", with_(("spec.runtime", {"args": ["--model-control-mode=explicit"]})),
     "spec.runtime.args", "set by the operator or not allowed"),
    ("reserved env", with_(("spec.runtime", {"env": [{"name": "LD_PRELOAD", "value": "/x.so"}]})),
     "spec.runtime.env[0].name", "reserved"),
    ("bad name", with_(("metadata.name", "Demo_Model")), "metadata.name", "DNS-1035"),
    ("name too long", with_(("metadata.name", "m" * 51)), "metadata.name", "at most 50"),
    ("missing model", with_(("spec", {})), "spec.model", "required"),
    ("duplicate tensor", with_((CONFIG, {"outputs": [{"name": "y", "dataType": "FP32", "dims": [1]}] * 2})),
     f"{CONFIG}.outputs", "duplicate tensor name"),
]


@pytest.mark.parametrize("case,doc,path,words", BAD, ids=[b[0] for b in BAD])
def test_bad_input_names_the_field_and_the_fix(case: str, doc: dict, path: str, words: str) -> None:
    with pytest.raises(InvalidSpec) as caught:
        parse_model_deployment(doc)
    messages = [str(p) for p in caught.value.problems]
    assert any(p.path == path and words in p.message for p in caught.value.problems), messages


# Python-only checks that the API server cannot express: unknown fields are
# pruned there (and refused by kubectl's strict field validation), and quoting
# a version or a namespace/name reference gets a friendlier message here.
PYTHON_ONLY = {"unknown field", "hostNetwork passthrough", "serviceAccountName passthrough", "misspelt field",
               "encoded path traversal", "pvc without path", "unsafe triton flag", "reserved env",
               "duplicate tensor", "credentialsSecret at its old place", "api key env set by hand"}


@pytest.mark.parametrize("case,doc,path,words", [b for b in BAD if b[0] not in PYTHON_ONLY],
                         ids=[b[0] for b in BAD if b[0] not in PYTHON_ONLY])
def test_the_crd_refuses_what_the_models_refuse(case: str, doc: dict, path: str, words: str) -> None:
    assert api_server_rejections(doc), f"the CRD would accept {case!r}, which the models refuse"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_examples_are_valid_for_models_and_crd(example) -> None:
    for doc in yaml.safe_load_all(example.read_text()):
        parse_model_deployment(doc)
        assert api_server_rejections(doc) == []


def test_minimal_spec_gets_documented_defaults() -> None:
    md = parse_model_deployment(minimal())
    assert md.model_name == "demo"
    assert md.spec.replicas == 1
    assert md.spec.runtime.resources.gpus == 0
    assert md.spec.rollout.strategy == "Canary" and md.spec.rollout.max_surge == 1
    assert md.spec.network_policy.enabled and md.spec.network_policy.metrics_namespace == "monitoring"


def test_every_problem_is_reported_at_once() -> None:
    doc = with_(("spec.replicas", -1), ("spec.model.format", "pmml"), ("spec.runtime", {"privileged": True}))
    with pytest.raises(InvalidSpec) as caught:
        parse_model_deployment(doc)
    assert {p.path for p in caught.value.problems} == {"spec.replicas", "spec.model.format", "spec.runtime.privileged"}


def test_model_name_is_immutable_on_update() -> None:
    old = with_(("spec.model.name", "resnet"))
    new = with_(("spec.model.name", "resnet-v2"))
    assert api_server_rejections(new) == []
    rejections = api_server_rejections(new, old=old)
    assert [r.message for r in rejections] == [
        "model.name is immutable; create a new ModelDeployment to serve a different model"
    ]
    assert api_server_rejections(old, old=old) == []
