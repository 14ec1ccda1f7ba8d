"""RFC 3339 times as the Kubernetes API writes them (UTC, `Z`), to and from epoch seconds: the one place
the operator formats or parses one."""

from __future__ import annotations

import datetime


def iso(t: float, millis: bool = False) -> str:
    """`2026-12-07T23:45:00Z`; with `millis`, `…:00.123Z`, for a moment a duration is later measured from
    (whole seconds would add up to a second to it)."""
    moment = datetime.datetime.fromtimestamp(t, datetime.UTC)
    if millis:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def epoch(text: str | None) -> float | None:
    """Epoch seconds of an RFC 3339 time; None for none, or for one nobody could have meant."""
    if not text:
        return None
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
