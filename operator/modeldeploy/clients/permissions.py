"""Every resource and verb the operator uses, declared once; and, apart, what `modeldeploy rollout` needs.

The client refuses a request its table does not declare, so the table is the
truth about what the operator does; the Helm chart's RBAC is generated from it
and a test checks both against each other. The rollout commands act as the
user who runs them, with the user's own credentials: their table is
USER_PERMISSIONS, never part of the operator's role.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..api import GROUP, KIND, PLURAL, VERSION

READ = ("get", "list", "watch")


@dataclass(frozen=True)
class Kind:
    api_version: str
    kind: str
    plural: str
    namespaced: bool = True

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def version(self) -> str:
        return self.api_version.rpartition("/")[2]

    def path(self, namespace: str | None = None, name: str | None = None, subresource: str | None = None) -> str:
        base = f"/apis/{self.api_version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name:
            base += f"/{name}"
        if subresource:
            base += f"/{subresource}"
        return base


MODELDEPLOYMENT = Kind(f"{GROUP}/{VERSION}", KIND, PLURAL)
CONFIGMAP = Kind("v1", "ConfigMap", "configmaps")
SERVICE = Kind("v1", "Service", "services")
POD = Kind("v1", "Pod", "pods")
SECRET = Kind("v1", "Secret", "secrets")
CRD = Kind("apiextensions.k8s.io/v1", "CustomResourceDefinition", "customresourcedefinitions", namespaced=False)
HTTPROUTE = Kind("gateway.networking.k8s.io/v1", "HTTPRoute", "httproutes")
GATEWAY_CRD = "httproutes.gateway.networking.k8s.io"
EVENT = Kind("v1", "Event", "events")
DEPLOYMENT = Kind("apps/v1", "Deployment", "deployments")
PDB = Kind("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets")
NETWORKPOLICY = Kind("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies")
CLUSTER_PEERING = Kind("kopf.dev/v1", "ClusterKopfPeering", "clusterkopfpeerings", namespaced=False)
PEERING = Kind("kopf.dev/v1", "KopfPeering", "kopfpeerings")
HPA = Kind("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers")
# KEDA's kind exists only where KEDA is installed: applied (and watched) only when its CRD is there.
SCALEDOBJECT = Kind("keda.sh/v1alpha1", "ScaledObject", "scaledobjects")
KEDA_CRD = "scaledobjects.keda.sh"

# Children the builders produce, in apply order.
CHILD_KINDS = (CONFIGMAP, DEPLOYMENT, SERVICE, PDB, NETWORKPOLICY, HPA)
OPTIONAL_CHILD_KINDS = (SCALEDOBJECT, HTTPROUTE)
KINDS = {k.kind: k for k in (MODELDEPLOYMENT, *CHILD_KINDS, *OPTIONAL_CHILD_KINDS, POD, EVENT, CLUSTER_PEERING,
                             PEERING)}


@dataclass(frozen=True)
class Permission:
    api_group: str
    resource: str
    verbs: tuple[str, ...]
    # Cluster-scoped resources need a ClusterRole even when the operator watches a few namespaces.
    cluster_scoped: bool = False
    # Needed only when watching every namespace ("cluster") or only some ("namespaced").
    only: str | None = None


_CHILD_VERBS = (*READ, "create", "patch", "delete")

PERMISSIONS: tuple[Permission, ...] = (
    Permission(GROUP, PLURAL, READ),
    Permission(GROUP, f"{PLURAL}/status", ("get", "patch")),
    # Owner references with blockOwnerDeletion need update on the owner's finalizers.
    Permission(GROUP, f"{PLURAL}/finalizers", ("update",)),
    # The builtin autoscaler sets spec.replicas the way HPA, KEDA and kubectl scale do.
    Permission(GROUP, f"{PLURAL}/scale", ("get", "patch")),
    *(Permission(k.group, k.plural, _CHILD_VERBS) for k in (*CHILD_KINDS, *OPTIONAL_CHILD_KINDS)),
    Permission("", "pods", READ),
    # The smoke gate: a new pod takes traffic once the operator's smoke inference passed on it.
    Permission("", "pods/status", ("patch",)),
    # spec.auth's API-key Secret, read by name (the smoke inference sends the key; a new key rolls the pods).
    Permission("", "secrets", ("get",)),
    Permission("", "events", ("create",)),
    # kopf: it watches CRDs to notice the resources it serves, and namespaces to resolve --namespace.
    Permission("apiextensions.k8s.io", "customresourcedefinitions", READ, cluster_scoped=True),
    Permission("", "namespaces", READ, cluster_scoped=True),
    # kopf peering, for HA (one active replica): cluster-wide or per watched namespace. The operator
    # creates the peering object where the CRD exists and the object does not (never active-active).
    Permission("kopf.dev", "clusterkopfpeerings", (*READ, "create", "patch"), cluster_scoped=True, only="cluster"),
    Permission("kopf.dev", "kopfpeerings", (*READ, "create", "patch"), only="namespaced"),
)


# `modeldeploy rollout` (the user's RBAC, documented in docs/rollouts.md): read a ModelDeployment and its
# revision Deployments, and patch the ModelDeployment (a request annotation, spec.rollout.paused, or an
# earlier revision's serving spec for undo). The operator itself never patches a ModelDeployment.
USER_PERMISSIONS: tuple[Permission, ...] = (
    Permission(GROUP, PLURAL, ("get", "patch")),
    Permission("apps", "deployments", ("list",)),
)


def rbac_document() -> dict:
    """PERMISSIONS as the Helm chart reads them (charts/modeldeploy-operator/files/permissions.yaml)."""
    return {"permissions": [
        {"apiGroups": [p.api_group], "resources": [p.resource], "verbs": list(p.verbs),
         "clusterScoped": p.cluster_scoped, "only": p.only or "always"}
        for p in PERMISSIONS
    ]}


def kind_of(obj: dict) -> Kind:
    return KINDS[obj["kind"]]


def allowed(kind: Kind, verb: str, subresource: str | None = None,
            permissions: tuple[Permission, ...] = PERMISSIONS) -> bool:
    resource = f"{kind.plural}/{subresource}" if subresource else kind.plural
    return any(p.api_group == kind.group and p.resource == resource and verb in p.verbs for p in permissions)
