"""spec.auth: an API key on Triton's inference endpoints, without a service mesh."""

from __future__ import annotations

from pydantic import Field

from .base import ApiModel
from .storage import SecretName

# The Secret key holding the API key: `kubectl create secret generic NAME --from-literal=api-key=...`.
API_KEY_SECRET_KEY = "api-key"
# The Triton container's variable that the kubelet fills from that Secret.
API_KEY_ENV = "MODELDEPLOY_API_KEY"


class Auth(ApiModel):
    api_key_secret: SecretName = Field(
        description=f"A Secret in this namespace whose key {API_KEY_SECRET_KEY!r} holds the API key. Inference, "
                    "metadata, model config and statistics then need the header x-api-key (gRPC metadata "
                    "triton-grpc-protocol-x-api-key); health stays open for probes. Changing the Secret's value "
                    "rolls the pods.",
    )
