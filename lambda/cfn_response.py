"""Answering CloudFormation: one PUT of a small JSON body to the presigned ResponseURL."""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)

# CloudFormation refuses a response body over 4 KiB.
MAX_BODY_BYTES = 4096
SEND_ATTEMPTS = 5
SEND_TIMEOUT_SECONDS = 10
_ELLIPSIS = " [...]"


def build_body(
    event: Mapping[str, Any],
    *,
    status: str,
    physical_id: str,
    reason: str = "",
    data: Mapping[str, str] | None = None,
) -> bytes:
    """The response document, with the Reason shortened (from its end) to fit 4 KiB."""
    document: dict[str, Any] = {
        "Status": status,
        "Reason": reason or status,
        "PhysicalResourceId": physical_id,
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "NoEcho": False,
        "Data": dict(data or {}),
    }
    body = json.dumps(document).encode()
    if len(body) > MAX_BODY_BYTES:
        excess = len(body) - MAX_BODY_BYTES
        # Callers put Connect's own message first, so cutting the tail keeps its meaning.
        keep = max(0, len(document["Reason"]) - excess - len(_ELLIPSIS) - 16)
        while len(body) > MAX_BODY_BYTES and keep >= 0:
            document["Reason"] = document["Reason"][:keep] + _ELLIPSIS
            body = json.dumps(document).encode()
            keep -= 64
    return body


def put(url: str, body: bytes) -> None:
    """PUT ``body`` to the presigned URL, retrying transient network and server errors.

    The Content-Type is empty because the URL's signature was made without one.
    """
    for attempt in range(1, SEND_ATTEMPTS + 1):
        request = urllib.request.Request(url, data=body, method="PUT", headers={"Content-Type": ""})  # noqa: S310 - CloudFormation's URL
        try:
            with urllib.request.urlopen(request, timeout=SEND_TIMEOUT_SECONDS) as reply:  # noqa: S310 - as above
                log.info("response delivered (HTTP %s)", reply.status)
                return
        except urllib.error.HTTPError as error:
            if error.code < 500:
                raise
            problem: Exception = error
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            problem = error
        log.warning("response not delivered (attempt %d): %s", attempt, problem)
        if attempt == SEND_ATTEMPTS:
            raise problem
        time.sleep(0.2 * 2**attempt)


class Responder:
    """Sends exactly one response per event, whichever path gets there first."""

    def __init__(self, event: Mapping[str, Any]) -> None:
        self._event = event
        self._lock = threading.Lock()
        self.sent: str | None = None

    def send(self, status: str, *, physical_id: str, reason: str = "", data: Mapping[str, str] | None = None) -> bool:
        """Send the response unless one was already delivered. Returns whether this call delivered it.

        If delivery fails the error propagates, so Lambda retries the invocation (which is safe
        to repeat) rather than leaving CloudFormation waiting.
        """
        with self._lock:  # held during the PUT, so the watchdog and the main path never both answer
            if self.sent is not None:
                return False
            log.info("answering %s for %s%s", status, physical_id, f": {reason}" if reason else "")
            put(self._event["ResponseURL"], build_body(self._event, status=status, physical_id=physical_id, reason=reason, data=data))
            self.sent = status
            return True
