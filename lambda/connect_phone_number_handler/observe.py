"""Reading Connect: what is there before a request changes anything. Nothing here changes a number.

``read`` gathers what the plan needs (plan.Seen), and only that: the number the physical id names, waited
out until any operation on it settles; the account's holder of an exact number an adoption asks for; the
strays a clean-up releases; the flow an adoption records. Each costs calls, so each is read only where the
plan's own predicates say it can matter (plan.stray_search, plan.looks_for_holder, plan.reads_origin_flow).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, cast

from botocore.exceptions import ClientError

from . import plan, rules
from .connect_api import Deadline, call, error_code, is_already_gone
from .contract import ClaimSpec
from .desired import Desired, Seen
from .marker import Ownership
from .protocol import Failure, Run
from .rules import matches_spec
from .steps import Summary
from .waiting import IN_PROGRESS, StillInProgress, describe, status_of, wait_until_settled

if TYPE_CHECKING:
    from mypy_boto3_connect.literals import PhoneNumberCountryCodeType, PhoneNumberTypeType
    from mypy_boto3_connect.type_defs import (
        ClaimedPhoneNumberSummaryTypeDef,
        ListFlowAssociationsRequestTypeDef,
        ListPhoneNumbersV2RequestTypeDef,
        SearchAvailablePhoneNumbersRequestTypeDef,
    )

log = logging.getLogger(__name__)

# How long waiting out an earlier request's operation may take (Deadline.hard_end), as a Reason says it.
HARD_BOUND = "all the time the Lambda run and CloudFormation's ServiceTimeout left"


def read(run: Run, desired: Desired) -> Seen:
    """What the plan needs to know about Connect for ``desired``, read in as few calls as it can."""
    if desired.request_type == "Delete":
        return _for_delete(run, desired)
    spec = desired.spec
    assert spec is not None
    number: ClaimedPhoneNumberSummaryTypeDef | None = None
    waited = False
    strays: tuple[Summary, ...] = ()
    if desired.names_a_number:
        try:
            number, waited = current(run, desired.physical_id, doing="from an earlier request")
        except ClientError as error:
            if not is_already_gone(error):
                raise
            # Released outside the stack (by hand): the resource holds no number, so it claims one, as a new resource would.
            log.info("%s is gone (%s); claiming a replacement", desired.physical_id, error_code(error))
        strays = _strays(run, desired, number)
        abandoned = _abandoned_adoption(run, desired, number) if number is not None else None
        if abandoned is not None:
            return Seen(number, waited, strays=strays, abandoned=abandoned)
    if number is not None and (instance := plan.reads_routing(desired, number)) is not None:
        routing = associated_flow(run, run.deadline(desired.wait_limit), instance, number["PhoneNumberArn"])
        return Seen(number, waited, strays=strays, routing=routing, routing_read=True)
    if not plan.looks_for_holder(desired, number):
        return Seen(number, waited, strays=strays)
    deadline = run.deadline(desired.wait_limit)
    holder = held_in_account(run, deadline, str(spec.phone_number), spec.target_arn)
    owner = Ownership.of(holder, desired.own, desired.request) if holder is not None else None
    if holder is None or owner is None or owner.claimed_here:
        return Seen(number, waited, strays=strays)  # nothing to adopt, or an earlier delivery's claim to replay
    # An adoption an earlier delivery of this request began (its marker staked, its move maybe still IN_PROGRESS) is
    # that delivery's operation: waited out on the hard deadline, less the undo's time, so that it is resumed or undone
    # rather than left staked for lack of patience (rules.UNDO_ADOPTION_SECONDS).
    patience = run.deadline().keeping(rules.UNDO_ADOPTION_SECONDS) if owner.adopted_here else deadline
    try:
        holder = settled(run, patience, holder, doing="before its adoption")
    except Failure as busy:  # settle's: still IN_PROGRESS at the deadline
        if not owner.adopted_here or owner.marker is None:
            raise
        # No time left to resume it or to undo it (the number cannot be moved back while IN_PROGRESS): say what stays.
        where = owner.marker.origin_arn(str(holder["PhoneNumberArn"])) or "its target"
        raise Failure(
            f"{busy} An earlier delivery of this request began adopting it. Undoing the adoption failed too (no time was left "
            f"while it is IN_PROGRESS): check {holder.get('PhoneNumber')} ({holder['PhoneNumberArn']}); it was on {where}."
        ) from busy
    origin_flow = None
    if not owner.adopted_here and rules.adoption_refusal(holder, spec, desired.own) is None:
        instance = plan.reads_origin_flow(holder, spec)
        origin_flow = associated_flow(run, deadline, instance, holder["PhoneNumberArn"]) if instance else None
    return Seen(number, waited, holder=holder, origin_flow=origin_flow, strays=strays)


def _strays(run: Run, desired: Desired, number: Summary | None) -> tuple[Summary, ...]:
    """This resource's pending claims that no request reported (plan.stray_search says where to look), this request's excepted.

    A clean-up: waiting out a failed attempt's claim is not this request's own work, so it runs on the hard deadline.
    """
    found: dict[str, Summary] = {}
    for spec in plan.stray_search(desired, number):
        for listed in marked_numbers(run, spec, run.deadline(), desired.request, lambda owner: owner.pending_ours and not owner.this_request):
            usable = number is None and desired.spec is not None and matches_spec(listed, desired.spec)
            # One the properties can use (plan._kept_stray) must be settled to be used.
            found[str(listed["PhoneNumberArn"])] = settled(run, run.deadline(), listed, doing="left by an earlier Update") if usable else listed
    return tuple(found.values())


def _abandoned_adoption(run: Run, desired: Desired, number: Summary) -> Summary | None:
    """The number a rolled-back Update began to adopt (plan.abandoned_adoption), if this resource's adoption marks it still."""
    exact = plan.abandoned_adoption(desired, number)
    if exact is None or desired.old is None:
        return None
    hard = run.deadline()  # a clean-up: not this request's own work
    found = held_in_account(run, hard, exact, desired.old.target_arn)
    if found is None:
        return None
    owner = Ownership.of(found, desired.own, desired.request)
    if not owner.ours or owner.marker is None or not owner.marker.adopted or owner.this_request:
        return None
    return settled(run, hard, found, doing="before its give-back", fresh=True)


def _for_delete(run: Run, desired: Desired) -> Seen:
    """A Delete: the number it names, settled; or, for a Create that named none, what that request left held."""
    if desired.failed_create is not None:
        spec = desired.spec
        if spec is None:
            log.info("%s: the properties were refused, so nothing was claimed", desired.physical_id)
            return Seen()
        hard = run.deadline()  # a rollback: waiting out the failed Create's claim is not this request's own work
        strays = tuple(marked_numbers(run, spec, hard, desired.failed_create, lambda owner: owner.claimed_here))
        holder = None
        if spec.adopt_existing and spec.phone_number is not None:
            # An adoption that died (or ran out of time) before it could answer or undo: its marker says where the number was.
            found = held_in_account(run, hard, spec.phone_number, spec.target_arn)
            if found is not None and Ownership.of(found, desired.own, desired.failed_create).adopted_here:
                holder = settled(run, hard, found, doing="before its give-back", fresh=True)
        return Seen(strays=strays, holder=holder)
    if not desired.names_a_number:
        log.info("%s is not a phone number: nothing to release", desired.physical_id)
        return Seen()
    try:
        number, waited = current(run, desired.physical_id, doing="before its release", then=" It was not released.")
    except ClientError as error:
        if not is_already_gone(error):
            raise
        log.info("%s is already gone", desired.physical_id)
        return Seen()
    return Seen(number, waited)


def current(run: Run, physical_id: str, *, doing: str, then: str = "") -> tuple[ClaimedPhoneNumberSummaryTypeDef, bool]:
    """The number once any operation in progress on it has settled, and whether it had to be waited for.

    An operation found in progress is an earlier request's (a timed-out move, say): waiting for it runs on the
    hard deadline (the Lambda run and ServiceTimeout, less the reserve to answer), never on this request's wait
    limit. A FAILED status here is an earlier move's: the number is still held where it was.
    """
    hard = run.deadline()
    summary = describe(run.client, hard, physical_id)
    if status_of(summary) != IN_PROGRESS:
        return summary, False
    return settle(run, hard, physical_id, doing=doing, bound=HARD_BOUND, then=then), True


def settled(run: Run, deadline: Deadline, summary: ClaimedPhoneNumberSummaryTypeDef, *, doing: str, fresh: bool = False) -> ClaimedPhoneNumberSummaryTypeDef:
    """``summary`` if it is settled (and ``fresh`` is not asked for), else the number once it settles."""
    if status_of(summary) != IN_PROGRESS and not fresh:
        return summary
    return settle(run, deadline, summary["PhoneNumberArn"], doing=doing)


def settle(
    run: Run, deadline: Deadline, physical_id: str, *, doing: str, target_arn: str | None = None, bound: str = "the wait limit", then: str = ""
) -> ClaimedPhoneNumberSummaryTypeDef:
    """The number once the operation in progress on it has settled (CLAIMED or FAILED).

    Waiting first is what makes a rollback safe: a move or description change that an earlier
    request left IN_PROGRESS finishes before the number is compared with what is declared.
    """
    try:
        return wait_until_settled(run.client, deadline, physical_id, target_arn=target_arn)
    except StillInProgress as late:
        number = late.summary.get("PhoneNumber", physical_id)
        raise Failure(f"Number {number} ({physical_id}) was still IN_PROGRESS {doing} after {late.waited:.0f} s, {bound}.{then}") from None


def held_in_account(run: Run, deadline: Deadline, number: str, target_arn: str) -> ClaimedPhoneNumberSummaryTypeDef | None:
    """The number if this account already holds it (in this Region), described; None otherwise.

    ListPhoneNumbersV2 without a target covers the account's instances; the declared target is
    listed too, in case it is a traffic distribution group. Prefixes stop at 11 digits, so the
    match is exact here.
    """
    for target in (None, target_arn):
        listing: ListPhoneNumbersV2RequestTypeDef = {"PhoneNumberPrefix": number[:12], "MaxResults": 1000}
        if target is not None:
            listing["TargetArn"] = target
        while True:
            page = call(deadline, run.client.list_phone_numbers_v2, **listing)
            for listed in page.get("ListPhoneNumbersSummaryList", []):
                if listed.get("PhoneNumber") == number:
                    return describe(run.client, deadline, listed["PhoneNumberId"])
            if not page.get("NextToken"):
                break
            listing["NextToken"] = page["NextToken"]
    return None


def associated_flow(run: Run, deadline: Deadline, instance_arn: str, number_arn: str) -> str | None:
    """The ARN of the flow the number routes to on ``instance_arn`` now, from ListFlowAssociations (Describe does not show it)."""
    request: ListFlowAssociationsRequestTypeDef = {"InstanceId": instance_arn.rsplit("/", 1)[-1], "ResourceType": "VOICE_PHONE_NUMBER", "MaxResults": 1000}
    while True:
        page = call(deadline, run.client.list_flow_associations, **request)
        for summary in page.get("FlowAssociationSummaryList", []):
            if summary.get("ResourceId") == number_arn:
                return summary.get("FlowId")
        if not page.get("NextToken"):
            return None
        request["NextToken"] = page["NextToken"]


def marked_numbers(run: Run, spec: ClaimSpec, deadline: Deadline, request: str, wanted: Callable[[Ownership], bool]) -> list[ClaimedPhoneNumberSummaryTypeDef]:
    """The numbers on ``spec``'s target that could have been claimed for ``spec`` and whose marker is ``wanted``.

    ``wanted`` judges each number's Ownership as seen from this resource and ``request`` (the one asked about).
    This costs a list and one Describe per matching number (the list carries no tags). It runs only off the
    normal path: for a repeated delivery, and for the clean-up of a failed replacement or Create.
    """
    listing: ListPhoneNumbersV2RequestTypeDef = {"TargetArn": spec.target_arn, "MaxResults": 1000}
    if spec.country_code:
        listing["PhoneNumberCountryCodes"] = [cast("PhoneNumberCountryCodeType", spec.country_code)]
    if spec.phone_number_type:
        listing["PhoneNumberTypes"] = [cast("PhoneNumberTypeType", spec.phone_number_type)]
    found: list[ClaimedPhoneNumberSummaryTypeDef] = []
    while True:
        page = call(deadline, run.client.list_phone_numbers_v2, **listing)
        for listed in page.get("ListPhoneNumbersSummaryList", []):
            if not matches_spec(listed, spec):
                continue
            try:
                summary = describe(run.client, deadline, listed["PhoneNumberId"])
            except ClientError as error:
                if not is_already_gone(error):
                    raise
                continue  # released since the list
            owner = Ownership.of(summary, run.own, request)
            if owner.marker is not None and wanted(owner):
                found.append(summary)
        if not page.get("NextToken"):
            return found
        listing["NextToken"] = page["NextToken"]


def candidates(run: Run, spec: ClaimSpec, deadline: Deadline) -> Iterator[str]:
    """The exact number, or searched numbers in an order derived from the request.

    Parallel requests get unrelated orders, so they rarely collide; a repeated delivery gets
    the same order, so it tries the earlier delivery's number first and Connect replays that
    claim (a FAILED one included, so the repeat answers with Connect's message at once).
    """
    if spec.phone_number is not None:
        yield spec.phone_number
        return
    search: SearchAvailablePhoneNumbersRequestTypeDef = {
        "TargetArn": spec.target_arn,
        "PhoneNumberCountryCode": cast("PhoneNumberCountryCodeType", spec.country_code),
        "PhoneNumberType": cast("PhoneNumberTypeType", spec.phone_number_type),
        "MaxResults": 10,
    }
    if spec.prefix:
        search["PhoneNumberPrefix"] = spec.prefix
    seen: set[str] = set()
    for _ in range(2):  # a second search refills the list after a run of taken numbers
        found = [n["PhoneNumber"] for n in call(deadline, run.client.search_available_phone_numbers, **search).get("AvailableNumbersList", [])]
        fresh = sorted((n for n in found if n not in seen), key=lambda n: run.token("candidate", n))
        seen.update(fresh)
        yield from fresh
