"""`modeldeploy fetch`'s options: digests, the size limit and how to reach the store (spec.model.storage)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import TYPE_CHECKING

from .arg_types import positive_int

if TYPE_CHECKING:  # the fetch package (urllib3, the API) loads only when fetch runs: `render` stays light
    from .fetch.settings import StorageSettings


def _sha256(text: str) -> str:
    # Checked before the download: a digest that can never match would only fail after it.
    if not re.fullmatch(r"[0-9a-f]{64}", text):
        raise argparse.ArgumentTypeError(f"{text[:80]!r} is not a sha256: write its 64 lowercase hex digits "
                                         "(`modeldeploy digest PATH` prints them)")
    return text


def _endpoint(text: str) -> str:
    if not re.match(r"https?://[^/\s]", text):
        raise argparse.ArgumentTypeError(f"{text!r}: write the endpoint as a URL with its scheme, e.g. "
                                         f"http://{text.split('://')[-1]} or https://minio.example:9000")
    return text


def add_fetch_options(parser: argparse.ArgumentParser) -> None:
    digests = parser.add_mutually_exclusive_group()
    digests.add_argument("--sha256", type=_sha256,
                         help="expected sha256 of the file or archive; fail closed on mismatch")
    digests.add_argument("--tree-sha256", type=_sha256, help="expected digest of the fetched folder (`modeldeploy "
                                                             "digest` prints it); fail closed on mismatch")
    parser.add_argument("--max-bytes", type=positive_int, default=64 << 30,
                        help="size limit for everything fetched, archives' contents included (default 64 GiB)")
    parser.add_argument("--endpoint", type=_endpoint,
                        help="s3://: an S3-compatible endpoint URL, e.g. https://minio.example:9000 (default: "
                             "AWS_ENDPOINT_URL, else AWS)")
    parser.add_argument("--region", help="s3://: the bucket's region")
    parser.add_argument("--path-style", action="store_true", help="s3://: address buckets as ENDPOINT/BUCKET/KEY")
    parser.add_argument("--ca-bundle", type=Path, help="PEM file of extra CA certificates to trust")
    parser.add_argument("--parallel", type=positive_int, help="objects (or parts) downloaded at once (default 8)")


def fetch_settings(args: argparse.Namespace) -> StorageSettings:
    from .fetch.settings import DEFAULT_WORKERS, StorageSettings  # noqa: PLC0415

    return StorageSettings(endpoint=args.endpoint, region=args.region, path_style=args.path_style,
                           ca_bundle=args.ca_bundle, workers=max(1, args.parallel or DEFAULT_WORKERS))
