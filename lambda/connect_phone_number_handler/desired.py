"""What one request declares, and what was observed of Connect: the two inputs of the plan (plan.plan).

reconcile.desire builds a Desired from the request alone; observe.read builds a Seen, reading only what the
plan's own predicates say can matter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from . import arns
from .contract import DEFAULT_WAIT_TIMEOUT_SECONDS, ClaimSpec
from .marker import ClaimMarker
from .steps import Summary


@dataclass(frozen=True)
class Baseline:
    """What the stack declared before: its tags (None: unknown, so nothing is removed on their account) and its flow."""

    tags: Mapping[str, str] | None
    flow: str | None


#: A Create's baseline, and an adoption's: the stack declared nothing before.
NOTHING_DECLARED = Baseline({}, None)
#: An Update's whose old properties no longer parse: no tag is removed and no flow taken away on their account.
UNKNOWN_BEFORE = Baseline(None, None)


@dataclass(frozen=True)
class Desired:
    """What one request asks for, from the request alone (reconcile.desire)."""

    request_type: str
    # The properties; None for a Delete whose properties do not parse (nothing was claimed for them).
    spec: ClaimSpec | None
    before: Baseline
    # The physical id CloudFormation knows: a number's ARN, ``unclaimed-REQUEST`` (a Create that named none), or another id.
    physical_id: str
    own: frozenset[str]  # the tokens a marker of this resource may carry (contract.resource_tokens)
    request: str  # this request's token
    # The marker this request writes on a number it claims or adopts.
    marker: ClaimMarker
    # An Update's previous properties; None for a Create, or when they no longer parse.
    old: ClaimSpec | None = None
    # Delete: the request token of the failed Create named by ``unclaimed-REQUEST``.
    failed_create: str | None = None
    # How long the request's own work may take (WaitTimeoutSeconds, or its default when the properties do not parse).
    wait_limit: int = DEFAULT_WAIT_TIMEOUT_SECONDS
    # Delete: an adopted number is given back, not released (RetainAdoptedNumber; False when it does not parse).
    retain_adopted: bool = False

    @property
    def names_a_number(self) -> bool:
        return arns.is_phone_number_arn(self.physical_id)


@dataclass(frozen=True)
class Seen:
    """What was observed before any change (observe.read): each part read only when the plan needs it."""

    # The number the physical id names, settled; None if none is named or it is gone.
    number: Summary | None = None
    # An earlier request's operation on it was still running, and was waited out.
    waited: bool = False
    # The account's holder of the exact number an adoption asks for (settled), or of a failed adoption's number.
    holder: Summary | None = None
    # The flow the holder routed to before an adoption that may change it (a move drops it).
    origin_flow: str | None = None
    # Numbers of this resource that CloudFormation was never told of: a failed replacement's, a failed Create's.
    strays: tuple[Summary, ...] = ()
    # An Update that moves the number and declares its first flow: the flow it routed to before the move (which drops
    # it), read only then (reads_routing). ``routing_read`` says whether it was read (None is a number routed nowhere).
    routing: str | None = None
    routing_read: bool = False
    # The rollback of an Update that adopted a number: that number, if this resource's adoption of it is still marked.
    abandoned: Summary | None = None
