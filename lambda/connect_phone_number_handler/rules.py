"""The lifecycle rules, one function each. The handler's flow calls these; it decides nothing itself."""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from .contract import ClaimSpec
from .marker import CLAIM_MARKER_TAG, ClaimMarker
from .plan import CONNECT_TAG_LIMIT

# How many candidates a claim tries when numbers are taken between search and claim, or when
# Connect says an earlier delivery used the request's ClientToken for another number.
MAX_CLAIM_CANDIDATES = 6

# Throttle codes Connect sends. In the field it is TooManyRequestsException (from its API
# Gateway front), though the model only lists ThrottlingException. Any 429 counts too.
THROTTLE_CODES = frozenset({"ThrottlingException", "TooManyRequestsException", "Throttling", "LimitExceededException", "RequestLimitExceeded"})

# After a FAILED claim Connect keeps the number for the claiming account for one day (PhoneNumberStatus).
FAILED_CLAIM_RETRY_WINDOW = timedelta(days=1)

# Time lost to Connect's throttling and transient faults does not count against the wait limit, up to this
# much: the answer still comes a minute inside CloudFormation's ServiceTimeout (the wait limit + 2 minutes).
THROTTLE_GRACE_SECONDS = 60.0

# An adoption stops this long before its hard end (the Lambda run's, or CloudFormation's), so that undoing it
# when it fails still fits inside both.
UNDO_ADOPTION_SECONDS = 45.0

# Backoff for throttles and transient errors: full jitter between a floor and a doubling cap.
BACKOFF_FLOOR_SECONDS = 0.1
BACKOFF_BASE_SECONDS = 0.25
BACKOFF_CAP_SECONDS = 4.0


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


def marker_of(summary: Mapping[str, Any]) -> ClaimMarker | None:
    """The claim marker a described number carries, or None."""
    value = summary.get("Tags", {}).get(CLAIM_MARKER_TAG)
    return None if value is None else ClaimMarker.parse(value)


def managed_elsewhere(marker: ClaimMarker | None, own: frozenset[str]) -> bool:
    """Whether the marker names another resource of this library (one of ``own`` is this resource's token).

    A marker of an earlier release names no resource, so it cannot say; it counts as elsewhere for an
    adoption (nothing is taken from a stack that may still manage it) but not for a Delete (see keep_on_delete).
    """
    return marker is not None and marker.resource not in own


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
    marker = marker_of(summary)
    if managed_elsewhere(marker, own):
        return (
            f"{number} ({arn}) carries this library's marker {CLAIM_MARKER_TAG}={summary['Tags'][CLAIM_MARKER_TAG]}: "
            "another resource (another stack, or this one under another logical id) manages it. Nothing was changed. "
            "If no stack manages it any more (it was kept by RETAIN), remove that tag "
            f"(aws connect untag-resource --resource-arn {arn} --tag-keys {CLAIM_MARKER_TAG}) and deploy again."
        )
    if marker is not None and marker.pending:
        return (
            f"{number} ({arn}) was claimed by a replacement of this resource that CloudFormation was never told of: the "
            "rollback of that update releases it. Nothing was changed; deploy again once the rollback is complete."
        )
    keys = {k for k in summary.get("Tags", {}) if k != CLAIM_MARKER_TAG} | set(spec.tags) | {CLAIM_MARKER_TAG}
    if len(keys) > CONNECT_TAG_LIMIT:
        kept = len(keys) - len(spec.tags) - 1
        return (
            f"{number} ({arn}) would carry {len(keys)} tags after its adoption ({kept} it has and the stack does not declare, "
            f"{len(spec.tags)} declared, and this library's marker), over Connect's limit of {CONNECT_TAG_LIMIT}. Nothing was "
            "changed: remove some of its tags, or declare fewer."
        )
    return None


def keep_on_delete(summary: Mapping[str, Any], own: frozenset[str], retain_adopted: bool) -> str | None:
    """Why a Delete must keep the number it was sent for, or None to release it.

    A number another resource has adopted since is that resource's now. An adopted number is given back
    to the account when the removal policy is not DESTROY: CloudFormation sends such a Delete only to roll
    back the create (RETAIN_ON_UPDATE_OR_DELETE), and the number was the account's before the stack. Giving
    back removes the marker, so under that policy a number with no marker is kept too: an earlier delivery
    of this Delete may have given it back before its answer was lost.
    """
    marker = marker_of(summary)
    if marker is not None and marker.unknown:
        return f"its marker {marker.resource}/{marker.request}/... is in a form this release does not know, so it may say keep"
    if marker is not None and marker.resource and marker.resource not in own:
        return "another resource of this library has adopted it since"
    if retain_adopted and (marker is None or marker.adopted):
        return "it was adopted, and the removal policy keeps it"
    return None


def error_code(error: ClientError) -> str:
    """The error code botocore parsed (from x-amzn-ErrorType, then the body)."""
    return str(error.response.get("Error", {}).get("Code", ""))


def _status(error: ClientError) -> int:
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def is_already_gone(error: ClientError) -> bool:
    """A number that Connect no longer knows counts as released."""
    return error_code(error) == "ResourceNotFoundException" or _status(error) == 404


def is_retryable(error: ClientError) -> bool:
    """Throttles (any code on a 429) and server-side faults are retried; nothing else is."""
    status = _status(error)
    return error_code(error) in THROTTLE_CODES or status == 429 or status >= 500 or error_code(error) == "InternalServiceException"


def is_number_taken(error: ClientError) -> bool:
    """Someone claimed the number between our search and our claim: Connect says it is not available."""
    message = str(error.response.get("Error", {}).get("Message", ""))
    return error_code(error) == "InvalidParameterException" and "not available" in message.lower()


def is_token_reused(error: ClientError) -> bool:
    """The ClientToken already claimed something else: an earlier delivery of this request got there first."""
    return error_code(error) == "IdempotencyException"


def is_busy(error: ClientError) -> bool:
    """An operation on the number is still running; wait and try again."""
    return error_code(error) == "ResourceInUseException"


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


def backoff_delay(attempt: int, rng: random.Random | None = None) -> float:
    """Full-jitter exponential backoff for retry number ``attempt`` (1 for the first retry)."""
    cap = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempt - 1))
    return (rng or random).uniform(BACKOFF_FLOOR_SECONDS, max(BACKOFF_FLOOR_SECONDS, cap))


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
