"""The one plan as a table: what a request declares x what was observed -> its steps, its answer, and its undo.

Every request's course is decided by plan.plan (and an adoption's undo by plan.plan_undo): a Create, an Update, a
Delete, and so every rollback, a replacement, an adoption, a give-back and a clean-up. These rows pin those
decisions without the emulator: each row is a situation, and the steps it must take, in order.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from connect_phone_number_handler import contract, plan, steps
from connect_phone_number_handler import desired as desired_
from connect_phone_number_handler.contract import ClaimSpec
from connect_phone_number_handler.marker import CLAIM_MARKER_TAG, ClaimMarker
from support import FLOW, FLOW_ON_OTHER, INSTANCE, OTHER_INSTANCE, STACK_ID

OWN = contract.resource_token(STACK_ID, "Number")
REQUEST = "this-request"
MARKER = ClaimMarker(REQUEST, OWN)
ARN = "arn:aws:connect:us-east-1:123456789012:phone-number/11111111-0000-0000-0000-000000000001"
STRAY = "arn:aws:connect:us-east-1:123456789012:phone-number/22222222-0000-0000-0000-000000000002"
HAND_FLOW = f"{INSTANCE}/contact-flow/11111111-aaaa-bbbb-cccc-000000000009"
SEARCHED = ClaimSpec(INSTANCE, country_code="US", phone_number_type="DID")
EXACT = ClaimSpec(INSTANCE, phone_number="+12065550100")


def number(target: str = INSTANCE, *, marker: str | None = f"{OWN}/earlier", **extra: Any) -> dict[str, Any]:
    """A settled, CLAIMED number as DescribePhoneNumber returns it."""
    tags = {CLAIM_MARKER_TAG: marker} if marker is not None else {}
    summary: dict[str, Any] = {
        "PhoneNumber": "+12065550100",
        "PhoneNumberArn": ARN,
        "PhoneNumberId": ARN.rsplit("/", 1)[1],
        "TargetArn": target,
        "PhoneNumberCountryCode": "US",
        "PhoneNumberType": "DID",
        "PhoneNumberStatus": {"Status": "CLAIMED"},
        "Tags": tags,
    }
    for key, value in extra.items():
        summary["Tags" if key == "tags" else key] = {**tags, **value} if key == "tags" else value
    return summary


def desired(kind: str, spec: ClaimSpec | None, *, old: ClaimSpec | None = None, physical_id: str = ARN, **extra: Any) -> desired_.Desired:
    update_before = desired_.Baseline(old.tags, old.contact_flow_arn) if old is not None else desired_.UNKNOWN_BEFORE
    before = update_before if kind == "Update" else desired_.NOTHING_DECLARED
    values: dict[str, Any] = {"old": old, "wait_limit": 600, **extra}
    return desired_.Desired(kind, spec, before, physical_id, frozenset({OWN}), REQUEST, MARKER, **values)


def steps_of(decided: plan.Plan) -> list[str]:
    """The steps, one short line each."""
    lines = []
    for step in decided.steps:
        match step:
            case steps.Acquire():
                lines.append(f"Acquire {'pending ' if step.marker.pending else ''}{step.spec.phone_number or step.spec.country_code}")
            case steps.StakeMarker() | steps.ConfirmMarker():
                lines.append(f"{type(step).__name__} {step.marker.value.removeprefix(OWN + '/')}")
            case steps.Move():
                lines.append(f"Move {name(step.target_arn)}{' ' + step.purpose if step.purpose else ''}")
            case steps.Describe():
                lines.append(f"Describe {step.description!r}")
            case steps.Untag():
                lines.append(f"Untag {','.join(step.keys)}")
            case steps.Tag():
                lines.append(f"Tag {','.join(f'{k}={v}' for k, v in step.tags.items())}")
            case steps.RouteFlow():
                lines.append(f"RouteFlow {name(step.declared)}<-{name(step.before)}{' record' if step.record else ''}")
            case steps.RecordRouting():
                lines.append(f"RecordRouting {name(step.flow)}")
            case steps.SetMarker():
                lines.append(f"SetMarker {step.value}")
            case steps.Release():
                lines.append(f"Release {name(step.number_id)}{' settled' if step.settle else ''}")
            case steps.GiveBack():
                inner = "; ".join(steps_of(plan.Plan(step.steps)))
                lines.append(f"GiveBack [{inner}]{' unmark' if step.unmark else ''}")
            case _:
                lines.append(type(step).__name__)
    return lines


def name(value: str | None) -> str:
    """ARNs by the names this file gives them."""
    names = {INSTANCE: "INSTANCE", OTHER_INSTANCE: "OTHER", FLOW: "FLOW", FLOW_ON_OTHER: "FLOW_ON_OTHER", HAND_FLOW: "HAND", ARN: "ARN", STRAY: "STRAY"}
    return names.get(value or "", "-" if value is None else value)


ROWS: list[tuple[str, desired_.Desired, desired_.Seen, list[str]]] = [
    (
        "a Create claims, then routes its flow",
        desired("Create", replace(SEARCHED, contact_flow_arn=FLOW), physical_id="unclaimed-" + REQUEST),
        desired_.Seen(),
        ["Acquire US", "RouteFlow FLOW<--"],
    ),
    (
        "an Update that changes nothing touches nothing",
        desired("Update", SEARCHED, old=SEARCHED),
        desired_.Seen(number()),
        ["RouteFlow -<-- record"],
    ),
    (
        "an Update moves, describes, retags (the hand-set tag stays) and routes, in that order",
        desired(
            "Update",
            replace(SEARCHED, target_arn=OTHER_INSTANCE, description="d", tags={"b": "2"}, contact_flow_arn=FLOW_ON_OTHER),
            old=replace(SEARCHED, tags={"a": "1"}, contact_flow_arn=FLOW),
        ),
        desired_.Seen(number(tags={"a": "1", "hand": "h"})),
        ["Move OTHER", "Describe 'd'", "Untag a", "Tag b=2", "RouteFlow FLOW_ON_OTHER<-FLOW record"],
    ),
    (
        "an Update whose old properties do not parse removes no tag",
        desired("Update", replace(SEARCHED, tags={"b": "2"}), old=None),
        desired_.Seen(number(tags={"a": "1"})),
        ["Tag b=2", "RouteFlow -<-- record"],
    ),
    (
        "an Update that moves and declares the first flow records the routing before the move",
        desired("Update", replace(SEARCHED, target_arn=OTHER_INSTANCE, contact_flow_arn=FLOW_ON_OTHER), old=SEARCHED),
        desired_.Seen(number(), routing=HAND_FLOW, routing_read=True),
        ["RecordRouting HAND", "Move OTHER", "RouteFlow FLOW_ON_OTHER<-- record"],
    ),
    (
        "an Update that moves a number routed by hand records that routing before the move drops it",
        desired("Update", replace(SEARCHED, target_arn=OTHER_INSTANCE), old=SEARCHED),
        desired_.Seen(number(), routing=HAND_FLOW, routing_read=True),
        ["RecordRouting HAND", "Move OTHER", "RouteFlow -<-- record"],
    ),
    (
        "an Update that asks for another number claims a pending replacement",
        desired("Update", replace(SEARCHED, phone_number_type="TOLL_FREE"), old=SEARCHED),
        desired_.Seen(number()),
        ["Acquire pending US", "RouteFlow -<--"],
    ),
    (
        "an Update of a number released by hand claims a pending replacement",
        desired("Update", SEARCHED, old=SEARCHED),
        desired_.Seen(None),
        ["Acquire pending US", "RouteFlow -<--"],
    ),
    (
        "the rollback of a replacement releases its stray, then converges the number it kept",
        desired("Update", SEARCHED, old=replace(SEARCHED, phone_number_type="TOLL_FREE")),
        desired_.Seen(number(), strays=({**number(), "PhoneNumberArn": STRAY, "PhoneNumberId": STRAY},)),
        ["Release STRAY settled", "RouteFlow -<-- record"],
    ),
    (
        "a Delete releases the number it names, by its ARN",
        desired("Delete", SEARCHED),
        desired_.Seen(number()),
        ["Release ARN"],
    ),
    (
        "a Delete of a number gone already does nothing",
        desired("Delete", SEARCHED),
        desired_.Seen(None),
        [],
    ),
    (
        "a Delete keeps a number another resource adopted since, untouched",
        desired("Delete", SEARCHED),
        desired_.Seen(number(marker="another-resource/r/adopted/instance=x")),
        ["GiveBack []"],
    ),
    (
        "a Delete that keeps an adopted number gives it back where it was, routed as it was, and unmarks it",
        desired("Delete", replace(EXACT, target_arn=OTHER_INSTANCE, contact_flow_arn=FLOW_ON_OTHER), retain_adopted=True),
        desired_.Seen(
            number(OTHER_INSTANCE, marker=f"{OWN}/r/adopted/instance={INSTANCE.rsplit('/', 1)[1]}/flow={INSTANCE.rsplit('/', 1)[1]}:{FLOW.rsplit('/', 1)[1]}")
        ),
        ["GiveBack [Move INSTANCE give-back; RouteFlow FLOW<-FLOW_ON_OTHER] unmark"],
    ),
    (
        "the rollback of a Create that named no number releases what that request claimed, and gives back what it adopted",
        desired("Delete", EXACT, physical_id="unclaimed-failed", failed_create="failed"),
        desired_.Seen(strays=({**number(), "PhoneNumberArn": STRAY, "PhoneNumberId": STRAY},), holder=number(marker=f"{OWN}/failed/adopted")),
        ["Release STRAY settled", "GiveBack [] unmark"],
    ),
]


@pytest.mark.parametrize(("wanted", "seen", "expected"), [row[1:] for row in ROWS], ids=[row[0] for row in ROWS])
def test_the_plan_takes_these_steps_in_this_order(wanted: desired_.Desired, seen: desired_.Seen, expected: list[str]) -> None:
    decided = plan.plan(wanted, seen)

    assert decided.refusal is None, decided.refusal
    assert steps_of(decided) == expected


def test_a_replacement_is_reported_under_the_old_id_until_success_is_decided_then_marked_answered() -> None:
    decided = plan.plan(desired("Update", replace(SEARCHED, prefix="+1206"), old=SEARCHED), desired_.Seen(number(PhoneNumber="+18005550100")))

    assert decided.failure_id == ARN
    assert [type(s) for s in decided.after_answer] == [steps.MarkAnswered]
    assert not decided.release_on_failure  # a replacement's claim is left pending: the rollback releases it


def test_a_searched_create_releases_its_own_claim_when_a_later_step_fails_and_an_exact_one_keeps_it() -> None:
    searched = plan.plan(desired("Create", SEARCHED, physical_id="unclaimed-" + REQUEST), desired_.Seen())
    exact = plan.plan(desired("Create", EXACT, physical_id="unclaimed-" + REQUEST), desired_.Seen())

    assert (searched.release_on_failure, exact.release_on_failure) == (True, False)
    assert searched.failure_id == exact.failure_id == "unclaimed-" + REQUEST


def test_an_adoption_stakes_its_marker_first_converges_then_confirms_and_can_be_undone() -> None:
    holder = number(marker=None, tags={"hand": "h"}, PhoneNumberDescription="by hand")
    wanted = desired("Create", replace(EXACT, target_arn=OTHER_INSTANCE, adopt_existing=True, tags={"team": "a"}), physical_id="unclaimed-" + REQUEST)

    decided = plan.plan(wanted, desired_.Seen(holder=holder, origin_flow=FLOW))

    staked = f"{REQUEST}/adopted/instance={INSTANCE.rsplit('/', 1)[1]}/flow={INSTANCE.rsplit('/', 1)[1]}:{FLOW.rsplit('/', 1)[1]}"
    assert steps_of(decided) == [f"StakeMarker {staked}", "Move OTHER", "Describe ''", "Tag team=a", "RouteFlow -<--", f"ConfirmMarker {staked}"]
    assert decided.answer == ARN and decided.failure_id == "unclaimed-" + REQUEST
    assert decided.undo is not None
    moved = {**holder, "TargetArn": OTHER_INSTANCE, "PhoneNumberDescription": "", "Tags": {**holder["Tags"], "team": "a", CLAIM_MARKER_TAG: staked}}
    undone = plan.plan_undo(decided.undo, moved)
    assert steps_of(undone) == ["Move INSTANCE undo", "Describe 'by hand'", "Untag team", "RouteFlow FLOW<--", "SetMarker None"]


@pytest.mark.parametrize(
    ("marker", "why"),
    [("another-resource/r", "another resource"), (f"{OWN}/other-request/pending", "was claimed by a replacement of this resource")],
    ids=["another resource's number", "this resource's pending replacement"],
)
def test_an_adoption_is_refused_before_any_change(marker: str, why: str) -> None:
    wanted = desired("Create", replace(EXACT, adopt_existing=True), physical_id="unclaimed-" + REQUEST)

    decided = plan.plan(wanted, desired_.Seen(holder=number(marker=marker)))

    assert decided.refusal is not None and why in decided.refusal


def test_an_adoption_an_earlier_delivery_began_is_resumed_from_its_marker_without_staking_again() -> None:
    began = f"{OWN}/{REQUEST}/adopted/instance={INSTANCE.rsplit('/', 1)[1]}"
    wanted = desired("Create", replace(EXACT, target_arn=OTHER_INSTANCE, adopt_existing=True), physical_id="unclaimed-" + REQUEST)

    decided = plan.plan(wanted, desired_.Seen(holder=number(marker=began)))

    assert decided.refusal is None
    assert steps_of(decided)[0] == "Move OTHER"
    assert decided.undo is not None and decided.undo.resumed


def test_an_update_over_connects_tag_limit_is_refused_before_any_change_counting_hand_added_tags() -> None:
    hand = {f"hand{i}": "x" for i in range(2)}
    wanted = desired("Update", replace(SEARCHED, tags={f"k{i}": "v" for i in range(49)}), old=SEARCHED)

    decided = plan.plan(wanted, desired_.Seen(number(tags=hand)))

    assert decided.refusal is not None and "over Connect's limit of 50" in decided.refusal


def test_the_wait_limit_bounds_a_requests_own_work_but_not_after_an_earlier_operation_was_waited_out() -> None:
    wanted = desired("Update", replace(SEARCHED, target_arn=OTHER_INSTANCE), old=SEARCHED)

    assert plan.plan(wanted, desired_.Seen(number())).limit_seconds == 600
    assert plan.plan(wanted, desired_.Seen(number(), waited=True)).limit_seconds is None


def test_a_number_this_resource_kept_stays_its_kept_claim_when_an_adoption_of_it_is_given_back() -> None:
    """Found by the lifecycle model (LIFECYCLE_SEED=586864356, 150 examples): a number this resource kept by RETAIN is
    adopted by a later Update of it that is rolled back; the give-back removed the marker, so the kept number was held
    unmarked and any other stack could adopt it. The adoption's marker says ``kept``; the give-back marks it back."""
    kept = number(marker=f"{OWN}/earlier")
    wanted = desired("Update", replace(EXACT, adopt_existing=True), physical_id="unclaimed-" + REQUEST)

    decided = plan.plan(wanted, desired_.Seen(holder=kept))

    [staked] = [s for s in decided.steps if isinstance(s, steps.StakeMarker)]
    assert staked.marker.value.endswith("/kept") and ClaimMarker.parse(staked.marker.value) == staked.marker
    adopted = {**kept, "Tags": {**kept["Tags"], CLAIM_MARKER_TAG: staked.marker.value}}
    back = plan.give_back(adopted, wanted, "adopted by an Update that failed")
    assert back.unmark and back.remark is not None
    assert back.remark.value == f"{staked.marker.resource}/{staked.marker.request}/kept"
    # A number that was nobody's before the adoption loses the marker, as before.
    fresh = plan.plan(wanted, desired_.Seen(holder=number(marker=None)))
    [first] = [s for s in fresh.steps if isinstance(s, steps.StakeMarker)]
    assert not first.marker.kept


def test_old_properties_that_do_not_parse_are_never_a_first_declared_flow() -> None:
    """Found by the lifecycle model (LIFECYCLE_SEED=1244963758, 150 examples): the rollback of an Update the handler refused
    (its properties, now the old ones, do not parse) took the stack's flow for a first declaration and recorded the
    flow set by hand as the routing from before it, which a later removal of the prop restored."""
    with_flow = replace(EXACT, contact_flow_arn=FLOW)

    decided = plan.converge(number(), with_flow, desired_.UNKNOWN_BEFORE, record_flow=True)

    [route] = [s for s in decided.steps if isinstance(s, steps.RouteFlow)]
    assert route.before == FLOW  # declared before as now: no record written, nothing removed
