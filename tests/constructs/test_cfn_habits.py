"""Habits users bring from CfnPhoneNumber: add_dependency, a clean cfn-lint, and what `cdk diff` does not say about replacements."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import assertions
from aws_cdk import aws_connect as connect
from nag_shapes import connect_instance

from connect_phone_number import ClaimedPhoneNumber
from connect_phone_number.replacement import RELEASES_WARNING, REPLACING_PROPS
from connect_phone_number_handler import rules
from connect_phone_number_handler.contract import ClaimSpec
from support import INSTANCE

NUMBER_TYPE = "Custom::ConnectPhoneNumber"


def instance_and_number(stack: cdk.Stack, **props: Any) -> tuple[connect.CfnInstance, ClaimedPhoneNumber]:
    instance = connect_instance(stack)
    return instance, ClaimedPhoneNumber(stack, "Number", **{"target_arn": INSTANCE, "country_code": "US", "phone_number_type": "DID", **props})


@pytest.mark.parametrize("how", ["number.add_dependency", "number.node.add_dependency"])
def test_add_dependency_orders_the_number_after_an_l1_as_on_cfn_phone_number(how: str) -> None:
    stack = cdk.Stack(cdk.App(), "Desk")
    instance, number = instance_and_number(stack)

    if how == "number.add_dependency":
        number.add_dependency(instance)
    else:
        number.node.add_dependency(instance)

    template = assertions.Template.from_stack(stack)
    template.has_resource(NUMBER_TYPE, {"DependsOn": [stack.get_logical_id(instance)]})


def test_a_users_stack_is_clean_under_cfn_lint_with_no_configuration(tmp_path: Path) -> None:
    """cfn-lint (pinned in requirements-dev.txt) from a folder with no .cfnlintrc: the handler's function has no redundant DependsOn (W3005)."""
    app = cdk.App(outdir=str(tmp_path / "cdk.out"))
    stack = cdk.Stack(app, "Desk")
    instance, _ = instance_and_number(stack)
    flow = connect.CfnContactFlow(stack, "Flow", instance_arn=instance.attr_arn, name="Inbound", type="CONTACT_FLOW", content="{}")
    ClaimedPhoneNumber(
        stack, "Routed", target_arn=instance.attr_arn, country_code="US", phone_number_type="TOLL_FREE", contact_flow_arn=flow.attr_contact_flow_arn
    )
    app.synth()
    template = tmp_path / "cdk.out" / "Desk.template.json"
    function = next(r for r in json.loads(template.read_text())["Resources"].values() if r["Type"] == "AWS::Lambda::Function")

    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    result = subprocess.run([str(cfn_lint), str(template)], cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)

    assert not list(tmp_path.glob(".cfnlintrc*"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert function["DependsOn"] == ["ConnectPhoneNumberHandlerRoleDefaultPolicy3D34FFA3"]  # the policy stays: the function needs it attached


def test_the_replacing_props_are_the_handlers_rule() -> None:
    """REPLACING_PROPS (the warning's list) changes a number exactly when rules.requires_replacement says so."""
    base = ClaimSpec(
        target_arn=INSTANCE, phone_number="+12065550100", country_code="US", phone_number_type="DID", prefix="+1206", source_phone_number_arn="arn:x"
    )
    replacing = {
        field.name
        for field in dataclasses.fields(ClaimSpec)
        if rules.requires_replacement(base, dataclasses.replace(base, **{field.name: _other(getattr(base, field.name))}))
    }

    assert replacing == set(REPLACING_PROPS)


def _other(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, dict):
        return {**value, "k": "v"}
    return f"{value}-changed"


def test_a_number_whose_replacement_would_release_it_warns_that_cdk_diff_shows_an_in_place_change() -> None:
    stack = cdk.Stack(cdk.App(), "Desk")
    instance_and_number(stack, removal_policy=cdk.RemovalPolicy.DESTROY)
    ClaimedPhoneNumber(stack, "Kept", target_arn=INSTANCE, country_code="US", phone_number_type="DID")

    annotations = assertions.Annotations.from_stack(stack)

    [warning] = annotations.find_warning("/Desk/Number", assertions.Match.string_like_regexp("RELEASES this one"))
    assert "in-place update ([~])" in str(warning.entry.data) and RELEASES_WARNING in str(warning.entry.data)
    assert annotations.find_warning("/Desk/Kept", assertions.Match.any_value()) == []  # RETAIN keeps the old number: no warning


def test_the_release_warning_follows_the_final_policy_and_can_be_acknowledged() -> None:
    stack = cdk.Stack(cdk.App(), "Desk")
    _, later = instance_and_number(stack)
    later.apply_removal_policy(cdk.RemovalPolicy.DESTROY)
    acknowledged = ClaimedPhoneNumber(
        stack, "Acknowledged", target_arn=INSTANCE, country_code="US", phone_number_type="DID", removal_policy=cdk.RemovalPolicy.DESTROY
    )
    cdk.Annotations.of(acknowledged).acknowledge_warning(RELEASES_WARNING, "a test line, released on purpose")

    annotations = assertions.Annotations.from_stack(stack)

    assert len(annotations.find_warning("/Desk/Number", assertions.Match.string_like_regexp("RELEASES this one"))) == 1
    assert annotations.find_warning("/Desk/Acknowledged", assertions.Match.any_value()) == []
