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
    ("affinity typo", with_(("spec.runtime.affinity", {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "gpu", "operator": "In", "valuez": ["a100"]}]}]}}})),
     "spec.runtime.affinity", "matchExpressions[0].valuez: unknown field; did you mean values?"),
    ("affinity wrong type", with_(("spec.runtime.affinity", {"podAntiAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": "high", "podAffinityTerm": {}}]}})),
     "spec.runtime.affinity", "weight: must be an integer"),
    ("endpoint port out of range", with_((f"{MODEL}.storage", {"endpoint": "https://minio:99999"})),
     f"{MODEL}.storage.endpoint", "from 1 to 65535"),
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
     f"{CONFIG}.inputs[0].dims", "declare one value per sample as dims: [1] with reshape: []"),
    ("reshape changes the size", with_((CONFIG, {"outputs": [{"name": "y", "dataType": "FP32", "dims": [4],
                                                              "reshape": [2, 3]}]})),
     f"{CONFIG}.outputs[0].reshape", "a reshape keeps the size"),
    ("weights not increasing", with_(("spec.rollout", {"steps": [{"weight": 50}, {"weight": 10}]})),
     "spec.rollout.steps[1].weight", "strictly increasing (10 after 50)"),
    ("weight above 100", with_(("spec.rollout", {"steps": [{"weight": 50}, {"weight": 120}]})),
     "spec.rollout.steps[1].weight", "≤ 100"),
    ("steps with blue-green", with_(("spec.rollout", {"strategy": "BlueGreen", "maxSurge": 1, "steps": [{"weight": 10}]})),
     "spec.rollout.steps", "Canary strategy only"),
    ("no room to roll", with_(("spec.rollout", {"maxSurge": 0})), "spec.rollout.maxUnavailable",
     "cannot both be 0"),
    ("blue-green beyond the surge", with_(("spec.replicas", 3), ("spec.runtime", {"resources": {"gpus": 2}}),
                                          ("spec.rollout", {"strategy": "BlueGreen", "maxSurge": 1})),
     "spec.rollout.maxSurge", "needs 3 extra pods (6 GPUs)"),
    ("blue-green beyond the autoscaled surge",
     with_(("spec.autoscaling", {"maxReplicas": 4, "target": "50ms"}),
           ("spec.rollout", {"strategy": "BlueGreen", "maxSurge": 3})),
     "spec.rollout.maxSurge", "autoscaling.maxReplicas: 4"),
    ("traffic routing with blue-green", with_(("spec.rollout", {"strategy": "BlueGreen", "trafficRouting": {
        "gatewayApi": {"parentRefs": [{"name": "gw"}]}}})), "spec.rollout.trafficRouting", "Canary strategy only"),
    ("specific versions without the served one",
     with_((CONFIG, {"versionPolicy": {"policy": "Specific", "versions": [1, 2]}}), (f"{MODEL}.version", "3")),
     f"{CONFIG}.versionPolicy.versions", "does not include the served version 3"),
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
    ("pause without a unit", with_(("spec.rollout", {"steps": [{"weight": 20, "pause": 5}]})),
     "spec.rollout.steps[0].pause", 'not int 5: add the unit, such as "5ms" or "5s"'),
    ("window without a unit", with_(("spec.autoscaling", {"maxReplicas": 3, "target": "50ms",
                                                          "builtin": {"stableWindow": 60}})),
     "spec.autoscaling.builtin.stableWindow", 'add the unit, such as "60ms" or "60s"'),
    ("surge as a percentage", with_(("spec.rollout", {"maxSurge": "25%"})),
     "spec.rollout.maxSurge", "not str '25%': a count, not a percentage"),
    ("error ratio as a percentage", with_(("spec.rollout", {"analysis": {"maxErrorRatio": "1%"}})),
     "spec.rollout.analysis.maxErrorRatio", "not str '1%': a fraction, write 0.01"),
    ("steps without a value", with_(("spec.rollout", {"steps": None})),
     "spec.rollout.steps", "must be a list, not null (the key has no value)"),
    ("fractional cpu", with_(("spec.runtime", {"resources": {"cpu": 0.5}})), "spec.runtime.resources.cpu",
     'must be an integer or a quantity such as "500m", "4" or "16Gi", not float 0.5: quote it, "0.5"'),
    ("version as a float", with_((MODEL + ".version", 1.0)), MODEL + ".version", 'quote it, version: "1.0"'),
    ("name read as a boolean", with_(("metadata.name", True)), "metadata.name",
     "not true: YAML reads yes, no, on, off, true and false unquoted as booleans; quote it"),
    ("model left empty", with_((MODEL, None)), MODEL,
     "must be a mapping (key: value), not null (the key has no value); indent what belongs under it"),
    ("windows path", with_((MODEL + ".uri", "C:\\models\\m.onnx")), MODEL + ".uri",
     "is a Windows path; a model on this machine is a file:// URI with forward slashes"),
    ("zero progress deadline", with_(("spec.rollout", {"progressDeadline": "0s"})),
     "spec.rollout.progressDeadline", "must be at least 10s, not 0s"),
    ("zero analysis interval", with_(("spec.rollout", {"analysis": {"interval": "0s"}})),
     "spec.rollout.analysis.interval", "must be at least 1s, not 0s"),
    ("fractional count target", with_(("spec.autoscaling", {"maxReplicas": 3, "metric": "inflight", "target": 0.5})),
     "spec.autoscaling.target", 'not 0.5 (1 for a count, or "0.5ms" for queueTime)'),
    ("zero queue time target", with_(("spec.autoscaling", {"maxReplicas": 3, "target": "0ms"})),
     "spec.autoscaling.target", "more than 0"),
    ("zero count target", with_(("spec.autoscaling", {"maxReplicas": 3, "metric": "pendingRequests", "target": 0})),
     "spec.autoscaling.target", "at least 1"),
    ("bad quantity", with_(("spec.runtime", {"resources": {"memory": "lots"}})), "spec.runtime.resources.memory",
     "a quantity such as"),
    ("specific policy without versions", with_((CONFIG, {"versionPolicy": {"policy": "Specific"}})),
     f"{CONFIG}.versionPolicy.versions", "required with policy Specific"),
    ("unsafe triton flag", with_(("spec.runtime", {"args": ["--model-control-mode=explicit"]})),
     "spec.runtime.args", "set by the operator or not allowed"),
    ("reserved env", with_(("spec.runtime", {"env": [{"name": "LD_PRELOAD", "value": "/x.so"}]})),
     "spec.runtime.env[0].name", "reserved"),
    ("bad name", with_(("metadata.name", "Demo_Model")), "metadata.name", "DNS-1035"),
    ("name too long", with_(("metadata.name", "m" * 51)), "metadata.name",
     "the limit is 50 because the operator derives its children's names from it"),
    ("misspelt metadata", with_(("metadata", {"nmae": "demo"})), "metadata.nmae", "did you mean name?"),
    ("unknown mig profile", with_(("spec.runtime", {"resources": {"migProfile": "9g.99gb"}})),
     "spec.runtime.resources.migProfile", "not a MIG profile of any GPU in NVIDIA's MIG user guide"),
    ("mig profile of another gpu", with_(("spec.runtime", {"resources": {
        "gpuProduct": "NVIDIA-A100-SXM4-40GB", "migProfile": "1g.10gb.me"}})),
     "spec.runtime.resources.migProfile", "does not exist on NVIDIA-A100-SXM4-40GB (A100 40GB)"),
    ("mig profile with +", with_(("spec.runtime", {"resources": {"migProfile": "1g.10gb+me"}})),
     "spec.runtime.resources.migProfile", "write '1g.10gb.me'"),
    ("image with a newline", with_(("spec.runtime", {"image": "nvcr.io/nvidia/tritonserver:24.10-py3\nx: y"})),
     "spec.runtime.image", "contains a newline"),
    ("image with a short digest", with_(("spec.runtime", {"image": "nvcr.io/nvidia/tritonserver@sha256:" + "a" * 63})),
     "spec.runtime.image", "a sha256 digest is 64 lowercase hex digits"),
    ("image with upper case", with_(("spec.runtime", {"image": "nvcr.io/NVIDIA/tritonserver:24.10-py3"})),
     "spec.runtime.image", "must be lower case"),
    ("too many backend parameters", with_((CONFIG, {"parameters": {f"k{i}": "v" for i in range(65)}})),
     f"{CONFIG}.parameters", "at most 64"),
    ("huge affinity", with_(("spec.runtime", {"affinity": {"nodeAffinity": {"x": "y" * 70_000}}})),
     "spec.runtime.affinity", "the limit is 64 KiB"),
    ("missing model", with_(("spec", {})), "spec.model", "required"),
    ("duplicate tensor", with_((CONFIG, {"outputs": [{"name": "y", "dataType": "FP32", "dims": [1]}] * 2})),
     f"{CONFIG}.outputs", "duplicate tensor name"),
    ("panic window not shorter", with_(("spec.autoscaling", {"maxReplicas": 3, "target": "50ms",
                                                             "builtin": {"panicWindow": "1m"}})),
     "spec.autoscaling.builtin.panicWindow", "shorter than stableWindow (1m ≥ 60s)"),
    ("tick longer than panic window", with_(("spec.autoscaling", {"maxReplicas": 3, "target": "50ms",
                                                                  "builtin": {"tick": "10s"}})),
     "spec.autoscaling.builtin.tick", "not be longer than panicWindow"),
    ("builtin settings on hpa", with_(("spec.autoscaling", {"maxReplicas": 3, "target": "50ms", "engine": "hpa",
                                                            "builtin": {"tick": "1s"}})),
     "spec.autoscaling.builtin", "engine builtin only"),
    ("hpa behavior on builtin", with_(("spec.autoscaling", {"maxReplicas": 3, "target": "50ms",
                                                            "behavior": {"scaleDown": {"selectPolicy": "Disabled"}}})),
     "spec.autoscaling.behavior", "engines hpa and keda"),
    ("hpa policy period too long", with_(("spec.autoscaling", {
        "maxReplicas": 3, "target": "50ms", "engine": "hpa",
        "behavior": {"scaleUp": {"policies": [{"type": "Pods", "value": 4, "periodSeconds": 3600}]}}})),
     "spec.autoscaling.behavior.scaleUp.policies[0].periodSeconds", "≤ 1800"),
    ("hpa policy of unknown type", with_(("spec.autoscaling", {
        "maxReplicas": 3, "target": "50ms", "engine": "keda",
        "behavior": {"scaleDown": {"policies": [{"type": "Replicas", "value": 1, "periodSeconds": 60}]}}})),
     "spec.autoscaling.behavior.scaleDown.policies[0].type", "must be one of"),
    ("namespace not a DNS label", with_(("metadata.namespace", "Bad_NS")), "metadata.namespace",
     "must be a DNS-1123 label"),
    ("label key with a space", with_(("metadata.labels", {"a b": "c"})), "metadata.labels",
     "key 'a b': a key must be at most 63 letters"),
    ("label key with two slashes", with_(("metadata.labels", {"x/y/z": "d"})), "metadata.labels",
     "key 'x/y/z': the part before \"/\" must be one DNS subdomain"),
    ("label value with a space", with_(("metadata.labels", {"team": "a b"})), "metadata.labels",
     "value of 'team' ('a b'): a label value is empty or at most 63"),
    ("annotation key with a bang", with_(("metadata.annotations", {"bad key!": "v"})), "metadata.annotations",
     "key 'bad key!'"),
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
               "duplicate tensor", "misspelt metadata", "mig profile of another gpu", "image with a short digest",
               "huge affinity", "reshape changes the size",
               "credentialsSecret at its old place", "api key env set by hand", "endpoint port out of range",
               "affinity typo"}


# The API server checks metadata itself (ObjectMeta validation), not through the CRD's schema.
METADATA = {"namespace not a DNS label", "label key with a space", "label key with two slashes",
            "label value with a space", "annotation key with a bang"}


@pytest.mark.parametrize("case,doc,path,words", [b for b in BAD if b[0] not in PYTHON_ONLY | METADATA],
                         ids=[b[0] for b in BAD if b[0] not in PYTHON_ONLY | METADATA])
def test_the_crd_refuses_what_the_models_refuse(case: str, doc: dict, path: str, words: str) -> None:
    assert api_server_rejections(doc), f"the CRD would accept {case!r}, which the models refuse"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_examples_are_valid_for_models_and_crd(example) -> None:
    for doc in yaml.safe_load_all(example.read_text()):
        parse_model_deployment(doc)
        assert api_server_rejections(doc) == []


def test_usual_label_and_annotation_keys_are_accepted() -> None:
    md = parse_model_deployment(with_(("metadata.labels", {"app.kubernetes.io/name": "resnet", "tier": ""}),
                                      ("metadata.annotations", {"example.com/owner": "team a, b!"})))
    assert md.metadata.labels["app.kubernetes.io/name"] == "resnet"


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


@pytest.mark.parametrize("doc,expected", [
    (with_(("spec.autoscaling", {"minReplicas": 5, "maxReplicas": 2, "target": "fast"})),
     {"spec.autoscaling.target": "a duration such as", "spec.autoscaling.minReplicas": "must be ≤ maxReplicas"}),
    (with_(("spec.autoscaling", {"minReplicas": 5, "maxReplicas": 2, "target": 50})),
     {"spec.autoscaling.target": "takes a duration", "spec.autoscaling.minReplicas": "must be ≤ maxReplicas"}),
    (with_(("spec.rollout", {"strategy": "BlueGreen", "steps": [{"weight": 50}, {"weight": 10}, {"weight": 120}]})),
     {"spec.rollout.steps[2].weight": "≤ 100", "spec.rollout.steps": "Canary strategy only",
      "spec.rollout.steps[1].weight": "strictly increasing"}),
    (with_(("spec.replicas", "x"), ("spec.model.format", "python"),
           ("spec.model.config", {"instanceGroups": [{"kind": "GPU"}], "optimization": {"tensorrt": "FP16"}})),
     {"spec.replicas": "must be an integer", "spec.model.config.optimization.tensorrt": "onnx models only",
      "spec.model.config.instanceGroups[0].kind": "need a GPU"}),
    (with_(("spec.model.uri", "ftp://host/m.onnx"), ("spec.runtime", {"resources": {"memory": "lots"}}),
           ("spec.model.config", {"instanceGroups": [{"kind": "GPU"}]})),
     {"spec.model.uri": "unsupported scheme", "spec.runtime.resources.memory": "a quantity such as",
      "spec.model.config.instanceGroups[0].kind": "need a GPU"}),
], ids=["autoscaling-field-and-rule", "autoscaling-two-rules", "rollout-three-problems", "spec-field-and-rules",
        "rule-over-fields-of-nested-models-with-errors"])
def test_cross_field_rules_are_reported_beside_field_errors(doc: dict, expected: dict[str, str]) -> None:
    with pytest.raises(InvalidSpec) as caught:
        parse_model_deployment(doc)
    found = {p.path: p.message for p in caught.value.problems}
    assert set(found) == set(expected), found
    for path, words in expected.items():
        assert words in found[path], found


def test_an_image_pinned_by_digest_is_accepted() -> None:
    image = "nvcr.io/nvidia/tritonserver:24.10-py3@sha256:" + "0123456789abcdef" * 4
    assert parse_model_deployment(with_(("spec.runtime", {"image": image}))).spec.runtime.image == image
    assert api_server_rejections(with_(("spec.runtime", {"image": image}))) == []


def test_model_name_is_immutable_on_update() -> None:
    old = with_(("spec.model.name", "resnet"))
    new = with_(("spec.model.name", "resnet-v2"))
    assert api_server_rejections(new) == []
    rejections = api_server_rejections(new, old=old)
    assert [r.message for r in rejections] == [
        "model.name is immutable; create a new ModelDeployment to serve a different model"
    ]
    assert api_server_rejections(old, old=old) == []


def test_autoscaling_defaults_follow_knatives_kpa() -> None:
    md = parse_model_deployment(with_(("spec.autoscaling", {"maxReplicas": 4, "target": "50ms"})))
    scaling = md.spec.autoscaling
    builtin = scaling.builtin_settings
    assert (scaling.engine, scaling.target_value) == ("builtin", 50.0)
    assert [builtin.seconds(f) for f in ("stable_window", "panic_window", "scale_down_delay", "tick")] == [60, 6, 60, 2]
    assert (builtin.panic_threshold, builtin.max_scale_up_rate, builtin.max_scale_down_rate) == (2.0, 1000.0, 2.0)


def test_hpa_behavior_passes_through_as_autoscaling_v2_spells_it() -> None:
    behavior = {"scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                            "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15},
                                         {"type": "Percent", "value": 100, "periodSeconds": 15}]},
                "scaleDown": {"stabilizationWindowSeconds": 120}}
    doc = with_(("spec.autoscaling", {"maxReplicas": 4, "target": 8, "metric": "pendingRequests", "engine": "hpa",
                                      "behavior": behavior}))
    assert parse_model_deployment(doc).spec.autoscaling.behavior.to_wire() == behavior
    assert api_server_rejections(doc) == []


def test_a_moved_field_hides_no_other_problem() -> None:
    doc = with_(("spec.model.credentialsSecret", "foo"), ("spec.model.version", 3))
    with pytest.raises(InvalidSpec) as caught:
        parse_model_deployment(doc)
    found = {p.path: p.message for p in caught.value.problems}
    assert found["spec.model.credentialsSecret"].startswith("moved to storage.credentialsSecret")
    assert "quote it" in found["spec.model.version"]


@pytest.mark.parametrize("strategy", ["Canary", "BlueGreen", "Recreate"])
def test_a_spec_as_the_operator_writes_it_back_parses_again(strategy) -> None:
    # Revision records, undo and tune write specs back with every default filled in.
    rollout = {"strategy": strategy, "maxSurge": 3 if strategy == "BlueGreen" else 0,
               "maxUnavailable": 1 if strategy == "Canary" else 0}
    md = parse_model_deployment(with_(("spec.replicas", 3), ("spec.rollout", rollout)))
    again = parse_model_deployment(md.to_wire())
    assert again.spec == md.spec
