"""The converge plan as a table: what is observed x what is declared -> steps. No emulator, no Connect calls."""

from __future__ import annotations

import pytest

from connect_phone_number_handler import flow_plan, tag_plan
from connect_phone_number_handler.marker import CLAIM_MARKER_TAG, NOWHERE
from support import FLOW, INSTANCE

OTHER_FLOW = f"{INSTANCE}/contact-flow/11111111-aaaa-bbbb-cccc-000000000002"
HAND_FLOW = f"{INSTANCE}/contact-flow/11111111-aaaa-bbbb-cccc-000000000003"
MARKER = {CLAIM_MARKER_TAG: "r/q"}


def number(tags: dict[str, str]) -> dict[str, object]:
    return {"PhoneNumber": "+18005550100", "PhoneNumberArn": "arn:number", "Tags": tags}


@pytest.mark.parametrize(
    ("actual", "declared", "before", "to_set", "to_remove"),
    [
        # added and changed keys are set, a key the stack no longer declares is removed, a hand-added one stays
        (
            {"keep": "1", "change": "a", "drop": "x", "hand": "h"},
            {"keep": "1", "change": "b", "add": "y"},
            {"keep": "1", "change": "a", "drop": "x"},
            {"change": "b", "add": "y"},
            ["drop"],
        ),
        # a declared key changed by hand is the stack's: set back (drift repaired)
        ({"team": "by-hand"}, {"team": "a"}, {"team": "a"}, {"team": "a"}, []),
        # what was declared before is unknown (old properties that do not parse): nothing is removed
        ({"hand": "h", "team": "a"}, {"team": "b"}, None, {"team": "b"}, []),
        # a key declared before that is not on the number any more needs no call
        ({}, {}, {"gone": "x"}, {}, []),
        # the marker is never removed, even if it was declared (it cannot be: the contract refuses it)
        ({**MARKER}, {}, {CLAIM_MARKER_TAG: "x"}, {}, []),
    ],
)
def test_the_tag_plan_sets_declared_values_removes_only_keys_declared_before_and_leaves_the_rest(
    actual: dict[str, str], declared: dict[str, str], before: dict[str, str] | None, to_set: dict[str, str], to_remove: list[str]
) -> None:
    result = tag_plan.plan_tags(number(actual), declared, before)
    assert (result.to_set, result.to_remove, result.refusal) == (to_set, to_remove, None)


def test_the_tag_plan_refuses_more_than_connects_limit_counting_hand_added_tags_and_the_marker() -> None:
    declared = {f"k{i}": "v" for i in range(49)}
    result = tag_plan.plan_tags(number({"by-hand": "x", **MARKER}), declared, {})
    assert result.refusal is not None
    assert "51 tags (1 it has that the stack does not declare, 49 declared, and 1 marker" in result.refusal
    assert "Nothing was changed" in result.refusal
    assert tag_plan.plan_tags(number({**MARKER}), declared, {}).refusal is None  # exactly 50


@pytest.mark.parametrize(
    ("declared", "before", "associated", "recorded", "step"),
    [
        # first declared flow over no routing: the record says so (NOWHERE), then associate
        (FLOW, None, None, None, flow_plan.FlowPlan(INSTANCE, FLOW, record=NOWHERE)),
        # first declared flow over a hand-set one: record it before associating
        (FLOW, None, HAND_FLOW, None, flow_plan.FlowPlan(INSTANCE, FLOW, record=HAND_FLOW)),
        # the hand-set flow is the one first declared: only the record
        (FLOW, None, FLOW, None, flow_plan.FlowPlan(INSTANCE, FLOW, record=FLOW, change=False)),
        # first declared, with a record an earlier move left (for a move back): replaced by the routing of now
        (FLOW, None, None, HAND_FLOW, flow_plan.FlowPlan(INSTANCE, FLOW, record=NOWHERE)),
        (FLOW, None, OTHER_FLOW, HAND_FLOW, flow_plan.FlowPlan(INSTANCE, FLOW, record=OTHER_FLOW)),
        # first declared, with a record an earlier delivery of this Update kept, and the flow associated since: kept
        (FLOW, None, FLOW, HAND_FLOW, None),
        (FLOW, FLOW, FLOW, None, None),
        # drift (changed by hand while declared): set back, the record kept
        (FLOW, FLOW, OTHER_FLOW, HAND_FLOW, flow_plan.FlowPlan(INSTANCE, FLOW)),
        # the prop removed (or the Update that set it rolled back): disassociate, or restore the recorded routing; the record is spent
        (None, FLOW, FLOW, None, flow_plan.FlowPlan(INSTANCE, None)),
        (None, FLOW, FLOW, HAND_FLOW, flow_plan.FlowPlan(INSTANCE, HAND_FLOW, record="")),
        (None, FLOW, FLOW, NOWHERE, flow_plan.FlowPlan(INSTANCE, None, record="")),
        (None, FLOW, FLOW, FLOW, flow_plan.FlowPlan(INSTANCE, FLOW, record="", change=False)),
        # nothing routes it any more (the rollback of a move dropped the stack's flow): the recorded routing comes back
        (None, FLOW, None, HAND_FLOW, flow_plan.FlowPlan(INSTANCE, HAND_FLOW, record="")),
        (None, FLOW, None, NOWHERE, flow_plan.FlowPlan(INSTANCE, None, record="", change=False)),
        (None, FLOW, None, None, None),
        # changed by hand since it was declared, or never declared: left alone (a record is spent: the routing of now wins)
        (None, FLOW, OTHER_FLOW, HAND_FLOW, flow_plan.FlowPlan(INSTANCE, None, record="", change=False)),
        (None, FLOW, OTHER_FLOW, None, None),
        (None, None, OTHER_FLOW, None, None),
    ],
)
def test_the_flow_plan_follows_the_declared_flow_restores_what_it_replaced_and_leaves_flows_set_by_hand(
    declared: str | None, before: str | None, associated: str | None, recorded: str | None, step: flow_plan.FlowPlan | None
) -> None:
    assert flow_plan.plan_flow(declared, before, associated, recorded) == step


def test_a_routing_set_by_hand_that_the_stacks_move_dropped_comes_back_when_the_number_moves_back() -> None:
    other = INSTANCE.replace("aaaaaaaa", "bbbbbbbb")

    assert flow_plan.flow_to_read(None, None, INSTANCE, HAND_FLOW) == INSTANCE
    assert flow_plan.plan_flow(None, None, None, HAND_FLOW, INSTANCE) == flow_plan.FlowPlan(INSTANCE, HAND_FLOW, record="")
    # still away: the record waits; routed by hand again where it is: left alone, and the record is spent
    assert flow_plan.flow_to_read(None, None, other, HAND_FLOW) is None
    assert flow_plan.plan_flow(None, None, None, HAND_FLOW, other) is None
    assert flow_plan.plan_flow(None, None, OTHER_FLOW, HAND_FLOW, INSTANCE) == flow_plan.FlowPlan(INSTANCE, HAND_FLOW, record="", change=False)


def test_a_first_declared_flow_keeps_the_record_its_own_move_wrote() -> None:
    group = "arn:aws:connect:us-east-1:123456789012:traffic-distribution-group/cccccccc-1111-2222-3333-444444444444"
    # The Update moved the number from INSTANCE onto a group (RecordRouting read the hand-set routing before the move).
    assert flow_plan.plan_flow(FLOW, None, None, HAND_FLOW, None, moved_from=INSTANCE) == flow_plan.FlowPlan(INSTANCE, FLOW)
    # Without the move, or moved from elsewhere, that record is an earlier move's: the rollback restores the routing of now.
    assert flow_plan.plan_flow(FLOW, None, None, HAND_FLOW, INSTANCE) == flow_plan.FlowPlan(INSTANCE, FLOW, record=NOWHERE)
    assert flow_plan.plan_flow(FLOW, None, None, HAND_FLOW, INSTANCE, moved_from=group) == flow_plan.FlowPlan(INSTANCE, FLOW, record=NOWHERE)


def test_a_first_declared_flow_equal_to_the_hand_set_one_replaces_a_record_an_earlier_move_left_elsewhere() -> None:
    elsewhere = HAND_FLOW.replace("aaaaaaaa", "bbbbbbbb")  # recorded on the instance an earlier move left
    assert flow_plan.plan_flow(FLOW, None, FLOW, elsewhere, INSTANCE) == flow_plan.FlowPlan(INSTANCE, FLOW, record=FLOW, change=False)
    # This Update's earlier delivery recorded on the declared flow's instance, then associated it: kept
    assert flow_plan.plan_flow(FLOW, None, FLOW, HAND_FLOW, INSTANCE) is None


def test_a_move_back_restores_the_record_read_before_its_move_and_keeps_the_one_its_move_wrote() -> None:
    other_hand = HAND_FLOW.replace("aaaaaaaa", "bbbbbbbb")  # the hand-set routing on the instance the move back leaves
    # The marker now holds the routing the move back dropped (other_hand); HAND_FLOW was read before the move: restored,
    # and the new record stays for the move back's rollback.
    assert flow_plan.plan_flow(None, None, None, other_hand, INSTANCE, restore=HAND_FLOW) == flow_plan.FlowPlan(INSTANCE, HAND_FLOW, record=None)
    # Nothing was routed where it left: the marker still holds HAND_FLOW, restored and spent.
    assert flow_plan.plan_flow(None, None, None, HAND_FLOW, INSTANCE, restore=HAND_FLOW) == flow_plan.FlowPlan(INSTANCE, HAND_FLOW, record="")


def test_a_removal_away_from_the_records_instance_keeps_the_record_and_a_move_back_with_the_first_flow_keeps_it_too() -> None:
    other = INSTANCE.replace("aaaaaaaa", "bbbbbbbb")
    # The flow removed while the number is on another instance: HAND_FLOW cannot route it there; kept for later.
    assert flow_plan.plan_flow(None, FLOW, None, HAND_FLOW, other) is None
    # Declared again (a rollback) as the number comes back to INSTANCE from another instance: HAND_FLOW is its record.
    assert flow_plan.plan_flow(FLOW, None, None, HAND_FLOW, INSTANCE, moved_from=other) == flow_plan.FlowPlan(INSTANCE, FLOW)
