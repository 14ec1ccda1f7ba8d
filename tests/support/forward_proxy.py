"""A plain-HTTP forward proxy on loopback that records what went through it (HTTP_PROXY's kind)."""

from __future__ import annotations

import http.server
import threading
import urllib.error
import urllib.request
from contextlib import contextmanager
from typing import Iterator

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}


class _Proxy(http.server.BaseHTTPRequestHandler):
    seen: list[str]

    def log_message(self, *args: object) -> None:
        pass

    def _relay(self) -> None:
        type(self).seen.append(f"{self.command} {self.path}")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        request = urllib.request.Request(self.path, data=body, headers=headers, method=self.command)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never proxy ourselves
        try:
            response = opener.open(request, timeout=30)
        except urllib.error.HTTPError as err:
            response = err
        payload = response.read()
        self.send_response(response.status if hasattr(response, "status") else response.code)
        for key, value in response.headers.items():
            # A HEAD's Content-Length is the object's, not this empty body's.
            if key.lower() not in HOP_BY_HOP and (key.lower() != "content-length" or self.command == "HEAD"):
                self.send_header(key, value)
        if self.command != "HEAD":
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_HEAD = do_PUT = do_POST = _relay  # noqa: N815 - stdlib hooks


@contextmanager
def forward_proxy() -> Iterator[tuple[str, list[str]]]:
    """Yields (proxy URL, the requests it relayed)."""
    seen: list[str] = []
    handler = type("Proxy", (_Proxy,), {"seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
