"""The error a cross-field rule raises (or yields): which field, what is wrong, the fix."""

from __future__ import annotations


class FieldError(ValueError):
    """A cross-field rule failed: names the offending field relative to the model."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
