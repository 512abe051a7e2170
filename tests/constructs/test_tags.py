"""CDK-native tags: Tags.of reaches the number, merges with the tags prop, and the merged set obeys the limits."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import assertions

from connect_phone_number import ClaimedPhoneNumber
from connect_phone_number_handler.marker import CLAIM_MARKER_TAG
from connect_phone_number_local.deploy.responses import ResponseServer
from connect_phone_number_local.emulator import ConnectEmulator
from support import INSTANCE, run

NUMBER_TYPE = "Custom::ConnectPhoneNumber"


def number_in_stack(**props: Any) -> tuple[cdk.Stack, ClaimedPhoneNumber]:
    stack = cdk.Stack(cdk.App(), "Test")
    number = ClaimedPhoneNumber(stack, "Number", target_arn=INSTANCE, country_code="US", phone_number_type="DID", **props)
    return stack, number


def tags_of(stack: cdk.Stack) -> Any:
    [resource] = assertions.Template.from_stack(stack).find_resources(NUMBER_TYPE).values()
    return resource["Properties"].get("Tags")


def test_tags_of_a_scope_reach_the_number_merged_with_the_tags_prop() -> None:
    stack, _ = number_in_stack(tags={"team": "care"})
    cdk.Tags.of(stack).add("costcentre", "4200")

    assert tags_of(stack) == [{"Key": "costcentre", "Value": "4200"}, {"Key": "team", "Value": "care"}]


def test_tags_of_wins_over_the_prop_on_the_same_key_as_on_cdks_own_resources() -> None:
    stack, _ = number_in_stack(tags={"team": "care"})
    cdk.Tags.of(stack).add("team", "billing")

    assert tags_of(stack) == [{"Key": "team", "Value": "billing"}]


def test_tags_of_remove_removes_a_tag_added_by_tags_of_or_by_the_prop() -> None:
    stack, number = number_in_stack(tags={"team": "care", "keep": "yes"})
    cdk.Tags.of(stack).add("costcentre", "4200")
    cdk.Tags.of(number).remove("costcentre")
    cdk.Tags.of(number).remove("team")

    assert tags_of(stack) == [{"Key": "keep", "Value": "yes"}]


def test_resource_type_filters_of_tags_of_apply_to_the_number() -> None:
    stack, _ = number_in_stack()
    cdk.Tags.of(stack).add("only-buckets", "x", include_resource_types=["AWS::S3::Bucket"])
    cdk.Tags.of(stack).add("only-numbers", "y", include_resource_types=[NUMBER_TYPE])

    assert tags_of(stack) == [{"Key": "only-numbers", "Value": "y"}]


def test_a_number_without_tags_renders_no_tags_property() -> None:
    stack, _ = number_in_stack()

    assert tags_of(stack) is None


@pytest.mark.parametrize(
    ("prop_tags", "added"),
    [
        ({f"k{i}": "v" for i in range(45)}, {f"extra{i}": "v" for i in range(5)}),
        ({}, {CLAIM_MARKER_TAG: "mine"}),
        ({}, {"fine": "v" * 257}),
        ({}, {"aws:bad": "x"}),
    ],
    ids=["50 in all", "the reserved key", "a long value", "the aws prefix"],
)
def test_the_tag_rules_apply_to_the_merged_set_and_fail_synth_naming_tags(prop_tags: dict[str, str], added: dict[str, str]) -> None:
    stack, _ = number_in_stack(tags=prop_tags)
    for key, value in added.items():
        cdk.Tags.of(stack).add(key, value)

    with pytest.raises(RuntimeError, match=r"ClaimedPhoneNumber: tags: "):
        assertions.Template.from_stack(stack)


def test_tags_from_tags_of_reach_the_number_in_connect(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    """The synthesized Tags go through the handler unchanged: the number in Connect carries them."""
    stack, _ = number_in_stack(tags={"team": "care"})
    cdk.Tags.of(stack).add("costcentre", "4200")
    [resource] = assertions.Template.from_stack(stack).find_resources(NUMBER_TYPE).values()
    properties = {k: v for k, v in resource["Properties"].items() if k != "ServiceToken"}

    result = run("Create", responses, properties)

    assert result.response["Status"] == "SUCCESS", result.response["Reason"]
    [held] = emulator.service.held()
    assert {k: v for k, v in held["tags"].items() if k != CLAIM_MARKER_TAG} == {"team": "care", "costcentre": "4200"}
