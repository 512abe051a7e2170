"""Acquiring a number: the Acquire step. ClaimPhoneNumber (or ImportPhoneNumber), then wait until it settles.

Safe to repeat: the ClientToken and the marker derive from the request, so a redelivery replays the earlier
delivery's claim, or finds its number by the marker; it never claims a second one.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from . import clock, observe, rules, steps
from .arns import unclaimed_id
from .connect_api import call, error_code, is_number_taken, is_token_reused
from .contract import ClaimSpec
from .marker import CLAIM_MARKER_TAG, ClaimMarker
from .protocol import Failure, reason
from .steps import Step
from .waiting import FAILED, StillInProgress, status_of, wait_until_settled

if TYPE_CHECKING:
    from mypy_boto3_connect.type_defs import ClaimPhoneNumberRequestTypeDef, ImportPhoneNumberRequestTypeDef

    from .work import Work

log = logging.getLogger(__name__)

# A repeat whose earlier claim cannot be found yet looks again after 3 s, then less and less often.
EARLIER_CLAIM_RECHECK_SECONDS = 3.0
EARLIER_CLAIM_RECHECK_CAP_SECONDS = 30.0


def acquire(work: Work, step: Step) -> None:
    """Claim or import a number for the spec, wait until it settles, and make it the number worked on.

    A failed replacement (an Update) reports the old number's physical id, so CloudFormation keeps it; the
    replacement's marker stays pending, so CloudFormation's rollback finds and releases it. A failed Create
    reports the new number's ARN only while the claim may still complete, so that the rollback can release
    it; otherwise an id that is no number's.
    """
    assert isinstance(step, steps.Acquire)
    run, spec, deadline = work.run, step.spec, work.deadline
    work.acquiring = step
    claimed_at = run.claimed_no_earlier_than()
    if spec.source_phone_number_arn is not None:
        number, arn, number_id = _import_one(work, spec, step.marker)
    else:
        number, arn, number_id = _claim_one(work, step.spec, step.marker)
    if not step.replacing:
        run.physical_id = arn
    try:
        summary = wait_until_settled(run.client, deadline, number_id)
    except StillInProgress as late:
        then = "CloudFormation's rollback releases it once it settles" if step.replacing else "the rollback releases it where the removal policy allows"
        number = late.summary.get("PhoneNumber") or number  # an import knows its number only once Connect says it
        raise StillClaiming(
            f"Number {number} ({arn}) was still IN_PROGRESS after {late.waited:.0f} s, the wait limit. Connect may still complete the claim: {then}.",
            physical_id=run.physical_id,
            number=number,
            arn=arn,
            number_id=number_id,
            waited=late.waited,
        ) from None
    if status_of(summary) == FAILED:
        message = summary.get("PhoneNumberStatus", {}).get("Message", "")
        imported = f"{message} (import of {number} into {spec.target_arn} FAILED)"
        failed = imported if spec.source_phone_number_arn else rules.failed_claim_reason(message, number, spec.target_arn, claimed_at)
        raise Failure(f"{failed}{_kept_here(work, spec)}", physical_id=run.physical_id if step.replacing else unclaimed_id(run.token()))
    work.number = work.acquired = summary


class StillClaiming(Failure):
    """The claim was still IN_PROGRESS at the wait limit: the number may still become this request's."""

    def __init__(self, reason: str, *, physical_id: str, number: str, arn: str, number_id: str, waited: float) -> None:
        super().__init__(reason, physical_id)
        self.number, self.arn, self.number_id, self.waited = number, arn, number_id, waited


def _kept_here(work: Work, spec: ClaimSpec) -> str:
    """After a failed claim: the numbers this same resource holds, kept by a removal policy, that could serve instead.

    A stack whose numbers were kept (RETAIN) and that claims again (a context flag turned off and on, say) would
    otherwise claim new numbers, and fail on the instance's quota, while its own kept numbers stay billed. The
    look costs a list (and a Describe per candidate) only after a failure; it never hides the failure itself.
    """
    try:
        kept = observe.marked_numbers(work.run, spec, work.run.deadline(), work.run.token(), lambda owner: owner.ours_known and not owner.pending_ours)
    except Exception as error:  # the failure above is the answer; this is only a hint
        log.info("could not look for numbers this resource kept: %s", error)
        return ""
    numbers = sorted(str(n.get("PhoneNumber")) for n in kept if status_of(n) != FAILED)
    if not numbers:
        return ""
    return (
        f" This resource already holds {len(numbers)} number(s) kept from an earlier deploy (marked as its own): {', '.join(numbers)}. "
        f'Take one back with phone_number="{numbers[0]}" and adopt_existing=True (PhoneNumber, AdoptExisting: true) instead of '
        "claiming another, or release them."
    )


def _claim_one(work: Work, spec: ClaimSpec, marker: ClaimMarker) -> tuple[str, str, str]:
    """ClaimPhoneNumber on one candidate, or find the earlier delivery's claim; never claim a second number.

    Returns the number, its ARN and its id. The ClientToken and the marker derive from the request, so a
    repeated delivery replays the earlier delivery's claim for the same number (Connect answers
    IdempotencyException for any other), and finds it by its marker if search no longer offers it. When
    Connect says the token was used, a number is known to exist, so the rounds repeat until the deadline:
    whether Connect lists a claim still IN_PROGRESS is not documented, and a claim that ends FAILED is offered
    by search again, where its replay answers with Connect's message. If the number never shows the request
    fails, as claiming with a fresh token could hold two.
    """
    run, deadline = work.run, work.deadline
    request: ClaimPhoneNumberRequestTypeDef = {
        "TargetArn": spec.target_arn,
        "PhoneNumber": "",
        "Tags": {**spec.tags, CLAIM_MARKER_TAG: marker.value},
        "ClientToken": run.token("claim"),
    }
    if spec.description:
        request["PhoneNumberDescription"] = spec.description
    pause = EARLIER_CLAIM_RECHECK_SECONDS
    while True:
        claimed, token_used, tried = _try_candidates(work, spec, request)
        if claimed is not None:
            return claimed
        # Out of candidates. An earlier delivery of this request may hold a number search no longer offers.
        for summary in observe.marked_numbers(run, spec, deadline, run.token(), lambda owner: owner.claimed_here):
            log.info("an earlier delivery of this request claimed %s", summary.get("PhoneNumber"))
            return summary["PhoneNumber"], summary["PhoneNumberArn"], summary["PhoneNumberId"]
        if not token_used:
            searched = f"CountryCode={spec.country_code} Type={spec.phone_number_type} Prefix={spec.prefix or '-'}"
            raise Failure(f"No available number to claim for {searched} on {spec.target_arn} ({tried} candidates were taken).")
        if not deadline.allows(EARLIER_CLAIM_RECHECK_SECONDS):
            raise Failure(
                "An earlier delivery of this request used its ClientToken, but no number carrying its marker "
                f"({CLAIM_MARKER_TAG}={marker.value}) is on {spec.target_arn}. Nothing more was claimed, "
                "so that no number is held twice; deploy again."
            )
        clock.sleep(min(pause, deadline.remaining() - 1.0))  # the last look comes just before the deadline
        pause = min(EARLIER_CLAIM_RECHECK_CAP_SECONDS, pause * 2)


def _try_candidates(work: Work, spec: ClaimSpec, request: ClaimPhoneNumberRequestTypeDef) -> tuple[tuple[str, str, str] | None, bool, int]:
    """One round of claims over the candidates: (the claim, whether the token was used already, how many were taken).

    An IdempotencyException ends the round at once: the token was used for another number, by an earlier
    delivery of this request, and every other candidate would answer the same (its number is found by its marker).
    """
    run, deadline = work.run, work.deadline
    tried = 0
    for number in observe.candidates(run, spec, deadline):
        request["PhoneNumber"] = number
        try:
            claimed = call(deadline, run.client.claim_phone_number, **request)
        except ClientError as error:
            if is_token_reused(error):
                log.info("%s: the ClientToken claimed another number in an earlier delivery", number)
                return None, True, tried
            if not is_number_taken(error):
                raise
            if spec.phone_number is not None:
                _refuse_if_held(work, spec)
                gone = work.acquiring.gone if work.acquiring is not None else None
                if gone is not None:
                    raise Failure(
                        f"{reason(run, error)} {number} cannot be claimed again: the number this resource held ({gone}) was "
                        "released outside the stack, and Connect keeps a released number in a cooldown of up to 180 days. "
                        "Nothing is held for this resource. Declare another number (or a search), or remove the resource; "
                        "to finish a rollback, continue it skipping this resource "
                        f"(aws cloudformation continue-update-rollback --resources-to-skip {run.event['LogicalResourceId']})."
                    ) from error
                raise
            log.info("%s: %s; trying the next candidate", number, error_code(error))
            tried += 1
            if tried >= rules.MAX_CLAIM_CANDIDATES:
                break
            continue
        log.info("claim of %s accepted as %s", number, claimed["PhoneNumberArn"])
        return (number, claimed["PhoneNumberArn"], claimed["PhoneNumberId"]), False, tried
    return None, False, tried


def _refuse_if_held(work: Work, spec: ClaimSpec) -> None:
    """Fail, changing nothing, when the exact number Connect refused is one this account already holds."""
    held = observe.held_in_account(work.run, work.deadline, str(spec.phone_number), spec.target_arn)
    if held is None:
        return
    where = held.get("TargetArn") or held.get("InstanceId")
    raise Failure(
        f"{spec.phone_number} is already held by this account, on {where} ({held['PhoneNumberArn']}). Nothing was claimed or changed. "
        "To bring it under this stack, set adopt_existing=True (AdoptExisting: true); no other stack may manage it then."
    )


def _import_one(work: Work, spec: ClaimSpec, marker: ClaimMarker) -> tuple[str, str, str]:
    """ImportPhoneNumber from ``spec``'s source; returns the source (the number is known once it settles), ARN and id.

    The ClientToken derives from the request, so a repeated delivery replays the earlier import.
    """
    run = work.run
    request: ImportPhoneNumberRequestTypeDef = {
        "InstanceId": spec.target_arn.rsplit("/", 1)[1],  # the contract allows only an instance as an import's target
        "SourcePhoneNumberArn": str(spec.source_phone_number_arn),
        "Tags": {**spec.tags, CLAIM_MARKER_TAG: marker.value},
        "ClientToken": run.token("import"),
    }
    if spec.description:
        request["PhoneNumberDescription"] = spec.description
    try:
        imported = call(work.deadline, run.client.import_phone_number, **request)
    except ClientError as error:
        if error_code(error) != "InvalidParameterException":
            raise
        # (choice) Connect's refusal of a source imported before is not documented: any refusal of the parameters
        # says where such a number may be, since the most common cause is one kept by RETAIN from an earlier stack.
        raise Failure(
            f"{reason(run, error)} If {spec.source_phone_number_arn} was imported before and that number is still held "
            "(kept by a RETAIN removal policy, say), take it over with phone_number=<its number> and adopt_existing=True "
            "(PhoneNumber, AdoptExisting: true) instead of importing it again, or release it first. Nothing was imported."
        ) from error
    log.info("import of %s accepted as %s", spec.source_phone_number_arn, imported["PhoneNumberArn"])
    return str(spec.source_phone_number_arn), imported["PhoneNumberArn"], imported["PhoneNumberId"]
