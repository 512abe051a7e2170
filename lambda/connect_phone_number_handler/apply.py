"""Applying a plan's steps (steps.py) to Connect, one at a time: each safe to repeat, each waiting where Connect is asynchronous.

A step decides nothing the plan did not (the flow's step asks flow_plan.plan_flow, with the association read
after any move). ClientTokens derive from the request and the step's purpose (goldens pin them), so a
redelivery replays the same calls.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from . import acquire, arns, clock, flow_plan, observe, steps
from .connect_api import Deadline, call, error_code, is_already_gone, is_busy
from .marker import CLAIM_MARKER_TAG, NOWHERE, ClaimMarker, Ownership, origin_flow_of
from .protocol import Failure, reason
from .steps import Step, Summary
from .waiting import FAILED, StillInProgress, describe, poll_interval, status_of, wait_until_settled
from .work import LeftToAnother, Work

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)


def apply(work: Work, step: Step) -> None:
    """Apply one step."""
    APPLY[type(step)](work, step)


def stake_marker(work: Work, step: Step) -> None:
    """Write the marker (TagResource)."""
    assert isinstance(step, steps.StakeMarker)
    call(work.deadline, work.run.client.tag_resource, resourceArn=work.arn, tags={CLAIM_MARKER_TAG: step.marker.value})


def move(work: Work, step: Step) -> None:
    """UpdatePhoneNumber, then wait until the number is CLAIMED on its new target."""
    assert isinstance(step, steps.Move) and work.number is not None
    apart = (step.purpose,) if step.purpose else ()
    log.info("moving %s to %s", work.number.get("PhoneNumber"), step.target_arn)
    token = work.run.token("move", *apart)
    call(work.deadline, work.run.client.update_phone_number, PhoneNumberId=work.arn, TargetArn=step.target_arn, ClientToken=token)
    work.number = _applied(work, doing="moving", target_arn=step.target_arn)


def describe_number(work: Work, step: Step) -> None:
    """UpdatePhoneNumberMetadata, then wait until it settles."""
    assert isinstance(step, steps.Describe)
    apart = (step.purpose,) if step.purpose else ()
    token = work.run.token("metadata", *apart)
    call(work.deadline, work.run.client.update_phone_number_metadata, PhoneNumberId=work.arn, PhoneNumberDescription=step.description, ClientToken=token)
    work.number = _applied(work, doing="changing its description")


def _applied(work: Work, *, doing: str, target_arn: str | None = None) -> Summary:
    """The number once our own change to it has settled; fails with Connect's message if the change FAILED."""
    summary = observe.settle(work.run, work.deadline, work.arn, doing=doing, target_arn=target_arn, bound=work.bound)
    if status_of(summary) == FAILED:
        message = summary.get("PhoneNumberStatus", {}).get("Message", "")
        raise Failure(f"{message} (update of {summary.get('PhoneNumber')} FAILED)")
    return summary


def untag(work: Work, step: Step) -> None:
    """UntagResource, and the number as it is now."""
    assert isinstance(step, steps.Untag) and work.number is not None
    call(work.deadline, work.run.client.untag_resource, resourceArn=work.arn, tagKeys=list(step.keys))
    log.info("tags of %s: removed %s", work.number.get("PhoneNumber"), list(step.keys))
    work.number = {**work.number, "Tags": {k: v for k, v in work.number.get("Tags", {}).items() if k not in step.keys}}


def tag(work: Work, step: Step) -> None:
    """TagResource, and the number as it is now."""
    assert isinstance(step, steps.Tag) and work.number is not None
    call(work.deadline, work.run.client.tag_resource, resourceArn=work.arn, tags=dict(step.tags))
    log.info("tags of %s: set %s", work.number.get("PhoneNumber"), sorted(step.tags))
    work.number = {**work.number, "Tags": {**work.number.get("Tags", {}), **step.tags}}


def route_flow(work: Work, step: Step) -> None:
    """Bring the number's flow association to the declared flow: read it, plan the step (flow_plan.plan_flow), apply it.

    The number is named by its full ARN: a traffic distribution group's number needs it (from the group's other
    Region a UUID answers ResourceNotFoundException), and an instance's number accepts it too.
    (choice) AssociatePhoneNumberContactFlow on a number that has a flow replaces it, so no Disassociate comes first.
    The marker (this resource's, on an Update) holds the routing the stack's first declared flow replaced.
    A flow or instance that no longer exists has nothing to disassociate: on an Update (``updating``) a flow whose
    instance is gone is left as it is (logged), so that no Update, and no rollback, fails on it.
    """
    assert isinstance(step, steps.RouteFlow) and work.number is not None
    run, deadline, number_arn, number = work.run, work.deadline, work.arn, work.number.get("PhoneNumber", "")
    target = str(work.number.get("TargetArn", ""))
    on_instance = target if ":instance/" in target else None
    owner = Ownership.of(work.number, run.own, run.token())
    # The routing from before the stack's first flow (read on an Update only), and the marker that may keep it.
    recorded = owner.routing_record(number_arn) if step.record else None
    keeper = owner.record_keeper(work.desired.marker.resource) if step.record else None
    if flow_plan.flow_instance(step.declared, step.before) is None and recorded in (None, NOWHERE) and step.restore is None:
        return
    instance_arn = flow_plan.flow_to_read(step.declared, step.before, on_instance, step.restore or recorded)
    associated = None
    if instance_arn is not None:
        try:
            associated = observe.associated_flow(run, deadline, instance_arn, number_arn)
        except ClientError as error:
            if not is_already_gone(error) or not step.updating:
                raise
            # (choice) On an Update, a rollback included, a flow whose instance is gone is left: nothing can route to it,
            # and failing would leave the stack in UPDATE_ROLLBACK_FAILED. A Create fails on it (its number is new).
            log.warning("the flow's instance %s is gone (%s): %s is left as it is", instance_arn, error_code(error), number)
            return
    flow = flow_plan.plan_flow(step.declared, step.before, associated, recorded, on_instance, moved_from=step.moved_from, restore=step.restore)
    if flow is None:
        return
    instance_id = flow.instance_arn.rsplit("/", 1)[-1]
    if flow.record and keeper is not None:
        # Before the association: a crash after it must still know what it replaced.
        _write_record(work, keeper, flow.record)
    if flow.change and flow.flow_arn is None:
        _disassociate(work, instance_id, "no longer routes to a flow (the prop was removed)")
    elif flow.change and flow.flow_arn is not None:
        try:
            call(
                deadline,
                run.client.associate_phone_number_contact_flow,
                PhoneNumberId=number_arn,
                InstanceId=instance_id,
                ContactFlowId=arns.flow_id(flow.flow_arn),
            )
        except ClientError as error:
            if flow.flow_arn == step.declared or not is_already_gone(error):
                raise
            # The routing to restore no longer exists: the declared flow's association goes, as without a record.
            log.info("%s: the flow to restore, %s, is gone; disassociating", number, flow.flow_arn)
            _disassociate(work, instance_id, "no longer routes to a flow (the one to restore is gone)")
        else:
            log.info("%s now routes to flow %s", number, flow.flow_arn)
    if flow.record == "" and keeper is not None:
        # After the restored association, never before: a crash between them must still know what to restore.
        _write_record(work, keeper, None)


def _write_record(work: Work, marker: ClaimMarker, flow: str | None) -> None:
    """Rewrite the marker with ``flow`` (a flow, or NOWHERE) as the routing from before the stack's first flow (None: no record)."""
    kept = replace(marker, origin_flow=origin_flow_of(flow))
    call(work.deadline, work.run.client.tag_resource, resourceArn=work.arn, tags={CLAIM_MARKER_TAG: kept.value})
    assert work.number is not None
    work.number = {**work.number, "Tags": {**work.number.get("Tags", {}), CLAIM_MARKER_TAG: kept.value}}


def record_routing(work: Work, step: Step) -> None:
    """Record in this resource's marker the routing set by hand that a move is about to drop (plan.reads_routing)."""
    assert isinstance(step, steps.RecordRouting)
    keeper = _recordable_marker(work)
    leaving = str(work.number.get("TargetArn", "")) if work.number is not None else ""
    if keeper is None or keeper.records_routing_on(leaving):
        return  # a record of the instance it leaves stays (this Update's earlier delivery's); one of elsewhere is replaced
    _write_record(work, keeper, step.flow)


def _recordable_marker(work: Work) -> ClaimMarker | None:
    """The marker on the number that may hold a record of the routing (marker.Ownership.record_keeper)."""
    assert work.number is not None
    return Ownership.of(work.number, work.run.own, work.run.token()).record_keeper(work.desired.marker.resource)


def _disassociate(work: Work, instance_id: str, why: str) -> None:
    number = work.number.get("PhoneNumber", "") if work.number else ""
    try:
        call(work.deadline, work.run.client.disassociate_phone_number_contact_flow, PhoneNumberId=work.arn, InstanceId=instance_id)
    except ClientError as error:
        if not is_already_gone(error):
            raise
        log.info("%s: its flow association is already gone", number)
        return
    log.info("%s %s", number, why)


def clear_flow(work: Work, step: Step) -> None:
    """Disassociate whatever flow routes the number on an instance (read first: nothing to do when none does)."""
    assert isinstance(step, steps.ClearFlow)
    if observe.associated_flow(work.run, work.deadline, step.instance_arn, work.arn) is not None:
        _disassociate(work, step.instance_arn.rsplit("/", 1)[-1], "no longer routes to the flow the stack set")


def confirm_marker(work: Work, step: Step) -> None:
    """Read the marker back after an adoption: gone (removed, or a read behind the write) is written again.

    Connect has no conditional write: another adoption that began at the same moment may have written last.
    Then the number is left to it (LeftToAnother, which undoes nothing).
    """
    assert isinstance(step, steps.ConfirmMarker) and work.number is not None
    now = describe(work.run.client, work.deadline, work.arn)
    owner = Ownership.of(now, work.run.own, work.run.token())
    if owner.managed_elsewhere and owner.marker is not None:
        raise LeftToAnother(
            f"{work.number.get('PhoneNumber')} ({work.arn}) was adopted by another resource during this adoption (its marker is now "
            f"{owner.marker.value}). It is left to that resource."
        )
    if owner.marker != step.marker:
        call(work.deadline, work.run.client.tag_resource, resourceArn=work.arn, tags={CLAIM_MARKER_TAG: step.marker.value})


def set_marker(work: Work, step: Step) -> None:
    """Put the marker back as it was: removed, or rewritten."""
    assert isinstance(step, steps.SetMarker)
    if step.value is None:
        call(work.deadline, work.run.client.untag_resource, resourceArn=work.arn, tagKeys=[CLAIM_MARKER_TAG])
    else:
        call(work.deadline, work.run.client.tag_resource, resourceArn=work.arn, tags={CLAIM_MARKER_TAG: step.value})


def release(work: Work, step: Step) -> None:
    """ReleasePhoneNumber; a number Connect no longer knows counts as released.

    ``settle``: a number CloudFormation was never told about (a stray) is released once its claim settles, on the
    hard deadline (a clean-up is not the request's own work); a FAILED claim holds nothing.
    """
    assert isinstance(step, steps.Release)
    deadline = work.run.deadline() if step.settle else work.deadline
    try:
        if step.settle and status_of(wait_until_settled(work.run.client, deadline, step.number_id)) == FAILED:
            return
        _release(work, deadline, step.number_id)
    except StillInProgress:
        raise Failure(
            f"The number {step.number} ({step.arn}), {step.why}, is still IN_PROGRESS, so the rollback cannot "
            "release it yet. Continue the rollback once it settles (or delete the stack again); it is released then."
        ) from None
    except ClientError as error:
        if not is_already_gone(error):
            raise
        log.info("%s is already gone", step.number or step.arn)  # released by an earlier delivery, or by hand
        return
    log.info("released %s (%s), %s", step.number, step.arn, step.why)


def _release(work: Work, deadline: Deadline, number_id: str) -> None:
    """ReleasePhoneNumber, waiting out an operation still running on the number."""
    started = clock.monotonic()
    while True:
        try:
            call(deadline, work.run.client.release_phone_number, PhoneNumberId=number_id, ClientToken=work.run.token("release", number_id))
            return
        except ClientError as error:
            pause = poll_interval(clock.monotonic() - started)
            if not is_busy(error) or not deadline.allows(pause):
                raise
            clock.sleep(pause)


def give_back(work: Work, step: Step) -> None:
    """Keep a number a Delete must not release; an adopted one goes back to its origin first, then loses the marker.

    A failure answers FAILED with the number kept and still marked, so the rollback's retry (or a delete of the
    stack) gives it back then. An origin that no longer exists (the instance, or the flow) keeps it where it is.
    """
    assert isinstance(step, steps.GiveBack)
    # The give-back works on its own number; an Update's steps that follow it work on the stack's number again.
    stacks, work.number = work.number, step.number
    try:
        _give_back(work, step)
    finally:
        work.number = stacks if stacks is not None else work.number


def _give_back(work: Work, step: steps.GiveBack) -> None:
    number, arn = step.number.get("PhoneNumber"), step.number["PhoneNumberArn"]
    try:
        for sub in step.steps:
            apply(work, sub)
    except (ClientError, Failure) as error:
        if not isinstance(error, ClientError) or not is_already_gone(error):
            # A refusal, or a move back that ended FAILED (the origin's quota is full, say).
            raise Failure(
                f"{reason(work.run, error)} {number} ({arn}) is kept, still marked as this stack's adoption: "
                f"giving it back to {step.origin} failed. Retry once that is fixed, or remove the marker "
                f"({CLAIM_MARKER_TAG}) to keep it where it is (aws connect untag-resource --resource-arn {arn} "
                f"--tag-keys {CLAIM_MARKER_TAG})."
            ) from error
        log.info("%s cannot go back to %s (%s): kept where it is", number, step.origin, error_code(error))
    if step.unmark:
        try:
            if step.remark is not None:
                call(work.deadline, work.run.client.tag_resource, resourceArn=arn, tags={CLAIM_MARKER_TAG: step.remark.value})
            else:
                call(work.deadline, work.run.client.untag_resource, resourceArn=arn, tagKeys=[CLAIM_MARKER_TAG])
        except ClientError as error:
            if not is_already_gone(error):
                raise
            log.info("%s is already gone", arn)  # released since it was read: nothing is left to keep
            return
    log.info("kept %s (%s): %s", number, arn, step.why)


def mark_answered(work: Work, step: Step) -> None:
    """The replacement's marker stops being pending: only after SUCCESS is decided, on a deadline of its own."""
    assert isinstance(step, steps.MarkAnswered)
    # Not stopped by the decided answer (it follows it), but never past CloudFormation's listening: no attempt lands after.
    deadline = Deadline(work.run.context, listening_seconds=work.run.listening_seconds())
    call(deadline, work.run.client.tag_resource, resourceArn=work.arn, tags={CLAIM_MARKER_TAG: step.marker.answered().value})


APPLY: dict[type, Callable[[Work, Any], None]] = {
    steps.Acquire: acquire.acquire,
    steps.StakeMarker: stake_marker,
    steps.RecordRouting: record_routing,
    steps.Move: move,
    steps.Describe: describe_number,
    steps.Untag: untag,
    steps.Tag: tag,
    steps.RouteFlow: route_flow,
    steps.ClearFlow: clear_flow,
    steps.ConfirmMarker: confirm_marker,
    steps.SetMarker: set_marker,
    steps.Release: release,
    steps.GiveBack: give_back,
    steps.MarkAnswered: mark_answered,
}
