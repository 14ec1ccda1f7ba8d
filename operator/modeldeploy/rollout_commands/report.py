"""Where a rollout stands, in words and a table: what `modeldeploy rollout status` prints."""

from __future__ import annotations

from ..api import AnalysisFigures, RevisionStatus
from .standing import Outcome, Standing


def table(rows: list[list[str]]) -> list[str]:
    """Columns padded like kubectl's, three spaces apart."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["   ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]


def strategy_line(s: Standing) -> str:
    r = s.rollout
    budget = f"maxSurge {r.max_surge}, maxUnavailable {r.max_unavailable}"
    if r.strategy == "Canary":
        steps = " → ".join(f"{w}%" for w in s.step_weights)
        routing = "HTTPRoute weights" if r.traffic_routing and r.traffic_routing.gateway_api else "replica weights"
        shape = f"steps {steps} ({routing})" if r.steps else "pod by pod (no steps)"
        return f"Canary, {shape}; {budget}"
    if r.strategy == "BlueGreen":
        promote = "auto-promote" if r.blue_green.auto_promote else "promote by hand"
        return f"BlueGreen, {promote}, scaleDownDelay {r.blue_green.scale_down_delay}; {budget}"
    return "Recreate (old pods stop before new ones start: an outage)"


def figures_text(figures: AnalysisFigures | None) -> str:
    if figures is None:
        return ""
    parts = [f"{figures.requests} requests"]
    if figures.error_ratio is not None:
        parts.append(f"errors {figures.error_ratio:.1%}")
    if figures.mean_latency_ms is not None:
        stable = f" (stable {figures.stable_mean_latency_ms:.1f} ms)" if figures.stable_mean_latency_ms is not None \
            else ""
        parts.append(f"mean {figures.mean_latency_ms:.1f} ms{stable}")
    if figures.p99_latency_ms is not None:
        parts.append(f"p99 {figures.p99_latency_ms:.1f} ms")
    if figures.queue_ms is not None:
        parts.append(f"queue {figures.queue_ms:.1f} ms")
    return ", ".join(parts)


def revision_rows(s: Standing) -> list[str]:
    rows = [["REVISION", "NAME", "VERSION", "ROLE", "WEIGHT", "ASKED", "READY", "ANALYSIS"]]
    for r in s.revisions:
        asked = f"{r.desired_weight}%" if r.desired_weight is not None else "-"
        rows.append([str(r.revision), r.name, r.version, r.role, f"{r.weight}%", asked,
                     f"{r.ready_replicas}/{r.replicas}", r.analysis or "-"])
    return table(rows) if len(rows) > 1 else ["(no revision observed yet)"]


def analysis_line(s: Standing) -> str | None:
    judged = next((r for r in s.revisions if r.role in ("Canary", "Preview") and r.analysis), None)
    state = s.state
    if judged is None and not (state.passed_intervals or state.failed_intervals or state.inconclusive_intervals):
        return None
    limit = s.rollout.analysis.failure_limit
    counts = (f"{state.passed_intervals} passed, {state.failed_intervals} failed (rolled back at {limit}), "
              f"{state.inconclusive_intervals} inconclusive")
    if judged is None:
        return f"intervals {counts}"
    figures = figures_text(judged.figures)
    return f"{judged.name} {judged.analysis}" + (f": {figures}" if figures else "") + f"; intervals {counts}"


def condition_line(s: Standing, type_: str) -> str:
    c = s.condition(type_)
    if not c:
        return f"{type_ + ':':<13}Unknown (no status yet)"
    message = f" {c['message']}" if c.get("message") else ""
    return f"{type_ + ':':<13}{c.get('status')} ({c.get('reason')}){message}"


def describe(s: Standing) -> list[str]:
    """The whole picture, printed once by `status`."""
    lines = [f"modeldeployment {s.ref}: version {s.version}, {s.replicas} replica(s)",
             f"{'Strategy:':<13}{strategy_line(s)}"]
    if s.rollout.paused:
        lines.append(f"{'Paused:':<13}yes (spec.rollout.paused); `modeldeploy rollout resume {s.name}` goes on")
    lines += ["Revisions:"] + [f"  {row}" for row in revision_rows(s)]
    analysis = analysis_line(s)
    if analysis:
        lines.append(f"{'Analysis:':<13}{analysis}")
    lines += [condition_line(s, t) for t in ("Progressing", "Ready", "Degraded")]
    if s.pending_request:
        lines.append(f"{'Request:':<13}{s.pending_request} written; the operator has not acted on it yet")
    if not s.observed and s.conditions:
        lines.append(f"{'Note:':<13}the status describes generation {s.observed_generation}; "
                     f"the spec is at {s.generation}")
    return lines


def progress_line(s: Standing) -> str:
    """One line per change while `status` watches."""
    if s.outcome() is Outcome.WAITING:
        what = f"request {s.pending_request}" if s.pending_request else f"generation {s.generation} of the spec"
        return f"waiting for the operator to act on {what}"
    shares = ", ".join(_share(r) for r in s.revisions if r.role != "Old" or r.replicas)
    return f"{s.progress or s.state.phase}" + (f" [{shares}]" if shares else "")


def _share(r: RevisionStatus) -> str:
    asked = f" (asked {r.desired_weight}%)" if r.desired_weight is not None and r.desired_weight != r.weight else ""
    verdict = f", analysis {r.analysis}" if r.analysis else ""
    return f"{r.name} {r.role} {r.weight}%{asked} {r.ready_replicas}/{r.replicas} ready{verdict}"
