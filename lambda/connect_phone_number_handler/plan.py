"""The converge plan: what brings a held, settled number to what is declared. Pure: no Connect calls.

Every request that changes a held number comes here: an Update, an adoption, its undo, a give-back,
a drift repair and every rollback. Each differs only in what it declares (the desired state) and in
what the stack declared before; the steps follow from those and from what was observed.

The rules, each once:
- A tag key the stack declares is the stack's: its value is set to the declared one whatever it is
  now (drift repaired); a key the stack declared before and no longer does is removed. Keys the stack
  never declared (set by hand, the marker) are left alone. When what was declared before is unknown
  (the old properties no longer parse), nothing is removed.
- Connect's limit of 50 tags is checked on the tags the number will carry, before any change.
- The flow: a declared flow is associated unless it is the one associated now. Removing the prop
  disassociates the flow it declared, or, if the number routed elsewhere before the stack first
  declared a flow (recorded in the marker), restores that routing. A flow set by hand while none was
  declared is left alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import arns
from .marker import CLAIM_MARKER_TAG
from .validation import MAX_USER_TAGS

# Connect's tag limit per number: the user's tags and this library's marker.
CONNECT_TAG_LIMIT = MAX_USER_TAGS + 1


@dataclass(frozen=True)
class TagPlan:
    """Tags to set and keys to remove, and why the result would be refused (None: it fits)."""

    to_set: dict[str, str]
    to_remove: list[str]
    refusal: str | None = None


def plan_tags(current: Mapping[str, Any], declared: Mapping[str, str], declared_before: Mapping[str, str] | None) -> TagPlan:
    """The tag steps for ``current`` (a ClaimedPhoneNumberSummary); ``declared_before`` None means unknown."""
    actual: Mapping[str, str] = current.get("Tags", {})
    to_set = {k: v for k, v in declared.items() if actual.get(k) != v}
    before = declared_before or {}
    to_remove = sorted(k for k in before if k not in declared and k in actual and k != CLAIM_MARKER_TAG)
    after = (set(actual) - set(to_remove)) | set(to_set)
    if len(after) <= CONNECT_TAG_LIMIT:
        return TagPlan(to_set, to_remove)
    undeclared = len(after - set(declared) - {CLAIM_MARKER_TAG})
    marker = 1 if CLAIM_MARKER_TAG in after else 0
    number, arn = current.get("PhoneNumber"), current.get("PhoneNumberArn")
    refusal = (
        f"{number} ({arn}) would carry {len(after)} tags ({undeclared} it has that the stack does not declare, "
        f"{len(declared)} declared, and {marker} marker of this library), over Connect's limit of {CONNECT_TAG_LIMIT}. "
        "Nothing was changed: remove some of its tags, or declare fewer."
    )
    return TagPlan(to_set, to_remove, refusal)


@dataclass(frozen=True)
class FlowPlan:
    """One flow step on ``instance_arn``: associate ``flow_arn``, or disassociate when it is None.

    ``record`` is the flow to write into the marker before the step ("" clears the record, None leaves
    it): the routing the number had before the stack first declared a flow, so that removing the prop, or
    rolling back the Update, restores it.
    """

    instance_arn: str
    flow_arn: str | None
    record: str | None = None


def flow_instance(declared: str | None, declared_before: str | None) -> str | None:
    """The instance whose flow associations to read: the declared flow's, else the one declared before; None: leave it."""
    flow = declared or declared_before
    return arns.flow_instance_arn(flow) if flow else None


def plan_flow(declared: str | None, declared_before: str | None, associated: str | None, recorded: str | None = None) -> FlowPlan | None:
    """The flow step, from the association read now (after any move: a move drops Connect's association).

    ``recorded`` is the flow the marker says the number routed to before the stack first declared one.
    """
    if declared is not None:
        instance = arns.flow_instance_arn(declared)
        if associated == declared:
            return None
        if declared_before is not None:
            return FlowPlan(instance, declared)
        # The stack declares a flow for the first time: record what it replaces (or that it replaces nothing).
        record = associated if associated is not None else ("" if recorded else None)
        return FlowPlan(instance, declared, record)
    if declared_before is None or associated != declared_before:
        return None  # never declared, or changed by hand since: left alone
    instance = arns.flow_instance_arn(declared_before)
    if recorded is not None and arns.flow_instance_arn(recorded) == instance and recorded != declared_before:
        return FlowPlan(instance, recorded)
    return FlowPlan(instance, None)
