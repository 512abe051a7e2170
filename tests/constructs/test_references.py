"""References: IPhoneNumber, implemented by ClaimedPhoneNumber and by a read-only reference made from an ARN."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import assertions

import connect_phone_number
from connect_phone_number import ClaimedPhoneNumber, IPhoneNumber
from constructs import Construct
from support import ACCOUNT, INSTANCE

NUMBER_ARN = f"arn:aws:connect:eu-west-2:{ACCOUNT}:phone-number/12345678-aaaa-bbbb-cccc-123456789012"


class RoutingNote(Construct):
    """A user's construct that takes any number."""

    def __init__(self, scope: Construct, id: str, *, number: IPhoneNumber) -> None:  # noqa: A002
        super().__init__(scope, id)
        cdk.CfnOutput(self, "Arn", value=number.phone_number_arn)
        cdk.CfnOutput(self, "Id", value=number.phone_number_id)


def test_a_claimed_number_is_an_iphonenumber_that_users_constructs_can_take() -> None:
    stack = cdk.Stack(cdk.App(), "Test")
    number = ClaimedPhoneNumber(stack, "Number", target_arn=INSTANCE, country_code="US", phone_number_type="DID")
    RoutingNote(stack, "Note", number=number)

    outputs = assertions.Template.from_stack(stack).find_outputs("*")

    assert sorted(output["Value"]["Fn::GetAtt"][1] for output in outputs.values()) == ["PhoneNumberArn", "PhoneNumberId"]
    assert number.phone_number is not None


def test_a_reference_from_a_concrete_arn_knows_its_id_and_env_but_not_its_number() -> None:
    stack = cdk.Stack(cdk.App(), "Test")
    number = ClaimedPhoneNumber.from_phone_number_arn(stack, "Imported", NUMBER_ARN)

    assert number.phone_number_arn == NUMBER_ARN
    assert number.phone_number_id == "12345678-aaaa-bbbb-cccc-123456789012"
    assert number.phone_number is None
    assert (number.env.account, number.env.region) == (ACCOUNT, "eu-west-2")


def test_a_reference_from_a_token_arn_parses_the_id_with_select_and_split() -> None:
    stack = cdk.Stack(cdk.App(), "Test")
    arn = cdk.CfnParameter(stack, "NumberArn").value_as_string
    number = ClaimedPhoneNumber.from_phone_number_arn(stack, "Imported", arn)
    RoutingNote(stack, "Note", number=number)

    outputs = assertions.Template.from_stack(stack).find_outputs("*")

    values = [output["Value"] for output in outputs.values()]
    assert {"Ref": "NumberArn"} in values
    assert {"Fn::Select": [1, {"Fn::Split": [":phone-number/", {"Ref": "NumberArn"}]}]} in values


def test_a_reference_adds_nothing_to_the_template() -> None:
    stack = cdk.Stack(cdk.App(), "Test")
    ClaimedPhoneNumber.from_phone_number_arn(stack, "Imported", NUMBER_ARN)

    assert assertions.Template.from_stack(stack).to_json().get("Resources", {}) == {}


@pytest.mark.parametrize("arn", [INSTANCE, "arn:aws:s3:::bucket", "+18005550100"])
def test_a_reference_from_something_that_is_not_a_number_arn_is_refused(arn: str) -> None:
    with pytest.raises(ValueError, match=r"^ClaimedPhoneNumber: phone_number_arn: "):
        ClaimedPhoneNumber.from_phone_number_arn(cdk.Stack(cdk.App(), "Test"), "Imported", arn)


def test_the_package_exports_the_interface() -> None:
    assert "IPhoneNumber" in connect_phone_number.__all__
