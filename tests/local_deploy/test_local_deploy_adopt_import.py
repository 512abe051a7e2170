"""End to end through the local deploy (each handler run as its synthesized role): adoption, import, and the retry window."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import boto3
import pytest

from connect_phone_number import ClaimedPhoneNumber
from connect_phone_number_local.deploy.engine import DeployFailed, LocalCloudFormation
from connect_phone_number_local.deploy.template import StackTemplate, load
from connect_phone_number_local.emulator import LIMIT_MESSAGE, ConnectEmulator
from support import ACCOUNT, INSTANCE, OTHER_INSTANCE

# The local deploy runs each Lambda invocation in a process of its own, on the real clock (see conftest.py).
pytestmark = pytest.mark.real_clock

MARKER = "cdk-connect-phone-number:claim-request"
SOURCE = f"arn:aws:sms-voice:us-east-1:{ACCOUNT}:phone-number/phone-0123456789abcdef"


def synthesize(out: Path, name: str, **props: Any) -> StackTemplate:
    """A stack with one number; ``props`` are the construct's (target_arn defaults to INSTANCE)."""
    app = cdk.App(outdir=str(out), context={"aws:cdk:enable-asset-metadata": True})
    stack = cdk.Stack(app, name)
    number = ClaimedPhoneNumber(stack, "Number", **{"target_arn": INSTANCE, **props})
    cdk.CfnOutput(stack, "Out", key="PhoneNumber", value=number.phone_number)
    cdk.CfnOutput(stack, "Arn", key="PhoneNumberArn", value=number.phone_number_arn)
    app.synth()
    return load(out, name, region="us-east-1", account=ACCOUNT)


@pytest.fixture
def cloudformation(emulator: ConnectEmulator, tmp_path: Path) -> LocalCloudFormation:
    return LocalCloudFormation(tmp_path / "state", environment=dict(os.environ), out=io.StringIO())


def holding(emulator: ConnectEmulator, number: str) -> dict[str, Any]:
    [record] = [n for n in emulator.service.holding() if n["number"] == number]
    return record


@pytest.fixture
def first_stack(emulator: ConnectEmulator, cloudformation: LocalCloudFormation, tmp_path: Path) -> dict[str, str]:
    """Stack "First" holds an exact number on INSTANCE."""
    number = emulator.service.available("US", "DID")[0]
    return cloudformation.deploy(synthesize(tmp_path / "first", "First", phone_number=number))


def test_a_second_stack_claiming_the_same_number_is_refused_naming_where_it_is_and_nothing_changes(
    emulator: ConnectEmulator, cloudformation: LocalCloudFormation, tmp_path: Path, first_stack: dict[str, str]
) -> None:
    before = emulator.service.holding()

    with pytest.raises(DeployFailed) as failed:
        cloudformation.deploy(synthesize(tmp_path / "second", "Second", target_arn=OTHER_INSTANCE, phone_number=first_stack["PhoneNumber"]))

    message = str(failed.value)
    assert f"{first_stack['PhoneNumber']} is already held by this account, on {INSTANCE}" in message
    assert "adopt_existing=True" in message
    assert emulator.service.holding() == before


def test_adopt_existing_refuses_a_number_another_stack_manages_and_takes_it_over_once_its_marker_is_removed(
    emulator: ConnectEmulator, cloudformation: LocalCloudFormation, tmp_path: Path, first_stack: dict[str, str]
) -> None:
    number, arn = first_stack["PhoneNumber"], first_stack["PhoneNumberArn"]
    second = synthesize(tmp_path / "second", "Second", target_arn=OTHER_INSTANCE, phone_number=number, adopt_existing=True, description="adopted")
    with pytest.raises(DeployFailed, match=r"another resource .* manages it\. Nothing was changed") as refused:
        cloudformation.deploy(second)
    assert holding(emulator, number)["target_arn"] == INSTANCE
    cloudformation.destroy("First")  # RETAIN, the default: the number stays, with First's marker
    untag = re.search(r"\(aws connect untag-resource (.*?)\)", str(refused.value))
    assert untag is not None and arn in untag.group(1)
    boto3.client("connect", region_name="us-east-1").untag_resource(resourceArn=arn, tagKeys=[MARKER])  # the command the Reason gives

    outputs = cloudformation.deploy(second)

    assert outputs["PhoneNumberArn"] == arn
    record = holding(emulator, number)
    assert (record["target_arn"], record["description"]) == (OTHER_INSTANCE, "adopted")
    assert f"/adopted/instance={INSTANCE.rsplit('/', 1)[1]}" in record["tags"][MARKER]
    assert emulator.service.denied == []


def test_an_import_deploys_and_a_failed_import_rolls_back_with_connects_message(
    emulator: ConnectEmulator, cloudformation: LocalCloudFormation, tmp_path: Path
) -> None:
    emulator.service.fail_imports(SOURCE, "The source phone number is not eligible.")
    with pytest.raises(DeployFailed, match="The source phone number is not eligible"):
        cloudformation.deploy(synthesize(tmp_path / "a", "Imported", source_phone_number_arn=SOURCE))
    assert emulator.service.holding() == []
    emulator.service.clear_faults()

    outputs = cloudformation.deploy(synthesize(tmp_path / "b", "Imported", source_phone_number_arn=SOURCE))

    assert holding(emulator, outputs["PhoneNumber"])["source_arn"] == SOURCE
    assert emulator.service.denied == []
    authorized = {(action, resource) for _, action, resource in emulator.service.authorized}
    assert {("connect:ImportPhoneNumber", INSTANCE), ("sms-voice:DescribePhoneNumbers", SOURCE)} <= authorized  # the handler ran as its role


def test_a_failed_claim_names_the_number_and_a_retry_by_that_number_gets_it(
    emulator: ConnectEmulator, cloudformation: LocalCloudFormation, tmp_path: Path
) -> None:
    emulator.service.fail_claims("*", LIMIT_MESSAGE)
    with pytest.raises(DeployFailed, match=re.escape(LIMIT_MESSAGE)) as failed:
        cloudformation.deploy(synthesize(tmp_path / "a", "Retry", country_code="US", phone_number_type="DID"))
    offered = re.search(r'phone_number="(\+\d+)"', str(failed.value))
    assert offered is not None, str(failed.value)
    assert offered.group(1) not in emulator.service.available("US", "DID", account="999999999999")
    emulator.service.clear_faults()

    outputs = cloudformation.deploy(synthesize(tmp_path / "b", "Retry", phone_number=offered.group(1)))

    assert outputs["PhoneNumber"] == offered.group(1)
