"""From CfnPhoneNumber to ClaimedPhoneNumber through the local deploy: migrate_from keeps the number; the naive port is refused.

The number a customer dials must be held, by the same ARN, from the first deploy to the last, and never released.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_connect
from nag_shapes import connect_instance

from connect_phone_number import ClaimedPhoneNumber
from connect_phone_number_handler.marker import CLAIM_MARKER_TAG
from connect_phone_number_local.deploy.engine import DeployFailed, LocalCloudFormation
from connect_phone_number_local.deploy.template import load
from connect_phone_number_local.emulator import LIMIT_MESSAGE, ConnectEmulator
from support import ACCOUNT, INSTANCE

pytestmark = pytest.mark.real_clock  # the local deploy's Lambda runs are processes of their own, on the real clock

STACK = "Desk"
Build = Callable[[cdk.Stack], None]


@pytest.fixture
def local(emulator: ConnectEmulator, tmp_path: Path) -> tuple[LocalCloudFormation, io.StringIO]:
    out = io.StringIO()
    return LocalCloudFormation(tmp_path / "state", environment=dict(os.environ), out=out), out


def deploy(cloudformation: LocalCloudFormation, tmp_path: Path, step: str, *builds: tuple[str, Build]) -> dict[str, str]:
    """Synthesize one stack per (name, build) as `cdk synth` does (asset and path metadata), and deploy the first."""
    app = cdk.App(outdir=str(tmp_path / step), context={"aws:cdk:enable-asset-metadata": True, "aws:cdk:enable-path-metadata": True})
    for name, build in builds:
        build(cdk.Stack(app, name))
    app.synth()
    outputs: dict[str, str] = cloudformation.deploy(load(tmp_path / step, builds[0][0], region="us-east-1", account=ACCOUNT))
    return outputs


def held(emulator: ConnectEmulator) -> list[dict[str, Any]]:
    return [n for n in emulator.service.held() if not n["releasing"] and n["status"] != "FAILED"]


def queue(stack: cdk.Stack, caller_id_arn: str) -> None:
    """A queue whose outbound caller id is the number, as help desks have it."""
    hours = aws_connect.CfnHoursOfOperation(stack, "Hours", instance_arn=INSTANCE, name="Office", time_zone="Europe/London", config=[])
    outbound = aws_connect.CfnQueue.OutboundCallerConfigProperty(outbound_caller_id_name="Help desk", outbound_caller_id_number_arn=caller_id_arn)
    aws_connect.CfnQueue(
        stack, "Queue", instance_arn=INSTANCE, name="Help", hours_of_operation_arn=hours.attr_hours_of_operation_arn, outbound_caller_config=outbound
    )


def legacy(stack: cdk.Stack) -> aws_connect.CfnPhoneNumber:
    """The app as it was: a CfnPhoneNumber under CloudFormation's default Delete policy."""
    return aws_connect.CfnPhoneNumber(stack, "MainNumber", target_arn=INSTANCE, country_code="US", type="DID", description="Main line")


def before(stack: cdk.Stack) -> None:
    main = legacy(stack)
    queue(stack, main.attr_phone_number_arn)
    cdk.CfnOutput(stack, "Address", value=main.attr_address)


def step_one(stack: cdk.Stack) -> None:
    """migrate_from: the CfnPhoneNumber stays, kept by Retain, and the new resource adopts its number."""
    main = legacy(stack)
    number = ClaimedPhoneNumber(stack, "Main", target_arn=INSTANCE, description="Main line", migrate_from=main)
    queue(stack, main.attr_phone_number_arn)
    cdk.CfnOutput(stack, "Address", value=number.phone_number)


def step_two(address: str, *, also: Build | None = None) -> Build:
    """The CfnPhoneNumber deleted from the code; the number pinned; the queue refers to the new resource."""

    def build(stack: cdk.Stack) -> None:
        number = ClaimedPhoneNumber(stack, "Main", target_arn=INSTANCE, description="Main line", phone_number=address, adopt_existing=True)
        queue(stack, number.phone_number_arn)
        cdk.CfnOutput(stack, "Address", value=number.phone_number)
        if also:
            also(stack)

    return build


def failing_extra_line(stack: cdk.Stack) -> None:
    ClaimedPhoneNumber(stack, "Overflow", target_arn=INSTANCE, country_code="US", phone_number_type="TOLL_FREE", removal_policy=cdk.RemovalPolicy.DESTROY)


def test_migrate_from_then_removing_the_cfn_phone_number_keeps_the_same_number_held_throughout(emulator: ConnectEmulator, local: Any, tmp_path: Path) -> None:
    cloudformation, out = local
    first = deploy(cloudformation, tmp_path, "0", (STACK, before))
    [original] = held(emulator)

    adopted = deploy(cloudformation, tmp_path, "1", (STACK, step_one))
    during = held(emulator)
    removed = deploy(cloudformation, tmp_path, "2", (STACK, step_two(first["Address"])))
    after = held(emulator)
    cloudformation.destroy(STACK)  # RETAIN (the default): the number stays with the account

    assert first == adopted == removed
    assert [n["arn"] for n in during] == [n["arn"] for n in after] == [original["arn"]] == [n["arn"] for n in held(emulator)]
    assert after[0]["description"] == "Main line" and after[0]["target_arn"] == INSTANCE
    assert "ReleasePhoneNumber" not in emulator.service.calls
    log = out.getvalue()
    assert f"DELETE_SKIPPED       | AWS::Connect::PhoneNumber {STACK}/MainNumber (Retain policy: {original['arn']} is kept)" in log
    assert "policies only: DeletionPolicy Delete -> Retain" in log


def test_a_failed_migration_deploy_rolls_back_to_the_cfn_phone_number_and_can_be_run_again(emulator: ConnectEmulator, local: Any, tmp_path: Path) -> None:
    """Step 1 fails (another line's claim fails): the adoption is undone, nothing is released, and the retried steps keep the number."""
    cloudformation, _ = local
    first = deploy(cloudformation, tmp_path, "0", (STACK, before))
    [original] = held(emulator)
    emulator.service.fail_claims("+18", LIMIT_MESSAGE)

    def step_one_with_a_failing_line(stack: cdk.Stack) -> None:
        step_one(stack)
        failing_extra_line(stack)

    with pytest.raises(DeployFailed, match=LIMIT_MESSAGE):
        deploy(cloudformation, tmp_path, "1-failed", (STACK, step_one_with_a_failing_line))
    [after_rollback] = held(emulator)
    deploy(cloudformation, tmp_path, "1", (STACK, step_one))
    with pytest.raises(DeployFailed, match=LIMIT_MESSAGE):  # the removal step fails too: the CfnPhoneNumber stays, kept by Retain
        deploy(cloudformation, tmp_path, "2-failed", (STACK, step_two(first["Address"], also=failing_extra_line)))
    [after_second_rollback] = held(emulator)
    emulator.service.clear_faults()
    removed = deploy(cloudformation, tmp_path, "2", (STACK, step_two(first["Address"])))

    assert after_rollback["arn"] == after_second_rollback["arn"] == original["arn"] and after_rollback["description"] == "Main line"
    assert CLAIM_MARKER_TAG not in after_rollback["tags"]  # the undone adoption took its marker back
    assert removed["Address"] == first["Address"]
    assert [n["arn"] for n in held(emulator)] == [original["arn"]]
    assert "ReleasePhoneNumber" not in emulator.service.calls


@pytest.mark.parametrize(
    "port",
    [
        pytest.param(
            lambda stack: ClaimedPhoneNumber(stack, "MainNumber", target_arn=INSTANCE, country_code="US", phone_number_type="DID"), id="claims another"
        ),
        pytest.param("adopts", id="adopts the same number"),
    ],
)
def test_a_naive_port_that_would_release_the_published_number_is_refused_naming_the_migration(
    emulator: ConnectEmulator, local: Any, tmp_path: Path, port: Any
) -> None:
    cloudformation, _ = local
    first = deploy(cloudformation, tmp_path, "0", (STACK, before))
    calls = dict(emulator.service.calls)
    build = step_two(first["Address"]) if port == "adopts" else port

    with pytest.raises(DeployFailed) as refused:
        deploy(cloudformation, tmp_path, "1", (STACK, build))

    message = str(refused.value)
    assert "removes AWS::Connect::PhoneNumber Desk/MainNumber" in message and "under DeletionPolicy Delete" in message
    assert "migrate_from" in message and "docs/migration.md" in message and "Nothing was deployed" in message
    assert emulator.service.calls == calls  # refused before anything ran
    assert [n["number"] for n in held(emulator)] == [first["Address"]]


def test_a_port_under_the_same_logical_id_is_refused_as_cloudformation_refuses_a_type_change(emulator: ConnectEmulator, local: Any, tmp_path: Path) -> None:
    cloudformation, _ = local
    deploy(cloudformation, tmp_path, "0", (STACK, before))

    def same_id(stack: cdk.Stack) -> None:
        number = ClaimedPhoneNumber(stack, "Main", target_arn=INSTANCE, country_code="US", phone_number_type="DID")
        number.resource.override_logical_id("MainNumber")

    with pytest.raises(DeployFailed, match="MainNumber changes type from AWS::Connect::PhoneNumber to Custom::ConnectPhoneNumber: CloudFormation refuses it"):
        deploy(cloudformation, tmp_path, "1", (STACK, same_id))
    assert len(held(emulator)) == 1


def test_releasing_a_number_another_stack_adopted_is_refused_on_deploy_and_on_destroy(emulator: ConnectEmulator, local: Any, tmp_path: Path) -> None:
    """Cross-stack: a ClaimedPhoneNumber in another stack adopted the number while its CfnPhoneNumber is still under Delete."""
    cloudformation, _ = local
    first = deploy(cloudformation, tmp_path, "0", ("Old", before))
    adopting = step_two(first["Address"])
    deploy(cloudformation, tmp_path, "1", ("New", adopting), ("Old", before))
    calls = dict(emulator.service.calls)

    def emptied(stack: cdk.Stack) -> None:
        cdk.CfnWaitConditionHandle(stack, "Nothing")

    with pytest.raises(DeployFailed, match=r"would release \+1\d+ \(arn:.*\), which Custom::ConnectPhoneNumber New/Main/Resource of stack New holds"):
        deploy(cloudformation, tmp_path, "2", ("Old", emptied))
    with pytest.raises(DeployFailed, match=r"which Custom::ConnectPhoneNumber New/Main/Resource of stack New holds.*Nothing was deleted"):
        cloudformation.destroy("Old")

    assert emulator.service.calls == calls
    assert [n["number"] for n in held(emulator)] == [first["Address"]]


# --- the shape teams have: another stack's instance, a parameter, a context flag, the number moved into a nested stack ---


def desk_app(stage: str, address: str = "", *, failing: bool = False) -> Callable[[cdk.App], None]:
    """The instance in a stack of its own (a cross-stack reference); the desk takes the queue's caller name as a parameter;
    the numbers live in a NestedStack once migrated; ``failing`` (a context flag in real apps) adds a line whose claim fails."""

    def build(app: cdk.App) -> None:
        centre = cdk.Stack(app, "Centre")
        instance = connect_instance(centre)
        desk = cdk.Stack(app, STACK)
        caller_name = cdk.CfnParameter(desk, "CallerName", default="Help desk").value_as_string
        numbers = cdk.NestedStack(desk, "Numbers") if stage != "cfn" else None
        legacy = None if stage == "claimed" else aws_connect.CfnPhoneNumber(desk, "MainNumber", target_arn=instance.attr_arn, country_code="US", type="DID")
        if numbers is None and legacy is not None:
            caller_id = legacy.attr_phone_number_arn
        else:
            assert numbers is not None
            props: dict[str, Any] = {"migrate_from": legacy} if stage == "migrating" else {"phone_number": address, "adopt_existing": True}
            number = ClaimedPhoneNumber(numbers, "Main", target_arn=instance.attr_arn, **props)
            caller_id = number.phone_number_arn
            if failing:
                failing_extra_line(numbers)
        outbound = aws_connect.CfnQueue.OutboundCallerConfigProperty(outbound_caller_id_name=caller_name, outbound_caller_id_number_arn=caller_id)
        aws_connect.CfnQueue(
            desk, "Queue", instance_arn=instance.attr_arn, name="Help", hours_of_operation_arn="arn:aws:connect:::hours", outbound_caller_config=outbound
        )
        cdk.CfnOutput(desk, "Address", value=legacy.attr_address if legacy is not None else "gone")

    return build


def test_the_migration_into_a_nested_stack_on_another_stacks_instance_keeps_the_number_through_failed_deploys(
    emulator: ConnectEmulator, local: Any, tmp_path: Path
) -> None:
    cloudformation, _ = local
    emulator.service.fail_claims("+18", LIMIT_MESSAGE)

    def deploy_app(step: str, build: Callable[[cdk.App], None], *, parameters: dict[str, str] | None = None) -> dict[str, str]:
        app = cdk.App(outdir=str(tmp_path / step), context={"aws:cdk:enable-asset-metadata": True, "aws:cdk:enable-path-metadata": True})
        build(app)
        app.synth()
        cloudformation.deploy(load(tmp_path / step, "Centre", region="us-east-1", account=ACCOUNT))
        outputs: dict[str, str] = cloudformation.deploy(load(tmp_path / step, STACK, region="us-east-1", account=ACCOUNT), parameters=parameters)
        return outputs

    first = deploy_app("0", desk_app("cfn"), parameters={"CallerName": "Care"})
    [original] = held(emulator)
    with pytest.raises(DeployFailed, match=r"removes AWS::Connect::PhoneNumber Desk/MainNumber .* while it adds Custom::ConnectPhoneNumber Desk/Numbers/Main"):
        deploy_app("2-too-soon", desk_app("claimed", first["Address"]))  # the naive port, into the nested stack: refused
    with pytest.raises(DeployFailed, match=LIMIT_MESSAGE):
        deploy_app("1-failed", desk_app("migrating", failing=True))
    [after_failed_adoption] = held(emulator)
    deploy_app("1", desk_app("migrating"))
    with pytest.raises(DeployFailed, match=LIMIT_MESSAGE):
        deploy_app("2-failed", desk_app("claimed", first["Address"], failing=True))
    deploy_app("2", desk_app("claimed", first["Address"]))
    [after] = held(emulator)
    cloudformation.destroy(STACK)
    cloudformation.destroy("Centre")

    assert original["arn"] == after_failed_adoption["arn"] == after["arn"] and CLAIM_MARKER_TAG not in after_failed_adoption["tags"]
    assert after["target_arn"].startswith(f"arn:aws:connect:us-east-1:{ACCOUNT}:instance/")  # the other stack's instance, through Fn::ImportValue
    assert [n["arn"] for n in held(emulator)] == [original["arn"]]
    assert "ReleasePhoneNumber" not in emulator.service.calls
    assert not list((tmp_path / "state").glob("*.state.json"))
