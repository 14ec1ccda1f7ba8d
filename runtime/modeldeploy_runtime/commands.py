"""The runtime's subcommands of `modeldeploy`: fetch, build-repo, package, serve, infer, tune.

Heavy modules (torch, Triton clients) load inside each command, so `modeldeploy
render` stays fast. Failures print one line, `CODE: reason`, and exit with the
code's number: the init containers' termination message.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, Callable

from .arg_types import bounded_int, positive_float, tcp_port
from .errors import ExitCode, RuntimeFailure
from .fetch_options import add_fetch_options, fetch_settings


def add_commands(sub: Any, load: Callable[[str], Any]) -> None:
    fetch = sub.add_parser("fetch", help="download and verify a model artifact into DEST (init container)")
    fetch.add_argument("src", help="file:, http(s)://, s3:// or gs:// URI; s3://bucket/prefix/ fetches a folder")
    fetch.add_argument("dest", type=Path, help="folder to create")
    add_fetch_options(fetch)
    fetch.set_defaults(func=_guard(_fetch))

    digest = sub.add_parser("digest", help="print the treeSha256 (and a file's sha256) that spec.model pins")
    digest.add_argument("path", type=Path, help="a model folder, an archive (its contents count) or a file")
    digest.set_defaults(func=_guard(_digest))

    build = sub.add_parser("build-repo", help="lay out a Triton model repository from a fetched artifact")
    build.add_argument("--source", type=Path, required=True, help="the fetched artifact: fetch's DEST folder")
    build.add_argument("--repository", type=Path, required=True,
                       help="the model repository folder Triton reads (--model-repository)")
    build.add_argument("--model", required=True, help="the model's name in the repository (spec.model.name)")
    build.add_argument("--version", required=True, help="the version folder to create, e.g. 1 (spec.model.version)")
    build.add_argument("--format", required=True, choices=["onnx", "torchscript", "tensorrt", "python", "savedmodel"],
                       help="spec.model.format: decides the file name Triton's backend expects")
    build.add_argument("--config", type=Path, required=True, help="config.pbtxt to install")
    build.set_defaults(func=_guard(_build_repo))

    package = sub.add_parser("package", help="turn a torch model into a Triton model folder")
    package.add_argument("model", type=Path,
                         help="TorchScript file, a model saved with torch.save(model), or a state dict (with --model-class)")
    package.add_argument("--example-input", action="append", required=True,
                         help="SHAPE[:DTYPE][VALUES] with the batch first, e.g. 8x16:float32, '8x4:int64[0,10)' "
                              "(integers 0-9), '8x4:int64{1,5,7}'; one per forward() input, in order")
    package.add_argument("--model-class", metavar="MODULE:CLASS",
                         help="where the model's class lives, e.g. tinynet:TinyNet or train.py:TinyCNN (for a class "
                              "defined in the script that saved the model, and to build a model from a state dict)")
    package.add_argument("-o", "--output", type=Path, required=True,
                         help="model folder to write model.pt and model.py into (created if missing)")
    package.add_argument("--force", action="store_true",
                         help="replace a model.pt or model.py in the folder that package did not write (never the "
                              "input itself)")
    package.add_argument("--quantize", choices=["int8"], help="dynamic int8 quantization of Linear layers")
    package.add_argument("--max-batch-size", type=bounded_int(0), default=64,
                         help="spec.model.config.maxBatchSize to print; 0 turns batching off (default: %(default)s)")
    package.set_defaults(func=_guard(_package))

    serve = sub.add_parser("serve", help="serve a ModelDeployment locally through a real Triton (no cluster)")
    serve.add_argument("-f", "--filename", required=True, help=_FILENAME_HELP)
    serve.add_argument("--name", help="which ModelDeployment, when the file holds several")
    serve.add_argument("--http-port", type=tcp_port, help="Triton's HTTP port on 127.0.0.1 (default: a free one)")
    serve.add_argument("--grpc-port", type=tcp_port, help="Triton's gRPC port on 127.0.0.1 (default: a free one)")
    serve.add_argument("--metrics-port", type=tcp_port,
                       help="Triton's Prometheus /metrics port on 127.0.0.1 (default: a free one)")
    serve.add_argument("--workdir", type=Path,
                       help="where fetched models and the repository go (default: ~/.cache/modeldeploy/serve/"
                            "NAMESPACE-NAME-<folder hash>); one serve at a time")
    serve.add_argument("--ready-timeout", type=positive_float, default=120.0, metavar="SECONDS",
                       help="seconds to wait for the model to load and answer (default: %(default)s)")
    serve.add_argument("--once", action="store_true", help="answer one inference over HTTP and gRPC, then stop")
    serve.set_defaults(func=_guard(lambda args: _serve(args, load)))

    infer = sub.add_parser("infer", help="send an inference to a served ModelDeployment")
    infer.add_argument("-f", "--filename", required=True, help=_FILENAME_HELP)
    infer.add_argument("--name", help="which ModelDeployment, when the file holds several")
    infer.add_argument("--url", default="127.0.0.1:8000", help="host:port of Triton's HTTP (or gRPC) endpoint")
    infer.add_argument("--protocol", choices=["http", "grpc"], default="http",
                       help="http (binary tensors: the cheapest path measured, docs/performance.md) or grpc")
    infer.add_argument("--data", help='JSON object of input name → nested list, e.g. \'{"INPUT__0": [[0.5, 1.0]]}\'; inputs not '
                            'named get ones (default: ones for all). With spec.auth the key comes from '
                            '$MODELDEPLOY_API_KEY')
    infer.set_defaults(func=_guard(lambda args: _infer(args, load)))

    from .tune import add_tune_command  # noqa: PLC0415 - the tune options and logic live in their own module
    add_tune_command(sub, lambda args: _pick(load, args.filename, args.name), _guard)


_FILENAME_HELP = "YAML file with the ModelDeployment (choose with --name when it holds several), or - for stdin"


def _guard(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except RuntimeFailure as failure:
            print(failure.line(), file=sys.stderr)
            return int(failure.code)
    return run


def _fetch(args: argparse.Namespace) -> int:
    from .fetch import fetch  # noqa: PLC0415
    result = fetch(args.src, args.dest, sha256=args.sha256, tree_sha256=args.tree_sha256, max_bytes=args.max_bytes,
                   settings=fetch_settings(args))
    state = "already present" if result.reused else "fetched"
    print(f"{state}: {args.dest}" + (f" (sha256 {result.sha256})" if result.sha256 else "")
          + (f" (tree sha256 {result.tree_sha256})" if result.tree_sha256 else ""))
    return 0


def _digest(args: argparse.Namespace) -> int:
    from .fetch.digest_command import describe  # noqa: PLC0415
    for line in describe(args.path):
        print(line)
    return 0


def _build_repo(args: argparse.Namespace) -> int:
    from .repository import build_repository  # noqa: PLC0415
    try:
        config_text = args.config.read_text()
    except OSError as err:
        raise RuntimeFailure(ExitCode.SOURCE_NOT_FOUND, f"cannot read {args.config}: {err.strerror}") from None
    target = build_repository(args.source, args.repository, args.model, args.version, args.format, config_text)
    print(f"built {target}")
    return 0


def _package(args: argparse.Namespace) -> int:
    from .example_inputs import parse_example_input  # noqa: PLC0415
    from .package import check_output, package_module  # noqa: PLC0415
    from .torch_loading import load_model  # noqa: PLC0415
    examples = [parse_example_input(spec) for spec in args.example_input]
    class_file = (args.model_class or "").rpartition(":")[0]
    inputs = [args.model] + ([Path(class_file), args.model.parent / class_file] if class_file.endswith(".py") else [])
    check_output(args.output, inputs, force=args.force)
    model = load_model(args.model, args.model_class)
    report = package_module(model, examples, args.output, quantize=args.quantize, specs=args.example_input)
    print(f"wrote {args.output}/model.pt and {args.output}/model.py")
    if report.quantization:
        print(report.quantization.summary())
        warning = report.quantization.warning()
        if warning:
            print(warning, file=sys.stderr)
    print("Add to spec.model (format: python locally, torchscript with the libtorch backend):")
    print(report.config_yaml(args.max_batch_size), end="")
    return 0


def _pick(load: Callable[[str], Any], filename: str, name: str | None) -> Any:
    result = load(filename)
    for message in result.messages():
        print(message, file=sys.stderr)
    if not result.ok:
        raise RuntimeFailure(ExitCode.USAGE, f"{filename} is not valid; see above")
    candidates = [md for md in result.model_deployments if name in (None, md.name)]
    if len(candidates) != 1:
        names = ", ".join(md.name for md in result.model_deployments)
        if name is not None:
            raise RuntimeFailure(ExitCode.USAGE, f"--name {name}: {filename} holds no ModelDeployment of that name; "
                                                 f"it holds {names}")
        raise RuntimeFailure(ExitCode.USAGE, f"{filename} holds {names or 'no match'}; choose one with --name")
    return candidates[0]


def _stop_like_ctrl_c(signum: int, frame: object) -> None:  # noqa: ARG001 - signal handler
    """SIGTERM stops the server the same way Ctrl-C does."""
    raise KeyboardInterrupt


def _serve(args: argparse.Namespace, load: Callable[[str], Any]) -> int:
    from .infer import as_json, curl_example, example_inputs, infer  # noqa: PLC0415
    from .serve import ServeOptions, default_workdir, serving  # noqa: PLC0415
    md = _pick(load, args.filename, args.name)
    options = ServeOptions(http_port=args.http_port, grpc_port=args.grpc_port, metrics_port=args.metrics_port,
                           workdir=args.workdir, ready_timeout_seconds=args.ready_timeout)
    base_dir = Path(args.filename).resolve().parent
    signal.signal(signal.SIGTERM, _stop_like_ctrl_c)
    print(f"serving {md.name}: fetching {md.spec.model.uri} and starting Triton…", file=sys.stderr)
    try:
        with serving(md, base_dir, options) as server:
            print(f"{md.name} is ready (model {md.model_name}, version {md.spec.model.version}, smoke inference passed) "
                  f"in {server.seconds_to_ready:.1f}s")
            print(f"  HTTP     http://{server.http_url}/v2/models/{md.model_name}")
            print(f"  gRPC     {server.grpc_url}")
            print(f"  metrics  {server.metrics_url}")
            if server.api_key is not None:
                _print_api_key(server.api_key)
            if args.once:
                for protocol, url in (("http", server.http_url), ("grpc", server.grpc_url)):
                    outputs = infer(md, url, example_inputs(md), protocol=protocol, headers=server.headers(protocol))
                    print(f"inference over {protocol}: {as_json(outputs)}")
                return 0
            print("Try it:")
            request_file = (args.workdir or default_workdir(md, base_dir)).resolve() / "request.json"
            key_prefix, key_header = _key_for_try_it(server.api_key)
            print(f"  {curl_example(md, server.http_url, request_file, key_header)}")
            print(f"  {key_prefix}modeldeploy infer -f {args.filename} --url {server.http_url}")
            print("  (curl sends JSON tensors; clients that care about speed send binary ones with tritonclient, "
                  "as modeldeploy infer does)")
            print("Ctrl-C stops the server.", flush=True)
            while server.triton.process.poll() is None:
                time.sleep(0.5)
            triton = server.triton
            raise RuntimeFailure(ExitCode.TRITON_FAILED, f"tritonserver exited with code "
                                                         f"{triton.process.returncode}: {triton.failure()}")
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
        return 0


def _infer(args: argparse.Namespace, load: Callable[[str], Any]) -> int:
    from .infer import as_json, check_url, example_inputs, infer  # noqa: PLC0415
    check_url(args.url)  # a flag, checked before any work
    md = _pick(load, args.filename, args.name)
    try:
        data = json.loads(args.data) if args.data else None
    except json.JSONDecodeError as err:
        raise RuntimeFailure(ExitCode.USAGE, f"--data is not JSON: {err}") from None
    print(as_json(infer(md, args.url, example_inputs(md, data=data), protocol=args.protocol,
                        headers=_api_key_headers(args.protocol))))
    return 0


def _api_key_headers(protocol: str) -> dict[str, str]:
    """The API key of a ModelDeployment with spec.auth, from $MODELDEPLOY_API_KEY."""
    from modeldeploy.api import API_KEY_ENV  # noqa: PLC0415
    from modeldeploy.builders import api_key_headers  # noqa: PLC0415
    return api_key_headers(os.environ.get(API_KEY_ENV), protocol)


def _key_for_try_it(key: str | None) -> tuple[str, str | None]:
    """What the "Try it" lines add for spec.auth: (an environment prefix for infer, curl's header)."""
    if key is None:
        return "", None
    from modeldeploy.api import API_KEY_ENV  # noqa: PLC0415
    from modeldeploy.builders import API_KEY_HEADER  # noqa: PLC0415
    if os.environ.get(API_KEY_ENV):  # yours, already in the environment: named, never printed
        return "", f"{API_KEY_HEADER}: ${API_KEY_ENV}"
    return f"{API_KEY_ENV}={key} ", f"{API_KEY_HEADER}: {key}"


def _print_api_key(key: str) -> None:
    from modeldeploy.api import API_KEY_ENV  # noqa: PLC0415
    from modeldeploy.builders import API_KEY_HEADER, GRPC_API_KEY_HEADER  # noqa: PLC0415
    # Locally the key is yours: shown when made for this run, never when you gave it.
    shown = f"${API_KEY_ENV}" if os.environ.get(API_KEY_ENV) else \
        f"{key} (made for this run; set ${API_KEY_ENV} to choose)"
    print(f"  API key  {shown}: send header {API_KEY_HEADER} (gRPC metadata {GRPC_API_KEY_HEADER})")
