"""migrate_from: what it synthesizes (the CfnPhoneNumber kept by Retain, its number adopted) and what it refuses."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import assertions
from aws_cdk import aws_connect as connect

from connect_phone_number import ClaimedPhoneNumber
from connect_phone_number.migration import DESCRIPTION_WARNING, MOVES_WARNING
from support import INSTANCE, OTHER_INSTANCE

NUMBER_TYPE = "Custom::ConnectPhoneNumber"


def migrating(**props: Any) -> tuple[cdk.Stack, connect.CfnPhoneNumber, ClaimedPhoneNumber]:
    stack = cdk.Stack(cdk.App(), "Desk")
    legacy = connect.CfnPhoneNumber(stack, "MainNumber", target_arn=INSTANCE, country_code="US", type="DID", description="Main line")
    number = ClaimedPhoneNumber(stack, "Main", **{"target_arn": INSTANCE, "description": "Main line", "migrate_from": legacy, **props})
    return stack, legacy, number


def test_migrate_from_keeps_the_cfn_phone_number_by_retain_and_adopts_its_number_after_it() -> None:
    stack, legacy, _ = migrating()

    template = assertions.Template.from_stack(stack)

    template.has_resource("AWS::Connect::PhoneNumber", {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"})
    address = {"Fn::GetAtt": [stack.get_logical_id(legacy), "Address"]}
    template.has_resource(
        NUMBER_TYPE,
        {
            "Properties": assertions.Match.object_like({"PhoneNumber": address, "AdoptExisting": "true", "RetainAdoptedNumber": "true"}),
            "DeletionPolicy": "RetainExceptOnCreate",  # a failed first deploy sends the Delete that gives the number back
            "UpdateReplacePolicy": "Retain",
        },
    )
    for absent in ("CountryCode", "Type", "Prefix"):
        template.has_resource_properties(NUMBER_TYPE, {absent: assertions.Match.absent()})


def test_migrate_from_says_what_the_next_step_is_and_warns_of_nothing_when_the_number_stays_as_it_is() -> None:
    stack, _, _ = migrating()

    annotations = assertions.Annotations.from_stack(stack)

    [info] = annotations.find_info("/Desk/Main", assertions.Match.string_like_regexp("Migrating from CfnPhoneNumber"))
    assert "phone_number='<its number>', adopt_existing=True" in str(info.entry.data) and "docs/migration.md" in str(info.entry.data)
    assert annotations.find_warning("*", assertions.Match.any_value()) == []


def test_a_migration_that_moves_the_number_or_changes_its_description_warns_naming_both() -> None:
    stack, _, _ = migrating(target_arn=OTHER_INSTANCE, description=None)

    warnings = [str(w.entry.data) for w in assertions.Annotations.from_stack(stack).find_warning("/Desk/Main", assertions.Match.any_value())]

    assert any("moves Desk/MainNumber's number" in w and MOVES_WARNING in w for w in warnings), warnings
    assert any("changes Desk/MainNumber's description (to none)" in w and DESCRIPTION_WARNING in w for w in warnings), warnings


@pytest.mark.parametrize(
    ("props", "named"),
    [
        ({"country_code": "US"}, "country_code cannot be given with it"),
        ({"phone_number_type": "DID", "prefix": "+1206"}, "phone_number_type, prefix cannot be given with it"),
        ({"source_phone_number_arn": "arn:aws:sms-voice:us-east-1:123456789012:phone-number/phone-1"}, "source_phone_number_arn"),
        ({"adopt_existing": False}, "leave adopt_existing unset"),
        ({"removal_policy": cdk.RemovalPolicy.DESTROY}, "migrate_from with removal_policy DESTROY would release"),
    ],
)
def test_props_that_would_claim_another_number_or_release_this_one_are_refused_naming_them(props: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        migrating(**props)


def test_a_cfn_phone_number_set_back_to_destroy_after_migrate_from_fails_synthesis() -> None:
    stack, legacy, _ = migrating()
    legacy.apply_removal_policy(cdk.RemovalPolicy.DESTROY)

    with pytest.raises(RuntimeError, match=r"needs Desk/MainNumber under RemovalPolicy\.RETAIN until it leaves the stack"):
        assertions.Template.from_stack(stack)


def test_a_claimed_number_set_to_destroy_later_while_migrating_fails_synthesis() -> None:
    stack, _, number = migrating()
    number.apply_removal_policy(cdk.RemovalPolicy.DESTROY)

    with pytest.raises(RuntimeError, match="would release the CfnPhoneNumber's number if the deploy rolls back"):
        assertions.Template.from_stack(stack)


def test_a_cfn_phone_number_in_another_stack_needs_its_number_given_and_then_adds_no_reference() -> None:
    app = cdk.App()
    legacy = connect.CfnPhoneNumber(cdk.Stack(app, "Old"), "MainNumber", target_arn=INSTANCE, country_code="US", type="DID")
    new = cdk.Stack(app, "New")
    with pytest.raises(ValueError, match="in another stack: give phone_number"):
        ClaimedPhoneNumber(new, "Main", target_arn=INSTANCE, migrate_from=legacy)

    ClaimedPhoneNumber(new, "Given", target_arn=INSTANCE, phone_number="+12065550100", migrate_from=legacy)

    assertions.Template.from_stack(new).has_resource_properties(NUMBER_TYPE, {"PhoneNumber": "+12065550100", "AdoptExisting": "true"})
    assert "Outputs" not in assertions.Template.from_stack(legacy.stack).to_json()  # no export for the next step to strand
