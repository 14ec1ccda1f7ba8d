"""`modeldeploy rollout ...`: follow and steer a ModelDeployment's rollout, as the user, through the API.

Every command reads or writes the ModelDeployment (and lists its revision
Deployments) with the user's own kubeconfig, the way kubectl does; the
operator does the rest. Failures print one line, `CODE: reason`, and exit
with the code of `exits.ExitCode` (docs/rollouts.md lists them).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from ..api.base import duration_seconds
from .exits import CommandFailure, ExitCode


def add_commands(sub: argparse._SubParsersAction) -> None:
    rollout = sub.add_parser(
        "rollout", help="follow and steer a ModelDeployment's rollout: status, promote, abort, retry, pause, "
                        "resume, undo, history",
        description="Act on a ModelDeployment's rollout through the Kubernetes API, as kubectl would "
                    "(KUBECONFIG, or the pod's service account).")
    rollout.set_defaults(func=lambda args: rollout.print_help() or ExitCode.USAGE)
    verbs = rollout.add_subparsers(title="commands", metavar="COMMAND")

    status = _verb(verbs, "status", "where the rollout stands; by default follows it until it completes (exit 0) "
                                    "or is rolled back (exit 1)", _status)
    status.add_argument("-w", "--watch", action=argparse.BooleanOptionalAction, default=True,
                        help="follow the rollout until it ends (default); --no-watch prints once")
    status.add_argument("--timeout", type=_duration, default=None,
                        help='stop watching after this long (e.g. "5m", "90s"; exit 6); default: no limit')

    promote = _verb(verbs, "promote", "move a canary to its next step (a BlueGreen preview: switch traffic)",
                    _request("promote"))
    promote.add_argument("--full", action="store_true",
                         help="go to 100%% at once, skipping the remaining steps and their pauses")
    _verb(verbs, "abort", "roll the new revision back: its traffic and pods to 0, the stable at full size",
          _request("abort"))
    _verb(verbs, "retry", "roll out again a revision that was rolled back", _request("retry"))
    _verb(verbs, "pause", "hold the rollout where it stands (sets spec.rollout.paused)", _pause("pause"))
    _verb(verbs, "resume", "go on with a paused rollout (clears spec.rollout.paused)", _pause("resume"))
    undo = _verb(verbs, "undo", "write an earlier revision's serving spec back into the ModelDeployment", _undo)
    undo.add_argument("--to-revision", type=int, default=None, metavar="N",
                      help="the revision number (see `history`); default: the one before the current one")
    history = _verb(verbs, "history", "the revisions kept, and what changed between them", _history)
    history.add_argument("--revision", type=int, default=None, metavar="N", help="print revision N's serving spec")


def _verb(verbs: argparse._SubParsersAction, name: str, help_: str,
          run: Callable[..., int | list[str]]) -> argparse.ArgumentParser:
    parser = verbs.add_parser(name, help=help_, description=help_[0].upper() + help_[1:] + ".")
    parser.add_argument("name", metavar="NAME", help="the ModelDeployment")
    parser.add_argument("-n", "--namespace", default=None,
                        help="its namespace (default: the kubeconfig context's, else default)")
    parser.set_defaults(func=_guarded(run))
    return parser


def _guarded(run: Callable[..., int | list[str]]) -> Callable[[argparse.Namespace], int]:
    """Connect, run, print; a CommandFailure becomes its one line on stderr and its exit code."""
    def command(args: argparse.Namespace) -> int:
        from .session import Session  # noqa: PLC0415 - the Kubernetes client loads for these commands only

        try:
            result = run(Session.connect(args.namespace, args.name), args)
        except CommandFailure as failure:
            print(failure.line(), file=sys.stderr)
            return failure.code
        if isinstance(result, list):
            for line in result:
                print(line)
            return ExitCode.OK
        return result
    return command


def _status(session, args: argparse.Namespace) -> int:  # noqa: ANN001
    from .status import status  # noqa: PLC0415

    return status(session, watch=args.watch, timeout=args.timeout, out=lambda line: print(line, flush=True))


def _request(action: str) -> Callable[..., list[str]]:
    def run(session, args: argparse.Namespace) -> list[str]:  # noqa: ANN001
        from . import requests  # noqa: PLC0415

        if action == "promote":
            return requests.promote(session, full=args.full)
        return getattr(requests, action)(session)
    return run


def _pause(action: str) -> Callable[..., list[str]]:
    def run(session, args: argparse.Namespace) -> list[str]:  # noqa: ANN001, ARG001
        from . import pause  # noqa: PLC0415

        return getattr(pause, action)(session)
    return run


def _undo(session, args: argparse.Namespace) -> list[str]:  # noqa: ANN001
    from .undo import undo  # noqa: PLC0415

    return undo(session, args.to_revision)


def _history(session, args: argparse.Namespace) -> list[str]:  # noqa: ANN001
    from .history import history  # noqa: PLC0415

    return history(session, args.revision)


def _duration(text: str) -> float:
    try:
        return float(text) if text.replace(".", "", 1).isdigit() else duration_seconds(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'not a duration: {text!r} (e.g. "90s", "5m", "1h")') from None
