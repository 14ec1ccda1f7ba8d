"""Is an observed child already what we would apply? Decides every write.

Two checks, both needed for zero writes at steady state *and* drift repair:
- the hash annotation we stamp on each applied object catches every change of
  the desired object, including fields we stopped setting;
- a structural "desired is contained in observed" check catches hand edits of
  fields we own, while ignoring fields the API server or controllers add, empty
  values the server drops, and quantities it rewrites ("0.5" → "500m").
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..api import GROUP
from ..clients import same_quantity

HASH_ANNOTATION = f"{GROUP}/applied-sha256"


def stamp(obj: dict) -> dict:
    """Annotate a freshly built object (changed in place) with the hash of its desired content."""
    digest = hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    obj["metadata"].setdefault("annotations", {})[HASH_ANNOTATION] = digest
    return obj


def applied_hash(obj: dict | None) -> str | None:
    if obj is None:
        return None
    return ((obj.get("metadata") or {}).get("annotations") or {}).get(HASH_ANNOTATION)


def in_sync(desired: dict, observed: dict | None) -> bool:
    """`observed` is a full object; callers holding a cached child pass `full_object(child)`."""
    return (
        observed is not None
        and applied_hash(observed) == applied_hash(desired)
        and contains(observed, desired)
    )


def _empty(value: Any) -> bool:
    return value is None or value == {} or value == []


# Label maps that select: an extra key someone added changes what they select, so they compare whole
# (the Kubernetes schema marks them atomic, and server-side apply replaces them whole).
ATOMIC_MAPS = frozenset({"selector", "matchLabels"})


def contains(have: Any, want: Any, key: str | None = None) -> bool:
    if isinstance(want, dict):
        if not isinstance(have, dict):
            return _empty(want) and _empty(have)
        if key in ATOMIC_MAPS and all(isinstance(v, str) for v in want.values()):
            return have == want
        return all(
            (_empty(value) and _empty(have.get(k))) or (k in have and contains(have[k], value, k))
            for k, value in want.items()
        )
    if isinstance(want, list):
        return isinstance(have, list) and len(have) == len(want) and all(map(contains, have, want))
    if want == have:
        return True
    return isinstance(want, str) and isinstance(have, str) and same_quantity(want, have)
