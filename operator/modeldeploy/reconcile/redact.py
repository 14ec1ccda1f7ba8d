"""Keep credentials out of everything the operator writes or logs.

Model URIs may carry user:password@ or signed query strings, and a fetch's
failure message may echo them; every message bound for status, Events or logs
passes through `redact`.
"""

from __future__ import annotations

import re

_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@]+@")
_SECRET_PARAMS = re.compile(
    r"(?P<key>[?&](?:x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|x-goog-credential|"
    r"signature|sig|token|access_token|api_key|apikey|key|password|secret)=)[^&\s\"']+",
    re.IGNORECASE,
)
_HEADERS = re.compile(r"(?P<key>\b(?:authorization|x-api-key)\s*[:=]\s*)(?:bearer\s+|basic\s+)?[^\s,;\"']+",
                      re.IGNORECASE)
MAX_MESSAGE = 1024


def redact(text: str) -> str:
    text = _USERINFO.sub(r"\g<scheme>***@", text)
    text = _SECRET_PARAMS.sub(r"\g<key>***", text)
    text = _HEADERS.sub(r"\g<key>***", text)
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"
