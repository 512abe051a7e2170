"""Rollbacks through CloudFormation's protocol: each completes, and restores what the rolled-back request changed.

CloudFormation rolls back an Update by sending another Update: the properties before as ResourceProperties, the
rolled-back ones as OldResourceProperties, a new RequestId. It rolls back a failed Create with a Delete, except
under RETAIN, where it sends nothing.
"""

from __future__ import annotations

from typing import Any

import boto3

from connect_phone_number_handler.marker import CLAIM_MARKER_TAG
from connect_phone_number_local.deploy.responses import ResponseServer
from connect_phone_number_local.emulator import ConnectEmulator
from support import ACCOUNT, FLOW_ON_OTHER, INSTANCE, OTHER_INSTANCE, create, run, search_props

FLOW = f"{INSTANCE}/contact-flow/11111111-aaaa-bbbb-cccc-000000000001"
HAND_FLOW = f"{INSTANCE}/contact-flow/11111111-aaaa-bbbb-cccc-000000000009"
GROUP = f"arn:aws:connect:us-east-1:{ACCOUNT}:traffic-distribution-group/cccccccc-1111-2222-3333-444444444444"
WAIT = "10"  # the shortest wait limit the contract allows


def tags(**values: str) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in values.items()]


def record(emulator: ConnectEmulator, arn: str) -> dict[str, Any]:
    [found] = [n for n in emulator.service.held() if n["arn"] == arn]
    return found


def held(emulator: ConnectEmulator) -> list[str]:
    return sorted(n["arn"] for n in emulator.service.holding())


def connect() -> Any:
    return boto3.client("connect", region_name="us-east-1")


# --- after a timeout: waiting out the earlier request's operation is not this request's wait limit ---------------


def test_the_rollback_of_a_replacement_that_timed_out_waits_past_its_own_wait_limit_and_releases_the_replacement(
    emulator: ConnectEmulator, responses: ResponseServer
) -> None:
    old, new = search_props(WaitTimeoutSeconds=WAIT), search_props(Type="TOLL_FREE", WaitTimeoutSeconds=WAIT)
    arn = create(responses, old)
    emulator.service.config.claim_seconds = 16  # the replacement takes longer than both wait limits together

    failed = run("Update", responses, new, old=old, physical_id=arn)
    rollback = run("Update", responses, old, old=new, physical_id=arn)

    assert failed.response["Status"] == "FAILED"
    assert "IN_PROGRESS" in failed.response["Reason"]
    assert rollback.response["Status"] == "SUCCESS", rollback.response["Reason"]
    assert held(emulator) == [arn]


def test_the_rollback_of_a_move_that_timed_out_waits_for_it_then_moves_back_past_its_own_wait_limit(
    emulator: ConnectEmulator, responses: ResponseServer
) -> None:
    old, moved = search_props(WaitTimeoutSeconds=WAIT), search_props(TargetArn=OTHER_INSTANCE, WaitTimeoutSeconds=WAIT)
    arn = create(responses, old)
    emulator.service.config.update_seconds = 12  # 2 s past the failed Update's limit to wait out, then 12 s more

    failed = run("Update", responses, moved, old=old, physical_id=arn)
    rollback = run("Update", responses, old, old=moved, physical_id=arn)

    assert failed.response["Status"] == "FAILED"
    assert rollback.response["Status"] == "SUCCESS", rollback.response["Reason"]
    assert rollback.seconds > float(WAIT)
    assert (record(emulator, arn)["target_arn"], record(emulator, arn)["status"]) == (INSTANCE, "CLAIMED")


# --- after a refused update: old properties that do not parse widen nothing -----------------------------------


def test_the_rollback_of_an_update_with_refused_properties_keeps_tags_added_by_hand(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    props = search_props(Tags=tags(team="support"))
    arn = create(responses, props)
    connect().tag_resource(resourceArn=arn, tags={"cost-centre": "by-hand"})
    refused = {**props, "Tags": tags(team="x" * 300)}  # over the value limit: the handler refuses it

    failed = run("Update", responses, refused, old=props, physical_id=arn)
    rollback = run("Update", responses, props, old=refused, physical_id=arn)

    assert failed.response["Status"] == "FAILED"
    assert "Nothing was claimed or changed" in failed.response["Reason"]
    assert rollback.response["Status"] == "SUCCESS", rollback.response["Reason"]
    now = record(emulator, arn)["tags"]
    assert now["cost-centre"] == "by-hand"
    assert now["team"] == "support"
    assert CLAIM_MARKER_TAG in now
    assert "UntagResource" not in emulator.service.calls


def test_an_update_whose_old_properties_no_longer_parse_sets_the_declared_tags_and_removes_none(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    props = search_props(Tags=tags(team="support"))
    arn = create(responses, props)
    connect().tag_resource(resourceArn=arn, tags={"cost-centre": "by-hand"})
    unparseable = {**props, "Tags": tags(team="x" * 300)}

    result = run("Update", responses, search_props(Tags=tags(team="sales")), old=unparseable, physical_id=arn)

    assert result.response["Status"] == "SUCCESS", result.response["Reason"]
    assert {k: v for k, v in record(emulator, arn)["tags"].items() if k != CLAIM_MARKER_TAG} == {"team": "sales", "cost-centre": "by-hand"}


# --- after a successful flow or tag change (another resource of the stack failed) -----------------------------


def test_the_rollback_of_a_successful_update_that_set_a_flow_restores_the_routing_set_by_hand(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    props = search_props()
    arn = create(responses, props)
    connect().associate_phone_number_contact_flow(PhoneNumberId=arn, InstanceId=INSTANCE.rsplit("/", 1)[1], ContactFlowId=HAND_FLOW.rsplit("/", 1)[1])
    routed = search_props(ContactFlowArn=FLOW)

    update = run("Update", responses, routed, old=props, physical_id=arn)
    assert record(emulator, arn)["contact_flow"] == FLOW
    rollback = run("Update", responses, props, old=routed, physical_id=arn)

    assert update.response["Status"] == "SUCCESS", update.response["Reason"]
    assert rollback.response["Status"] == "SUCCESS", rollback.response["Reason"]
    assert record(emulator, arn)["contact_flow"] == HAND_FLOW


def test_the_rollback_of_a_successful_update_that_set_the_first_flow_on_an_unrouted_number_leaves_it_unrouted(
    emulator: ConnectEmulator, responses: ResponseServer
) -> None:
    props = search_props()
    arn = create(responses, props)
    routed = search_props(ContactFlowArn=FLOW)

    run("Update", responses, routed, old=props, physical_id=arn)
    rollback = run("Update", responses, props, old=routed, physical_id=arn)

    assert rollback.response["Status"] == "SUCCESS", rollback.response["Reason"]
    assert record(emulator, arn)["contact_flow"] == ""
    assert record(emulator, arn)["tags"][CLAIM_MARKER_TAG].count("/") == 1  # no record was needed: the marker's shape is unchanged


def test_a_tag_key_the_stack_declares_is_the_stacks_so_the_rollback_of_its_update_removes_a_value_set_by_hand_before(
    emulator: ConnectEmulator, responses: ResponseServer
) -> None:
    """The rule docs/lifecycle.md states: a declared key is the stack's. No record of a hand-set value is kept."""
    props = search_props()
    arn = create(responses, props)
    connect().tag_resource(resourceArn=arn, tags={"team": "by-hand"})
    tagged = search_props(Tags=tags(team="support"))

    run("Update", responses, tagged, old=props, physical_id=arn)
    rollback = run("Update", responses, props, old=tagged, physical_id=arn)

    assert rollback.response["Status"] == "SUCCESS", rollback.response["Reason"]
    assert "team" not in record(emulator, arn)["tags"]


# --- a flow whose instance is gone has nothing to disassociate ------------------------------------------------


def test_a_groups_number_whose_flows_instance_is_gone_can_be_updated_have_its_flow_removed_and_be_rolled_back(
    emulator: ConnectEmulator, responses: ResponseServer
) -> None:
    routed = search_props(TargetArn=GROUP, ContactFlowArn=FLOW)
    arn = create(responses, routed)
    emulator.service.config.known_targets = [GROUP]  # the flow's instance was deleted

    described = run("Update", responses, {**routed, "Description": "still routed"}, old=routed, physical_id=arn)
    unrouted = search_props(TargetArn=GROUP)
    removed = run("Update", responses, unrouted, old={**routed, "Description": "still routed"}, physical_id=arn)
    rollback = run("Update", responses, routed, old=unrouted, physical_id=arn)

    assert described.response["Status"] == "SUCCESS", described.response["Reason"]
    assert removed.response["Status"] == "SUCCESS", removed.response["Reason"]
    assert rollback.response["Status"] == "SUCCESS", rollback.response["Reason"]
    assert held(emulator) == [arn]


# --- a Create that fails after its claim leaves nothing held by no stack ---------------------------------------


def test_a_create_whose_flow_fails_after_the_claim_releases_the_searched_number_and_says_so(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    emulator.service.config.known_targets = [GROUP]  # the flow's instance does not exist

    result = run("Create", responses, search_props(TargetArn=GROUP, ContactFlowArn=FLOW))

    assert result.response["Status"] == "FAILED"
    assert result.response["PhysicalResourceId"].startswith("unclaimed-")
    assert "was released: nothing is held" in result.response["Reason"]
    assert held(emulator) == []  # under RETAIN CloudFormation sends no Delete: nothing is left to one


def test_a_create_of_an_exact_number_whose_flow_fails_keeps_it_under_its_arn_and_says_how_to_take_it_back(
    emulator: ConnectEmulator, responses: ResponseServer
) -> None:
    emulator.service.config.known_targets = [GROUP]
    [number] = [
        n["PhoneNumber"]
        for n in connect().search_available_phone_numbers(TargetArn=GROUP, PhoneNumberCountryCode="US", PhoneNumberType="DID", MaxResults=1)[
            "AvailableNumbersList"
        ]
    ]

    result = run("Create", responses, {"TargetArn": GROUP, "PhoneNumber": number, "ContactFlowArn": FLOW})
    retried = run("Create", responses, {"TargetArn": GROUP, "PhoneNumber": number, "AdoptExisting": "true"})

    assert result.response["Status"] == "FAILED"
    assert held(emulator) == [result.response["PhysicalResourceId"]], result.response["Reason"]
    assert number in result.response["Reason"] and "adopt_existing=True" in result.response["Reason"]
    assert retried.response["Status"] == "SUCCESS", retried.response["Reason"]
    assert retried.response["PhysicalResourceId"] == result.response["PhysicalResourceId"]


# --- the 50-tag limit is checked before any change --------------------------------------------------------------


def test_an_update_over_connects_tag_limit_is_refused_before_the_move_counting_hand_added_tags(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    props = search_props()
    arn = create(responses, props)
    connect().tag_resource(resourceArn=arn, tags={"by-hand": "x"})
    many = search_props(TargetArn=OTHER_INSTANCE, Tags=tags(**{f"k{i}": "v" for i in range(49)}))

    result = run("Update", responses, many, old=props, physical_id=arn)

    assert result.response["Status"] == "FAILED"
    assert "51 tags (1 it has that the stack does not declare, 49 declared, and 1 marker" in result.response["Reason"]
    assert record(emulator, arn)["target_arn"] == INSTANCE
    assert "UpdatePhoneNumber" not in emulator.service.calls


# --- a number released by hand ------------------------------------------------------------------------------------


def test_an_update_of_a_number_released_by_hand_claims_a_replacement_and_its_rollback_completes(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    props = search_props()
    arn = create(responses, props)
    connect().release_phone_number(PhoneNumberId=arn)
    described = search_props(Description="after the release")

    update = run("Update", responses, described, old=props, physical_id=arn)
    replacement = update.response["PhysicalResourceId"]
    rollback = run("Update", responses, props, old=described, physical_id=replacement)

    assert update.response["Status"] == "SUCCESS", update.response["Reason"]
    assert replacement != arn
    assert rollback.response["Status"] == "SUCCESS", rollback.response["Reason"]
    assert held(emulator) == [replacement]
    assert not record(emulator, replacement)["tags"][CLAIM_MARKER_TAG].endswith("/pending")


def test_the_rollback_of_a_move_that_declared_the_first_flow_restores_the_routing_set_by_hand_on_the_old_instance(
    emulator: ConnectEmulator, responses: ResponseServer
) -> None:
    """The move drops Connect's association, so the hand-set routing is recorded before the move, and the rollback's
    move back routes the number to it again."""
    old = search_props()
    arn = create(responses, old)
    connect().associate_phone_number_contact_flow(PhoneNumberId=arn, InstanceId=INSTANCE.rsplit("/", 1)[1], ContactFlowId=HAND_FLOW)
    moved = search_props(TargetArn=OTHER_INSTANCE, ContactFlowArn=FLOW_ON_OTHER)

    update = run("Update", responses, moved, old=old, physical_id=arn)
    assert update.response["Status"] == "SUCCESS", update.response["Reason"]
    assert record(emulator, arn)["contact_flow"] == FLOW_ON_OTHER
    rollback = run("Update", responses, old, old=moved, physical_id=arn)

    assert rollback.response["Status"] == "SUCCESS", rollback.response["Reason"]
    assert (record(emulator, arn)["target_arn"], record(emulator, arn)["contact_flow"]) == (INSTANCE, HAND_FLOW)


def test_a_give_back_in_an_update_leaves_the_stacks_number_to_the_steps_that_follow_it() -> None:
    """The rollback of an Update that adopted a number gives that number back, then converges the stack's own number:
    the steps after the give-back (and the answer's attributes) must work on the stack's number, not the one given back
    (found by the lifecycle model, LIFECYCLE_SEED=586864356: the answer named one number with another's attributes)."""
    from typing import cast

    from connect_phone_number_handler import apply, steps
    from connect_phone_number_handler.work import Work

    stacks = {"PhoneNumber": "+12065550100", "PhoneNumberArn": "arn:aws:connect:us-east-1:123456789012:phone-number/stacks"}
    adopted = {"PhoneNumber": "+12065550101", "PhoneNumberArn": "arn:aws:connect:us-east-1:123456789012:phone-number/adopted"}
    work = Work(cast(Any, None), cast(Any, None), cast(Any, None), number=stacks)

    apply.apply(work, steps.GiveBack(adopted, (), None, unmark=False, why="adopted by an Update that failed"))

    assert work.number is stacks
