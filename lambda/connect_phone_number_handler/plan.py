"""The plan: what one request does to Connect, from what it declares and what was observed. Pure: no Connect calls.

Every request goes through ``plan``: a Create, an Update, a Delete, and so every rollback (CloudFormation
rolls back with those same requests), an adoption and its undo (``plan_undo``), a give-back, a drift repair
and a redelivery. They differ only in what they declare and in what was observed; ``reconcile`` observes,
asks for the plan, and applies its steps in order (``steps``). The plan says what to report if a step fails,
and what a failure after a change undoes.

The rules, each once:
- A held number stays when it is one the properties ask for; otherwise a new one is claimed (a replacement).
  Target, description, tags and flow change in place (``converge``).
- A replacement's claim is marked pending until CloudFormation is told of it; only a pending claim of this
  resource, or a claim of a Create that failed before it named a number, is ever released by a clean-up.
- A tag key the stack declares is the stack's: its value is set to the declared one whatever it is now
  (drift repaired); a key the stack declared before and no longer does is removed. Keys the stack never
  declared (set by hand, the marker) are left alone. When what was declared before is unknown (the old
  properties no longer parse), nothing is removed.
- Connect's limit of 50 tags is checked on the tags the number will carry, before any change.
- The flow: a declared flow is associated unless it is the one associated now. Removing the prop
  disassociates the flow it declared, or, if the number routed elsewhere before the stack first
  declared a flow (recorded in the marker), restores that routing. A flow set by hand while none was
  declared is left alone, except that a routing the stack's own move dropped comes back when the number
  is back on its instance. One record at a time (flow_plan.py).
- An adoption stakes its marker first (where the number was, and its flow), then converges; a failure after
  that undoes it, from the marker. A Delete gives an adopted number back to where it was instead of
  releasing it when the removal policy keeps it, and keeps a number another resource has taken since.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from . import arns, rules, tag_plan
from .contract import ClaimSpec
from .desired import NOTHING_DECLARED, Baseline, Desired, Seen
from .marker import CLAIM_MARKER_TAG, NOWHERE, ClaimMarker, Ownership, origin_flow_of, origin_of
from .rules import adoption_refusal
from .steps import (
    Acquire,
    ClearFlow,
    ConfirmMarker,
    Describe,
    GiveBack,
    MarkAnswered,
    Move,
    RecordRouting,
    Release,
    RouteFlow,
    SetMarker,
    StakeMarker,
    Step,
    Summary,
    Tag,
    Untag,
)

# ClientToken purposes that set an undo's or a give-back's calls apart from the request's own (goldens pin them).
UNDO = "undo"
GIVE_BACK = "give-back"


@dataclass(frozen=True)
class Undo:
    """What a failed adoption puts back: its number as observed before, and the marker it wrote."""

    before: Summary
    marker: ClaimMarker
    spec: ClaimSpec
    resumed: bool  # an earlier delivery began it: only the marker tells where the number was


@dataclass(frozen=True)
class Plan:
    """The steps of one request, in order, and what to answer.

    ``number`` is the number the steps work on (None until Acquire gives one). The answer's physical id is
    ``answer`` ("" for the number's ARN). ``failure_id`` is reported if a step fails (Acquire may name the
    new number instead, see steps.acquire). ``refusal`` fails the request before any step. ``limit_seconds``
    bounds the request's own work (the wait limit); None bounds it only by the Lambda run and CloudFormation's
    ServiceTimeout: waiting out an earlier request's operation, and what follows it, is not this request's work.
    """

    steps: tuple[Step, ...]
    number: Summary | None = None
    answer: str = ""
    failure_id: str = ""
    refusal: str | None = None
    limit_seconds: int | None = None
    undo: Undo | None = None
    # A Create's own claim whose later step fails: a searched number is released in the same run.
    release_on_failure: bool = False
    after_answer: tuple[Step, ...] = ()
    note: str = ""  # one line for the log: why this plan
    data: bool = True  # SUCCESS carries the number's attributes (a Delete's does not)


# --- the one decision ---------------------------------------------------------------------------------------


def plan(desired: Desired, seen: Seen) -> Plan:
    """The steps for ``desired`` given what was ``seen``: the one place every request's course is decided."""
    if desired.request_type == "Delete":
        return _dispose(desired, seen)
    return _hold(desired, seen)


def _hold(desired: Desired, seen: Seen) -> Plan:
    """A Create or an Update: hold a number the properties ask for, converged on them."""
    spec = desired.spec
    assert spec is not None  # a Create's or Update's properties parse, or it failed before observing
    strays = tuple(
        Release(s["PhoneNumberId"], s.get("PhoneNumber", ""), s["PhoneNumberArn"], "claimed by a replacement that failed", settle=True) for s in seen.strays
    )
    number = seen.number
    kept = _kept_stray(desired, seen)
    if kept is not None:
        # The number CloudFormation names is gone, and an Update before this one left a claim of this resource that
        # no request reported and that this one can use: it becomes the replacement, and the other strays go.
        others = tuple(r for r in strays if r.arn != kept["PhoneNumberArn"])
        owner = Ownership.of(kept, desired.own, desired.request)
        assert owner.marker is not None
        converging = converge(kept, spec, desired.before, record_flow=False)
        return replace(
            converging,
            steps=others + converging.steps,
            failure_id=desired.physical_id,
            limit_seconds=_limit(desired, seen),
            after_answer=(MarkAnswered(owner.marker),),
            note="take the replacement an earlier Update left",
        )
    if number is not None and not rules.needs_replacement(number, desired.old, spec):
        # The Update moves the number (this delivery, or an earlier one of it that died after the move): a record of a
        # routing on the instance it moves from is this Update's own, read before its move.
        moved_from = desired.old.target_arn if desired.old is not None and desired.old.target_arn != spec.target_arn else None
        converging = converge(
            number,
            spec,
            desired.before,
            record_flow=True,
            routing=(seen.routing,) if seen.routing_read else None,
            moved_from=moved_from,
            restore=restores_routing(desired, number),
        )
        given_back: tuple[Step, ...] = ()
        if seen.abandoned is not None and desired.old is not None:
            given_back = (give_back(seen.abandoned, desired, "adopted by an Update that failed", declared_flow=desired.old.contact_flow_arn),)
        return replace(
            converging,
            steps=strays + given_back + converging.steps,
            answer=desired.physical_id,
            failure_id=desired.physical_id,
            limit_seconds=_limit(desired, seen),
            note="converge",
        )
    if seen.holder is not None and spec.adopt_existing and not Ownership.of(seen.holder, desired.own, desired.request).claimed_here:
        return adopt(desired, seen.holder, seen.origin_flow)
    replacing = desired.names_a_number
    gone = desired.physical_id if replacing and number is None else None
    acquire = Acquire(spec, replace(desired.marker, pending=replacing), replacing, gone)
    steps: tuple[Step, ...] = (*strays, acquire, RouteFlow(spec.contact_flow_arn, None, updating=False))
    searched = spec.phone_number is None and spec.source_phone_number_arn is None
    return Plan(
        steps,
        failure_id=desired.physical_id,
        limit_seconds=_limit(desired, seen),
        release_on_failure=not replacing and searched,
        after_answer=(MarkAnswered(replace(desired.marker, pending=True)),) if replacing else (),
        note="replace" if replacing else "claim",
    )


def _kept_stray(desired: Desired, seen: Seen) -> Summary | None:
    """When the number CloudFormation names is gone: a settled stray claim of this resource that the properties can use.

    Each Update of a number released by hand claims a replacement; one that failed left it pending. Using it (rather
    than releasing it and claiming again) keeps a rollback, or its continuation, from claiming once more every time.
    """
    spec = desired.spec
    if seen.number is not None or not desired.names_a_number or spec is None:
        return None
    usable = [s for s in seen.strays if rules.matches_spec(s, spec) and s.get("PhoneNumberStatus", {}).get("Status") == "CLAIMED"]
    return usable[0] if usable else None


def stray_search(desired: Desired, number: Summary | None) -> tuple[ClaimSpec, ...]:
    """The properties whose targets to search for strays: paid for only where a replacement may have been left behind.

    CloudFormation's rollback of a failed replacement sends the properties of the number still held back, with the
    failed attempt's as the old ones. The failed attempt's claim, if any, carries this resource's pending marker.
    When the number CloudFormation names is gone (released by hand), each Update claims a replacement: one that
    failed may have left a pending claim on either the new or the old properties' target.
    """
    spec, old = desired.spec, desired.old
    if spec is None or desired.request_type != "Update" or not desired.names_a_number:
        return ()
    if number is None:
        return tuple(s for s in (spec, old) if s is not None)
    if old is None or not rules.is_rollback_of_replacement(number, old, spec):
        return ()
    return (old,)


def looks_for_holder(desired: Desired, number: Summary | None) -> bool:
    """Whether to look for the account's holder of the exact number: an adoption asked for, and a number to acquire."""
    spec = desired.spec
    if spec is None or not spec.adopt_existing or spec.phone_number is None:
        return False
    return number is None or rules.needs_replacement(number, desired.old, spec)


def converge(
    number: Summary,
    spec: ClaimSpec,
    before: Baseline,
    *,
    record_flow: bool = False,
    purpose: str = "",
    routing: tuple[str | None] | None = None,
    moved_from: str | None = None,
    restore: str | None = None,
) -> Plan:
    """The steps that bring a held, settled number to ``spec``: move, description, tags, flow (in that order).

    ``before`` is what the stack declared before (tags it never declared are left alone; unknown removes
    nothing). ``purpose`` sets the ClientTokens of an undo or a give-back apart from the request's own.
    ``record_flow`` (an Update) keeps in the marker the routing a first declared flow replaces, so that a
    rollback restores it; ``routing`` is that routing, read before a move that drops it (reads_routing).
    ``moved_from``: the target the request moves the number from, though an earlier delivery of it may have moved it.
    ``restore``: a routing the stack's earlier move dropped, to restore once the number is back (restores_routing).
    """
    tags = tag_plan.plan_tags(number, spec.tags, before.tags)
    steps: list[Step] = []
    if record_flow and routing is not None and routing[0] is not None:
        steps.append(RecordRouting(routing[0]))  # before the move: the move drops the association
    if number.get("TargetArn") != spec.target_arn:
        steps.append(Move(spec.target_arn, purpose))
    if (number.get("PhoneNumberDescription") or "") != (spec.description or ""):
        steps.append(Describe(spec.description or "", purpose))
    if tags.to_remove:
        steps.append(Untag(tuple(tags.to_remove)))
    if tags.to_set:
        steps.append(Tag(tags.to_set))
    if moved_from is None and number.get("TargetArn") != spec.target_arn:
        moved_from = str(number.get("TargetArn", ""))
    # Old properties that no longer parse (before.tags None) say nothing of the flow: the declared one is taken as the
    # stack's before too, so that no first declaration is recorded, and no flow removed, on their account.
    flow_before = spec.contact_flow_arn if before.tags is None else before.flow
    steps.append(RouteFlow(spec.contact_flow_arn, flow_before, record=record_flow, moved_from=moved_from, restore=restore))
    return Plan(tuple(steps), number=number, refusal=tags.refusal)


def reads_routing(desired: Desired, number: Summary) -> str | None:
    """The instance whose flow an Update reads before it moves the number, when the stack declared no flow before.

    The move drops Connect's association, so a routing set by hand is read (and recorded in the marker) before the
    move, for a rollback, or a later move back, to restore it. A record of a routing on the instance it moves from
    stays (this Update's earlier delivery's); one of elsewhere is replaced (a move back restores it first:
    restores_routing). A number on a traffic distribution group has no instance of its own to read.
    """
    spec = desired.spec
    if desired.request_type != "Update" or spec is None or desired.before.flow is not None:
        return None
    if rules.needs_replacement(number, desired.old, spec):
        return None  # a new number is claimed: this one's routing is not changed
    target = str(number.get("TargetArn", ""))
    if target == spec.target_arn or ":instance/" not in target:
        return None
    keeper = Ownership.of(number, desired.own, desired.request).record_keeper(desired.marker.resource)
    if keeper is None or keeper.records_routing_on(target):
        return None
    return target


def restores_routing(desired: Desired, number: Summary) -> str | None:
    """The routing set by hand that the stack's own earlier move dropped, to restore when this Update moves the number
    back to that instance with no flow declared: read from the marker now, before this Update's move records another."""
    spec = desired.spec
    if desired.request_type != "Update" or spec is None or spec.contact_flow_arn is not None or desired.before.flow is not None:
        return None
    if number.get("TargetArn") == spec.target_arn or ":instance/" not in spec.target_arn:
        return None
    recorded = Ownership.of(number, desired.own, desired.request).routing_record(str(number["PhoneNumberArn"]))
    return recorded if recorded not in (None, NOWHERE) and arns.flow_instance_arn(str(recorded)) == spec.target_arn else None


def adopt(desired: Desired, holder: Summary, origin_flow: str | None) -> Plan:
    """Take over a number the account already holds: stake the marker, converge as an Update would, check the marker.

    Refusals come before any change. An adoption an earlier delivery of this request began is resumed from its
    marker. The physical id becomes the number's ARN only on success: a failed adoption reports the id it had,
    so that no rollback releases a number this stack never held.
    """
    assert desired.spec is not None
    owner = Ownership.of(holder, desired.own, desired.request)
    resumed = owner.adopted_here and owner.marker is not None
    if owner.adopted_here and owner.marker is not None:
        marker = owner.marker
        stake: tuple[Step, ...] = ()
    else:
        # A number this resource kept (its own claim marker, answered) is marked back as its claim when given back.
        kept = owner.ours_known and owner.marker is not None and not owner.marker.pending and (not owner.marker.adopted or owner.marker.kept)
        marker = replace(desired.marker, adopted=True, origin=origin_of(holder["TargetArn"]), origin_flow=origin_flow_of(origin_flow), kept=kept)
        stake = (StakeMarker(marker),)
    converging = converge(holder, desired.spec, NOTHING_DECLARED)
    return Plan(
        (*stake, *converging.steps, ConfirmMarker(marker)),
        number=holder,
        answer=holder["PhoneNumberArn"],
        failure_id=desired.physical_id,
        limit_seconds=desired.wait_limit,
        # A resumed adoption is not refused for its marker (it is this request's own), only for Connect's tag limit.
        refusal=converging.refusal if resumed else adoption_refusal(holder, desired.spec, desired.own) or converging.refusal,
        undo=Undo(holder, marker, desired.spec, resumed),
        note="resume the adoption" if resumed else "adopt",
    )


def reads_origin_flow(holder: Summary, spec: ClaimSpec) -> str | None:
    """The instance whose flow an adoption records before it changes anything; None when it changes no routing.

    Read only when the adoption moves the number or declares a flow: on the instance it is on, or, for a
    traffic distribution group's number, on the declared flow's instance (the one a declared flow replaces).
    """
    target = str(holder.get("TargetArn", ""))
    if target == spec.target_arn and spec.contact_flow_arn is None:
        return None
    if ":instance/" in target:
        return target
    return arns.flow_instance_arn(spec.contact_flow_arn) if spec.contact_flow_arn else None


def plan_undo(undo: Undo, current: Summary) -> Plan:
    """Put a failed adoption back as it was: the same converge, with the number's old state declared.

    The adoption's declarations are the baseline, so exactly what it did is undone: the move, the description,
    the declared tags (tags set by hand stay), the flow, and then the marker. When an earlier delivery began
    the adoption (resumed), only the marker tells the old state: the target and the flow are restored, the
    description and tags stay as they are.
    """
    restore = restored(undo)
    baseline = Baseline(restore.tags if undo.resumed else undo.spec.tags, undo.spec.contact_flow_arn)
    converging = converge(current, restore, baseline, purpose=UNDO)
    # The marker as it was (none, or this resource's own): the adoption set it first.
    # A resumed adoption knows the old marker only from its own: none, or this resource's kept claim (``kept``).
    kept = undo.marker.kept_claim().value if undo.marker.kept else None
    old = kept if undo.resumed else undo.before.get("Tags", {}).get(CLAIM_MARKER_TAG)
    return Plan((*converging.steps, SetMarker(old)), number=current, note="undo the adoption")


def restored(undo: Undo) -> ClaimSpec:
    """The properties a failed adoption's number is put back to: where it was (the marker's origin), routed as it was,
    its description and own tags as observed before (the marker itself excepted)."""
    arn = str(undo.before["PhoneNumberArn"])
    return replace(
        undo.spec,
        target_arn=undo.marker.origin_arn(arn) or str(undo.before.get("TargetArn", undo.spec.target_arn)),
        description=undo.before.get("PhoneNumberDescription") or None,
        tags={k: v for k, v in undo.before.get("Tags", {}).items() if k != CLAIM_MARKER_TAG},
        contact_flow_arn=undo.marker.origin_flow_arn(arn),
    )


def _dispose(desired: Desired, seen: Seen) -> Plan:
    """A Delete: release the number, or keep it (given back, if this resource adopted it)."""
    answer = desired.physical_id
    if desired.failed_create is not None:
        # The rollback of a Create that failed before it named a number: release what that request claimed, and
        # give back an adoption it began and never answered (it died, or its retry came too late).
        steps: list[Step] = [
            Release(s["PhoneNumberId"], s.get("PhoneNumber", ""), s["PhoneNumberArn"], "claimed by a Create that failed before it could name it", settle=True)
            for s in seen.strays
        ]
        if seen.holder is not None:
            steps.append(give_back(seen.holder, desired, "adopted by a Create that failed"))
        return Plan(tuple(steps), answer=answer, failure_id=answer, data=False, note="clean up after a failed Create")
    number = seen.number
    if number is None:
        return Plan((), answer=answer, failure_id=answer, data=False, note="nothing to release")
    kept = rules.keep_on_delete(number, desired.own, desired.retain_adopted)
    if kept is not None:
        return Plan(
            (give_back(number, desired, kept),), number=number, answer=answer, failure_id=answer, limit_seconds=_limit(desired, seen), data=False, note="keep"
        )
    # Named by the physical id (its ARN), as it always was: the release's ClientToken derives from it.
    release = Release(desired.physical_id, number.get("PhoneNumber", ""), number["PhoneNumberArn"], "deleted")
    return Plan((release,), number=number, answer=answer, failure_id=answer, limit_seconds=_limit(desired, seen), data=False, note="release")


def _limit(desired: Desired, seen: Seen) -> int | None:
    """The wait limit bounds the request's own work; once an earlier request's operation was waited out, only the hard end does.

    A rollback after a timeout most often finds the timed-out operation still running: it must not fail for lack
    of patience while CloudFormation still listens.
    """
    return None if seen.waited else desired.wait_limit


def abandoned_adoption(desired: Desired, number: Summary) -> str | None:
    """The exact number a rolled-back Update asked to adopt, when the rollback keeps another: its adoption may have begun.

    The failed attempt stakes its marker before any change; if it died (or ran out of time) before it could answer
    or undo, only its marker says where the number was. Paid for (one list) only on such a rollback.
    """
    old = desired.old
    if old is None or not old.adopt_existing or old.phone_number is None or stray_search(desired, number) == ():
        return None
    return None if number.get("PhoneNumber") == old.phone_number else old.phone_number


def give_back(number: Summary, desired: Desired, why: str, *, declared_flow: str | None = None) -> GiveBack:
    """Keep ``number``; if this resource adopted it, back to where it was (target and flow), its marker removed (or,
    for a number this resource kept before it adopted it, its claim marker back).

    Its description and tags stay as the stack left them: the marker has no room for them.
    """
    arn = str(number["PhoneNumberArn"])
    owner = Ownership.of(number, desired.own, desired.request)
    if not owner.ours_known or owner.marker is None:
        return GiveBack(number, (), None, unmark=False, why=why)
    if owner.marker.kept and not owner.marker.adopted:
        # Given back already (an earlier delivery of this Delete): it stays this resource's kept claim.
        return GiveBack(number, (), None, unmark=False, why=why)
    origin = owner.marker.origin_arn(arn) if owner.marker.adopted else None
    remark = owner.marker.kept_claim() if owner.marker.adopted and owner.marker.kept else None
    if origin is None:
        return GiveBack(number, (), None, unmark=True, why=why, remark=remark)
    tags = {k: v for k, v in number.get("Tags", {}).items() if k != CLAIM_MARKER_TAG}
    origin_flow = owner.marker.origin_flow_arn(arn)
    back = ClaimSpec(origin, description=number.get("PhoneNumberDescription") or None, tags=tags, contact_flow_arn=origin_flow)
    if declared_flow is not None or desired.spec is not None:
        flow = declared_flow if declared_flow is not None else desired.spec.contact_flow_arn if desired.spec is not None else None
        steps = converge(number, back, Baseline(tags, flow), purpose=GIVE_BACK).steps
    else:
        # The stack's declarations are unknown (its properties no longer parse): the marker alone says how the number
        # was routed. With no flow then, whatever routes it now on its origin instance is the stack's, and goes.
        steps = converge(number, back, Baseline(tags, None), purpose=GIVE_BACK).steps
        if origin_flow is None and ":instance/" in origin:
            steps = (*steps, ClearFlow(origin))
    return GiveBack(number, steps, origin, unmark=True, why=why, remark=remark)
