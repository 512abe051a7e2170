"""The stacks teams write: nested stacks, imports, parameters, policy changes, other accounts, several stacks, and CfnPhoneNumber."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_connect

from connect_phone_number import ClaimedPhoneNumber
from connect_phone_number_local.deploy import __main__ as cli
from connect_phone_number_local.deploy.engine import DeployFailed, LocalCloudFormation
from connect_phone_number_local.deploy.template import load
from connect_phone_number_local.emulator import LIMIT_MESSAGE, ConnectEmulator
from support import ACCOUNT, INSTANCE, OTHER_INSTANCE

# The local deploy runs each Lambda invocation in a process of its own, on the real clock (see conftest.py).
pytestmark = pytest.mark.real_clock

STACK = "Teams"
DESTROY, RETAIN = cdk.RemovalPolicy.DESTROY, cdk.RemovalPolicy.RETAIN
US_DID: dict[str, Any] = {"country_code": "US", "phone_number_type": "DID"}


def synthesize(out: Path, *builds: tuple[str, Callable[[cdk.Stack], None]], env: cdk.Environment | None = None) -> Path:
    """An app with one stack per (name, build), synthesized as `cdk synth` does (with asset metadata)."""
    app = cdk.App(outdir=str(out), context={"aws:cdk:enable-asset-metadata": True})
    for name, build in builds:
        build(cdk.Stack(app, name, env=env))
    app.synth()
    return out


@pytest.fixture
def local(emulator: ConnectEmulator, tmp_path: Path) -> tuple[LocalCloudFormation, io.StringIO]:
    out = io.StringIO()
    return LocalCloudFormation(tmp_path / "state", environment=dict(os.environ), out=out), out


def held(emulator: ConnectEmulator) -> list[dict[str, Any]]:
    return [n for n in emulator.service.held() if not n["releasing"] and n["status"] != "FAILED"]


def number(removal_policy: cdk.RemovalPolicy = DESTROY, **props: Any) -> Callable[[cdk.Stack], None]:
    def build(stack: cdk.Stack) -> None:
        claimed = ClaimedPhoneNumber(stack, "Number", **{"target_arn": INSTANCE, **US_DID, "removal_policy": removal_policy, **props})
        cdk.CfnOutput(stack, "Out", key="PhoneNumber", value=claimed.phone_number)

    return build


# --- 1. nested stacks ---


def test_a_number_in_a_nested_stack_is_claimed_and_its_output_reaches_the_parent(emulator: ConnectEmulator, local: Any, tmp_path: Path) -> None:
    cloudformation, out = local

    def build(stack: cdk.Stack) -> None:
        nested = cdk.NestedStack(stack, "Numbers")
        claimed = ClaimedPhoneNumber(nested, "Number", target_arn=INSTANCE, removal_policy=DESTROY, **US_DID)
        cdk.CfnOutput(stack, "Out", key="PhoneNumber", value=claimed.phone_number)

    outputs = cloudformation.deploy(load(synthesize(tmp_path / "a", (STACK, build)), STACK, region="us-east-1", account=ACCOUNT))

    [claimed] = held(emulator)
    assert outputs["PhoneNumber"] == claimed["number"]
    assert "CREATE_COMPLETE      | Custom::ConnectPhoneNumber" in out.getvalue()
    cloudformation.destroy(STACK)  # the parent's destroy destroys the nested stack, and releases its number
    assert held(emulator) == []
    assert not list((tmp_path / "state").glob("*.state.json"))


# --- 2. Fn::ImportValue ---


def test_an_import_of_an_export_another_stack_deployed_resolves_and_an_unknown_one_is_refused(emulator: ConnectEmulator, local: Any, tmp_path: Path) -> None:
    cloudformation, _ = local

    def exporter(stack: cdk.Stack) -> None:
        claimed = ClaimedPhoneNumber(stack, "Number", target_arn=INSTANCE, removal_policy=DESTROY, **US_DID)
        cdk.CfnOutput(stack, "Out", value=claimed.phone_number, export_name="FrontDeskNumber")

    importer = number(description=cdk.Fn.import_value("FrontDeskNumber"))
    assembly = synthesize(tmp_path / "a", ("Exporter", exporter), ("Importer", importer))

    with pytest.raises(DeployFailed, match="Fn::ImportValue of 'FrontDeskNumber': no stack deployed here exports it"):
        cloudformation.deploy(load(assembly, "Importer", region="us-east-1", account=ACCOUNT))
    assert emulator.service.calls == {}

    cloudformation.deploy(load(assembly, "Exporter", region="us-east-1", account=ACCOUNT))
    outputs = cloudformation.deploy(load(assembly, "Importer", region="us-east-1", account=ACCOUNT))

    descriptions = {n["number"]: n["description"] for n in held(emulator)}
    [exported] = [n for n in descriptions if n != outputs["PhoneNumber"]]
    assert descriptions[outputs["PhoneNumber"]] == exported
    with pytest.raises(DeployFailed, match="in use"):
        cloudformation.destroy("Exporter")  # as CloudFormation: an export in use cannot go
    assert len(held(emulator)) == 2


# --- 3. parameters ---


def test_a_contact_flow_on_an_instance_given_as_a_parameter_deploys_with_and_without_iam(emulator: ConnectEmulator, local: Any, tmp_path: Path) -> None:
    cloudformation, _ = local

    def build(stack: cdk.Stack) -> None:
        instance = cdk.CfnParameter(stack, "InstanceArn", default=INSTANCE).value_as_string
        flow = aws_connect.CfnContactFlow(stack, "Flow", instance_arn=instance, name="Inbound", type="CONTACT_FLOW", content="{}")
        ClaimedPhoneNumber(stack, "Number", target_arn=instance, contact_flow_arn=flow.attr_contact_flow_arn, removal_policy=DESTROY, **US_DID)

    assembly = synthesize(tmp_path / "a", (STACK, build))
    cloudformation.deploy(load(assembly, STACK, region="us-east-1", account=ACCOUNT))
    [on_default] = held(emulator)

    without_iam = LocalCloudFormation(tmp_path / "state", environment=dict(os.environ), out=io.StringIO(), enforce_iam=False)
    without_iam.deploy(load(assembly, STACK, region="us-east-1", account=ACCOUNT), parameters={"InstanceArn": OTHER_INSTANCE})
    [on_given] = held(emulator)

    assert on_default["contact_flow"].startswith(f"{INSTANCE}/contact-flow/")
    assert on_given["target_arn"] == OTHER_INSTANCE and on_given["contact_flow"].startswith(f"{OTHER_INSTANCE}/contact-flow/")


# --- 4. policy-only changes ---


def test_a_change_of_deletion_policy_alone_reaches_the_state_and_the_destroy_follows_it(emulator: ConnectEmulator, local: Any, tmp_path: Path) -> None:
    cloudformation, out = local
    cloudformation.deploy(load(synthesize(tmp_path / "a", (STACK, number(DESTROY))), STACK, region="us-east-1", account=ACCOUNT))

    cloudformation.deploy(load(synthesize(tmp_path / "b", (STACK, number(RETAIN))), STACK, region="us-east-1", account=ACCOUNT))
    cloudformation.destroy(STACK)

    assert len(held(emulator)) == 1
    assert "ReleasePhoneNumber" not in emulator.service.calls
    assert "policies only: DeletionPolicy Delete -> Retain" in out.getvalue()


# --- 5. another account ---


def test_deploy_and_destroy_against_an_emulator_of_another_account_are_refused_with_a_hint_that_works(
    emulator: ConnectEmulator, local: Any, tmp_path: Path
) -> None:
    cloudformation, _ = local
    assembly = synthesize(tmp_path / "a", (STACK, number(DESTROY)), env=cdk.Environment(account=ACCOUNT, region="us-east-1"))
    cloudformation.deploy(load(assembly, STACK, region="us-east-1", account=ACCOUNT))
    emulator.service.config.account_id = "999999999999"
    calls = dict(emulator.service.calls)

    with pytest.raises(DeployFailed) as deploying:
        cloudformation.deploy(load(assembly, STACK, region="us-east-1", account="999999999999"))  # the env wins over --account
    with pytest.raises(DeployFailed) as destroying:
        cloudformation.destroy(STACK)

    for refused in (deploying, destroying):
        assert f"--account-id {ACCOUNT}" in str(refused.value) and "--account 999999999999" not in str(refused.value)
    assert "Nothing was deleted" in str(destroying.value)
    assert emulator.service.calls == calls
    assert (tmp_path / "state" / f"{STACK}.state.json").exists()
    emulator.service.config.account_id = ACCOUNT
    assert len(held(emulator)) == 1


# --- 6. several stacks ---


def test_a_multi_stack_app_without_stack_is_refused_listing_the_stacks(emulator: ConnectEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def build(stack: cdk.Stack) -> None:
        cdk.CfnWaitConditionHandle(stack, "Nothing")

    assembly = synthesize(tmp_path / "a", ("Front", build), ("Back", build))

    status = cli.main(["destroy", "--app", str(assembly), "--state-dir", str(tmp_path / "state")])

    assert status == 1
    assert "name one with --stack (Back, Front)" in capsys.readouterr().err


# --- 7. the rollback of a failed claim ---


def test_the_rollback_of_a_failed_claim_says_no_number_is_held(emulator: ConnectEmulator, local: Any, tmp_path: Path) -> None:
    cloudformation, out = local
    emulator.service.fail_claims("*", LIMIT_MESSAGE)

    with pytest.raises(DeployFailed, match=LIMIT_MESSAGE):
        cloudformation.deploy(load(synthesize(tmp_path / "a", (STACK, number(RETAIN))), STACK, region="us-east-1", account=ACCOUNT))

    [skipped] = [line for line in out.getvalue().splitlines() if "DELETE_SKIPPED" in line]
    assert "no number was claimed (unclaimed-" in skipped and "is kept" not in skipped
    assert held(emulator) == []


# --- 8. CfnPhoneNumber ---


def test_a_cfn_phone_number_kept_by_retain_stays_held_when_it_leaves_the_template(emulator: ConnectEmulator, local: Any, tmp_path: Path) -> None:
    """The first steps of a migration to ClaimedPhoneNumber: CfnPhoneNumber, then Retain, then its removal. The number stays held."""
    cloudformation, out = local

    def with_numbers(policy: cdk.RemovalPolicy | None, *, keep: bool = True) -> Callable[[cdk.Stack], None]:
        def build(stack: cdk.Stack) -> None:
            cdk.CfnWaitConditionHandle(stack, "Anchor")
            if keep:
                kept = aws_connect.CfnPhoneNumber(stack, "Main", target_arn=INSTANCE, country_code="US", type="DID", description="Main line")
                if policy is not None:
                    kept.apply_removal_policy(policy)
                cdk.CfnOutput(stack, "Address", value=kept.attr_address)
                cdk.CfnOutput(stack, "Arn", value=kept.ref)
                aws_connect.CfnPhoneNumber(stack, "Temporary", target_arn=INSTANCE, country_code="US", type="TOLL_FREE")

        return build

    def deploy(step: str, build: Callable[[cdk.Stack], None]) -> dict[str, str]:
        outputs: dict[str, str] = cloudformation.deploy(load(synthesize(tmp_path / step, (STACK, build)), STACK, region="us-east-1", account=ACCOUNT))
        return outputs

    first = deploy("a", with_numbers(None))
    main = {n["number"]: n for n in held(emulator)}[first["Address"]]
    assert main["arn"] == first["Arn"] and main["description"] == "Main line" and len(held(emulator)) == 2
    assert deploy("b", with_numbers(RETAIN)) == first
    deploy("c", with_numbers(None, keep=False))

    assert [n["number"] for n in held(emulator)] == [first["Address"]]  # Main is kept; Temporary (Delete) was released
    assert emulator.service.calls["ReleasePhoneNumber"] == 1
    assert "Retain policy: " + first["Arn"] + " is kept" in out.getvalue()


def test_a_cfn_phone_number_moves_in_place_a_new_type_replaces_it_and_destroy_releases_it(emulator: ConnectEmulator, local: Any, tmp_path: Path) -> None:
    cloudformation, _ = local

    def one(target: str, kind: str) -> Callable[[cdk.Stack], None]:
        def build(stack: cdk.Stack) -> None:
            claimed = aws_connect.CfnPhoneNumber(stack, "Main", target_arn=target, country_code="US", type=kind, tags=[cdk.CfnTag(key="team", value="care")])
            cdk.CfnOutput(stack, "Address", value=claimed.attr_address)

        return build

    first = cloudformation.deploy(load(synthesize(tmp_path / "a", (STACK, one(INSTANCE, "DID"))), STACK, region="us-east-1", account=ACCOUNT))
    moved = cloudformation.deploy(load(synthesize(tmp_path / "b", (STACK, one(OTHER_INSTANCE, "DID"))), STACK, region="us-east-1", account=ACCOUNT))
    [after_move] = held(emulator)
    replaced = cloudformation.deploy(load(synthesize(tmp_path / "c", (STACK, one(OTHER_INSTANCE, "TOLL_FREE"))), STACK, region="us-east-1", account=ACCOUNT))

    assert moved == first and after_move["target_arn"] == OTHER_INSTANCE and after_move["tags"] == {"team": "care"}
    [after_replacement] = held(emulator)
    assert after_replacement["number"] == replaced["Address"] != first["Address"] and after_replacement["type"] == "TOLL_FREE"
    cloudformation.destroy(STACK)
    assert held(emulator) == []
    cloudformation.deploy(load(tmp_path / "c", STACK, region="us-east-1", account=ACCOUNT))  # the same template again claims again
    assert [n["type"] for n in held(emulator)] == ["TOLL_FREE"]
