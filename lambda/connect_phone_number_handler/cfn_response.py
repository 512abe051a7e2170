"""Answering CloudFormation: one PUT of a small JSON body to the presigned ResponseURL."""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

from . import clock

log = logging.getLogger(__name__)

# CloudFormation refuses a response body over 4 KiB.
MAX_BODY_BYTES = 4096
SEND_TIMEOUT_SECONDS = 10
# A failed PUT is tried again after 0.4 s, 0.8 s, ... up to this pause, while Lambda time lasts.
SEND_PAUSE_CAP_SECONDS = 5.0
# Kept back from the Lambda deadline so that an undeliverable answer still raises (and Lambda
# retries the invocation) instead of the run being cut off mid-PUT.
SEND_MARGIN_SECONDS = 1.0
_ELLIPSIS = " [...]"


def build_body(
    event: Mapping[str, Any],
    *,
    status: str,
    physical_id: str,
    reason: str = "",
    data: Mapping[str, str] | None = None,
) -> bytes:
    """The response document, with the Reason shortened (from its end) to fit 4 KiB once encoded.

    The cut keeps the longest prefix of the Reason that fits, measured in encoded bytes (a
    character can take up to 12 bytes as a JSON escape), so the start of Connect's message survives.
    """
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
    full = document["Reason"]

    def encoded(keep: int | None) -> bytes:
        document["Reason"] = full if keep is None else full[:keep] + _ELLIPSIS
        return json.dumps(document).encode()

    body = encoded(None)
    if len(body) <= MAX_BODY_BYTES:
        return body
    # Binary search on the number of characters kept: the encoded size grows with the prefix.
    low, high = 0, len(full) - 1
    while low < high:
        middle = (low + high + 1) // 2
        if len(encoded(middle)) <= MAX_BODY_BYTES:
            low = middle
        else:
            high = middle - 1
    return encoded(low)


def put(url: str, body: bytes, time_left: Callable[[], float]) -> None:
    """PUT ``body`` to the presigned URL, retrying network and server errors while time is left.

    ``time_left`` gives the seconds left in the Lambda run. The Content-Type is empty because
    the URL's signature was made without one. Raises the last error if no attempt got through.
    """
    attempt = 0
    while True:
        attempt += 1
        request = urllib.request.Request(url, data=body, method="PUT", headers={"Content-Type": ""})  # noqa: S310 - CloudFormation's URL
        timeout = max(1.0, min(SEND_TIMEOUT_SECONDS, time_left() - SEND_MARGIN_SECONDS))
        try:
            with urllib.request.urlopen(request, timeout=timeout) as reply:  # noqa: S310 - as above
                log.info("response delivered (HTTP %s)", reply.status)
                return
        except urllib.error.HTTPError as error:
            if error.code < 500:
                raise
            problem: Exception = error
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            problem = error
        pause = min(SEND_PAUSE_CAP_SECONDS, 0.2 * 2**attempt)
        log.warning("response not delivered (attempt %d): %s", attempt, problem)
        if time_left() - pause < SEND_MARGIN_SECONDS + 1.0:
            raise problem
        clock.sleep(pause)


class Responder:
    """Sends one answer per event: the first one decided, whichever path decides it.

    Once an answer is decided it never changes: a later ``send`` with another status delivers
    the decided answer again if it was not delivered yet, and does nothing if it was. ``answered``
    is set as soon as the answer is decided, before the PUT, so that no Connect call starts
    after it.
    """

    def __init__(self, event: Mapping[str, Any], time_left: Callable[[], float]) -> None:
        self._event = event
        self._time_left = time_left
        self._lock = threading.Lock()
        self._body: bytes | None = None
        self.answered = threading.Event()
        self.sent: str | None = None  # the decided status
        self.delivered = False

    def decide(self, status: str, *, physical_id: str, reason: str = "", data: Mapping[str, str] | None = None) -> bool:
        """Decide the answer without delivering it yet, unless one is decided already. Returns whether this call decided it."""
        with self._lock:
            return self._decide(status, physical_id, reason, data)

    def send(self, status: str, *, physical_id: str, reason: str = "", data: Mapping[str, str] | None = None) -> bool:
        """Decide (if not yet decided) and deliver the answer. Returns whether this call decided it.

        If delivery fails until Lambda time runs out, the error propagates so that Lambda retries
        the invocation (which is safe to repeat) rather than leaving CloudFormation waiting.
        """
        with self._lock:  # held during the PUT, so the watchdog and the main path never both answer
            if self.delivered:
                return False
            decided = self._decide(status, physical_id, reason, data)
            put(self._event["ResponseURL"], self._body or b"", self._time_left)
            self.delivered = True
            return decided

    def revise(self, status: str, *, physical_id: str, reason: str = "", data: Mapping[str, str] | None = None) -> bool:
        """Replace the decided answer while it is not delivered yet. Returns whether it was replaced."""
        with self._lock:
            if self.delivered:
                return False
            log.info("answering %s instead of %s for %s: %s", status, self.sent, physical_id, reason)
            self._body = build_body(self._event, status=status, physical_id=physical_id, reason=reason, data=data)
            self.sent = status
            self.answered.set()
            return True

    def _decide(self, status: str, physical_id: str, reason: str, data: Mapping[str, str] | None) -> bool:
        if self._body is not None:
            if status != self.sent:
                log.info("keeping the answer decided earlier (%s), not %s", self.sent, status)
            return False
        log.info("answering %s for %s%s", status, physical_id, f": {reason}" if reason else "")
        self._body = build_body(self._event, status=status, physical_id=physical_id, reason=reason, data=data)
        self.sent = status
        self.answered.set()
        return True
