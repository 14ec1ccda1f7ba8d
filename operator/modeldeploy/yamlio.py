"""YAML in and out: multi-document loading with line numbers, stable dumping."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import yaml


class _NoAliasDumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:  # noqa: ARG002 - PyYAML hook
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # Multi-line text (config.pbtxt in a ConfigMap) as a block a reviewer can read.
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_NoAliasDumper.add_representer(str, _str)


def dump(obj: Any) -> str:
    return yaml.dump(obj, Dumper=_NoAliasDumper, sort_keys=False, width=120, allow_unicode=True)


def dump_all(docs: Iterable[Any]) -> str:
    return yaml.dump_all(list(docs), Dumper=_NoAliasDumper, sort_keys=False, width=120, allow_unicode=True)


class YamlSyntaxError(ValueError):
    """The text is not YAML; the message names the line and column (1-based)."""


@dataclass(frozen=True)
class Document:
    index: int  # 0-based position in the stream
    line: int  # 1-based line where the document starts
    data: Any
    # Keys given twice in one mapping: YAML forbids it and PyYAML keeps the last silently. A problem of this
    # document, reported beside its others (the rest of the stream still loads).
    duplicate_keys: tuple[str, ...] = ()


# Bounds checked on the parsed node graph before any Python object is built:
# a few kilobytes of anchors and aliases ("billion laughs") expand to billions
# of nodes, and one large anchored string repeated by aliases to gigabytes of
# text once validated and reported. A ModelDeployment has a few hundred nodes;
# a large one, a few thousand.
MAX_TEXT_BYTES = 4 << 20
MAX_NODES = 50_000  # per document, counting every alias as the nodes it expands to
# Per document, every alias counting as the text it stands for. Without aliases the
# text is at most MAX_TEXT_BYTES, so only alias expansion can reach this.
MAX_EXPANDED_BYTES = MAX_TEXT_BYTES
MAX_DEPTH = 64
_MERGE = "tag:yaml.org,2002:merge"

def load_documents(text: str) -> list[Document]:
    """Every non-empty document of a YAML stream, with where it starts."""
    if len(text.encode("utf-8", errors="replace")) > MAX_TEXT_BYTES:
        raise YamlSyntaxError(f"the file is over {MAX_TEXT_BYTES >> 20} MiB; a ModelDeployment is a few KiB "
                              "(Kubernetes stores at most 1 MiB per object)")
    loader = yaml.SafeLoader(text)
    docs: list[Document] = []
    try:
        index = 0
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            duplicates: list[str] = []
            _check_bounds(node, index, duplicates)
            data = loader.construct_document(node)
            if data is not None:
                docs.append(Document(index=index, line=node.start_mark.line + 1, data=data,
                                     duplicate_keys=tuple(duplicates)))
            index += 1
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        raise YamlSyntaxError(f"YAML syntax error at {where}: {err.problem or err.context}") from None
    except yaml.YAMLError as err:
        raise YamlSyntaxError(f"YAML error: {err}") from None
    except RecursionError:
        raise YamlSyntaxError(f"YAML nested too deeply (the limit is {MAX_DEPTH} levels)") from None
    finally:
        loader.dispose()
    return docs


def _check_bounds(root: yaml.Node, index: int, duplicates: list[str]) -> None:
    """Refuse a document whose aliases expand past MAX_NODES or MAX_EXPANDED_BYTES, or that nests past
    MAX_DEPTH; note in `duplicates` each key given twice in one mapping."""
    expanded: dict[int, tuple[int, int]] = {}  # node id -> (nodes, scalar bytes) it stands for, aliases expanded
    within: set[int] = set()
    where = f"document {index + 1} (line {root.start_mark.line + 1})"

    def size(node: yaml.Node, depth: int) -> tuple[int, int]:
        key = id(node)
        if key in expanded:
            return expanded[key]
        if key in within:
            raise YamlSyntaxError(f"document {index + 1} (line {node.start_mark.line + 1}): "
                                  "an alias refers to its own anchor (a recursive structure)")
        if depth > MAX_DEPTH:
            raise YamlSyntaxError(f"document {index + 1} (line {node.start_mark.line + 1}): "
                                  f"nested deeper than {MAX_DEPTH} levels")
        within.add(key)
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            duplicates.extend(_duplicate_keys(node))
            children = [part for pair in node.value for part in pair]
        else:
            children = []
        nodes, text = 1, len(node.value) if isinstance(node, yaml.ScalarNode) else 0
        for child in children:
            child_nodes, child_text = size(child, depth + 1)
            nodes, text = nodes + child_nodes, text + child_text
            if nodes > MAX_NODES:
                raise YamlSyntaxError(
                    f"{where}: expands to more than {MAX_NODES:,} YAML nodes (anchors and aliases, a 'billion "
                    "laughs' document?); refused before parsing it")
            if text > MAX_EXPANDED_BYTES:
                raise YamlSyntaxError(
                    f"{where}: its aliases expand to more than {MAX_EXPANDED_BYTES >> 20} MiB of text (an anchor "
                    "repeated by aliases?); a ModelDeployment is a few KiB: refused before parsing it")
        within.discard(key)
        expanded[key] = (nodes, text)
        return nodes, text

    size(root, 0)


def _duplicate_keys(node: yaml.MappingNode) -> list[str]:
    seen: dict[tuple[str, str], int] = {}
    found = []
    for key, _ in node.value:
        if not isinstance(key, yaml.ScalarNode) or key.tag == _MERGE:
            continue  # `<<: *base` merges, and keys given after it override: that is no duplicate
        line = key.start_mark.line + 1
        if (key.tag, key.value) in seen:
            found.append(f"key {key.value!r} appears twice in one mapping (lines {seen[(key.tag, key.value)]} and "
                         f"{line}); YAML allows it once, and only the last would count: keep one")
        seen[(key.tag, key.value)] = line
    return found
