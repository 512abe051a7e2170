"""Contact flows (ContactFlowArn): associated once CLAIMED, again after a move, restored after drift, removed with the prop."""

from __future__ import annotations

import boto3
import pytest

from connect_phone_number_handler import contract, validation
from connect_phone_number_local.deploy.responses import ResponseServer
from connect_phone_number_local.emulator import ConnectEmulator
from support import ACCOUNT, INSTANCE, OTHER_INSTANCE, create, run, search_props

FLOW = f"{INSTANCE}/contact-flow/11111111-aaaa-bbbb-cccc-000000000001"
OTHER_FLOW = f"{INSTANCE}/contact-flow/11111111-aaaa-bbbb-cccc-000000000002"
FLOW_ON_OTHER = f"{OTHER_INSTANCE}/contact-flow/22222222-aaaa-bbbb-cccc-000000000001"
GROUP = f"arn:aws:connect:us-east-1:{ACCOUNT}:traffic-distribution-group/cccccccc-1111-2222-3333-444444444444"


def flow_of(emulator: ConnectEmulator, arn: str) -> str:
    [found] = [n for n in emulator.service.held() if n["arn"] == arn]
    return str(found["contact_flow"])


def test_a_created_number_routes_to_its_flow(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    arn = create(responses, search_props(ContactFlowArn=FLOW))

    assert flow_of(emulator, arn) == FLOW


def test_a_number_without_the_prop_makes_no_flow_call(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    create(responses, search_props())

    assert not {"AssociatePhoneNumberContactFlow", "ListFlowAssociations"} & set(emulator.service.calls)


def test_a_move_associates_the_flow_given_for_the_new_target(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    old = search_props(ContactFlowArn=FLOW)
    arn = create(responses, old)

    result = run("Update", responses, search_props(TargetArn=OTHER_INSTANCE, ContactFlowArn=FLOW_ON_OTHER), old=old, physical_id=arn)

    assert result.response["Status"] == "SUCCESS", result.response["Reason"]
    assert flow_of(emulator, arn) == FLOW_ON_OTHER


def test_an_update_restores_a_flow_changed_by_hand(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    props = search_props(ContactFlowArn=FLOW)
    arn = create(responses, props)
    boto3.client("connect", region_name="us-east-1").associate_phone_number_contact_flow(
        PhoneNumberId=arn, InstanceId=INSTANCE.rsplit("/", 1)[1], ContactFlowId=OTHER_FLOW.rsplit("/", 1)[1]
    )
    assert flow_of(emulator, arn) == OTHER_FLOW

    result = run("Update", responses, {**props, "Description": "any change"}, old=props, physical_id=arn)

    assert result.response["Status"] == "SUCCESS", result.response["Reason"]
    assert flow_of(emulator, arn) == FLOW


def test_an_update_restores_a_flow_removed_by_hand(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    props = search_props(ContactFlowArn=FLOW)
    arn = create(responses, props)
    boto3.client("connect", region_name="us-east-1").disassociate_phone_number_contact_flow(PhoneNumberId=arn, InstanceId=INSTANCE.rsplit("/", 1)[1])

    result = run("Update", responses, props, old=props, physical_id=arn)

    assert result.response["Status"] == "SUCCESS", result.response["Reason"]
    assert flow_of(emulator, arn) == FLOW


def test_removing_the_prop_disassociates(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    old = search_props(ContactFlowArn=FLOW)
    arn = create(responses, old)
    assert flow_of(emulator, arn) == FLOW

    result = run("Update", responses, search_props(), old=old, physical_id=arn)

    assert result.response["Status"] == "SUCCESS", result.response["Reason"]
    assert flow_of(emulator, arn) == ""


def test_a_flow_of_another_instance_fails_before_any_call_naming_both(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    result = run("Create", responses, search_props(ContactFlowArn=FLOW_ON_OTHER))

    assert result.response["Status"] == "FAILED"
    assert FLOW_ON_OTHER in result.response["Reason"]
    assert INSTANCE in result.response["Reason"]
    assert sum(emulator.service.calls.values()) == 0


def test_a_traffic_distribution_group_number_is_associated_by_its_full_arn(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    arn = create(responses, search_props(TargetArn=GROUP, ContactFlowArn=FLOW))

    assert flow_of(emulator, arn) == FLOW


def test_a_move_between_groups_with_the_same_flow_associates_it_again(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    """The declared flow does not change, but the move drops Connect's association: only reading it shows that."""
    old = search_props(TargetArn=GROUP, ContactFlowArn=FLOW)
    arn = create(responses, old)
    other_group = GROUP.replace("cccccccc", "dddddddd")

    result = run("Update", responses, {**old, "TargetArn": other_group}, old=old, physical_id=arn)

    assert result.response["Status"] == "SUCCESS", result.response["Reason"]
    assert flow_of(emulator, arn) == FLOW
    assert emulator.service.calls["AssociatePhoneNumberContactFlow"] == 2


@pytest.mark.parametrize(
    ("flow", "target"),
    [
        (FLOW_ON_OTHER, INSTANCE),
        (FLOW.replace("us-east-1", "eu-west-2"), GROUP),
        (FLOW.replace(ACCOUNT, "111122223333"), GROUP),
    ],
)
def test_a_flow_outside_the_target_is_refused_naming_the_flow_and_the_target(flow: str, target: str) -> None:
    with pytest.raises(validation.InvalidProperty, match=r"^ContactFlowArn: ") as refused:
        validation.check_contact_flow(contract.CONTACT_FLOW_ARN, flow, target)

    assert flow in str(refused.value) and target in str(refused.value)


def test_a_flow_of_the_groups_account_and_region_is_accepted_for_a_group() -> None:
    validation.check_contact_flow(contract.CONTACT_FLOW_ARN, FLOW, GROUP)


def test_a_value_that_is_not_a_flow_arn_is_refused() -> None:
    with pytest.raises(validation.InvalidProperty, match="is not a contact flow ARN"):
        validation.check_contact_flow(contract.CONTACT_FLOW_ARN, f"{INSTANCE}/queue/q-1", INSTANCE)
