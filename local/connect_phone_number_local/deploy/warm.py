"""A warm runtime for the local deploy's Lambda runs: each run is still a process of its own, forked from one that has imported boto3.

A cold run (``python -I lambda_runner.py``, the default) spends most of a CPU second before the handler's
first line: importing boto3 and parsing botocore's models for the Connect client. A test suite that deploys
a hundred times pays that a hundred times. ``enable()`` (its conftest calls it) starts one runtime process that
has done that work once, with botocore's data loader shared by every session it makes; each Lambda run is then
forked from it (started at the first run). The run is otherwise the same as a cold one: a new process with the function's environment,
the asset directory first on its path, the handler imported afresh, the event on stdin, logs on stderr, its
exit code, killed at its timeout. A handler that bundles its own boto3 would get the runtime's instead. POSIX only.

    python -I warm.py SOCKET   # the runtime: says "ready" on stdout, serves until its stdin closes
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import io
import json
import os
import select
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, TextIO

import boto3
import botocore.loaders
import botocore.session

from connect_phone_number_local.deploy import lambda_runner

RUNTIME = Path(__file__).resolve()
# A request: its length, then JSON ({"argv": [...], "environment": {...}, "stdin": "..."}); its stderr comes as a passed file descriptor.
LENGTH = struct.Struct("!I")


class WarmRun:
    """One Lambda run forked by the runtime: the parts of ``subprocess.Popen`` the local deploy uses."""

    def __init__(self, connection: socket.socket, stderr: TextIO) -> None:
        self._connection = connection
        self._received = b""
        self.stderr = stderr
        self.returncode: int | None = None
        self.pid = int(self._reply(None) or b"0")

    def poll(self) -> int | None:
        """The exit code, or None while the run goes on (negative: the signal that ended it)."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            return self.wait(0.0)
        return None

    def wait(self, timeout: float | None = None) -> int:
        """The exit code, once the run has ended; raises ``subprocess.TimeoutExpired`` after ``timeout`` seconds."""
        if self.returncode is None:
            line = self._reply(timeout)
            if line is None:
                raise subprocess.TimeoutExpired(str(RUNTIME), timeout or 0.0)
            self.returncode = int(line) if line else -signal.SIGKILL  # the runtime is gone, and the run with it
            self._connection.close()
        return self.returncode

    def kill(self) -> None:
        """SIGKILL the run, as Lambda stops a run at its timeout."""
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    def _reply(self, timeout: float | None) -> bytes | None:
        """The runtime's next line about this run (b"" if it closed the connection), or None after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self._received:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not select.select([self._connection], [], [], left)[0]:
                return None
            chunk = self._connection.recv(64)
            if not chunk:
                return b""
            self._received += chunk
        line, _, self._received = self._received.partition(b"\n")
        return line


class WarmRuntime:
    """The runtime process, and the client side of its socket."""

    def __init__(self) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="warm-lambda-")
        self._socket = str(Path(self._folder.name) / "runtime.sock")
        self._process = subprocess.Popen(  # noqa: S603 - this module, as a script; no shell
            [sys.executable, "-I", str(RUNTIME), self._socket], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self._process.stdout is not None
        if self._process.stdout.readline().strip() != "ready":
            raise RuntimeError("the warm Lambda runtime did not start")

    def run(self, argv: list[str], environment: dict[str, str], stdin: str) -> WarmRun:
        """Fork one run of ``lambda_runner.py`` ARGV, with ``environment`` and ``stdin``."""
        read_end, write_end = os.pipe()
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            connection.connect(self._socket)
            body = json.dumps({"argv": argv, "environment": environment, "stdin": stdin}).encode()
            socket.send_fds(connection, [LENGTH.pack(len(body)) + body], [write_end])
        except BaseException:
            connection.close()
            os.close(read_end)
            raise
        finally:
            os.close(write_end)  # the run holds the only write end: its stderr ends when it does
        return WarmRun(connection, open(read_end, encoding="utf-8", errors="replace"))  # the run's stderr: its reader closes it

    def stop(self) -> None:
        """End the runtime (runs still going are not waited for)."""
        if self._process.poll() is None:
            assert self._process.stdin is not None
            self._process.stdin.close()
            self._process.wait(timeout=10)
        self._folder.cleanup()


class _Enabled:
    """Whether this process forks its Lambda runs from a warm runtime, and the runtime once started."""

    wanted = False
    runtime: WarmRuntime | None = None
    lock = threading.Lock()


def enable() -> None:
    """Fork this process's later Lambda runs from a warm runtime (started at the first run; stopped by ``disable`` or at exit)."""
    _Enabled.wanted = True


def disable() -> None:
    """Back to cold runs: a new ``python -I`` per run."""
    with _Enabled.lock:
        _Enabled.wanted = False
        runtime, _Enabled.runtime = _Enabled.runtime, None
    if runtime is not None:
        runtime.stop()


def runtime() -> WarmRuntime | None:
    """The warm runtime to fork runs from, started now if need be; None unless ``enable`` was called."""
    with _Enabled.lock:
        if _Enabled.wanted and _Enabled.runtime is None:
            _Enabled.runtime = WarmRuntime()
            atexit.register(disable)
        return _Enabled.runtime


# --- the runtime process ---------------------------------------------------------------------------------------


def _warm_up() -> None:
    """What every run would do first: import boto3 and load the Connect client's models, into one shared loader."""
    botocore.session.create_loader = functools.cache(botocore.loaders.create_loader)
    boto3.session.Session().client("connect", region_name="us-east-1")


def _receive(connection: socket.socket) -> tuple[dict[str, Any], int]:
    """One request and the file descriptor for its stderr."""
    data, fds, _, _ = socket.recv_fds(connection, 1 << 16, 1)
    (length,) = LENGTH.unpack_from(data)
    data = data[LENGTH.size :]
    while len(data) < length:
        chunk = connection.recv(length - len(data))
        if not chunk:
            raise ConnectionError("the request was cut short")
        data += chunk
    return json.loads(data), fds[0]


def _serve(path: str) -> tuple[dict[str, Any], int]:
    """Fork a run per request; report each run's pid, then its exit code. Returns only in a forked run."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    selector.register(sys.stdin, selectors.EVENT_READ)
    runs: dict[int, socket.socket] = {}
    print("ready", flush=True)
    while True:
        for key, _ in selector.select(timeout=0.02):
            if key.fileobj is sys.stdin:
                sys.exit(0)  # the local deploy closed our stdin: it is done
            connection, _ = listener.accept()
            request, stderr = _receive(connection)
            pid = os.fork()
            if pid == 0:
                # The run: none of the runtime's sockets, stdin from the request, stdout nowhere, stderr to the deploy.
                for other in (listener, connection, *runs.values()):
                    other.close()
                devnull = os.open(os.devnull, os.O_RDWR)
                for fd, target in ((0, devnull), (1, devnull), (2, stderr)):
                    os.dup2(target, fd)
                os.close(devnull)
                os.close(stderr)
                return request, pid
            os.close(stderr)
            connection.sendall(f"{pid}\n".encode())
            runs[pid] = connection
        while runs:  # report the runs that ended
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            with contextlib.suppress(OSError), runs.pop(pid) as connection:
                connection.sendall(f"{os.waitstatus_to_exitcode(status)}\n".encode())


def main() -> None:
    """The runtime; in each forked run, what ``python -I lambda_runner.py ARGV`` does."""
    _warm_up()
    request, _ = _serve(sys.argv[1])
    os.environ.clear()
    os.environ.update(request["environment"])
    sys.argv = request["argv"]
    sys.stdin = io.StringIO(request["stdin"])
    lambda_runner.main()  # an uncaught exception or SystemExit ends the run as it ends the cold one


if __name__ == "__main__":
    main()
