"""Waiting for a number's asynchronous workflow (claim, move, metadata) to settle."""

from __future__ import annotations

import logging
import time
from typing import Any

import rules
from connect_api import Deadline, call

log = logging.getLogger(__name__)

IN_PROGRESS = "IN_PROGRESS"
CLAIMED = "CLAIMED"
FAILED = "FAILED"


class StillInProgress(Exception):
    """The deadline came while the number was still IN_PROGRESS."""

    def __init__(self, summary: dict[str, Any], waited: float) -> None:
        super().__init__(f"still IN_PROGRESS after {waited:.0f} s")
        self.summary = summary
        self.waited = waited


def describe(client: Any, deadline: Deadline, number_id: str) -> dict[str, Any]:
    """DescribePhoneNumber's ClaimedPhoneNumberSummary."""
    return dict(call(deadline, client.describe_phone_number, PhoneNumberId=number_id)["ClaimedPhoneNumberSummary"])


def status_of(summary: dict[str, Any]) -> str:
    """The workflow status of a ClaimedPhoneNumberSummary."""
    return str(summary.get("PhoneNumberStatus", {}).get("Status", ""))


def wait_until_settled(client: Any, deadline: Deadline, number_id: str, *, target_arn: str | None = None) -> dict[str, Any]:
    """Poll until the status is CLAIMED or FAILED (and, for a move, the target is ``target_arn``).

    Returns the last summary. Raises StillInProgress when the deadline comes first.
    """
    started = time.monotonic()
    polls = 0
    while True:
        summary = describe(client, deadline, number_id)
        polls += 1
        status = status_of(summary)
        elapsed = time.monotonic() - started
        settled = status == FAILED or (status == CLAIMED and (target_arn is None or summary.get("TargetArn") == target_arn))
        if settled:
            log.info("number %s %s after %.1f s and %d polls", summary.get("PhoneNumber", number_id), status, elapsed, polls)
            return summary
        pause = rules.poll_interval(elapsed)
        if not deadline.allows(pause):
            raise StillInProgress(summary, elapsed)
        time.sleep(pause)
