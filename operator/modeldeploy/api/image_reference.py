"""Container image references, by the grammar of distribution/reference.

    reference := name [ ":" tag ] [ "@" digest ]
    name      := [domain "/"] path-component ["/" path-component]*

(github.com/distribution/reference, regexp.go). A reference that passes is
exactly what a container runtime will pull: no whitespace, no newline, no
upper case in the path. A digest (`@sha256:<64 hex>`) pins the image's bytes;
a tag can be moved to other bytes by whoever can push to the repository, so
pinning by digest is the recommended form for production.
"""

from __future__ import annotations

import re

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])"
_DOMAIN = rf"{_HOST}(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"

# Anchored with \A...\Z: Python's `$` also matches before a trailing newline.
IMAGE_REFERENCE = re.compile(
    rf"\A(?P<name>(?:(?P<domain>{_DOMAIN})/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
    rf"(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?\Z"
)
# The same grammar for the CRD, in the syntax every regex engine shares (Go's
# RE2 in the API server, where `$` is the end of the text; whitespace is also
# refused by a CEL rule, for engines where `$` is not).
IMAGE_REFERENCE_PATTERN = re.sub(r"\(\?P<\w+>", "(?:", IMAGE_REFERENCE.pattern)[2:-2].join("^$")

MAX_NAME_LENGTH = 255
_DIGEST_HEX_LENGTH = {"sha256": 64, "sha384": 96, "sha512": 128}
EXAMPLES = "nvcr.io/nvidia/tritonserver:24.10-py3 or nvcr.io/nvidia/tritonserver@sha256:<64 hex digits>"


def image_reference_problem(reference: str) -> str | None:
    """What is wrong with an image reference, in words, or None."""
    if any(c.isspace() for c in reference):
        where = "a newline" if "\n" in reference or "\r" in reference else "whitespace"
        return f"contains {where}; an image reference is one word such as {EXAMPLES}"
    match = IMAGE_REFERENCE.match(reference)
    if match is None:
        return _explain(reference)
    if len(match["name"]) > MAX_NAME_LENGTH:
        return f"the repository name is {len(match['name'])} characters, over the limit of {MAX_NAME_LENGTH}"
    if match["digest"]:
        algorithm, _, hex_digits = match["digest"].partition(":")
        expected = _DIGEST_HEX_LENGTH.get(algorithm)
        if expected and (len(hex_digits) != expected or hex_digits != hex_digits.lower()):
            return f"a {algorithm} digest is {expected} lowercase hex digits, not {len(hex_digits)}"
    return None


def _explain(reference: str) -> str:
    name = reference.split("@", 1)[0]
    path = name.split("/", 1)[1] if "/" in name and _looks_like_domain(name.split("/", 1)[0]) else name
    path = path.rsplit(":", 1)[0] if ":" in path else path
    if path != path.lower():
        return f"{reference!r}: the repository path must be lower case ({path.lower()!r}); use e.g. {EXAMPLES}"
    if "@" in reference and not re.search(rf"@{_DIGEST}\Z", reference):
        return f"{reference!r}: a digest is written @sha256:<64 hex digits>"
    return f"{reference!r} is not an image reference; write REGISTRY/REPOSITORY[:TAG][@sha256:DIGEST], e.g. {EXAMPLES}"


def _looks_like_domain(component: str) -> bool:
    # distribution's rule: the first component is a registry when it has a dot, a port, or is localhost.
    return "." in component or ":" in component or component == "localhost" or component != component.lower()
