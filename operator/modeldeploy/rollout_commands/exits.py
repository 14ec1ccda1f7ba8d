"""How each `modeldeploy rollout` command ends: an exit code and, on failure, one line `CODE: reason`."""

from __future__ import annotations

from enum import IntEnum

from modeldeploy_runtime.errors import RuntimeFailure


class ExitCode(IntEnum):
    OK = 0
    ROLLOUT_FAILED = 1  # status: the rollout was rolled back, or cannot progress (invalid spec, rejected)
    USAGE = 2
    NO_CLUSTER = 3
    NOT_FOUND = 4  # the ModelDeployment, or a revision no longer kept
    NOTHING_TO_DO = 5  # nothing to promote/abort/retry, already paused, already that revision
    TIMEOUT = 6  # status --timeout passed before the rollout finished
    REFUSED = 7  # the API server refused (forbidden, invalid, changed meanwhile), or the change would be invalid
    UNAVAILABLE = 8  # the API server did not answer (network, 5xx, throttled)


class CommandFailure(RuntimeFailure):
    """The runtime commands' one-line failure, `CODE: reason`, with the codes above."""
