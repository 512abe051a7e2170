"""The emulator against the reference (shared/reference/connect-phone-number-api.md), through real boto3 clients."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from connect_phone_number_local.emulator import LIMIT_MESSAGE, ConnectEmulator, EmulatorConfig, wire
from support import ACCOUNT, INSTANCE, OTHER_INSTANCE, elapse, fast_config
from virtual_clock import TestClock

THIRD_INSTANCE = INSTANCE.replace("aaaaaaaa", "cccccccc")


def connect_client(emulator: ConnectEmulator, region: str = "us-east-1") -> Any:
    # One attempt per call, so the test sees every throttle and fault botocore would retry.
    return boto3.client(
        "connect",
        endpoint_url=emulator.url,
        region_name=region,
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )


@pytest.fixture
def api(emulator: ConnectEmulator) -> Any:
    return connect_client(emulator)


def error_of(call: Any, **params: Any) -> ClientError:
    with pytest.raises(ClientError) as caught:
        call(**params)
    return caught.value


def claim(api: Any, emulator: ConnectEmulator, target: str = INSTANCE, **extra: Any) -> dict[str, Any]:
    number = extra.pop("PhoneNumber", None) or emulator.service.available("US", "DID")[0]
    return dict(api.claim_phone_number(TargetArn=target, PhoneNumber=number, **extra))


def wait_settled(api: Any, number_id: str) -> dict[str, Any]:
    for _ in range(50):
        summary = api.describe_phone_number(PhoneNumberId=number_id)["ClaimedPhoneNumberSummary"]
        if summary["PhoneNumberStatus"]["Status"] != "IN_PROGRESS":
            return dict(summary)
        elapse(0.05)
    raise AssertionError("never settled")


# --- routes ---------------------------------------------------------------------------------


def test_routes_come_from_botocores_model() -> None:
    routes = {(r.operation, r.method) for r in wire.routes()}
    assert len(routes) == len(wire.OPERATIONS) == 15  # the reference's 14 routes, and ListFlowAssociations (section 14)
    assert ("DescribePhoneNumber", "GET") in routes
    assert wire.match("PUT", "/phone-number/abc/metadata") == ("UpdatePhoneNumberMetadata", {"PhoneNumberId": "abc"})
    assert wire.match("GET", "/phone-numbers-summary/abc") == ("ListPhoneNumbers", {"InstanceId": "abc"})


def test_ids_and_arns_are_accepted_raw_or_percent_encoded(api: Any, emulator: ConnectEmulator) -> None:
    claimed = claim(api, emulator)
    arn = claimed["PhoneNumberArn"]

    by_id = api.describe_phone_number(PhoneNumberId=claimed["PhoneNumberId"])
    by_encoded_arn = api.describe_phone_number(PhoneNumberId=arn)  # botocore encodes ':' and '/'
    with urllib.request.urlopen(f"{emulator.url}/phone-number/{arn}") as raw:  # not encoded at all
        by_raw_arn = json.loads(raw.read())

    assert by_id["ClaimedPhoneNumberSummary"]["PhoneNumberArn"] == arn
    assert by_encoded_arn["ClaimedPhoneNumberSummary"]["PhoneNumberArn"] == arn
    assert by_raw_arn["ClaimedPhoneNumberSummary"]["PhoneNumberArn"] == arn
    wait_settled(api, arn)
    api.update_phone_number_metadata(PhoneNumberId=arn, PhoneNumberDescription="via /metadata")


def test_arns_carry_the_region_the_request_was_signed_for(emulator: ConnectEmulator) -> None:
    west = connect_client(emulator, "us-west-2")
    target = INSTANCE.replace("us-east-1", "us-west-2")
    claimed = west.claim_phone_number(TargetArn=target, PhoneNumber=emulator.service.available("US", "DID")[0])
    assert claimed["PhoneNumberArn"].startswith("arn:aws:connect:us-west-2:123456789012:phone-number/")


# --- the asynchronous status ----------------------------------------------------------------


def test_a_claim_is_in_progress_then_claimed(api: Any, emulator: ConnectEmulator) -> None:
    claimed = claim(api, emulator)

    first = api.describe_phone_number(PhoneNumberId=claimed["PhoneNumberId"])["ClaimedPhoneNumberSummary"]
    settled = wait_settled(api, claimed["PhoneNumberId"])

    assert first["PhoneNumberStatus"] == {"Status": "IN_PROGRESS"}
    assert settled["PhoneNumberStatus"] == {"Status": "CLAIMED"}
    assert settled["TargetArn"] == INSTANCE
    assert settled["InstanceId"] == INSTANCE.rsplit("/", 1)[1]


@pytest.mark.parametrize(("match", "fails"), [("*", True), ("+1206", True), ("+1800", False)])
def test_claim_failures_can_target_everything_a_prefix_or_a_number(api: Any, emulator: ConnectEmulator, match: str, fails: bool) -> None:
    emulator.service.fail_claims(match, "Injected message")

    settled = wait_settled(api, claim(api, emulator)["PhoneNumberId"])

    expected = {"Status": "FAILED", "Message": "Injected message"} if fails else {"Status": "CLAIMED"}
    assert settled["PhoneNumberStatus"] == expected


def test_a_failed_claim_may_be_claimed_again(api: Any, emulator: ConnectEmulator) -> None:
    number = emulator.service.available("US", "DID")[0]
    emulator.service.fail_claims(number)
    wait_settled(api, claim(api, emulator, PhoneNumber=number)["PhoneNumberId"])
    emulator.service.clear_faults()

    again = wait_settled(api, claim(api, emulator, PhoneNumber=number)["PhoneNumberId"])

    assert again["PhoneNumberStatus"]["Status"] == "CLAIMED"


def test_the_instance_quota_fails_the_claim_asynchronously_with_the_limit_message(api: Any, emulator: ConnectEmulator) -> None:
    numbers = emulator.service.available("US", "DID")[:6]
    ids = [api.claim_phone_number(TargetArn=INSTANCE, PhoneNumber=n)["PhoneNumberId"] for n in numbers]

    statuses = [wait_settled(api, i)["PhoneNumberStatus"] for i in ids]

    assert [s["Status"] for s in statuses] == ["CLAIMED"] * 5 + ["FAILED"]
    assert statuses[5]["Message"] == LIMIT_MESSAGE


@pytest.fixture
def one_per_instance(clock: TestClock) -> Iterator[tuple[Any, ConnectEmulator]]:
    """An emulator whose instances hold one number each, and a client for it."""
    with ConnectEmulator(fast_config(numbers_per_instance=1), clock=clock.time) as small:
        yield connect_client(small), small


def failed_move(api: Any, emulator: ConnectEmulator) -> dict[str, Any]:
    """A number on INSTANCE whose move to OTHER_INSTANCE (full) ended FAILED."""
    wait_settled(api, claim(api, emulator, target=OTHER_INSTANCE)["PhoneNumberId"])
    number_id = claim(api, emulator)["PhoneNumberId"]
    wait_settled(api, number_id)
    api.update_phone_number(PhoneNumberId=number_id, TargetArn=OTHER_INSTANCE)
    summary = wait_settled(api, number_id)
    assert summary["PhoneNumberStatus"] == {"Status": "FAILED", "Message": LIMIT_MESSAGE}
    assert summary["TargetArn"] == INSTANCE
    return summary


def test_a_number_whose_move_failed_is_still_listed_on_its_old_target(one_per_instance: tuple[Any, ConnectEmulator]) -> None:
    api, emulator = one_per_instance
    summary = failed_move(api, emulator)

    listed = api.list_phone_numbers_v2(TargetArn=INSTANCE)["ListPhoneNumbersSummaryList"]

    assert [n["PhoneNumberArn"] for n in listed] == [summary["PhoneNumberArn"]]
    assert [n["number"] for n in emulator.service.holding() if n["target_arn"] == INSTANCE] == [summary["PhoneNumber"]]


def test_a_number_whose_move_failed_still_counts_against_its_old_targets_quota(one_per_instance: tuple[Any, ConnectEmulator]) -> None:
    api, emulator = one_per_instance
    failed_move(api, emulator)

    another = wait_settled(api, claim(api, emulator)["PhoneNumberId"])

    assert another["PhoneNumberStatus"] == {"Status": "FAILED", "Message": LIMIT_MESSAGE}


def test_a_number_whose_move_failed_cannot_be_claimed_by_another_target(one_per_instance: tuple[Any, ConnectEmulator]) -> None:
    api, emulator = one_per_instance
    summary = failed_move(api, emulator)

    taken = error_of(api.claim_phone_number, TargetArn=THIRD_INSTANCE, PhoneNumber=summary["PhoneNumber"])

    assert taken.response["Error"]["Message"] == f"Phone number not available: {summary['PhoneNumber']}"
    assert wait_settled(api, summary["PhoneNumberId"])["TargetArn"] == INSTANCE


def test_a_number_moving_to_a_target_counts_against_that_targets_quota(one_per_instance: tuple[Any, ConnectEmulator]) -> None:
    api, emulator = one_per_instance
    moving = claim(api, emulator)["PhoneNumberId"]
    wait_settled(api, moving)
    api.update_phone_number(PhoneNumberId=moving, TargetArn=OTHER_INSTANCE)

    claimed_meanwhile = wait_settled(api, claim(api, emulator, target=OTHER_INSTANCE)["PhoneNumberId"])

    assert claimed_meanwhile["PhoneNumberStatus"] == {"Status": "FAILED", "Message": LIMIT_MESSAGE}
    assert wait_settled(api, moving)["TargetArn"] == OTHER_INSTANCE
    assert len(api.list_phone_numbers_v2(TargetArn=OTHER_INSTANCE)["ListPhoneNumbersSummaryList"]) == 1


def test_a_failed_claim_cannot_be_moved_or_changed(api: Any, emulator: ConnectEmulator) -> None:
    emulator.service.fail_claims("*")
    number_id = claim(api, emulator)["PhoneNumberId"]
    wait_settled(api, number_id)

    move = error_of(api.update_phone_number, PhoneNumberId=number_id, TargetArn=OTHER_INSTANCE)
    change = error_of(api.update_phone_number_metadata, PhoneNumberId=number_id, PhoneNumberDescription="x")

    assert move.response["Error"]["Code"] == change.response["Error"]["Code"] == "ResourceNotFoundException"
    assert wait_settled(api, number_id)["PhoneNumberStatus"]["Status"] == "FAILED"
    assert emulator.service.holding() == []


def test_a_move_is_in_progress_then_claimed_on_the_new_target(api: Any, emulator: ConnectEmulator) -> None:
    number_id = claim(api, emulator)["PhoneNumberId"]
    wait_settled(api, number_id)

    api.update_phone_number(PhoneNumberId=number_id, TargetArn=OTHER_INSTANCE)

    assert api.describe_phone_number(PhoneNumberId=number_id)["ClaimedPhoneNumberSummary"]["PhoneNumberStatus"]["Status"] == "IN_PROGRESS"
    assert wait_settled(api, number_id)["TargetArn"] == OTHER_INSTANCE


def test_release_while_in_progress_is_refused_as_in_use(api: Any, emulator: ConnectEmulator) -> None:
    number_id = claim(api, emulator)["PhoneNumberId"]

    error = error_of(api.release_phone_number, PhoneNumberId=number_id)

    assert error.response["Error"]["Code"] == "ResourceInUseException"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert error.response["ResourceType"] == "PHONE_NUMBER"


def test_a_released_number_passes_through_in_progress_then_is_not_found_and_cools_down(api: Any, emulator: ConnectEmulator) -> None:
    claimed = claim(api, emulator)
    number = wait_settled(api, claimed["PhoneNumberId"])["PhoneNumber"]

    api.release_phone_number(PhoneNumberId=claimed["PhoneNumberId"])

    assert api.describe_phone_number(PhoneNumberId=claimed["PhoneNumberId"])["ClaimedPhoneNumberSummary"]["PhoneNumberStatus"]["Status"] == "IN_PROGRESS"
    elapse(0.1)
    gone = error_of(api.describe_phone_number, PhoneNumberId=claimed["PhoneNumberId"])
    assert gone.response["Error"]["Code"] == "ResourceNotFoundException"
    assert gone.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert number not in emulator.service.available("US", "DID")
    taken = error_of(api.claim_phone_number, TargetArn=INSTANCE, PhoneNumber=number)
    assert taken.response["Error"]["Message"] == f"Phone number not available: {number}"


def test_claims_stop_once_releases_reach_200_percent_of_the_quota(api: Any, emulator: ConnectEmulator) -> None:
    for _ in range(10):  # quota 5, so 10 releases
        number_id = claim(api, emulator)["PhoneNumberId"]
        wait_settled(api, number_id)
        api.release_phone_number(PhoneNumberId=number_id)

    blocked = error_of(api.claim_phone_number, TargetArn=INSTANCE, PhoneNumber=emulator.service.available("US", "DID")[0])

    assert "Allowed limit exceeded" in blocked.response["Error"]["Message"]


# --- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "params", "field"),
    [
        ("claim_phone_number", {"TargetArn": INSTANCE, "PhoneNumber": "12065550100"}, "phoneNumber"),
        ("claim_phone_number", {"TargetArn": INSTANCE, "PhoneNumber": "+12065550100", "PhoneNumberDescription": "d" * 501}, "phoneNumberDescription"),
        ("claim_phone_number", {"TargetArn": INSTANCE, "PhoneNumber": "+12065550100", "Tags": {"aws:x": "y"}}, "tags.key"),
        ("claim_phone_number", {"TargetArn": INSTANCE, "PhoneNumber": "+12065550100", "ClientToken": "NOT-A-UUID"}, "ClientToken"),
        (
            "search_available_phone_numbers",
            {"TargetArn": INSTANCE, "PhoneNumberCountryCode": "XX", "PhoneNumberType": "DID"},
            "phoneNumberCountryCode",
        ),
        ("search_available_phone_numbers", {"TargetArn": INSTANCE, "PhoneNumberCountryCode": "US", "PhoneNumberType": "MOBILE"}, "phoneNumberType"),
        (
            "search_available_phone_numbers",
            {"TargetArn": INSTANCE, "PhoneNumberCountryCode": "US", "PhoneNumberType": "DID", "MaxResults": 20},
            "maxResults",
        ),
        ("search_available_phone_numbers", {"PhoneNumberCountryCode": "US", "PhoneNumberType": "DID"}, "TargetArn or InstanceId"),
        ("list_phone_numbers_v2", {"PhoneNumberTypes": ["DID"] * 7}, "phoneNumberTypes"),
    ],
)
def test_bad_values_get_invalid_parameter_with_the_error_type_header(api: Any, operation: str, params: dict[str, Any], field: str) -> None:
    error = error_of(getattr(api, operation), **params)

    assert error.response["Error"]["Code"] == "InvalidParameterException"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error.response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == "InvalidParameterException"
    assert field in error.response["Error"]["Message"]


def test_an_unknown_target_in_another_account_is_not_found(api: Any, emulator: ConnectEmulator) -> None:
    error = error_of(api.claim_phone_number, TargetArn=INSTANCE.replace("123456789012", "999999999999"), PhoneNumber="+12065550100")
    assert error.response["Error"]["Code"] == "ResourceNotFoundException"


def test_a_number_is_not_found_from_another_region_by_id_or_arn(emulator: ConnectEmulator) -> None:
    west, east = connect_client(emulator, "us-west-2"), connect_client(emulator, "us-east-1")
    claimed = west.claim_phone_number(TargetArn=INSTANCE.replace("us-east-1", "us-west-2"), PhoneNumber=emulator.service.available("US", "DID")[0])
    wait_settled(west, claimed["PhoneNumberId"])

    codes = [
        error_of(east.describe_phone_number, PhoneNumberId=claimed["PhoneNumberId"]).response["Error"]["Code"],
        error_of(east.describe_phone_number, PhoneNumberId=claimed["PhoneNumberArn"]).response["Error"]["Code"],
        error_of(east.release_phone_number, PhoneNumberId=claimed["PhoneNumberId"]).response["Error"]["Code"],
        error_of(east.tag_resource, resourceArn=claimed["PhoneNumberArn"], tags={"a": "b"}).response["Error"]["Code"],
    ]

    assert codes == ["ResourceNotFoundException"] * 4
    assert east.list_phone_numbers_v2()["ListPhoneNumbersSummaryList"] == []
    assert wait_settled(west, claimed["PhoneNumberArn"])["PhoneNumberStatus"] == {"Status": "CLAIMED"}


@pytest.mark.parametrize(("old", "new"), [(ACCOUNT, "999999999999"), ("us-east-1", "us-west-2")], ids=["account", "region"])
def test_an_arn_naming_another_account_or_region_is_not_found(api: Any, emulator: ConnectEmulator, old: str, new: str) -> None:
    claimed = claim(api, emulator)
    elsewhere = claimed["PhoneNumberArn"].replace(old, new)

    described = error_of(api.describe_phone_number, PhoneNumberId=elsewhere)
    tagged = error_of(api.tag_resource, resourceArn=elsewhere, tags={"a": "b"})

    assert described.response["Error"]["Code"] == tagged.response["Error"]["Code"] == "ResourceNotFoundException"


# --- throttling and injected faults ---------------------------------------------------------


def test_each_api_has_a_token_bucket_of_rate_2_and_burst_5() -> None:
    with ConnectEmulator(fast_config(rate_per_second=2.0, burst=5)) as limited:
        api = connect_client(limited)
        results = []
        for _ in range(7):
            try:
                api.list_phone_numbers_v2()
                results.append("ok")
            except ClientError as error:
                results.append(error.response["Error"]["Code"])
        other_api = api.search_available_phone_numbers(TargetArn=INSTANCE, PhoneNumberCountryCode="US", PhoneNumberType="DID")
        time.sleep(0.6)
        refilled = api.list_phone_numbers_v2()

    assert results[:5] == ["ok"] * 5
    assert "TooManyRequestsException" in results[5:]
    assert other_api["AvailableNumbersList"]
    assert "ListPhoneNumbersSummaryList" in refilled


def test_the_throttle_code_is_configurable() -> None:
    with ConnectEmulator(fast_config(rate_per_second=0.001, burst=1, throttle_code="ThrottlingException")) as limited:
        api = connect_client(limited)
        api.list_phone_numbers_v2()
        error = error_of(api.list_phone_numbers_v2)
    assert error.response["Error"]["Code"] == "ThrottlingException"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 429


def test_each_region_has_its_own_token_buckets() -> None:
    with ConnectEmulator(fast_config(rate_per_second=0.001, burst=1)) as limited:
        east, west = connect_client(limited, "us-east-1"), connect_client(limited, "us-west-2")
        east.list_phone_numbers_v2()

        west.list_phone_numbers_v2()
        throttled = error_of(east.list_phone_numbers_v2)

    assert throttled.response["Error"]["Code"] == "TooManyRequestsException"


def test_the_next_n_calls_can_be_failed(api: Any, emulator: ConnectEmulator) -> None:
    emulator.service.fail_next(2, status=500, code="InternalServiceException", operation="ListPhoneNumbersV2")

    codes = []
    for _ in range(3):
        try:
            api.list_phone_numbers_v2()
            codes.append("ok")
        except ClientError as error:
            codes.append(error.response["Error"]["Code"])

    assert codes == ["InternalServiceException", "InternalServiceException", "ok"]


# --- ClientToken ----------------------------------------------------------------------------


def test_a_replayed_client_token_returns_the_same_result(api: Any, emulator: ConnectEmulator) -> None:
    token = str(uuid.uuid4())
    number = emulator.service.available("US", "DID")[0]

    first = api.claim_phone_number(TargetArn=INSTANCE, PhoneNumber=number, ClientToken=token)
    second = api.claim_phone_number(TargetArn=INSTANCE, PhoneNumber=number, ClientToken=token)

    assert first["PhoneNumberId"] == second["PhoneNumberId"]
    assert len(emulator.service.held()) == 1


def test_a_client_token_reused_with_other_parameters_is_an_idempotency_error(api: Any, emulator: ConnectEmulator) -> None:
    token = str(uuid.uuid4())
    first, second = emulator.service.available("US", "DID")[:2]
    api.claim_phone_number(TargetArn=INSTANCE, PhoneNumber=first, ClientToken=token)

    error = error_of(api.claim_phone_number, TargetArn=INSTANCE, PhoneNumber=second, ClientToken=token)

    assert error.response["Error"]["Code"] == "IdempotencyException"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 409


# --- search, list, import, flows, tags ------------------------------------------------------


def test_search_filters_inventory_by_country_type_and_prefix_and_pages(api: Any) -> None:
    gb = api.search_available_phone_numbers(TargetArn=INSTANCE, PhoneNumberCountryCode="GB", PhoneNumberType="TOLL_FREE", MaxResults=10)
    prefixed = api.search_available_phone_numbers(TargetArn=INSTANCE, PhoneNumberCountryCode="US", PhoneNumberType="TOLL_FREE", PhoneNumberPrefix="1888")
    page_two = api.search_available_phone_numbers(
        TargetArn=INSTANCE, PhoneNumberCountryCode="GB", PhoneNumberType="TOLL_FREE", MaxResults=10, NextToken=gb["NextToken"]
    )

    assert all(n["PhoneNumber"].startswith("+44800") for n in gb["AvailableNumbersList"])
    assert all(n["PhoneNumber"].startswith("+1888") for n in prefixed["AvailableNumbersList"])
    assert not {n["PhoneNumber"] for n in gb["AvailableNumbersList"]} & {n["PhoneNumber"] for n in page_two["AvailableNumbersList"]}


def test_list_v2_filters_by_target_and_carries_no_status(api: Any, emulator: ConnectEmulator) -> None:
    wait_settled(api, claim(api, emulator)["PhoneNumberId"])
    wait_settled(api, claim(api, emulator, target=OTHER_INSTANCE)["PhoneNumberId"])

    on_instance = api.list_phone_numbers_v2(TargetArn=INSTANCE)["ListPhoneNumbersSummaryList"]
    everywhere = api.list_phone_numbers_v2()["ListPhoneNumbersSummaryList"]

    assert len(on_instance) == 1 and len(everywhere) == 2
    assert "PhoneNumberStatus" not in on_instance[0]


def test_list_v1_lists_one_instances_numbers_with_the_legacy_arn_that_tagging_refuses(api: Any, emulator: ConnectEmulator) -> None:
    ids = {wait_settled(api, claim(api, emulator)["PhoneNumberId"])["PhoneNumberId"] for _ in range(2)}
    wait_settled(api, claim(api, emulator, target=OTHER_INSTANCE)["PhoneNumberId"])
    instance_id = INSTANCE.rsplit("/", 1)[1]

    pages = list(api.get_paginator("list_phone_numbers").paginate(InstanceId=instance_id, PaginationConfig={"PageSize": 1}))
    listed = [n for page in pages for n in page["PhoneNumberSummaryList"]]

    assert len(pages) == 2
    assert {n["Id"] for n in listed} == ids
    assert all(n["Arn"] == f"{INSTANCE}/phone-number/{n['Id']}" for n in listed)
    assert set(listed[0]) == {"Id", "Arn", "PhoneNumber", "PhoneNumberType", "PhoneNumberCountryCode"}
    refused = error_of(api.tag_resource, resourceArn=listed[0]["Arn"], tags={"a": "b"})
    assert refused.response["Error"]["Code"] == "ResourceNotFoundException"


def test_list_v1_reports_types_it_does_not_know_as_toll_free_or_did(api: Any, emulator: ConnectEmulator) -> None:
    emulator.service.inventory["+80012345678"] = ("US", "UIFN")
    wait_settled(api, claim(api, emulator, PhoneNumber="+80012345678")["PhoneNumberId"])
    instance_id = INSTANCE.rsplit("/", 1)[1]

    v1 = api.list_phone_numbers(InstanceId=instance_id, PhoneNumberTypes=["TOLL_FREE"])["PhoneNumberSummaryList"]
    v2 = api.list_phone_numbers_v2(InstanceId=instance_id)["ListPhoneNumbersSummaryList"]

    assert [(n["PhoneNumber"], n["PhoneNumberType"]) for n in v1] == [("+80012345678", "TOLL_FREE")]
    assert [(n["PhoneNumber"], n["PhoneNumberType"]) for n in v2] == [("+80012345678", "UIFN")]


@pytest.mark.parametrize(
    ("operation", "params"),
    [
        ("search_available_phone_numbers", {"TargetArn": INSTANCE, "PhoneNumberCountryCode": "US", "PhoneNumberType": "DID"}),
        ("list_phone_numbers_v2", {}),
        ("list_phone_numbers", {"InstanceId": INSTANCE.rsplit("/", 1)[1]}),
    ],
)
def test_a_next_token_the_emulator_did_not_issue_is_invalid(api: Any, emulator: ConnectEmulator, operation: str, params: dict[str, Any]) -> None:
    wait_settled(api, claim(api, emulator)["PhoneNumberId"])

    error = error_of(getattr(api, operation), NextToken="garbage", **params)

    assert error.response["Error"]["Code"] == "InvalidParameterException"
    assert "NextToken" in error.response["Error"]["Message"]


def test_import_is_asynchronous_and_records_its_source(api: Any) -> None:
    source = "arn:aws:sms-voice:us-east-1:123456789012:phone-number/phone-0123456789abcdef"
    imported = api.import_phone_number(InstanceId=INSTANCE.rsplit("/", 1)[1], SourcePhoneNumberArn=source)

    settled = wait_settled(api, imported["PhoneNumberId"])

    assert settled["SourcePhoneNumberArn"] == source
    assert settled["PhoneNumberStatus"]["Status"] == "CLAIMED"


def test_contact_flows_associate_and_disassociate_on_the_numbers_instance(api: Any, emulator: ConnectEmulator) -> None:
    number_id = claim(api, emulator)["PhoneNumberId"]
    instance_id = INSTANCE.rsplit("/", 1)[1]

    api.associate_phone_number_contact_flow(PhoneNumberId=number_id, InstanceId=instance_id, ContactFlowId="flow-1")
    api.disassociate_phone_number_contact_flow(PhoneNumberId=number_id, InstanceId=instance_id)
    wrong = error_of(api.associate_phone_number_contact_flow, PhoneNumberId=number_id, InstanceId="other", ContactFlowId="flow-1")

    assert wrong.response["Error"]["Code"] == "ResourceNotFoundException"


def flows_on(api: Any, instance: str) -> list[dict[str, Any]]:
    return list(api.list_flow_associations(InstanceId=instance.rsplit("/", 1)[1], ResourceType="VOICE_PHONE_NUMBER")["FlowAssociationSummaryList"])


def test_list_flow_associations_names_the_number_and_the_flow_by_arn(api: Any, emulator: ConnectEmulator) -> None:
    claimed = claim(api, emulator)
    api.associate_phone_number_contact_flow(PhoneNumberId=claimed["PhoneNumberId"], InstanceId=INSTANCE.rsplit("/", 1)[1], ContactFlowId="flow-1")

    assert flows_on(api, INSTANCE) == [
        {"ResourceId": claimed["PhoneNumberArn"], "FlowId": f"{INSTANCE}/contact-flow/flow-1", "ResourceType": "VOICE_PHONE_NUMBER"}
    ]
    assert flows_on(api, OTHER_INSTANCE) == []


def test_a_move_drops_the_flow_association(api: Any, emulator: ConnectEmulator) -> None:
    number_id = claim(api, emulator)["PhoneNumberId"]
    wait_settled(api, number_id)
    api.associate_phone_number_contact_flow(PhoneNumberId=number_id, InstanceId=INSTANCE.rsplit("/", 1)[1], ContactFlowId="flow-1")

    api.update_phone_number(PhoneNumberId=number_id, TargetArn=OTHER_INSTANCE)
    wait_settled(api, number_id)

    assert flows_on(api, INSTANCE) == [] and flows_on(api, OTHER_INSTANCE) == []


def test_a_metadata_change_keeps_the_flow_association(api: Any, emulator: ConnectEmulator) -> None:
    number_id = claim(api, emulator)["PhoneNumberId"]
    wait_settled(api, number_id)
    api.associate_phone_number_contact_flow(PhoneNumberId=number_id, InstanceId=INSTANCE.rsplit("/", 1)[1], ContactFlowId="flow-1")

    api.update_phone_number_metadata(PhoneNumberId=number_id, PhoneNumberDescription="d")
    wait_settled(api, number_id)

    assert len(flows_on(api, INSTANCE)) == 1


def test_a_traffic_distribution_group_numbers_flow_calls_need_its_full_arn(api: Any, emulator: ConnectEmulator) -> None:
    group = f"arn:aws:connect:us-east-1:{ACCOUNT}:traffic-distribution-group/cccccccc-1111-2222-3333-444444444444"
    claimed = claim(api, emulator, target=group)
    instance_id = INSTANCE.rsplit("/", 1)[1]

    by_id = error_of(api.associate_phone_number_contact_flow, PhoneNumberId=claimed["PhoneNumberId"], InstanceId=instance_id, ContactFlowId="flow-1")
    api.associate_phone_number_contact_flow(PhoneNumberId=claimed["PhoneNumberArn"], InstanceId=instance_id, ContactFlowId="flow-1")

    assert by_id.response["Error"]["Code"] == "ResourceNotFoundException"
    assert [f["ResourceId"] for f in flows_on(api, INSTANCE)] == [claimed["PhoneNumberArn"]]


def test_tags_use_the_current_arn_and_refuse_the_legacy_one(api: Any, emulator: ConnectEmulator) -> None:
    claimed = claim(api, emulator, Tags={"a": "1"})
    arn = claimed["PhoneNumberArn"]
    legacy = f"{INSTANCE}/phone-number/{claimed['PhoneNumberId']}"

    api.tag_resource(resourceArn=arn, tags={"b": "2"})
    api.untag_resource(resourceArn=arn, tagKeys=["a"])

    assert api.list_tags_for_resource(resourceArn=arn)["tags"] == {"b": "2"}
    assert error_of(api.tag_resource, resourceArn=legacy, tags={"c": "3"}).response["Error"]["Code"] == "ResourceNotFoundException"
    too_many = error_of(api.tag_resource, resourceArn=arn, tags={f"k{i}": "v" for i in range(50)})
    assert too_many.response["Error"]["Code"] == "InvalidParameterException"


# --- the wire ---------------------------------------------------------------------------------


def raw_request(emulator: ConnectEmulator, method: str, path: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request, as is; the status, headers and body of the answer."""
    host, port = emulator.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        connection.putrequest(method, path)
        for name, value in {"Content-Length": str(len(body)), **(headers or {})}.items():
            connection.putheader(name, value)
        connection.endheaders(body)
        answer = connection.getresponse()
        return answer.status, dict(answer.getheaders()), answer.read()
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b'{"TargetArn": "\xff\xfe", "PhoneNumber": "+12065550100"}', {}),
        (b"{", {}),
        (b"[]", {}),
        (b"{}", {"Content-Length": "two"}),
    ],
    ids=["not-utf8", "not-json", "not-an-object", "bad-content-length"],
)
def test_a_malformed_request_gets_400_not_500(emulator: ConnectEmulator, body: bytes, headers: dict[str, str]) -> None:
    status, answer_headers, answer = raw_request(emulator, "POST", "/phone-number/claim", body, headers)

    assert status == 400
    assert answer_headers["x-amzn-ErrorType"] == "SerializationException"
    assert json.loads(answer)["Message"]


@pytest.mark.parametrize("body", [b"{not json", b"[1]", b'{"no_such_argument": 1}', b'{"count": "many"}'])
def test_an_admin_call_with_bad_json_or_arguments_gets_400(emulator: ConnectEmulator, body: bytes) -> None:
    command = "fail-next" if b"count" in body else "fail-claims"

    status, _, answer = raw_request(emulator, "POST", f"/_emulator/{command}", body)

    assert status == 400
    assert json.loads(answer)["Message"]
    assert emulator.service.claim_failures == [] and emulator.service.injected == []


def test_operations_without_output_members_answer_an_empty_body(api: Any, emulator: ConnectEmulator) -> None:
    bodies: dict[str, bytes] = {}
    api.meta.events.register("after-call.connect", lambda http_response, model, **_: bodies.update({model.name: http_response.content}))
    claimed = claim(api, emulator)
    number_id, arn = claimed["PhoneNumberId"], claimed["PhoneNumberArn"]
    instance_id = INSTANCE.rsplit("/", 1)[1]
    wait_settled(api, number_id)

    api.update_phone_number_metadata(PhoneNumberId=number_id, PhoneNumberDescription="d")
    api.associate_phone_number_contact_flow(PhoneNumberId=number_id, InstanceId=instance_id, ContactFlowId="flow-1")
    api.disassociate_phone_number_contact_flow(PhoneNumberId=number_id, InstanceId=instance_id)
    api.tag_resource(resourceArn=arn, tags={"a": "b"})
    api.untag_resource(resourceArn=arn, tagKeys=["a"])
    wait_settled(api, number_id)
    api.release_phone_number(PhoneNumberId=number_id)

    without_output = {name for name in wire.OPERATIONS if wire.service_model().operation_model(name).output_shape is None}
    assert without_output == {name for name, body in bodies.items() if body == b""}
    assert len(without_output) == 6
    assert json.loads(bodies["DescribePhoneNumber"])["ClaimedPhoneNumberSummary"]


def test_importing_the_emulator_and_the_fixture_does_not_start_node() -> None:
    probe = "import sys, connect_phone_number_local.emulator, connect_phone_number_local.testing; print(sorted({'aws_cdk', 'jsii'} & set(sys.modules)))"
    construct = "from connect_phone_number import ClaimedPhoneNumber; print(ClaimedPhoneNumber.__name__)"

    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    still_exported = subprocess.run([sys.executable, "-c", construct], capture_output=True, text=True, check=True)

    assert loaded.stdout.strip() == "[]"
    assert still_exported.stdout.strip() == "ClaimedPhoneNumber"


# --- running it -----------------------------------------------------------------------------


def test_state_persists_to_a_file_across_runs(tmp_path: Path, clock: TestClock) -> None:
    state = tmp_path / "connect.json"
    with ConnectEmulator(fast_config(), state_file=state, clock=clock.time) as first:
        claimed = claim(connect_client(first), first)
    with ConnectEmulator(fast_config(), state_file=state, clock=clock.time) as second:
        summary = wait_settled(connect_client(second), claimed["PhoneNumberId"])
    assert summary["PhoneNumberArn"] == claimed["PhoneNumberArn"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def emulator_process() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "connect_phone_number_local.emulator", "--port", str(port), "--claim-seconds", "0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    started_by = time.monotonic() + 60  # a loaded machine may take a while to start Python
    try:
        while True:
            try:
                urllib.request.urlopen(f"{url}/_emulator/state")
                break
            except urllib.error.URLError:
                if time.monotonic() > started_by:
                    raise
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=5)


def test_the_command_line_emulator_serves_and_takes_faults_over_http(emulator_process: str) -> None:
    request = urllib.request.Request(f"{emulator_process}/_emulator/fail-claims", data=json.dumps({"match": "*", "message": "No"}).encode(), method="POST")
    urllib.request.urlopen(request)
    api = boto3.client("connect", endpoint_url=emulator_process, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")

    claimed = api.claim_phone_number(TargetArn=INSTANCE, PhoneNumber="+12065550100")
    time.sleep(0.2)

    status = api.describe_phone_number(PhoneNumberId=claimed["PhoneNumberId"])["ClaimedPhoneNumberSummary"]["PhoneNumberStatus"]
    assert status == {"Status": "FAILED", "Message": "No"}


def test_defaults_are_connects_published_quotas() -> None:
    config = EmulatorConfig()
    assert (config.rate_per_second, config.burst, config.throttle_code) == (2.0, 5, "TooManyRequestsException")
    assert config.numbers_per_instance == 5
    assert config.churn_percent == 200
