"""The steps a plan is made of: what each one does to a number, as data. How each is applied is in apply.py.

The plan (plan.py) decides which steps a request takes and in what order; apply.py carries each out against
Connect, safe to repeat, waiting where Connect is asynchronous.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .contract import ClaimSpec
from .marker import ClaimMarker

Summary = Mapping[str, Any]  # a ClaimedPhoneNumberSummary, as DescribePhoneNumber returns it


@dataclass(frozen=True)
class Acquire:
    """Claim (or import) a number for ``spec``, tagged with ``marker``, and wait until it settles.

    ``replacing``: an Update's new number. Its marker stays pending until SUCCESS is decided, and a failure
    reports the old number's id, so that CloudFormation keeps the old one and its rollback releases the new.
    """

    spec: ClaimSpec
    marker: ClaimMarker
    replacing: bool
    # The physical id of the number this one replaces because it is gone (released outside the stack), if so.
    gone: str | None = None


@dataclass(frozen=True)
class StakeMarker:
    """Write the marker before any other change: it stakes an adoption and records where the number was."""

    marker: ClaimMarker


@dataclass(frozen=True)
class Move:
    """UpdatePhoneNumber to ``target_arn``, then wait until the number is CLAIMED there."""

    target_arn: str
    purpose: str = ""


@dataclass(frozen=True)
class Describe:
    """UpdatePhoneNumberMetadata to ``description`` ("" clears it), then wait until it settles."""

    description: str
    purpose: str = ""


@dataclass(frozen=True)
class Untag:
    """Remove tag keys."""

    keys: tuple[str, ...]


@dataclass(frozen=True)
class Tag:
    """Set tags."""

    tags: Mapping[str, str]


@dataclass(frozen=True)
class RouteFlow:
    """Bring the flow association to ``declared``: read it now (after any move), then plan_flow decides.

    ``record``: keep the routing a first declared flow replaces in this resource's marker (an Update).
    ``updating``: a flow whose instance is gone is left as it is rather than failing (see steps.route_flow).
    ``moved_from``: the target the request moves the number from (a record of a routing there is this request's own).
    ``restore``: a routing set by hand that the stack's earlier move dropped, to restore on arrival (plan.restores_routing).
    """

    declared: str | None
    before: str | None
    record: bool = False
    updating: bool = True
    moved_from: str | None = None
    restore: str | None = None


@dataclass(frozen=True)
class RecordRouting:
    """Before a move drops it: record in this resource's marker the routing a first declared flow replaces (None: none)."""

    flow: str | None


@dataclass(frozen=True)
class ClearFlow:
    """Disassociate whatever flow routes the number on ``instance_arn`` (a give-back whose stack's declarations are unknown)."""

    instance_arn: str


@dataclass(frozen=True)
class ConfirmMarker:
    """Read the marker back after an adoption: another adoption may have written last (Connect has no conditional write)."""

    marker: ClaimMarker


@dataclass(frozen=True)
class SetMarker:
    """Put the marker back as ``value`` (None: remove it)."""

    value: str | None


@dataclass(frozen=True)
class Release:
    """Release a number. ``settle``: wait for its claim first, and leave a FAILED claim (it holds nothing)."""

    number_id: str
    number: str
    arn: str
    why: str
    settle: bool = False


@dataclass(frozen=True)
class GiveBack:
    """Keep a number a Delete must not release; an adopted one goes back where it was, then loses the marker.

    ``steps`` converge it on its origin (none when it was not adopted here, or its origin is unknown);
    ``unmark`` removes this resource's marker, or, with ``remark``, puts that one in its place (a number this
    resource kept by RETAIN before it adopted it stays this resource's kept claim).
    """

    number: Summary
    steps: tuple[Step, ...]
    origin: str | None
    unmark: bool
    why: str
    remark: ClaimMarker | None = None


@dataclass(frozen=True)
class MarkAnswered:
    """After SUCCESS is decided (never before): the replacement's marker stops being pending."""

    marker: ClaimMarker


Step = (
    Acquire
    | StakeMarker
    | RecordRouting
    | Move
    | Describe
    | Untag
    | Tag
    | RouteFlow
    | ClearFlow
    | ConfirmMarker
    | SetMarker
    | Release
    | GiveBack
    | MarkAnswered
)
