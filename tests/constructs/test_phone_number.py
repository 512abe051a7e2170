"""The construct: what it synthesizes, the props it refuses, and the contract with the handler."""

from __future__ import annotations

import json
import re
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import assertions

from connect_phone_number import ClaimedPhoneNumber
from connect_phone_number.phone_number import HANDLER_ID
from connect_phone_number_handler import contract, validation
from connect_phone_number_local.deploy.responses import ResponseServer
from connect_phone_number_local.emulator import ConnectEmulator
from constructs import Construct
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
            "Handler": "connect_phone_number_handler.index.on_event",
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
        ({"contact_flow_arn": f"{INSTANCE}/queue/q-1"}, "contact_flow_arn"),
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


# CDK integration: tokens, removal policies, environments, tag checks and conventions.


def test_a_token_timeout_renders_the_wait_as_the_token_and_the_longest_service_timeout() -> None:
    stack = cdk.Stack(cdk.App(), "Test")
    wait = cdk.CfnParameter(stack, "Wait", type="Number").value_as_number
    ClaimedPhoneNumber(stack, "Number", target_arn=INSTANCE, country_code="US", phone_number_type="DID", timeout=cdk.Duration.seconds(wait))

    template = assertions.Template.from_stack(stack)

    service_timeout = validation.MAX_WAIT_TIMEOUT_SECONDS + 120
    template.has_resource_properties(NUMBER_TYPE, {"WaitTimeoutSeconds": {"Ref": "Wait"}, "ServiceTimeout": str(service_timeout)})
    # The longest wait's ServiceTimeout outlasts the handler's whole Lambda run, so no answer can come after it.
    assert service_timeout >= contract.FUNCTION_TIMEOUT_SECONDS
    assert not re.search(r"\d{20}", json.dumps(template.to_json())), "an encoded token was rendered as digits"


def test_a_token_timeout_in_another_unit_than_seconds_is_refused_naming_timeout() -> None:
    stack = cdk.Stack(cdk.App(), "Test")
    wait = cdk.CfnParameter(stack, "Wait", type="Number").value_as_number
    with pytest.raises(ValueError, match=r"^ClaimedPhoneNumber: timeout: a token must be given in seconds"):
        ClaimedPhoneNumber(stack, "Number", target_arn=INSTANCE, country_code="US", phone_number_type="DID", timeout=cdk.Duration.minutes(wait))


def test_a_timeout_in_milliseconds_that_makes_whole_seconds_is_accepted() -> None:
    synth(timeout=cdk.Duration.millis(15000)).has_resource_properties(NUMBER_TYPE, {"WaitTimeoutSeconds": "15", "ServiceTimeout": "135"})


@pytest.mark.parametrize(
    ("props", "named"),
    [
        ({"timeout": cdk.Duration.seconds(10.5)}, "timeout"),
        ({"timeout": cdk.Duration.millis(10500)}, "timeout"),
        ({"removal_policy": cdk.RemovalPolicy.SNAPSHOT}, "removal_policy"),
        ({"tags": {"aws:bad": "x", cdk.Aws.REGION: "a token key"}}, "tags"),
        ({"tags": {"aws:bad": "x", "fine": cdk.Aws.REGION}}, "tags"),
        ({"tags": {"fine": "v" * 257, "other": cdk.Aws.REGION}}, "tags"),
        ({"tags": {**{f"k{i}": "v" for i in range(49)}, cdk.Aws.REGION: "one too many"}}, "tags"),
    ],
)
def test_more_bad_props_fail_at_synth_naming_the_prop(props: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=rf"^ClaimedPhoneNumber: {named}: "):
        synth(**props)


def test_a_token_tag_key_or_value_is_left_for_the_handler() -> None:
    synth(tags={cdk.Aws.REGION: "value", "key": cdk.Aws.ACCOUNT_ID}).has_resource_properties(
        NUMBER_TYPE, {"Tags": assertions.Match.array_with([{"Key": "key", "Value": {"Ref": "AWS::AccountId"}}])}
    )


def test_snapshot_is_refused_by_apply_removal_policy_too() -> None:
    stack = cdk.Stack(cdk.App(), "Test")
    number = ClaimedPhoneNumber(stack, "Number", target_arn=INSTANCE, country_code="US", phone_number_type="DID")
    with pytest.raises(ValueError, match=r"^ClaimedPhoneNumber: removal_policy: "):
        number.apply_removal_policy(cdk.RemovalPolicy.SNAPSHOT)


def test_apply_removal_policy_sets_the_numbers_deletion_and_replace_policies() -> None:
    stack = cdk.Stack(cdk.App(), "Test")
    number = ClaimedPhoneNumber(stack, "Number", target_arn=INSTANCE, country_code="US", phone_number_type="DID")

    number.apply_removal_policy(cdk.RemovalPolicy.DESTROY)

    assertions.Template.from_stack(stack).has_resource(NUMBER_TYPE, {"DeletionPolicy": "Delete", "UpdateReplacePolicy": "Delete"})


LONDON = cdk.Environment(account="111122223333", region="eu-west-2")


@pytest.mark.parametrize(
    "target",
    [
        "arn:aws:connect:eu-west-1:111122223333:instance/aaaaaaaa-1111-2222-3333-444444444444",
        "arn:aws:connect:eu-west-2:444455556666:instance/aaaaaaaa-1111-2222-3333-444444444444",
        "arn:aws-cn:connect:eu-west-2:111122223333:traffic-distribution-group/aaaaaaaa-1111-2222-3333-444444444444",
    ],
)
def test_a_target_outside_the_stacks_concrete_env_is_refused_naming_target_arn(target: str) -> None:
    app = cdk.App(context={"@aws-cdk/core:enablePartitionLiterals": True})
    stack = cdk.Stack(app, "Test", env=LONDON)
    with pytest.raises(ValueError, match=r"^ClaimedPhoneNumber: target_arn: .* the handler can claim only in the stack's own account and Region"):
        ClaimedPhoneNumber(stack, "Number", target_arn=target, country_code="GB", phone_number_type="DID")


def test_a_target_in_the_stacks_env_or_in_an_env_agnostic_stack_is_accepted() -> None:
    london_target = "arn:aws:connect:eu-west-2:111122223333:instance/aaaaaaaa-1111-2222-3333-444444444444"
    ClaimedPhoneNumber(cdk.Stack(cdk.App(), "Test", env=LONDON), "Number", target_arn=london_target, country_code="GB", phone_number_type="DID")
    ClaimedPhoneNumber(cdk.Stack(cdk.App(), "Test"), "Number", target_arn=london_target, country_code="GB", phone_number_type="DID")


def test_the_default_child_is_the_cfn_resource_and_takes_property_overrides() -> None:
    stack = cdk.Stack(cdk.App(), "Test")
    number = ClaimedPhoneNumber(stack, "Number", target_arn=INSTANCE, country_code="US", phone_number_type="DID")

    child = number.node.default_child
    assert isinstance(child, cdk.CfnResource)
    assert child is number.resource
    child.add_property_override("Description", "Set by an escape hatch")

    assertions.Template.from_stack(stack).has_resource_properties(NUMBER_TYPE, {"Description": "Set by an escape hatch"})


def test_numbers_keep_the_logical_id_they_had_as_a_custom_resource() -> None:
    """Existing stacks must not see a new resource (a new claim) when they upgrade."""
    stack = cdk.Stack(cdk.App(), "Test")
    number = ClaimedPhoneNumber(stack, "Number", target_arn=INSTANCE, country_code="US", phone_number_type="DID")
    earlier = cdk.Stack(cdk.App(), "Earlier")
    earlier_resource = cdk.CustomResource(Construct(earlier, "Number"), "Resource", service_token="arn:aws:lambda:us-east-1:123456789012:function:f")

    assert stack.get_logical_id(number.resource) == earlier.get_logical_id(earlier_resource.node.default_child)  # type: ignore[arg-type]


def test_a_users_own_construct_named_like_the_old_handler_does_not_break_the_stack() -> None:
    stack = cdk.Stack(cdk.App(), "Test")
    Construct(stack, "ConnectPhoneNumberHandler")
    ClaimedPhoneNumber(stack, "Number", target_arn=INSTANCE, country_code="US", phone_number_type="DID")
    ClaimedPhoneNumber(stack, "Other", target_arn=INSTANCE, country_code="US", phone_number_type="DID")

    assertions.Template.from_stack(stack).resource_count_is("AWS::Lambda::Function", 1)


def test_a_foreign_construct_under_the_handlers_id_is_refused_with_a_clear_error() -> None:
    stack = cdk.Stack(cdk.App(), "Test")
    Construct(stack, HANDLER_ID)
    with pytest.raises(ValueError, match="is reserved for this library's handler"):
        ClaimedPhoneNumber(stack, "Number", target_arn=INSTANCE, country_code="US", phone_number_type="DID")


def test_the_handler_keeps_its_logical_ids_so_an_upgrade_replaces_nothing() -> None:
    """CloudFormation refuses to change a custom resource's ServiceToken: an upgraded stack must keep the function (and its role, policy and logs)."""
    stack = cdk.Stack(cdk.App(), "Test")
    ClaimedPhoneNumber(stack, "Number", target_arn=INSTANCE, country_code="US", phone_number_type="DID")
    earlier = cdk.Stack(cdk.App(), "Earlier")
    scope = Construct(earlier, "ConnectPhoneNumberHandler")
    role = Construct(scope, "Role")
    before = {
        "AWS::Lambda::Function": cdk.CfnResource(Construct(scope, "Function"), "Resource", type="AWS::Lambda::Function"),
        "AWS::IAM::Role": cdk.CfnResource(role, "Resource", type="AWS::IAM::Role"),
        "AWS::IAM::Policy": cdk.CfnResource(Construct(role, "DefaultPolicy"), "Resource", type="AWS::IAM::Policy"),
        "AWS::Logs::LogGroup": cdk.CfnResource(Construct(scope, "Logs"), "Resource", type="AWS::Logs::LogGroup"),
    }
    template = assertions.Template.from_stack(stack)

    for kind, resource in before.items():
        [logical_id] = template.find_resources(kind)
        assert logical_id == earlier.get_logical_id(resource), kind


# Contact flows.

FLOW = f"{INSTANCE}/contact-flow/11111111-aaaa-bbbb-cccc-000000000001"


def test_a_contact_flow_renders_as_contact_flow_arn() -> None:
    synth(contact_flow_arn=FLOW).has_resource_properties(NUMBER_TYPE, {"ContactFlowArn": FLOW})


def test_a_flow_of_another_instance_is_refused_at_synth_naming_the_prop_the_flow_and_the_target() -> None:
    other = FLOW.replace("aaaaaaaa-1111", "bbbbbbbb-1111")

    with pytest.raises(ValueError, match=r"^ClaimedPhoneNumber: contact_flow_arn: ") as refused:
        synth(contact_flow_arn=other)

    assert other in str(refused.value) and INSTANCE in str(refused.value)


def test_a_token_flow_is_left_for_the_handler() -> None:
    stack = cdk.Stack(cdk.App(), "Test")
    flow = cdk.CfnParameter(stack, "Flow").value_as_string
    ClaimedPhoneNumber(stack, "Number", target_arn=INSTANCE, country_code="US", phone_number_type="DID", contact_flow_arn=flow)

    assertions.Template.from_stack(stack).has_resource_properties(NUMBER_TYPE, {"ContactFlowArn": {"Ref": "Flow"}})


def test_a_synthesized_flow_is_associated_by_the_handler(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    [resource] = synth(contact_flow_arn=FLOW).find_resources(NUMBER_TYPE).values()
    properties = {k: v for k, v in resource["Properties"].items() if k != "ServiceToken"}

    result = run("Create", responses, properties)

    assert result.response["Status"] == "SUCCESS", result.response["Reason"]
    [held] = emulator.service.held()
    assert held["contact_flow"] == FLOW
