"""A local stand-in for the presigned S3 ResponseURL that CloudFormation hands a custom resource."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

# serve_forever looks for a shutdown this often: stop() returns within it (http.server's default is 0.5 s).
SHUTDOWN_POLL_SECONDS = 0.01


class ResponseTimeout(Exception):
    """No response arrived in time: in CloudFormation the stack would hang until its timeout."""


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_PUT(self) -> None:
        key = self.path.split("?")[0].rsplit("/", 1)[-1]
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.condition:
            if self.server.failures_to_inject > 0:
                self.server.failures_to_inject -= 1
                status = 503
            else:
                status = 200
                self.server.received[key] = {
                    "received_at": self.server.clock(),
                    "body": json.loads(body),
                    "size": len(body),
                    "content_type": self.headers.get("Content-Type"),
                }
                self.server.condition.notify_all()
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        return


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    received: dict[str, dict[str, Any]]
    condition: threading.Condition
    failures_to_inject: int
    clock: Callable[[], float]


class ResponseServer:
    """Receives custom-resource responses on loopback, one URL per request.

    ``clock`` (seconds since the epoch) signs the URLs and stamps what arrives: the real clock, or a test's.
    """

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.clock = clock
        self._server.received = {}
        self._server.condition = threading.Condition()
        self._server.failures_to_inject = 0
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": SHUTDOWN_POLL_SECONDS}, name="response-server", daemon=True)

    def url_for(self, key: str) -> str:
        """A ResponseURL for one request. The query mimics a SigV4-presigned URL: signed now, valid two hours."""
        host, port = self._server.server_address[:2]
        signed = datetime.fromtimestamp(self._server.clock(), UTC).strftime("%Y%m%dT%H%M%SZ")
        return f"http://{host!s}:{port}/responses/{key}?X-Amz-Date={signed}&X-Amz-Expires=7200&X-Amz-Signature={secrets.token_hex(16)}"

    def fail_next(self, count: int) -> None:
        """Answer the next ``count`` PUTs with 503, as S3 sometimes does."""
        with self._server.condition:
            self._server.failures_to_inject = count

    def wait(self, key: str, timeout: float) -> dict[str, Any]:
        """The response document for ``key``; raises ResponseTimeout if none comes in time."""
        with self._server.condition:
            if not self._server.condition.wait_for(lambda: key in self._server.received, timeout):
                raise ResponseTimeout(f"no response for {key} within {timeout:.0f} s")
            return dict(self._server.received[key]["body"])

    def raw(self, key: str) -> dict[str, Any]:
        """Everything received for ``key``: body, size and Content-Type."""
        with self._server.condition:
            return dict(self._server.received[key])

    def __enter__(self) -> ResponseServer:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
