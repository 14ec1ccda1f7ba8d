"""Fetch time of a model folder from an S3-compatible server: `modeldeploy fetch` vs sequential boto3.

The tree has a realistic shape: one large weights file and 20 small ones
(config, tokenizer, a second model's files), random bytes generated here, in
one bucket of moto's S3 server on loopback (its own process). Side by side
in one run, alternating, each repeated:

  (1) modeldeploy fetch s3://bucket/model/ (parallel; objects over 256 MiB in 64 MiB ranged parts)
  (2) the same with whole objects only (no ranged parts)
  (3) sequential boto3: list, then get_object streamed to disk, one object after the other
  (4) sequential boto3 download_file (its transfer manager splits large objects itself)

Each way creates its own client, as an init container does. moto answers a
ranged GET by reading the whole object and slicing it, so on moto ranged
parts cost more than they save; S3 and MinIO serve a range on its own.

Every result is checked against the uploaded tree's digest. Ratios matter;
absolute numbers drift on shared machines.

    python benchmarks/fetch_tree.py [--quick] [--large-mib N] [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from figures import Figure, add_arguments, finish  # noqa: E402
from modeldeploy_runtime.fetch import StorageSettings, fetch, objects  # noqa: E402
from modeldeploy_runtime.fetch.tree import tree_digest  # noqa: E402
from support.s3server import ROOT_KEYS, S3Server  # noqa: E402

SMALL_SIZES = [300, 2_000, 15_000, 120_000, 700_000, 2_500_000, 4_000_000] * 3


def make_tree(root: Path, large_mib: int) -> None:
    (root / "1").mkdir(parents=True)
    (root / "1" / "model.onnx").write_bytes(os.urandom(large_mib << 20))
    for index, size in enumerate(SMALL_SIZES[:20]):
        folder = root / ("tokenizer" if index < 8 else f"preprocess/1/assets-{index % 3}")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"file-{index:02d}.bin").write_bytes(os.urandom(size))


def upload(client, root: Path, prefix: str) -> None:  # noqa: ANN001 - a boto3 client
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        client.upload_file(str(path), "models", f"{prefix}{path.relative_to(root).as_posix()}")


def modeldeploy_fetch(endpoint: str, dest: Path, workers: int, split_above: int) -> None:
    objects.SPLIT_ABOVE_BYTES = split_above
    fetch("s3://models/model/", dest, settings=StorageSettings(endpoint=endpoint, region="us-east-1",
                                                               path_style=True, workers=workers))


def one_after_another(server: S3Server, dest: Path, download) -> None:  # noqa: ANN001 - (client, key, path)
    """List the prefix, then download each object in turn."""
    client = server.client()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket="models", Prefix="model/"):
        for item in page.get("Contents", []):
            target = dest / item["Key"][len("model/"):]
            target.parent.mkdir(parents=True, exist_ok=True)
            download(client, item["Key"], target)


def get_object(client, key: str, target: Path) -> None:  # noqa: ANN001 - a boto3 client
    body = client.get_object(Bucket="models", Key=key)["Body"]
    with target.open("wb") as out:
        for chunk in body.iter_chunks(1 << 20):
            out.write(chunk)


def download_file(client, key: str, target: Path) -> None:  # noqa: ANN001
    client.download_file("models", key, str(target))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a 64 MiB weights file, one repetition")
    parser.add_argument("--large-mib", type=int, default=256, help="the weights file (over 256: ranged parts)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=8)
    add_arguments(parser)
    args = parser.parse_args()
    default_split = objects.SPLIT_ABOVE_BYTES
    large_mib, repeat = (64, 1) if args.quick else (args.large_mib, args.repeat)
    for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "MODELDEPLOY_CREDENTIALS_DIR"):
        os.environ.pop(key, None)
    os.environ["AWS_ACCESS_KEY_ID"] = ROOT_KEYS["aws_access_key_id"]
    os.environ["AWS_SECRET_ACCESS_KEY"] = ROOT_KEYS["aws_secret_access_key"]
    work = Path(tempfile.mkdtemp(prefix="fetch-bench-"))
    try:
        with S3Server() as server:
            client = server.client()
            client.create_bucket(Bucket="models")
            make_tree(work / "tree", large_mib)
            expected = tree_digest(work / "tree")
            total = sum(p.stat().st_size for p in (work / "tree").rglob("*") if p.is_file())
            upload(client, work / "tree", "model/")
            shutil.rmtree(work / "tree")
            ways = {
                f"modeldeploy fetch, {args.workers} threads (default: {objects.PART_BYTES >> 20} MiB parts above "
                f"{default_split >> 20} MiB)":
                    lambda dest: modeldeploy_fetch(server.endpoint, dest, args.workers, default_split),
                f"modeldeploy fetch, {args.workers} threads, whole objects":
                    lambda dest: modeldeploy_fetch(server.endpoint, dest, args.workers, 1 << 62),
                "boto3 get_object, one object after another":
                    lambda dest: one_after_another(server, dest, get_object),
                "boto3 download_file, one object after another":
                    lambda dest: one_after_another(server, dest, download_file),
            }
            times: dict[str, list[float]] = {name: [] for name in ways}
            for _ in range(repeat):
                for name, way in ways.items():
                    dest = work / "out"
                    started = time.perf_counter()
                    way(dest)
                    times[name].append(time.perf_counter() - started)
                    assert tree_digest(dest) == expected, f"{name} fetched something else"
                    shutil.rmtree(dest)
        print(f"tree: 1 file of {large_mib} MiB + 20 small, {total / (1 << 20):.0f} MiB in all; "
              f"{repeat} run(s) each, median")
        ours = statistics.median(times[next(iter(ways))])
        print("| way | seconds | MiB/s | time vs modeldeploy fetch (default) |")
        print("| --- | ---: | ---: | ---: |")
        for name, samples in times.items():
            median = statistics.median(samples)
            print(f"| {name} | {median:.2f} | {total / (1 << 20) / median:.0f} | {median / ours:.2f}× |")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    medians = {name: statistics.median(samples) for name, samples in times.items()}
    ours, whole, get, download = medians.values()
    figures = {
        "boto3_get_object_seconds_over_fetch": Figure(get / ours, "higher",
                                                     "sequential boto3 get_object's time over modeldeploy fetch's"),
        "boto3_download_file_seconds_over_fetch": Figure(download / ours, "higher",
                                                         "sequential boto3 download_file's time over modeldeploy fetch's"),
        "whole_objects_seconds_over_fetch": Figure(whole / ours, "higher",
                                                   "fetch with whole objects only, over the default (ranged parts)"),
        "fetch_mib_per_second": Figure(total / (1 << 20) / ours, "higher", "modeldeploy fetch MiB/s"),
    }
    sys.exit(finish(args, "fetch_tree", figures, {"large_mib": large_mib, "repeat": repeat, "bytes": total,
                                                  "seconds": medians}))


if __name__ == "__main__":
    main()
