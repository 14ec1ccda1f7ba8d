"""Revisions as the cache shows them, the revision the spec asks for, and their desired Deployments.

A revision is a Deployment whose template hash names what its pods serve.
The spec's revision reuses the Deployment with its hash when there is one
(going back to an earlier spec reuses that revision), else it gets a new
name ("v3", then "v3-2"...) and the next number.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..api import ModelDeployment, parse_model_deployment
from ..builders import naming as n
from ..timestamps import epoch
from ..rollout import PodView, RevisionView, Target
from .observed import Observed, full_object
from .pods import Finding, diagnose, not_ready_models

TRITON = "triton"


def pod_view(pod: dict) -> PodView:
    meta, status = pod["metadata"], pod.get("status") or {}
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    smoke = conditions.get(n.SMOKE_CONDITION)
    scheduled = conditions.get("PodScheduled") or {}
    finding: Finding | None = diagnose([pod])
    return PodView(
        name=meta["name"],
        ready=(conditions.get("Ready") or {}).get("status") == "True",
        ready_since=epoch((conditions.get("Ready") or {}).get("lastTransitionTime")),
        terminating=bool(meta.get("deletionTimestamp")),
        unschedulable=scheduled.get("status") == "False" and scheduled.get("reason") == "Unschedulable",
        smoke=None if smoke is None else smoke.get("status") == "True",
        failure=None if finding is None or finding.reason == "Unschedulable" else f"{finding.reason}: {finding.message}",
    )


def observe(observed: Observed) -> tuple[list[RevisionView], dict[str, dict]]:
    """Every revision Deployment with its pods, and each one's whole object by revision name."""
    pods_by_rev: dict[str, list[PodView]] = {}
    for pod in observed.pods:
        rev = (pod["metadata"].get("labels") or {}).get(n.REVISION_LABEL)
        if rev:
            pods_by_rev.setdefault(rev, []).append(pod_view(pod))
    views, objects = [], {}
    for (kind, _), child in sorted(observed.children.items()):
        labels = child["metadata"].get("labels") or {}
        rev = labels.get(n.REVISION_LABEL)
        if kind != "Deployment" or not rev:
            continue
        whole = full_object(child)
        annotations = whole["metadata"].get("annotations") or {}
        number = annotations.get(n.REVISION_NUMBER_ANNOTATION, "0")
        views.append(RevisionView(
            name=rev,
            hash=annotations.get(n.TEMPLATE_HASH_ANNOTATION, ""),
            number=int(number) if number.isdigit() else 0,
            version=labels.get("app.kubernetes.io/version", "?"),
            replicas=int((child.get("spec") or {}).get("replicas", 1)),
            pods=tuple(sorted(pods_by_rev.get(rev, []), key=lambda p: p.name)),
        ))
        objects[rev] = whole
    return views, objects


@dataclass(frozen=True)
class Observation:
    """What one pass reads of the cache: the children and pods, the revisions with their pods, and each
    revision's whole Deployment (decompressed once per read, not once per use)."""

    observed: Observed
    revisions: tuple[RevisionView, ...]
    wholes: dict[str, dict]

    @classmethod
    def of(cls, observed: Observed) -> Observation:
        views, wholes = observe(observed)
        return cls(observed, tuple(views), wholes)


def target_of(md: ModelDeployment, template_hash: str, revisions: list[RevisionView]) -> Target:
    for rev in revisions:
        if rev.hash == template_hash:
            return Target(rev.name, rev.hash, rev.number, rev.version)
    taken = {rev.name for rev in revisions}
    name, k = n.default_revision(md), 2
    while name in taken:
        name, k = f"{n.default_revision(md)}-{k}", k + 1
    number = max((rev.number for rev in revisions), default=0) + 1
    return Target(name, template_hash, number, md.spec.model.version)


def revision_md(md: ModelDeployment, recorded: str) -> ModelDeployment:
    """The ModelDeployment an older revision served: today's spec with that revision's serving parts."""
    spec = {**md.spec.to_wire(), **json.loads(recorded)}
    return parse_model_deployment({"apiVersion": md.api_version, "kind": md.kind,
                                   "metadata": md.metadata.to_wire(), "spec": spec})


def pods_of(observed: Observed, revs: set[str]) -> tuple[dict, ...]:
    return tuple(p for p in observed.pods if (p["metadata"].get("labels") or {}).get(n.REVISION_LABEL) in revs)


__all__ = ["Observation", "not_ready_models", "observe", "pod_view", "pods_of", "target_of"]
