"""What the builders need from the cluster beyond the spec, passed in so they stay pure.

The operator reads the Secret spec.auth names and passes its revision here;
the pod template carries it, so a new API key rolls the pods (the kubelet
reads a Secret into the environment only when a container starts).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass

from ..api import API_KEY_SECRET_KEY


@dataclass(frozen=True)
class SecretRevisions:
    # secret_revision() of spec.auth.apiKeySecret; None: not known (offline render), nothing stamped.
    api_key: str | None = None


def secret_revision(secret: dict, key: str = API_KEY_SECRET_KEY) -> str | None:
    """A value that changes exactly when the Secret's `key` changes (or the Secret is recreated).

    Not a plain digest of the value: the pod template is readable with the
    `view` role, and a plain sha256 of a short key could be reversed by
    guessing. Keyed with the Secret's own uid, which only those allowed to
    read the Secret can see, it reveals nothing about the key.
    """
    value = (secret.get("data") or {}).get(key)
    uid = (secret.get("metadata") or {}).get("uid")
    if value is None or not uid:
        return None
    return hmac.new(uid.encode(), value.encode(), hashlib.sha256).hexdigest()[:32]


def api_key_problem(secret: dict, key: str = API_KEY_SECRET_KEY) -> str | None:
    """Why the key in this Secret cannot work, or None. Triton gets its bytes as they are (through the
    kubelet), and an HTTP header cannot carry a newline: `--from-file` of a file ending with one is the
    usual way to make such a key."""
    name = (secret.get("metadata") or {}).get("name", "the Secret")
    value = (secret.get("data") or {}).get(key)
    if value is None:
        return f"Secret {name} has no key {key!r}: kubectl create secret generic {name} --from-literal={key}=..."
    try:
        text = base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return f"the {key!r} in Secret {name} is not UTF-8 text"
    if not text.strip():
        return f"the {key!r} in Secret {name} is empty"
    if text != text.strip() or any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        return (f"the {key!r} in Secret {name} has a newline, blank or control character at an end or inside: "
                "no HTTP header can carry it, so no client could call the model; recreate the Secret without it "
                f"(kubectl create secret generic {name} --from-literal={key}=KEY, or strip the file)")
    return None


def api_key_from_secret(secret: dict, key: str = API_KEY_SECRET_KEY) -> str | None:
    """The API key a Secret object (as the API returns it: base64 data) holds, for the operator's own calls."""
    value = (secret.get("data") or {}).get(key)
    if value is None:
        return None
    try:
        return base64.b64decode(value, validate=True).decode().strip() or None
    except (binascii.Error, UnicodeDecodeError):
        return None
