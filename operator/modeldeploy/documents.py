"""ModelDeployments from YAML files: every document checked, every problem reported.

Documents of other kinds are skipped with a note, so a kustomization or a
GitOps folder that mixes ModelDeployments with other objects validates as is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .api import API_VERSION, KIND, InvalidSpec, ModelDeployment, Problem, parse_model_deployment
from .yamlio import YamlSyntaxError, load_documents


@dataclass
class DocumentReport:
    index: int
    line: int
    name: str | None = None
    model_deployment: ModelDeployment | None = None
    problems: list[Problem] = field(default_factory=list)
    note: str | None = None

    @property
    def where(self) -> str:
        named = f" {self.name}" if self.name else ""
        return f"document {self.index + 1} (line {self.line}){named}"


@dataclass
class LoadResult:
    source: str
    reports: list[DocumentReport] = field(default_factory=list)
    error: str | None = None  # the whole file failed: unreadable, not YAML, or empty

    @property
    def model_deployments(self) -> list[ModelDeployment]:
        return [r.model_deployment for r in self.reports if r.model_deployment is not None]

    @property
    def ok(self) -> bool:
        return self.error is None and not any(r.problems for r in self.reports)

    def messages(self) -> list[str]:
        if self.error:
            return [f"{self.source}: {self.error}"]
        out = []
        for report in self.reports:
            out += [f"{self.source}: {report.where}: {p}" for p in report.problems]
            if report.note:
                out.append(f"{self.source}: {report.where}: note: {report.note}")
        return out


def load_file(path: str | Path) -> LoadResult:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        return LoadResult(source=str(path), error=f"cannot read: {getattr(err, 'strerror', None) or err}")
    return load_text(text, source=str(path))


def load_text(text: str, source: str = "<stdin>") -> LoadResult:
    result = LoadResult(source=source)
    try:
        docs = load_documents(text)
    except YamlSyntaxError as err:
        result.error = str(err)
        return result
    for doc in docs:
        result.reports.append(_check(doc.index, doc.line, doc.data))
    if not result.model_deployments and not any(r.problems for r in result.reports):
        result.error = f"no {KIND} found; expected at least one document with apiVersion: {API_VERSION}"
    return result


def _check(index: int, line: int, data: object) -> DocumentReport:
    report = DocumentReport(index=index, line=line)
    if not isinstance(data, dict):
        report.problems.append(Problem("", f"not a Kubernetes object (a YAML {type(data).__name__}, not a mapping)"))
        return report
    metadata = data.get("metadata")
    report.name = metadata.get("name") if isinstance(metadata, dict) and isinstance(metadata.get("name"), str) else None
    kind, api_version = data.get("kind"), data.get("apiVersion")
    if kind != KIND:
        if not kind or not api_version:
            report.problems.append(Problem("", "not a Kubernetes object: apiVersion and kind are required"))
        else:
            report.note = f"skipped {api_version} {kind}: not a {KIND}"
        return report
    if api_version != API_VERSION:
        report.problems.append(Problem("apiVersion", f"{api_version!r} is not served; use {API_VERSION}"))
        return report
    try:
        report.model_deployment = parse_model_deployment(data)
    except InvalidSpec as err:
        report.problems = err.problems
    return report
