"""Kubernetes' rules for label and annotation keys and label values, in words.

The API server refuses an object whose metadata breaks them, so `validate`
must too: a qualified name is an optional DNS-1123 subdomain prefix (at most
253 characters) and "/", then a name of at most 63 characters of letters,
digits, "-", "_" and ".", starting and ending with a letter or digit. A label
value is such a name, or empty.
"""

from __future__ import annotations

import re

from .base import DNS1123_SUBDOMAIN

_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_NAME_WORDS = 'at most 63 letters, digits, "-", "_" and ".", starting and ending with a letter or digit'


def key_problem(key: str) -> str | None:
    """Why key is not a valid label or annotation key, or None."""
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or "/" in prefix or len(prefix) > 253 or not re.match(DNS1123_SUBDOMAIN, prefix)):
        return (f"key {key!r}: the part before \"/\" must be one DNS subdomain (lowercase, e.g. "
                "example.com), and a key has at most one \"/\"")
    if len(name) > 63 or not _NAME.match(name):
        part = 'the name after "/"' if slash else "a key"
        return f"key {key!r}: {part} must be {_NAME_WORDS}"
    return None


def label_value_problem(key: str, value: str) -> str | None:
    if value == "" or (len(value) <= 63 and _NAME.match(value)):
        return None
    return f"value of {key!r} ({value[:70]!r}): a label value is empty or {_NAME_WORDS}"
