"""API failures sorted by what the reconciler does about them."""

from __future__ import annotations


class ApiError(Exception):
    """A failed API request: status code and the server's own message."""

    def __init__(self, status: int, message: str, *, verb: str = "", kind: str = "",
                 retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.verb = verb
        self.kind = kind
        # Seconds the server asked us to wait (Retry-After on 429 and 503), if it said.
        self.retry_after = retry_after


class NotFound(ApiError):
    """404: nothing to update or delete."""


class Conflict(ApiError):
    """409: someone wrote in between; retry at once with fresh state."""


class Gone(ApiError):
    """410: a stale resourceVersion; relist."""


class Invalid(ApiError):
    """422 (or 400): the server refuses the object; retrying the same object cannot help."""


class Retryable(ApiError):
    """429, 5xx and transport failures: back off and retry."""


def retry_after_seconds(header: str | None) -> float | None:
    """Retry-After in seconds; the HTTP-date form and nonsense count as not said."""
    try:
        seconds = float((header or "").strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def classify(status: int, message: str, *, verb: str = "", kind: str = "",
             retry_after: float | None = None) -> ApiError:
    cls: type[ApiError]
    if status == 404:
        cls = NotFound
    elif status == 409:
        cls = Conflict
    elif status == 410:
        cls = Gone
    elif status in (400, 422):
        cls = Invalid
    elif status == 429 or status >= 500 or status == 0:
        cls = Retryable
    else:
        cls = ApiError
    return cls(status, message, verb=verb, kind=kind,
               retry_after=retry_after if status in (429, 503) else None)
