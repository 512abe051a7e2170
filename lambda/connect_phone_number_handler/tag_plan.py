"""The tag plan: which tags an Update sets and removes, and whether the number can carry the result (Connect's limit).

A tag key the stack declares is the stack's: its value is set to the declared one whatever it is now (drift
repaired); a key the stack declared before and no longer does is removed. Keys the stack never declared (set by
hand, the marker) are left alone. When what was declared before is unknown (None), nothing is removed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .marker import CLAIM_MARKER_TAG
from .rules import tag_limit_refusal


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
    return TagPlan(to_set, to_remove, tag_limit_refusal(current, after, set(declared)))
