"""The adoption and import props at synth time: what they render, what they refuse (naming the prop), and their IAM."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import assertions
from cdk_nag import AwsSolutionsChecks

from connect_phone_number import ClaimedPhoneNumber
from support import INSTANCE

NUMBER_TYPE = "Custom::ConnectPhoneNumber"
SOURCE = "arn:aws:sms-voice:us-east-1:123456789012:phone-number/phone-0123456789abcdef"
GROUP = INSTANCE.replace(":instance/", ":traffic-distribution-group/")


def stack_with(**props: Any) -> cdk.Stack:
    stack = cdk.Stack(cdk.App(), "Test")
    ClaimedPhoneNumber(stack, "Number", **{"target_arn": INSTANCE, **props})
    return stack


def test_adopt_existing_renders_adopt_existing_true_and_is_absent_by_default() -> None:
    adopting = assertions.Template.from_stack(stack_with(phone_number="+12065550100", adopt_existing=True))
    claiming = assertions.Template.from_stack(stack_with(phone_number="+12065550100"))

    adopting.has_resource_properties(NUMBER_TYPE, {"PhoneNumber": "+12065550100", "AdoptExisting": "true"})
    claiming.has_resource_properties(NUMBER_TYPE, {"AdoptExisting": assertions.Match.absent()})


@pytest.mark.parametrize(
    ("policy", "rendered"),
    [
        (None, "true"),
        (cdk.RemovalPolicy.RETAIN, "true"),
        (cdk.RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE, "true"),
        (cdk.RemovalPolicy.DESTROY, None),
    ],
)
def test_an_adoption_tells_the_handler_whether_its_removal_policy_keeps_the_number(policy: cdk.RemovalPolicy | None, rendered: str | None) -> None:
    template = assertions.Template.from_stack(stack_with(phone_number="+12065550100", adopt_existing=True, removal_policy=policy))

    template.has_resource_properties(NUMBER_TYPE, {"RetainAdoptedNumber": rendered if rendered else assertions.Match.absent()})


def test_the_handler_is_told_the_final_removal_policy_however_it_was_set() -> None:
    later = stack_with(phone_number="+12065550100", adopt_existing=True, removal_policy=cdk.RemovalPolicy.RETAIN)
    cdk.RemovalPolicies.of(later).destroy()
    by_the_l1 = stack_with(phone_number="+12065550100", adopt_existing=True, removal_policy=cdk.RemovalPolicy.DESTROY)
    by_the_l1.node.find_child("Number").node.default_child.apply_removal_policy(cdk.RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE)  # type: ignore[union-attr]

    absent = assertions.Match.absent()
    assertions.Template.from_stack(later).has_resource(NUMBER_TYPE, {"DeletionPolicy": "Delete", "Properties": {"RetainAdoptedNumber": absent}})
    kept = {"DeletionPolicy": "RetainExceptOnCreate", "Properties": {"RetainAdoptedNumber": "true"}}
    assertions.Template.from_stack(by_the_l1).has_resource(NUMBER_TYPE, kept)


def test_a_claim_never_renders_retain_adopted_number() -> None:
    template = assertions.Template.from_stack(stack_with(phone_number="+12065550100", removal_policy=cdk.RemovalPolicy.RETAIN))

    template.has_resource_properties(NUMBER_TYPE, {"RetainAdoptedNumber": assertions.Match.absent()})


def test_an_import_renders_its_source_and_nothing_to_search() -> None:
    template = assertions.Template.from_stack(stack_with(source_phone_number_arn=SOURCE))

    template.has_resource_properties(
        NUMBER_TYPE, {"SourcePhoneNumberArn": SOURCE, "CountryCode": assertions.Match.absent(), "PhoneNumber": assertions.Match.absent()}
    )


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"country_code": "US", "phone_number_type": "DID", "adopt_existing": True}, "adopt_existing: needs 'phone_number'"),
        ({"source_phone_number_arn": SOURCE, "country_code": "US"}, "source_phone_number_arn: cannot be combined with 'country_code'"),
        ({"source_phone_number_arn": SOURCE, "country_code": "US", "phone_number_type": "DID"}, "'country_code', 'phone_number_type'"),
        ({"source_phone_number_arn": SOURCE, "phone_number": "+12065550100"}, "source_phone_number_arn: cannot be combined with 'phone_number'"),
        ({"source_phone_number_arn": SOURCE, "prefix": "+1206"}, "source_phone_number_arn: cannot be combined with 'prefix'"),
        ({"source_phone_number_arn": SOURCE, "target_arn": GROUP}, "target_arn: '" + GROUP + "' must be a Connect instance to import"),
        ({"source_phone_number_arn": "arn:aws:connect:us-east-1:123456789012:phone-number/x"}, "source_phone_number_arn: 'arn:aws:connect"),
    ],
)
def test_synth_refuses_adoption_and_import_combinations_naming_the_prop(props: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match="ClaimedPhoneNumber: ") as refused:
        stack_with(**props)

    assert message in str(refused.value)


def test_an_import_is_allowed_on_its_instance_and_its_source_only() -> None:
    template = assertions.Template.from_stack(stack_with(source_phone_number_arn=SOURCE))

    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": assertions.Match.array_with(
                    [
                        assertions.Match.object_like({"Action": "connect:ImportPhoneNumber", "Resource": assertions.Match.array_with([INSTANCE])}),
                        assertions.Match.object_like({"Action": "sms-voice:DescribePhoneNumbers", "Resource": SOURCE}),
                    ]
                )
            }
        },
    )
    statements = [s for r in template.find_resources("AWS::IAM::Policy").values() for s in r["Properties"]["PolicyDocument"]["Statement"]]
    claims_on_instance = [s for s in statements if "connect:ClaimPhoneNumber" in s["Action"] and INSTANCE in s["Resource"]]
    assert claims_on_instance == []  # an import claims nothing on its target


def test_cdk_nag_passes_for_an_importing_stack_with_an_explicit_env() -> None:
    app = cdk.App(outdir=tempfile.mkdtemp(prefix="nag-"))
    stack = cdk.Stack(app, "Nagged", env=cdk.Environment(account="123456789012", region="us-east-1"))
    ClaimedPhoneNumber(stack, "Imported", target_arn=INSTANCE, source_phone_number_arn=SOURCE)
    ClaimedPhoneNumber(stack, "Adopted", target_arn=INSTANCE, phone_number="+12065550100", adopt_existing=True)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))

    report = json.loads((Path(app.synth().directory) / "validation-report.json").read_text())

    assert [v["ruleName"] for plugin in report["pluginReports"] for v in plugin["violations"]] == []
