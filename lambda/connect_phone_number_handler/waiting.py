"""Waiting for a number's asynchronous workflow (claim, move, metadata) to settle."""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from . import clock
from .connect_api import NETWORK_ERRORS, Deadline, call, is_retryable

if TYPE_CHECKING:
    from mypy_boto3_connect import ConnectClient
    from mypy_boto3_connect.type_defs import ClaimedPhoneNumberSummaryTypeDef

log = logging.getLogger(__name__)

IN_PROGRESS = "IN_PROGRESS"
# How close to the deadline the last poll comes: time for the poll itself.
LAST_LOOK_MARGIN_SECONDS = 0.5
CLAIMED = "CLAIMED"
FAILED = "FAILED"


MAX_CROWDING = 3


def poll_interval(elapsed: float, crowding: int = 0) -> float:
    """Seconds between DescribePhoneNumber calls, by time since the claim or update began.

    Claims usually settle within seconds, so the first ten seconds poll at Connect's sustained
    rate for one caller (2 per second); longer waits back off. ``crowding`` (0 to 3) counts
    recent polls that were throttled: each doubles the interval (up to 8 times), so that many
    numbers waiting at once share the account's budget instead of fighting over it.
    """
    if elapsed < 10:
        base = 0.5
    elif elapsed < 30:
        base = 1.0
    elif elapsed < 60:
        base = 2.0
    else:
        base = 3.0
    return base * (1 << max(0, min(MAX_CROWDING, crowding)))


class StillInProgress(Exception):
    """The deadline came while the number was still IN_PROGRESS."""

    def __init__(self, summary: ClaimedPhoneNumberSummaryTypeDef, waited: float) -> None:
        super().__init__(f"still IN_PROGRESS after {waited:.0f} s")
        self.summary = summary
        self.waited = waited


def describe(client: ConnectClient, deadline: Deadline, number_id: str) -> ClaimedPhoneNumberSummaryTypeDef:
    """DescribePhoneNumber's ClaimedPhoneNumberSummary."""
    return call(deadline, client.describe_phone_number, PhoneNumberId=number_id)["ClaimedPhoneNumberSummary"]


def status_of(summary: Mapping[str, Any]) -> str:
    """The workflow status of a ClaimedPhoneNumberSummary."""
    return str(summary.get("PhoneNumberStatus", {}).get("Status", ""))


def wait_until_settled(client: ConnectClient, deadline: Deadline, number_id: str, *, target_arn: str | None = None) -> ClaimedPhoneNumberSummaryTypeDef:
    """Poll until the status is CLAIMED or FAILED (and, for a move, the target is ``target_arn``).

    A throttled poll is not retried: it counts as a missed poll and slows the next ones
    (poll_interval's crowding), because every number waiting in the account polls too.
    Returns the last summary. Raises StillInProgress when the deadline comes first (even
    before the first poll), and OutOfTime once the request has been answered.
    """
    started = clock.monotonic()
    polls = crowding = 0
    summary: ClaimedPhoneNumberSummaryTypeDef = {"PhoneNumberId": number_id}
    while True:
        if deadline.remaining() <= 0 and not deadline.stop.is_set():
            raise StillInProgress(summary, clock.monotonic() - started)
        deadline.check("DescribePhoneNumber")
        polls += 1
        throttled = True
        try:
            summary = client.describe_phone_number(PhoneNumberId=number_id)["ClaimedPhoneNumberSummary"]
            crowding, throttled = max(0, crowding - 1), False
        except ClientError as error:
            if not is_retryable(error):
                raise
            crowding = min(MAX_CROWDING, crowding + 1)
        except NETWORK_ERRORS:
            crowding = min(MAX_CROWDING, crowding + 1)
        status = status_of(summary)
        elapsed = clock.monotonic() - started
        settled = status == FAILED or (status == CLAIMED and (target_arn is None or summary.get("TargetArn") == target_arn))
        if polls == 1 and not settled:
            log.info("number %s %s", summary.get("PhoneNumber", number_id), status or "not yet described")
        if settled:
            log.info("number %s %s after %.1f s and %d polls", summary.get("PhoneNumber", number_id), status, elapsed, polls)
            return summary
        # While crowded, a little jitter keeps many waiters from polling in step.
        pause = poll_interval(elapsed, crowding) * (random.uniform(0.8, 1.2) if crowding else 1.0)
        if throttled:
            deadline.excuse(pause)  # a missed poll is Connect's delay, not the workflow's
        if not deadline.allows(pause):
            # A last look just before the deadline, rather than giving up with time left.
            pause = deadline.remaining() - LAST_LOOK_MARGIN_SECONDS
            if pause <= 0:
                raise StillInProgress(summary, elapsed)
        clock.sleep(pause)
