"""The emulated service's data: its settings, a number record, the searchable inventory, the throttle, and rules on one record.

Behaviour follows shared/reference/connect-phone-number-api.md. Where the reference says the
real behaviour is unknown, the choice made here is marked "(choice)".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .wire import WireError, invalid

LIMIT_MESSAGE = "The target has reached its limit of total claimed numbers."  # (choice) the real text is not published
_CLAIM_TOKEN = re.compile(r"^[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}$")
_TARGET = re.compile(r"^arn:(aws[a-z-]*):connect:([a-z0-9-]+):(\d{12}):(instance|traffic-distribution-group)/([A-Za-z0-9-]+)$")
_NUMBER_ARN = re.compile(r"^arn:aws[a-z-]*:connect:[a-z0-9-]+:\d{12}:phone-number/([A-Za-z0-9-]+)$")
_DAY = 86400.0
# ListPhoneNumbers (v1) predates these types and reports them as TOLL_FREE or DID (its doc).
# (choice) Which of the two SHARED becomes is not documented: DID.
_V1_TYPES = {"UIFN": "TOLL_FREE", "THIRD_PARTY_TF": "TOLL_FREE", "SHARED": "DID", "THIRD_PARTY_DID": "DID"}


@dataclass
class EmulatorConfig:
    """How the emulated service behaves. Defaults are Connect's published defaults."""

    account_id: str = "123456789012"
    region: str = "us-east-1"
    claim_seconds: float = 3.0
    update_seconds: float = 1.0
    release_seconds: float = 0.5
    rate_per_second: float = 2.0
    burst: int = 5
    throttle_code: str = "TooManyRequestsException"
    numbers_per_instance: int = 5
    release_cooldown_seconds: float = 180 * _DAY
    churn_window_seconds: float = 180 * _DAY
    churn_percent: int = 200
    token_window_seconds: float = _DAY
    failed_claim_seconds: float = _DAY
    inventory_per_kind: int = 40
    # (choice) Instances are not emulated; any well-formed target in this account is accepted.
    known_targets: list[str] | None = None
    # An IAM identity policy for callers without an identity of their own (see add_identity). None: no IAM.
    identity_policy: dict[str, Any] | None = None


@dataclass
class Number:
    """A claimed (or claiming, moving, releasing, failed) phone number."""

    id: str
    arn: str
    number: str
    country: str
    type: str
    target_arn: str
    instance_id: str
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    status: str = "IN_PROGRESS"
    message: str = ""
    # What the IN_PROGRESS workflow turns into, and when.
    settle_at: float = 0.0
    settle_status: str = "CLAIMED"
    settle_message: str = ""
    # The target a move or metadata change settles on; empty while only a claim has run, which
    # is how a failed claim (holds nothing) is told from a failed move (still held).
    settle_target: str = ""
    releasing: bool = False
    source_arn: str = ""
    contact_flow: str = ""


def default_inventory(per_kind: int) -> list[tuple[str, str, str]]:
    """Searchable numbers as (number, country, type): fictional ranges, the same on every run."""
    ranges = [
        ("US", "DID", "+1206555"),
        ("US", "TOLL_FREE", "+1800555"),
        ("US", "TOLL_FREE", "+1888555"),
        ("GB", "DID", "+44207946"),
        ("GB", "TOLL_FREE", "+44800496"),
        ("DE", "DID", "+4930901820"),
        ("AU", "DID", "+6125550"),
    ]
    return [(f"{prefix}{i + 100:04d}", country, kind) for country, kind, prefix in ranges for i in range(per_kind)]


class TokenBucket:
    """Connect's per-API throttle: a sustained rate with a burst."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float]) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens = float(burst)
        self.stamp = clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + max(0.0, now - self.stamp) * self.rate)  # a wall clock may step back
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


def _failed_claim(n: Number) -> bool:
    """A claim (or import) that ended FAILED: it holds nothing, and may be claimed again for a day."""
    return n.status == "FAILED" and not n.settle_target


def _holds(n: Number) -> bool:
    """Whether a record holds its number: claiming, claimed, moving, or after a failed move or change."""
    return not n.releasing and not _failed_claim(n)


def _require_held(n: Number) -> None:
    """(choice) A failed claim holds nothing, so it cannot be moved or changed: not found."""
    if _failed_claim(n):
        raise WireError(404, "ResourceNotFoundException", f"The phone number is not claimed: its claim FAILED ({n.id}).")


def _heading_to(n: Number) -> str:
    """The target a workflow in progress settles on (a claim's is its target already)."""
    return (n.settle_target or n.target_arn) if n.status == "IN_PROGRESS" else n.target_arn


def _region_of(arn: str) -> str:
    return arn.split(":")[3]


def _require_idle(n: Number) -> None:
    """ResourceInUseException while a claim, move, metadata change or release is under way."""
    if n.status == "IN_PROGRESS":
        raise WireError(409, "ResourceInUseException", "An operation is in progress on this phone number.", ResourceType="PHONE_NUMBER", ResourceId=n.id)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _digits_prefix(prefix: str | None) -> str:
    if not prefix:
        return ""
    return prefix if prefix.startswith("+") else "+" + prefix


def _page(items: list[Any], size: int, token: str | None) -> tuple[list[Any], str | None]:
    """One page and the token of the next. (choice) A token this emulator did not issue is invalid."""
    if token is not None and not (token.isascii() and token.isdigit()):
        raise invalid("Invalid NextToken.")
    start = int(token or 0)
    end = start + size
    return items[start:end], (str(end) if end < len(items) else None)
