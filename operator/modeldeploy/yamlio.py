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


def load_documents(text: str) -> list[Document]:
    """Every non-empty document of a YAML stream, with where it starts."""
    loader = yaml.SafeLoader(text)
    docs: list[Document] = []
    try:
        index = 0
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            data = loader.construct_document(node)
            if data is not None:
                docs.append(Document(index=index, line=node.start_mark.line + 1, data=data))
            index += 1
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        raise YamlSyntaxError(f"YAML syntax error at {where}: {err.problem or err.context}") from None
    except yaml.YAMLError as err:
        raise YamlSyntaxError(f"YAML error: {err}") from None
    finally:
        loader.dispose()
    return docs
