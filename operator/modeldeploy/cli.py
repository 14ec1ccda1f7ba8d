"""The `modeldeploy` command: one entry point for every job."""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Sequence

from modeldeploy_runtime.arg_types import positive_int, tcp_port

from . import __version__
from .api.image_reference import image_reference_problem
from .builders import DEFAULT_RUNTIME_IMAGE, BuildOptions, build_all
from .crdgen import build_crd, build_peering_crds
from .documents import LoadResult, load_file, load_text
from .rollout_commands import add_commands as add_rollout_commands
from .yamlio import dump, dump_all

# Exit codes of the commands here (the runtime's own are in modeldeploy_runtime.errors; docs list both).
EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_NO_CLUSTER, EXIT_UNREACHABLE, EXIT_BUG = 0, 1, 2, 3, 4, 70


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `modeldeploy render ... | head`
        return EXIT_OK
    except Exception as err:  # noqa: BLE001 - every expected failure has its own message; this is a bug
        if os.environ.get("MODELDEPLOY_DEBUG"):
            raise
        frame = traceback.extract_tb(err.__traceback__)[-1]
        print(f"modeldeploy: unexpected error, a bug: {type(err).__name__}: {err} "
              f"(at {Path(frame.filename).name}:{frame.lineno}); rerun with MODELDEPLOY_DEBUG=1 for the "
              "traceback and report it", file=sys.stderr)
        return EXIT_BUG


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modeldeploy", description="Serve models on NVIDIA Triton Inference Server, on Kubernetes or locally.",
    )
    parser.add_argument("--version", action="version", version=f"modeldeploy {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    crd = sub.add_parser("crd", help="print the ModelDeployment CustomResourceDefinition")
    crd.add_argument("-o", "--output", choices=["yaml", "json"], default="yaml")
    crd.add_argument("--peering", action="store_true",
                     help="print kopf's peering CRDs instead (needed for more than one operator replica)")
    crd.set_defaults(func=_cmd_crd)

    rbac = sub.add_parser("rbac", help="print every API permission the operator uses (the chart's RBAC source)")
    rbac.set_defaults(func=_cmd_rbac)

    render = sub.add_parser("render", help="print the Kubernetes objects a ModelDeployment produces (offline)")
    render.add_argument("-f", "--filename", required=True, action="append",
                        help="YAML file with ModelDeployments (repeatable), or - for stdin")
    render.add_argument("-o", "--output", choices=["yaml", "json"], default="yaml")
    render.add_argument("--runtime-image", default=DEFAULT_RUNTIME_IMAGE, type=_image_reference,
                        help="image of the fetch/build-repo init containers (default: %(default)s)")
    render.add_argument("--local", action="store_true", help=_LOCAL_HELP)
    render.set_defaults(func=_cmd_render)

    validate = sub.add_parser("validate", help="check ModelDeployment files and report every problem")
    validate.add_argument("-f", "--filename", required=True, action="append",
                          help="YAML file (repeatable), or - for stdin")
    validate.add_argument("--local", action="store_true", help=_LOCAL_HELP)
    validate.set_defaults(func=_cmd_validate)

    _add_operator_command(sub)
    add_rollout_commands(sub)

    from modeldeploy_runtime.commands import add_commands  # noqa: PLC0415 - the data-plane commands
    add_commands(sub, _load)
    return parser


_LOCAL_HELP = ("the files are for `modeldeploy serve` on this machine: no warning about relative file: URIs; "
               "validate warns when GPU instance groups will run as CPU ones here, for want of a GPU")


def _image_reference(value: str) -> str:
    problem = image_reference_problem(value)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return value


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"MODELDEPLOY_{name}", default)


def _env_flag(name: str) -> bool | None:
    """A yes/no MODELDEPLOY_<name>; None for anything else (refused when the operator starts)."""
    value = _env(name, "").strip().lower()
    return False if value in ("", "0", "false", "no") else True if value in ("1", "true", "yes") else None


def _add_operator_command(sub: argparse._SubParsersAction) -> None:
    # Defaults from MODELDEPLOY_* stay strings: argparse converts a string default with the flag's type
    # when this command is parsed, so a bad value is a usage error naming the flag, for this command only.
    op = sub.add_parser(
        "operator", help="run the controller against the cluster of KUBECONFIG or the in-cluster config",
        description="Every flag has an environment equivalent, MODELDEPLOY_<FLAG> (e.g. MODELDEPLOY_LOG_FORMAT=json; "
                    "MODELDEPLOY_NAMESPACES=a,b).",
    )
    scope = op.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", action="append", dest="namespaces",
                       default=[ns for ns in (_env("NAMESPACES") or "").split(",") if ns],
                       help="watch this namespace (repeatable)")
    scope.add_argument("-A", "--all-namespaces", action="store_true",
                       default=False,
                       help="watch every namespace (needs cluster-wide RBAC); one of -A or -n is required")
    op.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default=_env("LOG_LEVEL", "info"),
                    help="least severe log lines shown (default: %(default)s)")
    op.add_argument("--log-format", choices=["text", "json"], default=_env("LOG_FORMAT", "text"),
                    help="json: one object per line, for log collectors (default: %(default)s)")
    op.add_argument("--metrics-port", type=tcp_port, default=_env("METRICS_PORT", "8080"),
                    help="serves the operator's Prometheus /metrics (default: %(default)s)")
    op.add_argument("--health-port", type=tcp_port, default=_env("HEALTH_PORT", "8081"),
                    help="serves /healthz and /readyz (default: %(default)s)")
    op.add_argument("--bind-address", default=_env("BIND_ADDRESS", "0.0.0.0"),
                    help="address the metrics and health servers listen on (default: %(default)s)")
    op.add_argument("--resync-seconds", type=float, default=_env("RESYNC_SECONDS", "60"),
                    help="how often every ModelDeployment is checked against its children (default: %(default)s)")
    op.add_argument("--relist-seconds", type=float, default=_env("RELIST_SECONDS", "600"),
                    help="how often every watched kind is listed again to repair what a watch missed "
                         "(default: %(default)s)")
    op.add_argument("--runtime-image", default=_env("RUNTIME_IMAGE", DEFAULT_RUNTIME_IMAGE), type=_image_reference,
                    help="image of the fetch/build-repo init containers of every Triton pod (default: %(default)s)")
    op.add_argument("--prestop-seconds", type=int, default=_env("PRESTOP_SECONDS", "10"),
                    help="how long a stopping Triton pod keeps serving while its endpoints go; more than the "
                         "cluster's endpoint propagation (default: %(default)s)")
    op.add_argument("--drain-seconds", type=int, default=_env("DRAIN_SECONDS", "30"),
                    help="how long Triton then waits for inferences in flight (default: %(default)s)")
    op.add_argument("--keda-prometheus-server", default=_env("KEDA_PROMETHEUS_SERVER",
                                                             BuildOptions.keda_prometheus_server),
                    help="engine keda: the Prometheus server its ScaledObjects query (default: %(default)s)")
    op.add_argument("--peering", default=_env("PEERING", "modeldeploy"),
                    help="kopf peering object shared by the replicas (default: %(default)s)")
    op.add_argument("--priority", type=int, default=_env("PRIORITY", "0"),
                    help="peering priority; default: random, so replicas never tie")
    op.add_argument("--peering-lifetime", type=positive_int, default=_env("PEERING_LIFETIME", "30"),
                    help="seconds a silent replica is still taken as alive; bounds the takeover after a crash")
    op.add_argument("--standalone", action="store_true", default=False, help="run without peering")
    op.add_argument("--workers", type=positive_int, default=_env("WORKERS", "4"),
                    help="ModelDeployments reconciled at once; a slow write holds up only its own "
                         "(default: %(default)s)")
    op.set_defaults(func=_cmd_operator)


def _check_operator_flags(args: argparse.Namespace) -> str | None:
    for name, flag in (("STANDALONE", "standalone"), ("ALL_NAMESPACES", "all_namespaces")):
        value = _env_flag(name)
        if value is None:
            return f"MODELDEPLOY_{name}={_env(name)!r}: give true or false"
        setattr(args, flag, getattr(args, flag) or value)
    if args.all_namespaces and args.namespaces:
        return "MODELDEPLOY_ALL_NAMESPACES and --namespace/MODELDEPLOY_NAMESPACES: choose one"
    if args.metrics_port == args.health_port:
        return (f"argument --health-port: {args.health_port} is also --metrics-port; give the two endpoints "
                "different ports")
    return None


def _cmd_operator(args: argparse.Namespace) -> int:
    from .handlers import OperatorOptions, run  # noqa: PLC0415 - kopf loads only for this command

    problem = _check_operator_flags(args)
    if problem:
        print(f"modeldeploy operator: error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    extra = {"priority": args.priority} if args.priority else {}
    try:
        options = OperatorOptions(
            namespaces=tuple(args.namespaces or ()), all_namespaces=args.all_namespaces,
            log_level=args.log_level, log_format=args.log_format, metrics_port=args.metrics_port,
            health_port=args.health_port, bind_address=args.bind_address, resync_seconds=args.resync_seconds,
            relist_seconds=args.relist_seconds, keda_prometheus_server=args.keda_prometheus_server,
            prestop_seconds=args.prestop_seconds, drain_seconds=args.drain_seconds,
            runtime_image=args.runtime_image, peering=args.peering, standalone=args.standalone,
            peering_lifetime=args.peering_lifetime, workers=args.workers, **extra,
        )
    except ValueError as err:
        print(f"modeldeploy operator: {err}", file=sys.stderr)
        return EXIT_USAGE
    import aiohttp  # noqa: PLC0415 - kopf's transport, for this command only
    from .clients.errors import Retryable  # noqa: PLC0415 - with the handlers, for this command only
    from .clients.kube import NoClusterConfig, configured_server, unreachable_words  # noqa: PLC0415
    try:
        return run(options)
    except NoClusterConfig as err:
        print(f"modeldeploy operator: {err}", file=sys.stderr)
        return EXIT_NO_CLUSTER
    except OSError as err:
        if err.errno != errno.EADDRINUSE:
            raise
        # As `serve` does with a busy port: a usage error naming the flags, not a bug report.
        print(f"modeldeploy operator: {options.bind_address}:{options.metrics_port} (--metrics-port) or "
              f":{options.health_port} (--health-port) is already in use by another process; stop it or give "
              "other ports", file=sys.stderr)
        return EXIT_USAGE
    except (Retryable, aiohttp.ClientConnectorError) as err:
        if getattr(err, "status", 0) != 0:  # the server answered (429, 5xx): not this case
            raise
        # The API server could not be reached at all (at start-up, or by kopf's watches for longer than their
        # own retries): a wrong address or a cluster that is down.
        print(f"modeldeploy operator: API server at {configured_server() or 'the configured address'} unreachable: "
              f"{unreachable_words(err)}; check that the cluster is up and that KUBECONFIG (or the pod's "
              "in-cluster config) points at it", file=sys.stderr)
        return EXIT_UNREACHABLE


def _load(filename: str) -> LoadResult:
    return load_text(sys.stdin.read(), source="<stdin>") if filename == "-" else load_file(filename)


def _cmd_crd(args: argparse.Namespace) -> int:
    if args.peering:
        crds = build_peering_crds()
        sys.stdout.write(json.dumps({"apiVersion": "v1", "kind": "List", "items": crds}, indent=2) + "\n"
                         if args.output == "json" else _generated_header("crd --peering", "kopf's peering schema") + dump_all(crds))
        return EXIT_OK
    crd = build_crd()
    sys.stdout.write(json.dumps(crd, indent=2) + "\n" if args.output == "json" else _generated_header() + dump(crd))
    return EXIT_OK


def _cmd_rbac(args: argparse.Namespace) -> int:
    from .clients.permissions import rbac_document  # noqa: PLC0415 - keeps the kubernetes client off other commands

    sys.stdout.write(_generated_header("rbac", "modeldeploy.clients.permissions") + dump(rbac_document()))
    return EXIT_OK


def _generated_header(command: str = "crd", source: str = "the API models") -> str:
    return f"# Generated by `modeldeploy {command}` from {source}. Do not edit by hand.\n"


def _cmd_render(args: argparse.Namespace) -> int:
    # Offline there is no cluster to ask: render shows what an engine keda ModelDeployment gets where KEDA runs.
    # Built first: a bad --runtime-image is a usage error before any file is read.
    options = BuildOptions(runtime_image=args.runtime_image, keda_available=True, gateway_available=True)
    results = [_load(filename) for filename in args.filename]
    for result in results:
        for message in result.messages(cluster=not args.local):
            print(message, file=sys.stderr)
    if not all(result.ok for result in results):
        return EXIT_INVALID  # nothing rendered: half a set of manifests applied is worse than none
    objects = [obj for result in results for md in result.model_deployments for obj in build_all(md, options)]
    if args.output == "json":
        sys.stdout.write(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}, indent=2) + "\n")
    else:
        sys.stdout.write(dump_all(objects))
    return EXIT_OK


def _cmd_validate(args: argparse.Namespace) -> int:
    status = EXIT_OK
    for filename in args.filename:
        result = _load(filename)
        for message in result.messages(cluster=not args.local):
            print(message, file=sys.stderr if not result.ok or ": warning: " in message else sys.stdout)
        if args.local:
            for message in _local_warnings(result):
                print(message, file=sys.stderr)
        if result.ok:
            names = ", ".join(md.name for md in result.model_deployments)
            print(f"{result.source}: valid ({names})")
        else:
            status = EXIT_INVALID
    return status


def _local_warnings(result: LoadResult) -> list[str]:
    """What `modeldeploy serve` will change to run the file on this machine (GPU instance groups without a GPU)."""
    from modeldeploy_runtime.local_gpus import cpu_fallback_warning  # noqa: PLC0415 - NVML only for --local

    return [f"{result.source}: {report.where}: warning: {warning}" for report in result.reports
            if report.model_deployment is not None and (warning := cpu_fallback_warning(report.model_deployment))]


if __name__ == "__main__":
    sys.exit(main())
