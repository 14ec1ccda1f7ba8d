"""Runtime failures with a distinct exit code and a one-line reason.

The init container's exit code and its last line (the termination message)
are what the operator reads to explain a failed model fetch in status.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    USAGE = 2
    SOURCE_NOT_FOUND = 10
    ACCESS_DENIED = 11
    NETWORK = 12
    CHECKSUM_MISMATCH = 13
    UNSAFE_ARCHIVE = 14
    TOO_LARGE = 15
    BAD_ARTIFACT = 16
    UNSUPPORTED = 17
    SOURCE_CHANGED = 18
    UNSAFE_SOURCE = 19
    TRITON_UNAVAILABLE = 20
    TRITON_FAILED = 21


class RuntimeFailure(Exception):
    def __init__(self, code: ExitCode, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason

    def line(self) -> str:
        """The one line printed on exit: a stable name, then the reason. One line whatever the reason holds (a
        library's multi-line message): the operator reads a pod's last line as the cause."""
        return f"{self.code.name}: {'; '.join(part.strip() for part in self.reason.splitlines() if part.strip())}"
