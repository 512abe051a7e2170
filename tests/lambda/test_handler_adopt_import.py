"""Adoption of a number the account already holds, and imports from AWS End User Messaging, through the emulator."""

from __future__ import annotations

from typing import Any

import boto3

from connect_phone_number_local.deploy.responses import ResponseServer
from connect_phone_number_local.emulator import ConnectEmulator
from support import INSTANCE, OTHER_INSTANCE, elapse, run

SOURCE = "arn:aws:sms-voice:us-east-1:123456789012:phone-number/phone-0123456789abcdef"
MARKER = "cdk-connect-phone-number:claim-request"


def held_by_hand(emulator: ConnectEmulator, target: str = INSTANCE) -> dict[str, Any]:
    """A number the account holds in no stack: claimed in the console, with a tag of its own and no marker."""
    number = emulator.service.available("US", "DID")[0]
    boto3.client("connect", region_name="us-east-1").claim_phone_number(TargetArn=target, PhoneNumber=number, Tags={"byhand": "yes"})
    while any(n["status"] == "IN_PROGRESS" for n in emulator.service.held()):
        elapse(0.05)
    [record] = [n for n in emulator.service.held() if n["number"] == number]
    return record


def test_claiming_a_number_the_account_holds_fails_naming_it_where_it_is_and_how_to_adopt_it(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    existing = held_by_hand(emulator)
    before = emulator.service.held()

    result = run("Create", responses, {"TargetArn": OTHER_INSTANCE, "PhoneNumber": existing["number"], "Description": "mine"})

    reason = result.response["Reason"]
    assert result.response["Status"] == "FAILED"
    assert existing["number"] in reason
    assert INSTANCE in reason
    assert "adopt_existing=True" in reason
    assert not result.response["PhysicalResourceId"].startswith("arn:")
    assert emulator.service.held() == before  # nothing changed


def test_adopt_existing_takes_the_number_over_moving_it_and_converging_description_tags_and_marker(
    emulator: ConnectEmulator, responses: ResponseServer
) -> None:
    existing = held_by_hand(emulator)
    props = {
        "TargetArn": OTHER_INSTANCE,
        "PhoneNumber": existing["number"],
        "AdoptExisting": "true",
        "Description": "adopted",
        "Tags": [{"Key": "team", "Value": "care"}],
    }

    result = run("Create", responses, props)

    assert result.response["Status"] == "SUCCESS", result.response["Reason"]
    assert result.response["PhysicalResourceId"] == existing["arn"]
    assert emulator.service.calls.get("ClaimPhoneNumber") == 1  # only the claim by hand
    [record] = [n for n in emulator.service.held() if n["number"] == existing["number"]]
    assert record["target_arn"] == OTHER_INSTANCE
    assert record["description"] == "adopted"
    assert record["tags"]["team"] == "care"
    assert record["tags"]["byhand"] == "yes"  # a tag the stack never declared is left alone
    assert MARKER not in existing["tags"]
    assert "/adopted/instance=" in record["tags"][MARKER]  # now this resource's marker, saying it was adopted


def test_an_adopted_number_is_released_on_delete_like_any_other(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    existing = held_by_hand(emulator)
    props = {"TargetArn": INSTANCE, "PhoneNumber": existing["number"], "AdoptExisting": "true"}
    adopted = run("Create", responses, props)

    deleted = run("Delete", responses, props, physical_id=adopted.response["PhysicalResourceId"])

    assert deleted.response["Status"] == "SUCCESS", deleted.response["Reason"]
    assert [n for n in emulator.service.holding() if n["number"] == existing["number"]] == []


def test_adopt_existing_claims_the_number_when_the_account_does_not_hold_it(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    number = emulator.service.available("US", "DID")[0]

    result = run("Create", responses, {"TargetArn": INSTANCE, "PhoneNumber": number, "AdoptExisting": "true"})

    assert result.response["Status"] == "SUCCESS", result.response["Reason"]
    assert result.response["Data"]["PhoneNumber"] == number
    assert emulator.service.calls.get("ClaimPhoneNumber") == 1


def test_an_import_waits_for_claimed_and_answers_the_imported_number(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    result = run("Create", responses, {"TargetArn": INSTANCE, "SourcePhoneNumberArn": SOURCE, "Description": "from EUM"})

    assert result.response["Status"] == "SUCCESS", result.response["Reason"]
    [record] = emulator.service.holding()
    assert record["arn"] == result.response["PhysicalResourceId"]
    assert record["source_arn"] == SOURCE
    assert record["status"] == "CLAIMED"
    assert result.response["Data"]["PhoneNumber"] == record["number"]
    assert MARKER in record["tags"]


def test_a_failed_import_fails_with_connects_message_verbatim_and_holds_nothing(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    emulator.service.fail_imports(SOURCE, "The phone number is not eligible for import.")

    result = run("Create", responses, {"TargetArn": INSTANCE, "SourcePhoneNumberArn": SOURCE})

    assert result.response["Status"] == "FAILED"
    assert result.response["Reason"].startswith("The phone number is not eligible for import. (import of " + SOURCE)
    assert not result.response["PhysicalResourceId"].startswith("arn:")
    assert emulator.service.holding() == []


def test_changing_the_source_imports_a_replacement(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    props = {"TargetArn": INSTANCE, "SourcePhoneNumberArn": SOURCE}
    first = run("Create", responses, props)
    other = {**props, "SourcePhoneNumberArn": SOURCE.replace("0123456789abcdef", "fedcba9876543210")}

    replaced = run("Update", responses, other, old=props, physical_id=first.response["PhysicalResourceId"])

    assert replaced.response["Status"] == "SUCCESS", replaced.response["Reason"]
    assert replaced.response["PhysicalResourceId"] != first.response["PhysicalResourceId"]
    assert emulator.service.calls["ImportPhoneNumber"] == 2


def test_an_import_and_a_search_cannot_be_combined(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    result = run("Create", responses, {"TargetArn": INSTANCE, "SourcePhoneNumberArn": SOURCE, "CountryCode": "US"})

    assert result.response["Status"] == "FAILED"
    assert "Invalid property SourcePhoneNumberArn: cannot be combined with 'CountryCode'" in result.response["Reason"]
    assert emulator.service.calls.get("ImportPhoneNumber") is None


def test_importing_a_source_whose_number_is_still_held_says_how_to_take_that_number_over(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    props = {"TargetArn": INSTANCE, "SourcePhoneNumberArn": SOURCE}
    first = run("Create", responses, props)  # kept by RETAIN when its stack went
    assert first.response["Status"] == "SUCCESS", first.response["Reason"]

    again = run("Create", responses, props, logical_id="Redeployed")

    assert again.response["Status"] == "FAILED"
    assert "adopt_existing=True" in again.response["Reason"] and SOURCE in again.response["Reason"]
    assert len(emulator.service.holding()) == 1
