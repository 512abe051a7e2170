"""The local deploy runs each handler as its role, with the role's synthesized policies enforced by the emulator."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest

from connect_phone_number import ClaimedPhoneNumber
from connect_phone_number_local.deploy import iam as local_iam
from connect_phone_number_local.deploy.engine import DeployFailed, LocalCloudFormation
from connect_phone_number_local.deploy.template import load
from connect_phone_number_local.emulator import ConnectEmulator
from support import ACCOUNT, INSTANCE

# The local deploy runs each Lambda invocation in a process of its own, on the real clock (see conftest.py).
pytestmark = pytest.mark.real_clock

STACK = "IamLocal"


def synthesize(out: Path, *, drop_action: str | None = None) -> Path:
    """A one-number stack; ``drop_action`` removes that action from the handler role's policy in the template."""
    app = cdk.App(outdir=str(out), context={"aws:cdk:enable-asset-metadata": True})
    stack = cdk.Stack(app, STACK)
    number = ClaimedPhoneNumber(stack, "Number", target_arn=INSTANCE, country_code="US", phone_number_type="DID", removal_policy=cdk.RemovalPolicy.DESTROY)
    cdk.CfnOutput(stack, "Out", key="PhoneNumber", value=number.phone_number)
    app.synth()
    if drop_action is not None:
        path = out / f"{STACK}.template.json"
        template = json.loads(path.read_text())
        for resource in template["Resources"].values():
            if resource["Type"] == "AWS::IAM::Policy":
                for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
                    if isinstance(statement["Action"], list):
                        statement["Action"] = [a for a in statement["Action"] if a != drop_action]
        path.write_text(json.dumps(template))
    return out


def held(emulator: ConnectEmulator) -> list[dict[str, Any]]:
    return [n for n in emulator.service.held() if not n["releasing"] and n["status"] != "FAILED"]


def deployer(tmp_path: Path, *, enforce_iam: bool = True) -> tuple[LocalCloudFormation, io.StringIO]:
    out = io.StringIO()
    return LocalCloudFormation(tmp_path / "state", environment=dict(os.environ), out=out, enforce_iam=enforce_iam), out


def test_the_role_is_read_from_the_template_with_its_intrinsics_resolved(tmp_path: Path) -> None:
    stack = load(synthesize(tmp_path / "a"), STACK, region="us-east-1", account=ACCOUNT)

    [role] = local_iam.identities(stack, {}, {}).values()

    rendered = json.dumps(role.policies)
    assert "Fn::" not in rendered and '"Ref"' not in rendered
    assert f"arn:aws:connect:us-east-1:{ACCOUNT}:phone-number/*" in rendered
    assert role.principal.startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/{STACK}-")


def test_a_deploy_and_destroy_run_under_the_synthesized_role(emulator: ConnectEmulator, tmp_path: Path) -> None:
    cloudformation, out = deployer(tmp_path)

    cloudformation.deploy(load(synthesize(tmp_path / "a"), STACK, region="us-east-1", account=ACCOUNT))
    cloudformation.destroy(STACK)

    assert "IAM enforced" in out.getvalue()
    summary = emulator.service.iam_summary()
    assert summary["enforced"] and summary["denied"] == 0
    actions = {action for _, action, _ in emulator.service.authorized}
    assert {"connect:SearchAvailablePhoneNumbers", "connect:ClaimPhoneNumber", "connect:ReleasePhoneNumber"} <= actions
    assert held(emulator) == []


def test_a_role_missing_an_action_fails_the_deploy_naming_it_before_anything_is_claimed(emulator: ConnectEmulator, tmp_path: Path) -> None:
    cloudformation, _ = deployer(tmp_path)
    broken = load(synthesize(tmp_path / "a", drop_action="connect:SearchAvailablePhoneNumbers"), STACK, region="us-east-1", account=ACCOUNT)

    try:
        cloudformation.deploy(broken)
    except DeployFailed as failure:
        message = str(failure)
    else:
        raise AssertionError("the deploy should have failed")

    assert "AccessDeniedException" in message and "connect:SearchAvailablePhoneNumbers" in message
    assert held(emulator) == []


def test_no_iam_lets_a_broken_role_deploy(emulator: ConnectEmulator, tmp_path: Path) -> None:
    cloudformation, out = deployer(tmp_path, enforce_iam=False)
    broken = load(synthesize(tmp_path / "a", drop_action="connect:SearchAvailablePhoneNumbers"), STACK, region="us-east-1", account=ACCOUNT)

    cloudformation.deploy(broken)

    assert "IAM not enforced" in out.getvalue()
    assert len(held(emulator)) == 1
