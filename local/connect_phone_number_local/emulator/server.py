"""The emulator's HTTP front: Connect's rest-json protocol on loopback, plus a small admin API."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from . import wire
from .service import ConnectService, EmulatorConfig

log = logging.getLogger(__name__)

ADMIN_PREFIX = "/_emulator/"
_CREDENTIAL = re.compile(r"Credential=([^/]+)/\d{8}/([a-z0-9-]+)/connect/")


# serve_forever looks for a shutdown this often: stop() returns within it (http.server's default is 0.5 s).
SHUTDOWN_POLL_SECONDS = 0.01


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_DELETE = do_GET  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        log.debug("%s " + format, self.address_string(), *args)

    def _serve(self) -> None:
        raw_path = self.path.partition("?")[0]
        try:
            body = self._body()
            if not raw_path.startswith(ADMIN_PREFIX):
                self._reply(*respond(self.server.service, self.command, self.path, self.headers.get("Authorization", ""), body))
                return
            self._admin(raw_path[len(ADMIN_PREFIX) :], body)
        except wire.WireError as error:
            self._reply(*wire.error_body(error))
        except Exception:
            log.exception("emulator fault on %s %s", self.command, raw_path)
            self._reply(*wire.error_body(wire.WireError(500, "InternalServiceException", "Emulator fault")))

    def _body(self) -> bytes:
        length = self.headers.get("Content-Length") or "0"
        if not length.isascii() or not length.isdigit():
            raise wire.WireError(400, "SerializationException", f"Invalid Content-Length: {length}")
        return self.rfile.read(int(length)) if int(length) else b""

    def _admin(self, command: str, body: bytes) -> None:
        service = self.server.service
        args = wire.parse_json(body)
        if command == "state":
            self._reply(
                200,
                {"Content-Type": "application/json"},
                json.dumps({"account_id": service.config.account_id, "numbers": service.held(), "calls": service.calls, "iam": service.iam_summary()}).encode(),
            )
            return
        actions: dict[str, Callable[..., None]] = {
            "fail-claims": service.fail_claims,
            "fail-imports": service.fail_imports,
            "fail-next": service.fail_next,
            "clear-faults": service.clear_faults,
            "identities": service.add_identity,
        }
        if command not in actions:
            self._reply(404, {"Content-Type": "application/json"}, b'{"Message": "unknown admin command"}')
            return
        try:
            actions[command](**args)
        except (TypeError, ValueError) as error:  # arguments the command does not take, or a malformed policy
            raise wire.invalid(f"{command}: {error}") from None
        self._reply(200, {"Content-Type": "application/json"}, b"{}")

    def _reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def respond(service: ConnectService, method: str, path: str, authorization: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
    """One Connect API request on the wire: its status, headers and body, as the HTTP front sends them.

    The HTTP front serves every request through here; a test may call it in-process (a botocore
    ``before-send`` hook, say) to skip the socket while keeping both ends of the wire format.
    """
    raw_path, _, query = path.partition("?")
    try:
        operation, labels = wire.match(method, raw_path)
        params = wire.parse_input(operation, labels, query, body)
        found = _CREDENTIAL.search(authorization)
        key, region = (found.group(1), found.group(2)) if found else (None, None)
        output = wire.output_body(operation, service.handle(operation, params, region, key))
        return 200, {"Content-Type": "application/json"} if output else {}, output
    except wire.WireError as error:
        return wire.error_body(error)
    except Exception:
        log.exception("emulator fault on %s %s", method, raw_path)
        return wire.error_body(wire.WireError(500, "InternalServiceException", "Emulator fault"))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    service: ConnectService


class ConnectEmulator:
    """A local Connect phone-number service on loopback. Use as a context manager.

    >>> with ConnectEmulator() as emulator:
    ...     os.environ.update(emulator.client_environment())
    """

    def __init__(self, config: EmulatorConfig | None = None, *, port: int = 0, state_file: Path | None = None, clock: Callable[[], float] = time.time) -> None:
        self.service = ConnectService(config, clock=clock, state_file=state_file)
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.service = self.service
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The endpoint to give boto3 (AWS_ENDPOINT_URL_CONNECT)."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def client_environment(self) -> dict[str, str]:
        """Environment variables that point boto3's Connect clients here, with dummy credentials."""
        return {
            "AWS_ENDPOINT_URL_CONNECT": self.url,
            "AWS_ACCESS_KEY_ID": "emulator",
            "AWS_SECRET_ACCESS_KEY": "emulator",
            "AWS_REGION": self.service.config.region,
            "AWS_DEFAULT_REGION": self.service.config.region,
        }

    def start(self) -> ConnectEmulator:
        """Serve in a background thread."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": SHUTDOWN_POLL_SECONDS}, name="connect-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted."""
        self._server.serve_forever()

    def __enter__(self) -> ConnectEmulator:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.stop()
