"""spec.model.storage: how the fetch init container reaches the model's store.

Endpoint, region and addressing for S3-compatible stores, the credentials
Secret, a CA bundle and a proxy. All of it reaches the fetch container only;
Triton never sees any of it (its settings are spec.runtime).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qsl, urlsplit

from pydantic import AfterValidator, BeforeValidator, Field

from .base import DNS1123_SUBDOMAIN, ApiModel, FieldError


def _same_namespace(value: object) -> object:
    if isinstance(value, str) and "/" in value:
        raise ValueError(
            f"{value!r} points into another namespace; name a Secret in the ModelDeployment's own namespace: "
            "copy the Secret here and give its name alone"
        )
    return value


# A Secret of the ModelDeployment's own namespace: a cross-namespace reference
# would let anyone who may create a ModelDeployment read another team's Secret.
SecretName = Annotated[str, Field(max_length=253, pattern=DNS1123_SUBDOMAIN), BeforeValidator(_same_namespace)]

# Query parameters that carry a credential: presigned S3 and GCS URLs, Azure
# SAS signatures, and the usual token parameters.
CREDENTIAL_PARAMS = (
    "x-amz-signature", "x-amz-credential", "x-amz-security-token", "x-goog-signature", "x-goog-credential",
    "googleaccessid", "signature", "sig", "token", "access_token", "api_key", "apikey", "key", "password",
    "secret",
)
_PRESIGNED = {"x-amz-signature", "x-amz-credential", "x-amz-security-token", "x-goog-signature",
              "x-goog-credential", "googleaccessid", "signature", "sig"}


def uri_credentials_problem(uri: str) -> str | None:
    """Why a URI must not be stored in a Deployment: it carries a credential. None when it does not."""
    parts = urlsplit(uri)
    if "@" in parts.netloc:
        return ("carries credentials (user info before '@'); the URI is stored in the Deployment, readable by "
                "anyone who may read it: put them in a Secret and name it in storage.credentialsSecret")
    names = {name.lower() for name, _ in parse_qsl(parts.query, keep_blank_values=True)}
    found = sorted(names & set(CREDENTIAL_PARAMS))
    if not found:
        return None
    if names & _PRESIGNED:
        return (f"is a presigned URL (it carries {found[0]}); the URI is stored in the Deployment and the "
                "signature would let anyone who reads it download the model: use s3://bucket/key or "
                "gs://bucket/key with storage.credentialsSecret instead")
    return (f"carries a credential in its query ({found[0]}); the URI is stored in the Deployment: put the "
            "token in a Secret (key token) and name it in storage.credentialsSecret")


def _server_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host, e.g. https://minio.storage:9000")
    if "@" in parts.netloc:
        raise ValueError("must not carry credentials (user info before '@'): the URL is stored in the Deployment, "
                         "readable by anyone who may read it; remove them (store credentials belong in "
                         "storage.credentialsSecret)")
    if parts.query or parts.fragment or parts.path not in ("", "/"):
        raise ValueError("is scheme://host[:port] only, without a path or query")
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 1 <= port <= 65535:
        raise ValueError(f"has port {parts.netloc.rpartition(':')[2]!r}: give a TCP port from 1 to 65535, "
                         "e.g. https://minio.storage:9000")
    return value


# The pattern is for the CRD; the validator explains a bad URL better.
ServerUrl = Annotated[str, Field(max_length=512, json_schema_extra={"pattern": r"^https?://[^/@?#]+/?$"}),
                      AfterValidator(_server_url)]


class CaBundle(ApiModel):
    config_map: str = Field(max_length=253, pattern=DNS1123_SUBDOMAIN,
                            description="A ConfigMap in this namespace holding PEM certificates.")
    key: str = Field(default="ca.crt", max_length=253, pattern=r"^[-._a-zA-Z0-9]+$",
                     description="The ConfigMap key of the PEM bundle.")


class Proxy(ApiModel):
    url: ServerUrl = Field(
        description="Proxy for the fetch container (HTTPS_PROXY and HTTP_PROXY), e.g. http://proxy.corp:3128.",
    )
    no_proxy: list[Annotated[str, Field(max_length=253, pattern=r"^[A-Za-z0-9.*:/_-]+$")]] = Field(
        default_factory=list, max_length=32,
        description="Hosts, domains (.corp.example) or CIDRs reached directly (NO_PROXY).",
    )


class StorageSpec(ApiModel):
    endpoint: ServerUrl | None = Field(
        default=None,
        description="s3:// only: an S3-compatible endpoint (MinIO, Ceph, on-prem), e.g. https://minio.storage:9000.",
    )
    region: str | None = Field(default=None, max_length=32, pattern=r"^[a-z0-9-]+$",
                               description="s3:// only: the bucket's region, e.g. eu-west-1.")
    path_style: bool | None = Field(
        default=None, description="s3:// only: address buckets as endpoint/bucket/key (MinIO's usual setting).",
    )
    credentials_secret: SecretName | None = Field(
        default=None,
        description="A Secret in this namespace with the store's credentials, mounted into the fetch container "
                    "only. Keys: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (optional AWS_SESSION_TOKEN) for s3://; "
                    "service-account.json for gs://; token (a bearer token) for http(s)://.",
    )
    ca_bundle: CaBundle | None = Field(default=None, description="Extra CA certificates to trust (private stores).")
    proxy: Proxy | None = None


# Each Python rule below has its CEL twin, so the API server refuses the same specs.
STORAGE_CEL_RULES = (
    {"rule": "!self.uri.matches('^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*@')",
     "message": "uri carries credentials (user info); use storage.credentialsSecret"},
    {"rule": "!self.uri.matches('(?i)[?&](" + "|".join(CREDENTIAL_PARAMS) + ")=')",
     "message": "uri carries a signature or token in its query; use storage.credentialsSecret"},
    {"rule": "!has(self.sha256) || !self.uri.endsWith('/')",
     "message": "sha256 is the digest of one file; for a folder (uri ending in /) give treeSha256"},
    {"rule": "!has(self.sha256) || !has(self.treeSha256)",
     "message": "give sha256 (one file or archive) or treeSha256 (the fetched folder), not both"},
    {"rule": "!has(self.storage) || !(self.uri.startsWith('file:') || self.uri.startsWith('pvc://'))",
     "message": "storage applies to remote sources (http(s)://, s3://, gs://)"},
    {"rule": "!has(self.storage) || self.uri.startsWith('s3://') || "
             "!(has(self.storage.endpoint) || has(self.storage.region) || has(self.storage.pathStyle))",
     "message": "storage.endpoint, region and pathStyle apply to s3:// sources only"},
)


def source_problems(uri: str, sha256: str | None, tree_sha256: str | None,
                    storage: StorageSpec | None) -> list[FieldError]:
    """Rules between spec.model's uri, digests and storage settings (field paths relative to spec.model)."""
    problems = []
    if uri.endswith("/") and sha256 is not None:
        problems.append(FieldError("sha256", "is the digest of one file or archive, and uri names a folder (it "
                                             "ends with /): give treeSha256 instead, which `modeldeploy digest "
                                             "DIR` prints"))
    if sha256 is not None and tree_sha256 is not None:
        problems.append(FieldError("treeSha256", "give sha256 (one file or archive) or treeSha256 (the fetched "
                                                 "folder), not both"))
    if storage is None:
        return problems
    scheme = urlsplit(uri).scheme.lower()
    if scheme in ("file", "pvc"):
        problems.append(FieldError("storage", f"applies to remote sources (http(s)://, s3://, gs://); {scheme}: "
                                              "sources are read from the pod's own volumes: remove storage"))
    elif scheme != "s3":
        for field, value in (("endpoint", storage.endpoint), ("region", storage.region),
                             ("pathStyle", storage.path_style)):
            if value is not None:
                problems.append(FieldError(f"storage.{field}", f"applies to s3:// sources only, not {scheme}://; "
                                                               "remove it"))
    return problems
