"""The construct: what it synthesizes, the props it refuses, and the contract with the handler."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import assertions

import contract
from connect_phone_number import ClaimedPhoneNumber
from connect_phone_number.emulator import ConnectEmulator
from connect_phone_number.local_deploy.responses import ResponseServer
from support import INSTANCE, run

NUMBER_TYPE = "Custom::ConnectPhoneNumber"


def synth(**props: Any) -> assertions.Template:
    stack = cdk.Stack(cdk.App(), "Test")
    ClaimedPhoneNumber(stack, "Number", **{"target_arn": INSTANCE, "country_code": "US", "phone_number_type": "DID", **props})
    return assertions.Template.from_stack(stack)


@pytest.fixture(scope="module")
def two_numbers() -> assertions.Template:
    stack = cdk.Stack(cdk.App(), "Test")
    ClaimedPhoneNumber(stack, "Support", target_arn=INSTANCE, country_code="US", phone_number_type="TOLL_FREE", description="Support")
    ClaimedPhoneNumber(stack, "Sales", target_arn=INSTANCE, phone_number="+12065550100", tags={"team": "sales"}, removal_policy=cdk.RemovalPolicy.DESTROY)
    return assertions.Template.from_stack(stack)


def test_one_handler_serves_every_number_in_a_stack(two_numbers: assertions.Template) -> None:
    two_numbers.resource_count_is(NUMBER_TYPE, 2)
    two_numbers.resource_count_is("AWS::Lambda::Function", 1)
    two_numbers.resource_count_is("AWS::IAM::Role", 1)
    two_numbers.resource_count_is("AWS::Logs::LogGroup", 1)
    # Role, its policy, the log group and the function: nothing else, no Step Functions waiter.
    assert len(two_numbers.to_json()["Resources"]) == 4 + 2


def test_properties_use_cloudformations_names_and_strings(two_numbers: assertions.Template) -> None:
    two_numbers.has_resource_properties(
        NUMBER_TYPE,
        {
            "TargetArn": INSTANCE,
            "CountryCode": "US",
            "Type": "TOLL_FREE",
            "Description": "Support",
            "WaitTimeoutSeconds": "600",
            "ServiceTimeout": "720",
            "ServiceToken": assertions.Match.any_value(),
        },
    )
    two_numbers.has_resource_properties(
        NUMBER_TYPE, {"PhoneNumber": "+12065550100", "Tags": [{"Key": "team", "Value": "sales"}], "CountryCode": assertions.Match.absent()}
    )


def test_numbers_are_retained_by_default_and_released_only_on_destroy(two_numbers: assertions.Template) -> None:
    two_numbers.has_resource(NUMBER_TYPE, {"Properties": {"Type": "TOLL_FREE"}, "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"})
    two_numbers.has_resource(NUMBER_TYPE, {"Properties": {"PhoneNumber": "+12065550100"}, "DeletionPolicy": "Delete", "UpdateReplacePolicy": "Delete"})


def test_the_handler_is_python_on_arm64_with_an_explicit_log_group(two_numbers: assertions.Template) -> None:
    two_numbers.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Runtime": assertions.Match.string_like_regexp(r"^python3\.(1[3-9]|[2-9]\d)$"),
            "Architectures": ["arm64"],
            "Handler": "handler.on_event",
            "Timeout": 900,
            "LoggingConfig": {"LogGroup": assertions.Match.any_value()},
        },
    )
    two_numbers.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 30})


def test_permissions_are_scoped_to_the_target_and_this_accounts_numbers(two_numbers: assertions.Template) -> None:
    [policy] = two_numbers.find_resources("AWS::IAM::Policy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    resources = [r for s in statements for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])]
    assert "*" not in resources
    by_action: dict[str, list[str]] = {}
    for statement in statements:
        for action in statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]:
            by_action.setdefault(action, []).extend(
                json.dumps(r) for r in (statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]])
            )
    # The reference authorizes searches and lists against wildcard-phone-number only: phone-number/*, not the target.
    assert all(r.endswith(':phone-number/*"]]}') for r in by_action["connect:SearchAvailablePhoneNumbers"])
    assert all(r.endswith(':phone-number/*"]]}') for r in by_action["connect:ListPhoneNumbersV2"])
    assert json.dumps(INSTANCE) in by_action["connect:ClaimPhoneNumber"]
    assert all(":phone-number/*" in r for r in by_action["connect:ReleasePhoneNumber"])
    assert all(":phone-number/*" in r for r in by_action["connect:DescribePhoneNumber"])
    assert "connect:*" not in by_action


def test_attributes_are_tokens_for_the_handlers_data() -> None:
    stack = cdk.Stack(cdk.App(), "Test")
    number = ClaimedPhoneNumber(stack, "Number", target_arn=INSTANCE, country_code="US", phone_number_type="DID")
    for attribute, key in (
        (number.phone_number, "PhoneNumber"),
        (number.phone_number_arn, "PhoneNumberArn"),
        (number.phone_number_id, "PhoneNumberId"),
    ):
        assert cdk.Token.is_unresolved(attribute)
        resolved = stack.resolve(attribute)
        assert resolved["Fn::GetAtt"][1] == key
    assert number.resource.node.default_child is not None
    assert number.function is not None


def test_timeout_sets_the_wait_and_cloudformations_service_timeout() -> None:
    synth(timeout=cdk.Duration.minutes(3)).has_resource_properties(NUMBER_TYPE, {"WaitTimeoutSeconds": "180", "ServiceTimeout": "300"})


@pytest.mark.parametrize(
    ("props", "named"),
    [
        ({"phone_number": "+12065550100"}, "phone_number"),
        ({"country_code": None}, "country_code"),
        ({"phone_number_type": None}, "phone_number_type"),
        ({"country_code": "ZZ"}, "country_code"),
        ({"phone_number_type": "MOBILE"}, "phone_number_type"),
        ({"prefix": "+1 800"}, "prefix"),
        ({"country_code": None, "phone_number_type": None, "phone_number": "0800 555"}, "phone_number"),
        ({"target_arn": "arn:aws:s3:::my-bucket"}, "target_arn"),
        ({"description": "d" * 501}, "description"),
        ({"tags": {"aws:reserved": "x"}}, "tags"),
        ({"timeout": cdk.Duration.minutes(20)}, "timeout"),
    ],
)
def test_bad_props_fail_at_synth_naming_the_prop(props: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=rf"^ClaimedPhoneNumber: {named}: "):
        synth(**props)


def test_tokens_are_left_for_the_handler_to_check() -> None:
    stack = cdk.Stack(cdk.App(), "Test")
    instance_arn = cdk.CfnParameter(stack, "InstanceArn").value_as_string
    country = cdk.CfnParameter(stack, "Country").value_as_string
    ClaimedPhoneNumber(stack, "Number", target_arn=instance_arn, country_code=country, phone_number_type="DID")

    template = assertions.Template.from_stack(stack)

    template.has_resource_properties(NUMBER_TYPE, {"TargetArn": {"Ref": "InstanceArn"}, "CountryCode": {"Ref": "Country"}})


def test_the_synthesized_properties_are_what_the_handler_accepts(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    """The two halves cannot drift: the template's Properties go straight into the handler."""
    stack = cdk.Stack(cdk.App(), "Test")
    ClaimedPhoneNumber(
        stack,
        "Number",
        target_arn=INSTANCE,
        country_code="US",
        phone_number_type="DID",
        prefix="+1206",
        description="From the template",
        tags={"team": "care"},
        timeout=cdk.Duration.minutes(2),
    )
    [resource] = assertions.Template.from_stack(stack).find_resources(NUMBER_TYPE).values()
    properties = {k: v for k, v in resource["Properties"].items() if k != "ServiceToken"}
    assert set(properties) <= contract.KNOWN_PROPERTIES

    result = run("Create", responses, properties)

    assert result.response["Status"] == "SUCCESS", result.response["Reason"]
    assert set(result.response["Data"]) == {contract.ATTR_PHONE_NUMBER, contract.ATTR_PHONE_NUMBER_ARN, contract.ATTR_PHONE_NUMBER_ID}
    [held] = emulator.service.held()
    assert held["description"] == "From the template"
    assert held["tags"]["team"] == "care"
