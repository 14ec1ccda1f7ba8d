"""A revision the rollout keeps (the old stable while it drains, history at zero) is scaled by its replica count
alone, as Argo Rollouts' scaleReplicaSet does: never re-applied from what the API server shows, which would
make every field the server defaulted the operator's own."""

from __future__ import annotations

from test_operator import DEPLOYMENTS
from test_rollout_commands import new_version, pods_of, rollout_status, serving, step_until


def test_the_old_revision_is_scaled_by_its_replicas_alone_and_keeps_its_template(apiserver, operator_process):
    serving(apiserver, {}, total=2)
    before = apiserver.get(f"{DEPLOYMENTS}/quickstart-v1")
    mark = len(apiserver.operator_requests())
    new_version(apiserver, "2")
    step_until(apiserver, lambda: rollout_status(apiserver).get("stable") == "v2" and
               not pods_of(apiserver, "quickstart", "v1"), ("v1", "v2"), what="v2 rolled out")
    v1 = apiserver.get(f"{DEPLOYMENTS}/quickstart-v1")
    assert v1 is not None, "v1 is kept as history (revisionHistoryLimit 3)"
    assert v1["spec"]["replicas"] == 0
    assert v1["spec"]["template"] == before["spec"]["template"]
    writes = [query for method, path, query in apiserver.operator_requests()[mark:]
              if method == "PATCH" and path == f"{DEPLOYMENTS}/quickstart-v1"]
    assert writes, "v1 was scaled down by the operator"
    assert all("force" not in query for query in writes), f"v1 was server-side applied whole: {writes}"
    assert {query.get("fieldManager") for query in writes} == {"modeldeploy"}
