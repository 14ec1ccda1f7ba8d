"""The user's connection to the cluster: their kubeconfig, their RBAC, one ModelDeployment.

The rollout commands act as the user who runs them, like kubectl: the
client carries `USER_PERMISSIONS`, not the operator's table, and every API
failure becomes a one-line `CommandFailure` with its exit code. Only the
commands import this module (lazily), so the Kubernetes client loads for
them alone and `render` or `validate` stay light.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .. import __version__
from ..builders.naming import MODELDEPLOYMENT_LABEL
from ..clients.errors import ApiError, Conflict, Invalid, NotFound, Retryable
from ..clients.kube import JSON_PATCH, MERGE, KubeClient, NoClusterConfig, current_namespace
from ..clients.permissions import DEPLOYMENT, MODELDEPLOYMENT, USER_PERMISSIONS
from .exits import CommandFailure, ExitCode

USER_AGENT = f"modeldeploy/{__version__} (rollout)"
# The field manager of every change the commands make, as kubectl's are "kubectl-rollout" and the like.
FIELD_MANAGER = "modeldeploy-rollout"


class Session:
    def __init__(self, client: KubeClient, namespace: str, name: str):
        self.client = client
        self.namespace = namespace
        self.name = name

    @classmethod
    def connect(cls, namespace: str | None, name: str) -> Session:
        try:
            client = KubeClient.from_environment(permissions=USER_PERMISSIONS, user_agent=USER_AGENT)
        except NoClusterConfig as err:
            raise CommandFailure(ExitCode.NO_CLUSTER, f"no cluster to talk to: not running in a pod, and {err.reason}; "
                                                      "point KUBECONFIG at your cluster's kubeconfig") from None
        return cls(client, namespace or current_namespace(), name)

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"

    def get(self) -> dict:
        with api_errors(f"modeldeployment {self.ref}"):
            return self.client.get(MODELDEPLOYMENT, self.namespace, self.name)

    def patch(self, body: Any, *, json_patch: bool = False) -> dict:
        with api_errors(f"modeldeployment {self.ref}"):
            return self.client.patch(MODELDEPLOYMENT, self.namespace, self.name, body, field_manager=FIELD_MANAGER,
                                     content_type=JSON_PATCH if json_patch else MERGE)

    def revision_deployments(self) -> list[dict]:
        """The Deployments of this ModelDeployment's revisions, current and kept as history."""
        with api_errors(f"the revision Deployments of {self.ref}"):
            items, _ = self.client.list_all(DEPLOYMENT, self.namespace,
                                            label_selector=f"{MODELDEPLOYMENT_LABEL}={self.name}")
        return items


@contextmanager
def api_errors(what: str) -> Iterator[None]:
    """API failures as the user reads them: what failed, the server's words, and what to do."""
    try:
        yield
    except NotFound:
        raise CommandFailure(ExitCode.NOT_FOUND, f"{what} not found; check the name and the namespace (-n)") \
            from None
    except Conflict:
        raise CommandFailure(ExitCode.REFUSED, f"{what} changed while this command ran; run it again") from None
    except Invalid as err:
        raise CommandFailure(ExitCode.REFUSED, f"the API server refused the change to {what}: {err.message}") \
            from None
    except Retryable as err:
        raise CommandFailure(ExitCode.UNAVAILABLE, f"the API server did not answer about {what} "
                                                   f"({err.status or 'no connection'}: {err.message})") from None
    except ApiError as err:
        hint = "; your RBAC needs the rules of docs/rollouts.md (Permissions)" if err.status in (401, 403) else ""
        raise CommandFailure(ExitCode.REFUSED, f"{err.verb} {what}: {err.status} {err.message}{hint}") from None
