"""ModelDeployments from YAML files: every document checked, every problem reported.

Documents of other kinds are skipped with a note, so a kustomization or a
GitOps folder that mixes ModelDeployments with other objects validates as is;
a kind that looks like a misspelt ModelDeployment is an error instead.
Besides the API's own rules, a file is checked as the cluster would see it:
one name per namespace, and objects small enough for Kubernetes to store.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from .api import API_VERSION, GROUP, KIND, InvalidSpec, ModelDeployment, Problem, parse_model_deployment
from .builders import build_all
from .builders.object_size import size_problems
from .yamlio import YamlSyntaxError, load_documents


@dataclass
class DocumentReport:
    index: int
    line: int
    name: str | None = None
    model_deployment: ModelDeployment | None = None
    problems: list[Problem] = field(default_factory=list)
    note: str | None = None
    # Valid, but would not work in a cluster as written (printed unless serving locally).
    cluster_warnings: list[Problem] = field(default_factory=list)

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

    def messages(self, *, cluster: bool = False) -> list[str]:
        """Problems and notes; with cluster=True also what would not work in a cluster."""
        out = []
        for report in self.reports:
            out += [f"{self.source}: {report.where}: {p}" for p in report.problems]
            if report.note:
                out.append(f"{self.source}: {report.where}: note: {report.note}")
            if cluster:
                out += [f"{self.source}: {report.where}: warning: {p}" for p in report.cluster_warnings]
        if self.error:
            out.append(f"{self.source}: {self.error}")
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
        report = _check(doc.index, doc.line, doc.data)
        if doc.duplicate_keys:  # the document is refused, its other problems still shown
            report.problems[:0] = [Problem("", text) for text in doc.duplicate_keys]
            report.model_deployment = None
        result.reports.append(report)
    _refuse_duplicates(result.reports)
    if not result.model_deployments and not any(r.problems for r in result.reports):
        skipped = "; every document was skipped (see the notes above)" if result.reports else ""
        result.error = f"no {KIND} found; expected at least one document with apiVersion: {API_VERSION}{skipped}"
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
        elif _meant_as_ours(str(kind), str(api_version)):
            report.problems.append(Problem("kind", f"{kind!r} is not a kind of {GROUP}; did you mean {KIND}?"))
        else:
            report.note = f"skipped {api_version} {kind}: not a {KIND}"
        return report
    if not api_version:
        report.problems.append(Problem("apiVersion", f"required field is missing; add apiVersion: {API_VERSION}"))
        return report
    if api_version != API_VERSION:
        report.problems.append(Problem("apiVersion", f"{api_version!r} is not served; use {API_VERSION}"))
        return report
    try:
        md = parse_model_deployment(data)
    except InvalidSpec as err:
        report.problems = err.problems
        return report
    report.problems = size_problems(md, build_all(md))
    if not report.problems:
        report.model_deployment = md
        report.cluster_warnings = cluster_warnings(md)
    return report


def _meant_as_ours(kind: str, api_version: str) -> bool:
    """A document of our API group, or whose kind is one typo away from ours."""
    return api_version.split("/")[0] == GROUP or bool(difflib.get_close_matches(kind, [KIND], n=1, cutoff=0.9))


def _refuse_duplicates(reports: list[DocumentReport]) -> None:
    # Applying the file would silently keep only the last of two same-named objects.
    first: dict[tuple[str, str], DocumentReport] = {}
    for report in reports:
        md = report.model_deployment
        if md is None:
            continue
        key = (md.namespace, md.name)
        if key in first:
            report.problems.append(Problem("metadata.name", f"{md.namespace}/{md.name} is already defined by "
                                                            f"{first[key].where}; give each ModelDeployment its own name"))
            report.model_deployment = None
        else:
            first[key] = report


def cluster_warnings(md: ModelDeployment) -> list[Problem]:
    """What is valid but would not work in a cluster: a relative file: URI names a path on this machine."""
    uri = md.spec.model.uri
    parts = urlsplit(uri)
    if parts.scheme.lower() != "file" or parts.path.startswith("/"):
        return []
    return [Problem("spec.model.uri", f"{uri} is relative to this file, so it exists only on this machine; a pod's "
                                      "fetch container will not find it. For a cluster, use a PersistentVolumeClaim "
                                      "(pvc://CLAIM/path), an object store (s3://, gs://, https://), or a runtime "
                                      "image with the model baked in (file:///absolute/path inside it). "
                                      "For local serving pass --local")]
