"""moto's S3-compatible server in its own process, on a free loopback port.

Its own process (not moto's in-process thread): authentication is switched on
per server (`enable_auth`), which is global state inside moto, and a
benchmark must not share the GIL with the server it measures.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3
from botocore.config import Config

# moto accepts any credentials until auth is on; these then belong to an IAM user it knows.
ROOT_KEYS = {"aws_access_key_id": "AKIAIOSFODNN7EXAMPLE", "aws_secret_access_key": "root-secret"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class S3Server:
    def __init__(self) -> None:
        self.port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen | None = None

    def __enter__(self) -> S3Server:
        moto = Path(sys.executable).with_name("moto_server")
        self._process = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", str(self.port)],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                         env={**os.environ, "MOTO_CALL_RESET_API": "true"})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1)
                return self
            except OSError:
                time.sleep(0.1)
        self.__exit__()
        raise RuntimeError("moto_server did not start")

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(10)

    def client(self, **keys: str):  # noqa: ANN201 - a boto3 S3 client
        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            config=Config(max_pool_connections=32), **(keys or ROOT_KEYS))

    def add_reader(self, name: str) -> dict[str, str]:
        """An IAM user allowed to read S3; returns its keys (as the credentials Secret holds them)."""
        iam = boto3.client("iam", endpoint_url=self.endpoint, region_name="us-east-1", **ROOT_KEYS)
        iam.create_user(UserName=name)
        # docs/runtime.md's read-only policy: listing on the bucket, reading on its objects, nothing else.
        iam.put_user_policy(UserName=name, PolicyName="read", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::*"},
                {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::*/*"}]}))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}

    def enable_auth(self) -> None:
        """From now on every request must be signed by a known key with a policy that allows it."""
        # A form content type would hide the body from moto's handler.
        urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/moto-api/reset-auth", data=b"0",
                                                      headers={"Content-Type": "text/plain"}, method="POST"),
                               timeout=10)
