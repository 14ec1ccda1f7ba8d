"""How the Controller is wired into kopf: which handlers watch what, and kopf's settings."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import kopf

from ..api import GROUP, PLURAL, VERSION
from ..builders.naming import MANAGED_BY
from ..clients.permissions import CHILD_KINDS, OPTIONAL_CHILD_KINDS, POD
from .options import OperatorOptions

if TYPE_CHECKING:
    from .runner import Controller

MANAGED = {"app.kubernetes.io/managed-by": MANAGED_BY}
MANAGED_SELECTOR = ",".join(f"{k}={v}" for k, v in MANAGED.items())


def register(registry: kopf.OperatorRegistry, controller: "Controller") -> None:
    # The same credentials as the KubeClient: in-cluster, else KUBECONFIG, through the official client.
    kopf.on.login(registry=registry)(kopf.login_via_client)
    kopf.on.event(GROUP, VERSION, PLURAL, registry=registry, id="modeldeployment")(controller.on_modeldeployment)
    for kind in (*CHILD_KINDS, *OPTIONAL_CHILD_KINDS, POD):
        # No label filter here: the API server already filters the watch by label, and an object
        # whose labels were changed by hand must still reach the reconciler to be taken back.
        kopf.on.event(kind.group, kind.version, kind.plural, registry=registry,
                      id=f"child-{kind.plural}")(controller.on_child)


def configure(settings: kopf.OperatorSettings, options: OperatorOptions, *,
              peered: bool | None = None) -> kopf.OperatorSettings:
    """`peered`: whether the peering object is known to exist (None: let kopf detect it)."""
    settings.posting.enabled = False  # Events come from the reconciler only, on transitions
    settings.execution.max_workers = options.workers
    # Watch only what the operator made: the API server filters, so unrelated pods cost nothing.
    for kind in (*CHILD_KINDS, *OPTIONAL_CHILD_KINDS, POD):
        settings.watching.label_selectors[f"{kind.api_version}/{kind.plural}"] = MANAGED_SELECTOR
    # A per-object worker lingers this long after its last event; at 1,000 ModelDeployments
    # (7,000 watched objects) kopf's default 5 s keeps thousands alive after a burst.
    settings.batching.idle_timeout = 0.5
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.peering.name = options.peering
    settings.peering.priority = options.priority
    settings.peering.lifetime = options.peering_lifetime
    settings.peering.stealth = True
    settings.peering.standalone = options.standalone if peered is None else not peered
    # Required once it is known to exist (see peering.py); otherwise kopf's own detection.
    settings.peering.mandatory = bool(peered)
    return settings


def configure_logging(options: OperatorOptions) -> None:
    kopf.configure(
        debug=options.log_level == "debug",
        quiet=options.log_level in ("warning", "error"),
        log_format=kopf.LogFormat.JSON if options.log_format == "json" else kopf.LogFormat.FULL,
    )
    level = options.log_level.upper()
    logging.getLogger().setLevel(level)
    # kopf reports every event handler call at INFO: noise at the rate pods change.
    logging.getLogger("kopf.objects").setLevel("WARNING" if level == "INFO" else level)


