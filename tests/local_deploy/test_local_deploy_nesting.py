"""The local deploy on what issue 14 found missing, past the single cases test_local_deploy_stacks.py has: nesting two deep,
a failed number inside a nested stack, and the deploy command of a multi-stack app without --stack."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest

from connect_phone_number import ClaimedPhoneNumber
from connect_phone_number_local.deploy import __main__ as cli
from connect_phone_number_local.deploy.engine import DeployFailed, LocalCloudFormation
from connect_phone_number_local.deploy.template import load
from connect_phone_number_local.emulator import LIMIT_MESSAGE, ConnectEmulator
from support import ACCOUNT, INSTANCE

pytestmark = pytest.mark.real_clock  # the local deploy's Lambda runs are processes of their own, on the real clock

STACK = "Teams"


def held(emulator: ConnectEmulator) -> list[dict[str, Any]]:
    return [n for n in emulator.service.held() if not n["releasing"] and n["status"] != "FAILED"]


def two_deep(out: Path, *, kinds: tuple[str, ...] = ("DID",)) -> Path:
    """A parent, a nested stack, and a nested stack in that one holding the numbers; their outputs reach the parent."""
    app = cdk.App(outdir=str(out), context={"aws:cdk:enable-asset-metadata": True, "aws:cdk:enable-path-metadata": True})
    parent = cdk.Stack(app, STACK)
    inner = cdk.NestedStack(cdk.NestedStack(parent, "Outer"), "Inner")
    for kind in kinds:
        number = ClaimedPhoneNumber(
            inner, f"Number{kind}", target_arn=INSTANCE, country_code="US", phone_number_type=kind, removal_policy=cdk.RemovalPolicy.DESTROY
        )
        cdk.CfnOutput(parent, f"Out{kind}", key=f"PhoneNumber{kind}", value=number.phone_number)
    app.synth()
    return out


def test_numbers_two_nested_stacks_deep_are_claimed_their_outputs_reach_the_parent_and_destroy_releases_them(emulator: ConnectEmulator, tmp_path: Path) -> None:
    out = io.StringIO()
    cloudformation = LocalCloudFormation(tmp_path / "state", environment=dict(os.environ), out=out)

    outputs = cloudformation.deploy(load(two_deep(tmp_path / "a"), STACK, region="us-east-1", account=ACCOUNT))

    [claimed] = held(emulator)
    assert outputs == {"PhoneNumberDID": claimed["number"]}
    assert out.getvalue().count(": CREATE_COMPLETE in") == 3  # the parent and both nested stacks, each a stack of its own
    cloudformation.destroy(STACK)
    assert held(emulator) == []
    assert not list((tmp_path / "state").glob("*.state.json"))


def test_a_failed_claim_two_nested_stacks_deep_rolls_the_whole_tree_back_and_holds_nothing(emulator: ConnectEmulator, tmp_path: Path) -> None:
    emulator.service.fail_claims("+18", LIMIT_MESSAGE)
    cloudformation = LocalCloudFormation(tmp_path / "state", environment=dict(os.environ), out=io.StringIO())

    with pytest.raises(DeployFailed, match=LIMIT_MESSAGE):
        cloudformation.deploy(load(two_deep(tmp_path / "a", kinds=("DID", "TOLL_FREE")), STACK, region="us-east-1", account=ACCOUNT))

    assert held(emulator) == []  # the DID claimed beside the failed toll-free number was released by the rollback (DESTROY)
    assert not list((tmp_path / "state").glob("*.state.json"))


def test_deploy_of_a_multi_stack_app_without_stack_is_refused_listing_the_stacks(
    emulator: ConnectEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = cdk.App(outdir=str(tmp_path / "a"))
    for name in ("Front", "Back"):
        cdk.CfnWaitConditionHandle(cdk.Stack(app, name), "Nothing")
    app.synth()

    status = cli.main(["deploy", "--app", str(tmp_path / "a"), "--state-dir", str(tmp_path / "state")])

    assert status == 1
    assert "name one with --stack (Back, Front)" in capsys.readouterr().err
    assert not (tmp_path / "state").exists()
