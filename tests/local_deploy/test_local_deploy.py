"""End to end: a real synthesized assembly, deployed by the local deploy through the real handler and the emulator."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest

from connect_phone_number import ClaimedPhoneNumber
from connect_phone_number.emulator import LIMIT_MESSAGE, ConnectEmulator
from connect_phone_number.local_deploy import __main__ as cli
from connect_phone_number.local_deploy.engine import DeployFailed, LocalCloudFormation
from connect_phone_number.local_deploy.template import StackTemplate, load
from support import ACCOUNT, INSTANCE, OTHER_INSTANCE

STACK = "LocalTest"


def synthesize(out: Path, build: Callable[[cdk.Stack], None]) -> StackTemplate:
    """Synthesize a stack as `cdk synth` does (with asset metadata) and load it."""
    app = cdk.App(outdir=str(out), context={"aws:cdk:enable-asset-metadata": True})
    stack = cdk.Stack(app, STACK)
    build(stack)
    app.synth()
    return load(out, STACK, region="us-east-1", account=ACCOUNT)


def numbers(*specs: dict[str, Any]) -> Callable[[cdk.Stack], None]:
    def build(stack: cdk.Stack) -> None:
        for i, props in enumerate(specs):
            number = ClaimedPhoneNumber(stack, f"Number{i}", **{"target_arn": INSTANCE, "country_code": "US", "phone_number_type": "DID", **props})
            cdk.CfnOutput(stack, f"Out{i}", key=f"PhoneNumber{i}", value=number.phone_number)

    return build


@pytest.fixture
def local(emulator: ConnectEmulator, tmp_path: Path) -> tuple[LocalCloudFormation, io.StringIO]:
    out = io.StringIO()
    return LocalCloudFormation(tmp_path / "state", environment=dict(os.environ), out=out), out


def held(emulator: ConnectEmulator) -> list[dict[str, Any]]:
    return [n for n in emulator.service.held() if not n["releasing"] and n["status"] != "FAILED"]


def test_deploy_claims_and_shows_progress_and_outputs(emulator: ConnectEmulator, local: Any, tmp_path: Path) -> None:
    cloudformation, out = local
    stack = synthesize(tmp_path / "a", numbers({"description": "Front desk"}))

    outputs = cloudformation.deploy(stack)

    [number] = held(emulator)
    assert outputs["PhoneNumber0"] == number["number"]
    assert number["status"] == "CLAIMED" and number["description"] == "Front desk"
    log = out.getvalue()
    assert "CREATE_IN_PROGRESS   | Custom::ConnectPhoneNumber" in log
    assert "CREATE_COMPLETE      | Custom::ConnectPhoneNumber" in log
    assert "AWS::Lambda::Function" in log and "not emulated" in log
    assert "CLAIMED after" in log  # the handler's own decision lines, relayed
    assert "X-Amz-Signature" not in log


def test_independent_numbers_are_claimed_concurrently(emulator: ConnectEmulator, local: Any, tmp_path: Path) -> None:
    emulator.service.config.claim_seconds = 1.0
    cloudformation, _ = local

    outputs = cloudformation.deploy(synthesize(tmp_path / "a", numbers({}, {}, {})))

    records = held(emulator)
    assert len({outputs[f"PhoneNumber{i}"] for i in range(3)}) == 3
    claim_started = [r["settle_at"] - 1.0 for r in records]
    assert max(claim_started) < min(r["settle_at"] for r in records), "all three claims were in flight at once"


def test_a_failed_claim_fails_the_deploy_with_connects_message_and_rolls_back(emulator: ConnectEmulator, local: Any, tmp_path: Path) -> None:
    cloudformation, out = local
    emulator.service.fail_claims("*", LIMIT_MESSAGE)

    with pytest.raises(DeployFailed, match=LIMIT_MESSAGE):
        cloudformation.deploy(synthesize(tmp_path / "a", numbers({"removal_policy": cdk.RemovalPolicy.DESTROY})))

    assert "ROLLBACK_COMPLETE" in out.getvalue()
    assert held(emulator) == []
    assert "ReleasePhoneNumber" not in emulator.service.calls
    assert not (tmp_path / "state" / f"{STACK}.state.json").exists()


def test_a_second_deploy_updates_in_place_and_removes_what_left_the_template(emulator: ConnectEmulator, local: Any, tmp_path: Path) -> None:
    cloudformation, out = local
    first = cloudformation.deploy(synthesize(tmp_path / "a", numbers({}, {"removal_policy": cdk.RemovalPolicy.DESTROY})))

    second = cloudformation.deploy(synthesize(tmp_path / "b", numbers({"target_arn": OTHER_INSTANCE})))

    assert second["PhoneNumber0"] == first["PhoneNumber0"]
    assert [n["target_arn"] for n in held(emulator)] == [OTHER_INSTANCE]
    assert emulator.service.calls["ReleasePhoneNumber"] == 1
    assert "UPDATE_COMPLETE" in out.getvalue()


def test_destroy_honours_retain(emulator: ConnectEmulator, local: Any, tmp_path: Path) -> None:
    cloudformation, out = local
    cloudformation.deploy(synthesize(tmp_path / "a", numbers({}, {"removal_policy": cdk.RemovalPolicy.DESTROY})))

    cloudformation.destroy(STACK)

    assert len(held(emulator)) == 1  # the retained one
    assert emulator.service.calls["ReleasePhoneNumber"] == 1
    assert "DELETE_SKIPPED" in out.getvalue()


def test_a_failed_delete_fails_the_destroy_and_keeps_the_resource_in_state(emulator: ConnectEmulator, local: Any, tmp_path: Path) -> None:
    cloudformation, _ = local
    cloudformation.deploy(synthesize(tmp_path / "a", numbers({"removal_policy": cdk.RemovalPolicy.DESTROY})))
    emulator.service.fail_next(1, status=403, code="AccessDeniedException", operation="ReleasePhoneNumber")

    with pytest.raises(DeployFailed, match="DELETE_FAILED"):
        cloudformation.destroy(STACK)

    assert len(held(emulator)) == 1
    cloudformation.destroy(STACK)  # a second destroy finishes the job
    assert held(emulator) == []


def test_a_replacement_deletes_the_old_number_only_when_the_policy_allows(emulator: ConnectEmulator, local: Any, tmp_path: Path) -> None:
    cloudformation, _ = local
    cloudformation.deploy(synthesize(tmp_path / "a", numbers({}, {"removal_policy": cdk.RemovalPolicy.DESTROY})))

    cloudformation.deploy(synthesize(tmp_path / "b", numbers({"country_code": "GB"}, {"country_code": "GB", "removal_policy": cdk.RemovalPolicy.DESTROY})))

    countries = sorted(n["country"] for n in held(emulator))
    assert countries == ["GB", "GB", "US"]  # the retained US number stays; the destroyable one was released
    assert emulator.service.calls["ReleasePhoneNumber"] == 1


def test_the_command_line_refuses_an_endpoint_off_loopback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_CONNECT", "https://connect.us-east-1.amazonaws.com")

    status = cli.main(["deploy", "--app", str(tmp_path), "--state-dir", str(tmp_path / "state")])

    assert status == 1
    assert "local Connect emulator on loopback" in capsys.readouterr().err


def test_the_command_line_deploys_and_destroys(emulator: ConnectEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    synthesize(tmp_path / "a", numbers({"removal_policy": cdk.RemovalPolicy.DESTROY}))
    common = ["--app", str(tmp_path / "a"), "--state-dir", str(tmp_path / "state")]

    assert cli.main(["deploy", *common]) == 0
    assert len(held(emulator)) == 1
    assert cli.main(["destroy", *common]) == 0

    assert held(emulator) == []
    assert f"{STACK}.PhoneNumber0 = +1" in capsys.readouterr().out
