"""The lifecycle rules, one function each: what replaces a number, what satisfies the properties, what a Delete keeps.

The plan (plan.py) decides with these; the Connect transport's rules (throttles, backoff, error kinds) are in
connect_api.py, the polling schedule in waiting.py."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from .contract import ClaimSpec
from .marker import CLAIM_MARKER_TAG, Ownership
from .validation import MAX_USER_TAGS

# How many candidates a claim tries when numbers are taken between search and claim, or when
# Connect says an earlier delivery used the request's ClientToken for another number.
MAX_CLAIM_CANDIDATES = 6

# Connect's tag limit per number: the user's tags and this library's marker.
CONNECT_TAG_LIMIT = MAX_USER_TAGS + 1

# After a FAILED claim Connect keeps the number for the claiming account for one day (PhoneNumberStatus).
FAILED_CLAIM_RETRY_WINDOW = timedelta(days=1)

# An adoption stops this long before its hard end (the Lambda run's, or CloudFormation's), so that undoing it
# when it fails still fits inside both.
UNDO_ADOPTION_SECONDS = 45.0


def requires_replacement(old: ClaimSpec, new: ClaimSpec) -> bool:
    """A change in what number is wanted claims a new one; target, description and tags change in place."""
    return (old.phone_number, old.country_code, old.phone_number_type, old.prefix, old.source_phone_number_arn) != (
        new.phone_number,
        new.country_code,
        new.phone_number_type,
        new.prefix,
        new.source_phone_number_arn,
    )


def already_satisfies(summary: Mapping[str, Any], wanted: ClaimSpec) -> bool:
    """Whether the number held now is one the properties ask for, so no replacement is needed.

    This keeps a pinned number (PhoneNumber set to the number already held) and makes
    CloudFormation's rollback of a failed replacement, which sends the old properties back,
    return to the number still held instead of claiming another.
    """
    if wanted.phone_number is not None:
        return summary.get("PhoneNumber") == wanted.phone_number
    # An import is satisfied by the number imported from its source; a search only by a number claimed from the inventory.
    if (summary.get("SourcePhoneNumberArn") or None) != wanted.source_phone_number_arn:
        return False
    if wanted.source_phone_number_arn is not None:
        return True
    prefix = wanted.prefix or ""
    if prefix and not prefix.startswith("+"):
        prefix = "+" + prefix
    return (
        summary.get("PhoneNumberCountryCode") == wanted.country_code
        and summary.get("PhoneNumberType") == wanted.phone_number_type
        and str(summary.get("PhoneNumber", "")).startswith(prefix)
    )


def needs_replacement(held: Mapping[str, Any], old: ClaimSpec | None, new: ClaimSpec) -> bool:
    """Whether an Update claims a new number: what number is wanted changed, and the held one is not it.

    ``old`` is None when the previous properties no longer parse; then only the held number decides.
    """
    return (old is None or requires_replacement(old, new)) and not already_satisfies(held, new)


def is_rollback_of_replacement(held: Mapping[str, Any], old: ClaimSpec, new: ClaimSpec) -> bool:
    """Whether an Update is CloudFormation's rollback of a replacement that failed.

    The rollback sends the properties of the number still held back, with the failed attempt's
    properties as the old ones: the held number satisfies the new properties but not the old.
    A normal Update never looks like this (the held number was claimed for the old properties),
    so the search for an abandoned replacement costs nothing on the normal path.
    """
    return requires_replacement(old, new) and already_satisfies(held, new) and not already_satisfies(held, old)


def matches_spec(listed: Mapping[str, Any], spec: ClaimSpec) -> bool:
    """Whether a listed number (ListPhoneNumbersV2 summary) could have been claimed for ``spec``."""
    return listed.get("TargetArn") == spec.target_arn and already_satisfies(listed, spec)


def keep_on_delete(summary: Mapping[str, Any], own: frozenset[str], retain_adopted: bool) -> str | None:
    """Why a Delete must keep the number it was sent for, or None to release it.

    A number another resource has adopted since is that resource's now. An adopted number is given back
    to the account when the removal policy is not DESTROY: CloudFormation sends such a Delete only to roll
    back the create (RETAIN_ON_UPDATE_OR_DELETE), and the number was the account's before the stack. Giving
    back removes the marker, so under that policy a number with no marker is kept too: an earlier delivery
    of this Delete may have given it back before its answer was lost.
    """
    owner = Ownership.of(summary, own, "")
    if owner.unknown_form and owner.marker is not None:
        return f"its marker {owner.marker.resource}/{owner.marker.request}/... is in a form this release does not know, so it may say keep"
    if owner.adopted_elsewhere:
        return "another resource of this library has adopted it since"
    if retain_adopted and (owner.marker is None or owner.marker.adopted or (owner.ours and owner.marker.kept)):
        # (A kept claim: an earlier delivery of this Delete gave back a number this resource kept before adopting it.)
        return "it was adopted, and the removal policy keeps it"
    return None


def claimed_no_earlier_than(now: datetime, service_timeout_seconds: int, signed_at: datetime | None) -> datetime:
    """The earliest the claim this run reports on can have been made.

    The claim may be an earlier delivery's, replayed by its ClientToken, and Connect gives no claim time.
    The request was signed (contract.request_signed_at) before any delivery claimed. Without that time:
    CloudFormation reads an answer only within ServiceTimeout of its request, so a claim reported is no
    older than ServiceTimeout.
    """
    return signed_at if signed_at is not None else now - timedelta(seconds=service_timeout_seconds)


def failed_claim_reason(message: str, number: str, target_arn: str, claimed_at: datetime) -> str:
    """The Reason for a claim that ended FAILED: Connect's message first and verbatim, then the retry window.

    Connect keeps the number for this account for a day after the failure, so a user who fixes
    the cause (a full instance, say) can still get the number they were offered. The day is
    counted from ``claimed_at`` (claimed_no_earlier_than), no later than the claim request: the
    time given is one the number is certainly still reserved until (rounded down to the minute).
    """
    until = (claimed_at + FAILED_CLAIM_RETRY_WINDOW).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"{message} (claim of {number} on {target_arn} FAILED. Connect keeps {number} reserved for this account until "
        f'{until}: fix the cause, then claim it with phone_number="{number}" (PhoneNumber).)'
    )


def adoption_refusal(summary: Mapping[str, Any], spec: ClaimSpec, own: frozenset[str]) -> str | None:
    """Why a held number cannot be adopted for ``spec``, before anything changes; None if it can.

    Another resource's marker means another stack may manage it: two stacks would move it, retag it and
    release it behind each other's back. This resource's own pending marker means a rollback is due to
    release it: adopting it would turn an unreported claim into an adoption no rollback releases. A stack
    deleted and created again under its name is the same resource (contract.resource_token), so it adopts
    what it retained. Connect's tag limit is checked on the tags the number will carry, so a refusal comes
    before the move, not after it.
    """
    number, arn = summary.get("PhoneNumber"), summary.get("PhoneNumberArn")
    owner = Ownership.of(summary, own, "")
    if owner.managed_elsewhere:
        return (
            f"{number} ({arn}) carries this library's marker {CLAIM_MARKER_TAG}={summary['Tags'][CLAIM_MARKER_TAG]}: "
            "another resource (another stack, or this one under another logical id) manages it. Nothing was changed. "
            "If no stack manages it any more (it was kept by RETAIN), remove that tag "
            f"(aws connect untag-resource --resource-arn {arn} --tag-keys {CLAIM_MARKER_TAG}) and deploy again."
        )
    if owner.pending_ours:
        return (
            f"{number} ({arn}) was claimed by a replacement of this resource that CloudFormation was never told of: the "
            "rollback of that update releases it. Nothing was changed; deploy again once the rollback is complete."
        )
    keys = {k for k in summary.get("Tags", {}) if k != CLAIM_MARKER_TAG} | set(spec.tags) | {CLAIM_MARKER_TAG}
    return tag_limit_refusal(summary, keys, set(spec.tags), doing=" after its adoption")


def tag_limit_refusal(summary: Mapping[str, Any], after: set[str], declared: set[str], *, doing: str = "") -> str | None:
    """Why the number cannot carry the tag keys ``after`` (Connect's limit, the marker and hand-added ones counted); None if it can."""
    if len(after) <= CONNECT_TAG_LIMIT:
        return None
    undeclared = len(after - declared - {CLAIM_MARKER_TAG})
    marker = 1 if CLAIM_MARKER_TAG in after else 0
    return (
        f"{summary.get('PhoneNumber')} ({summary.get('PhoneNumberArn')}) would carry {len(after)} tags{doing} ({undeclared} it has "
        f"that the stack does not declare, {len(declared)} declared, and {marker} marker of this library), over Connect's limit "
        f"of {CONNECT_TAG_LIMIT}. Nothing was changed: remove some of its tags, or declare fewer."
    )
