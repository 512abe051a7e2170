"""The one path every request takes: desire, observe, plan, apply.

``desire`` reads what the request declares (its properties, and what the stack declared before), ``observe``
reads what is (observe.read), ``plan`` decides the steps (plan.plan, pure), and ``execute`` applies them in
order. A failure after a change runs what the plan says it undoes: an adoption's undo is a plan too
(plan.plan_undo), applied by the same loop on time kept back for it; a Create's own claim is released when
a later step fails. No request type, rollback or undo has a path of its own.
"""

from __future__ import annotations

import logging

from . import apply, contract, observe, plan, rules, steps, validation
from .acquire import StillClaiming
from .arns import UNCLAIMED_PREFIX, unclaimed_id
from .connect_api import Deadline
from .contract import ClaimSpec
from .desired import NOTHING_DECLARED, UNKNOWN_BEFORE, Baseline, Desired
from .plan import Plan
from .protocol import Failure, Outcome, Run, reason
from .steps import Summary
from .waiting import FAILED, status_of
from .work import LeftToAnother, Work

log = logging.getLogger(__name__)


def run(request: Run) -> Outcome:
    """Bring Connect to what ``request`` declares, and say what CloudFormation is to be told."""
    desired = desire(request)
    seen = observe.read(request, desired)
    decided = plan.plan(desired, seen)
    log.info("plan: %s (%d steps)", decided.note, len(decided.steps))
    if decided.refusal is not None and not _undoes_refusal(decided):
        raise Failure(decided.refusal)  # before any change
    return execute(request, desired, decided)


def _undoes_refusal(decided: Plan) -> bool:
    """A refusal of an adoption an earlier delivery began comes after that delivery's changes: it undoes them."""
    return decided.undo is not None and decided.undo.resumed


def desire(request: Run) -> Desired:
    """What the request declares. A Create's or Update's properties must parse (InvalidProperty says which does not);
    a Delete's and an Update's old ones are read leniently: they must never fail a Delete or widen what an Update removes."""
    event = request.event
    props = event.get("ResourceProperties", {})
    delete, update = request.request_type == "Delete", request.request_type == "Update"
    spec = _lenient(props) if delete else contract.parse_properties(props)
    old = _lenient(event.get("OldResourceProperties", {})) if update else None
    # Old properties that no longer parse (refused ones, rolled back; or a rule tightened since) widen nothing.
    known = Baseline(old.tags, old.contact_flow_arn) if old is not None else UNKNOWN_BEFORE
    before = known if update else NOTHING_DECLARED
    physical_id = request.physical_id
    return Desired(
        request_type=request.request_type,
        spec=spec,
        before=before,
        physical_id=physical_id,
        own=request.own,
        request=request.token(),
        marker=request.marker(),
        old=old,
        failed_create=physical_id[len(UNCLAIMED_PREFIX) :] if delete and physical_id.startswith(UNCLAIMED_PREFIX) else None,
        wait_limit=spec.wait_timeout_seconds if spec is not None else contract.wait_timeout_or_default(props),
        retain_adopted=contract.retains_adopted(props),
    )


def _lenient(props: object) -> ClaimSpec | None:
    """Properties that may not parse (a Delete's, an Update's old ones): None then, logged."""
    try:
        return contract.parse_properties(props)  # type: ignore[arg-type]
    except validation.InvalidProperty as error:
        log.info("properties that do not parse (%s): read as unknown", error)
        return None


def execute(request: Run, desired: Desired, decided: Plan) -> Outcome:
    """Apply the plan's steps in order; on a failure, what the plan says to undo; then the outcome."""
    request.physical_id = decided.failure_id or request.physical_id
    deadline = request.deadline(decided.limit_seconds)
    if decided.undo is not None:
        deadline = deadline.keeping(rules.UNDO_ADOPTION_SECONDS)  # the undo's time stays free inside the hard end
    work = Work(request, desired, deadline, decided.number, bound="the wait limit" if decided.limit_seconds is not None else observe.HARD_BOUND)
    try:
        if decided.refusal is not None:
            raise Failure(decided.refusal)  # only where it undoes (_undoes_refusal)
        for step in decided.steps:
            apply.apply(work, step)
    except LeftToAnother:
        raise
    except StillClaiming as late:
        if decided.release_on_failure:
            raise release_late_claim(request, late) from late
        raise
    except Exception as error:
        if decided.undo is not None:
            raise Failure(f"{reason(request, error)} {undo(request, decided.undo)}") from error
        if work.acquired is not None and request.physical_id == work.acquired["PhoneNumberArn"]:
            raise failed_after_claim(request, work.acquired, error, release=decided.release_on_failure) from error
        raise
    return _outcome(request, decided, work)


def _outcome(request: Run, decided: Plan, work: Work) -> Outcome:
    """SUCCESS: the physical id, the number's attributes, and what must follow the decided answer."""
    number = work.number
    physical_id = decided.answer or (str(number["PhoneNumberArn"]) if number is not None else request.physical_id)
    data = attributes(number) if decided.data and number is not None else {}
    after = decided.after_answer
    if not after:
        return Outcome(physical_id, data)

    def follow() -> None:
        for step in after:
            apply.apply(work, step)

    def unfollowed(error: Exception) -> str:
        # The replacement would stay pending while CloudFormation holds it, and a later rollback would release it.
        return (
            f"The replacement {data.get(contract.ATTR_PHONE_NUMBER)} ({physical_id}) was claimed, but marking it as reported failed "
            f"({reason(request, error)}): the answer is FAILED, so CloudFormation keeps the old number and its rollback releases the replacement."
        )

    return Outcome(physical_id, data, after_answer=follow, unfollowed=unfollowed)


def undo(request: Run, record: plan.Undo) -> str:
    """Put a failed adoption back as it was (plan.plan_undo); returns what to add to the Reason.

    It runs on the time the adoption kept free (rules.UNDO_ADOPTION_SECONDS), inside the Lambda run and
    ServiceTimeout, with no throttle grace: the answer must still come inside ServiceTimeout.
    """
    arn = str(record.before["PhoneNumberArn"])
    number = record.before.get("PhoneNumber", arn)
    restore = plan.restored(record)
    deadline = Deadline(request.context, rules.UNDO_ADOPTION_SECONDS, stop=request.responder.answered, listening_seconds=request.listening_seconds())
    deadline.grace_left = 0.0
    where = f"{restore.target_arn}{f', routed to {restore.contact_flow_arn}' if restore.contact_flow_arn else ''}"
    try:
        bound = f"the {rules.UNDO_ADOPTION_SECONDS:.0f} s kept for the undo"
        current = observe.settle(request, deadline, arn, doing="undoing its adoption", bound=bound)
        back = plan.plan_undo(record, current)
        work = Work(request, desire_nothing(request), deadline, current, bound=bound)
        for step in back.steps:
            apply.apply(work, step)
    except Exception as error:
        log.exception("undoing the adoption of %s failed", number)
        return f"Undoing the adoption failed too ({reason(request, error)}): check {number} ({arn}); it was on {where}."
    if record.resumed:
        return f"The adoption was undone: {number} is on {where} as before; an earlier delivery set its description and tags, which stay."
    return f"The adoption was undone: {number} is on {where} as before."


def desire_nothing(request: Run) -> Desired:
    """The Desired of work that follows no properties of its own (an undo's)."""
    return Desired(request.request_type, None, NOTHING_DECLARED, request.physical_id, request.own, request.token(), request.marker())


def failed_after_claim(request: Run, summary: Summary, error: Exception, *, release: bool) -> Failure:
    """A Create that failed after its number was CLAIMED: nothing this request claimed is left held by no stack.

    Under RETAIN CloudFormation sends no Delete for a failed Create, so a searched number (any number would
    do: this request's, never the user's) is released here (``release``), and the answer names no number. An
    exact number (or an imported one) is the user's choice and may be hard to get back, so it stays claimed,
    marked as this resource's, under its ARN: the rollback's Delete releases it where the removal policy
    allows, and the Reason says how to take it back where it does not.
    """
    number, arn = summary["PhoneNumber"], summary["PhoneNumberArn"]
    why = reason(request, error)
    if release:
        try:
            step = steps.Release(str(summary["PhoneNumberId"]), str(number), str(arn), "claimed by a Create that failed")
            apply.apply(Work(request, desire_nothing(request), request.deadline(), summary), step)
        except Exception as release_error:
            return Failure(
                f"{why} {number} ({arn}) was claimed for this request and could not be released ({reason(request, release_error)}): "
                "the rollback's Delete releases it where the removal policy allows; otherwise release it by hand.",
                physical_id=str(arn),
            )
        return Failure(f"{why} {number}, claimed for this request, was released: nothing is held.", physical_id=unclaimed_id(request.token()))
    return Failure(
        f"{why} {number} ({arn}) stays claimed for this resource: the rollback releases it where the removal policy allows; "
        "where it keeps it (RETAIN), deploy again with adopt_existing=True (AdoptExisting: true) to take it back.",
        physical_id=str(arn),
    )


def release_late_claim(request: Run, late: StillClaiming) -> Failure:
    """A searched Create whose claim outlived the wait limit: wait it out on the hard deadline, then release it.

    Any number would have done, so the number is this request's alone; under RETAIN CloudFormation sends no Delete
    for a failed Create, so it is released here rather than left to a rollback that may never come. Waiting out and
    releasing one's own claim is not the request's own work (rollbacks.md): it is bounded only by the Lambda run and
    ServiceTimeout. If the claim is still running then, the number stays under its ARN, as before.
    """
    try:
        summary = observe.settle(request, request.deadline(), late.arn, doing="after the wait limit")
    except Failure:
        return Failure(
            f"{late.reason} It was still IN_PROGRESS when the handler had to answer: if the removal policy keeps it, release it "
            f"by hand (aws connect release-phone-number --phone-number-id {late.arn}).",
            physical_id=late.arn,
        )
    outlived = f"Number {late.number} ({late.arn}) was still IN_PROGRESS after {late.waited:.0f} s, the wait limit."
    if status_of(summary) == FAILED:
        message = summary.get("PhoneNumberStatus", {}).get("Message", "")
        return Failure(f"{outlived} Its claim then ended FAILED ({message}): nothing is held.", physical_id=unclaimed_id(request.token()))
    return failed_after_claim(request, summary, Failure(outlived), release=True)


def attributes(summary: Summary) -> dict[str, str]:
    """The number's attributes for Fn::GetAtt."""
    return {
        contract.ATTR_PHONE_NUMBER: str(summary["PhoneNumber"]),
        contract.ATTR_PHONE_NUMBER_ARN: str(summary["PhoneNumberArn"]),
        contract.ATTR_PHONE_NUMBER_ID: str(summary["PhoneNumberId"]),
    }
