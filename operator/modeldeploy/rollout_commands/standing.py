"""Where a ModelDeployment's rollout stands, read from its spec, annotations and status alone.

Pure: the same object the API returns goes in, so `status`, `promote` and
the rest decide from what the operator last wrote, never from a guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from pydantic import ValidationError

from ..api import InvalidSpec, RevisionStatus, Rollout, RolloutStatus, parse_model_deployment
from ..builders.naming import REQUEST_ANNOTATION

# Progressing=False reasons after which nothing more happens by itself, and the rollout did what was asked.
DONE_REASONS = {"RolloutComplete", "ScaledToZero"}


class Outcome(Enum):
    WAITING = "waiting"  # the operator has not caught up with the spec or a request yet
    PROGRESSING = "progressing"
    COMPLETE = "complete"
    FAILED = "failed"  # rolled back, or cannot progress (invalid spec, rejected by the API server)


@dataclass(frozen=True)
class Standing:
    namespace: str
    name: str
    generation: int
    observed_generation: int | None
    rollout: Rollout
    replicas: int
    version: str
    state: RolloutStatus
    revisions: tuple[RevisionStatus, ...]
    conditions: dict[str, dict]
    request: str | None
    ready_replicas: int
    invalid: str | None = None  # the spec's first problem, as the operator reports it: it acts on nothing then

    @classmethod
    def of(cls, body: dict) -> Standing:
        meta, spec, status = body["metadata"], body.get("spec") or {}, body.get("status") or {}
        try:
            rollout = Rollout.model_validate(spec.get("rollout") or {})
        except ValidationError:
            rollout = Rollout()  # the operator reports the invalid spec in the conditions
        revisions = []
        for entry in status.get("revisions") or []:
            try:
                revisions.append(RevisionStatus.model_validate(entry))
            except ValidationError:
                continue
        return cls(
            namespace=meta.get("namespace", "default"), name=meta["name"],
            generation=int(meta.get("generation") or 0),
            observed_generation=status.get("observedGeneration"),
            rollout=rollout, replicas=int(spec.get("replicas", 1)),
            version=str((spec.get("model") or {}).get("version", "?")),
            state=RolloutStatus.model_validate(status.get("rollout") or {}),
            revisions=tuple(revisions),
            conditions={c.get("type"): c for c in status.get("conditions") or []},
            request=(meta.get("annotations") or {}).get(REQUEST_ANNOTATION),
            ready_replicas=int(status.get("readyReplicas") or 0),
            invalid=_first_problem(body),
        )

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def observed(self) -> bool:
        """The status describes the current spec (the operator saw the last change)."""
        return bool(self.conditions) and self.observed_generation == self.generation

    @property
    def pending_request(self) -> str | None:
        """A request written and not yet acted on by the operator (it records each in lastRequest)."""
        return self.request if self.request and self.request != self.state.last_request else None

    @property
    def rolling(self) -> bool:
        return self.state.phase in ("Progressing", "Paused") and self.state.canary is not None

    @property
    def paused(self) -> bool:
        return self.rollout.paused

    @property
    def step_weights(self) -> list[int]:
        """The canary's weights, step by step, ending at 100 (the operator adds it when the steps do not)."""
        weights = [s.weight for s in self.rollout.steps] or [100]
        return weights if weights[-1] == 100 else [*weights, 100]

    def revision(self, name: str | None) -> RevisionStatus | None:
        return next((r for r in self.revisions if r.name == name), None)

    def role(self, role: str) -> RevisionStatus | None:
        return next((r for r in self.revisions if r.role == role), None)

    def condition(self, type_: str) -> dict:
        return self.conditions.get(type_) or {}

    @property
    def progress(self) -> str:
        """The Progressing condition's message: the step and what it waits for."""
        return self.condition("Progressing").get("message") or self.state.message or ""

    def outcome(self) -> Outcome:
        if not self.observed or self.pending_request:
            return Outcome.WAITING
        progressing = self.condition("Progressing")
        if progressing.get("status") == "True":
            return Outcome.PROGRESSING
        return Outcome.COMPLETE if progressing.get("reason") in DONE_REASONS else Outcome.FAILED


def _first_problem(body: dict) -> str | None:
    try:
        parse_model_deployment({k: body[k] for k in ("apiVersion", "kind", "metadata", "spec") if k in body})
    except InvalidSpec as err:
        first = err.problems[0]
        more = len(err.problems) - 1
        return str(first) + (f" (and {more} more)" if more else "")
    return None
