"""The emulator against the reference (shared/reference/connect-phone-number-api.md), through real boto3 clients."""

from __future__ import annotations

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

from connect_phone_number.emulator import LIMIT_MESSAGE, ConnectEmulator, EmulatorConfig, wire
from support import INSTANCE, OTHER_INSTANCE, fast_config


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
        time.sleep(0.05)
    raise AssertionError("never settled")


# --- routes ---------------------------------------------------------------------------------


def test_routes_come_from_botocores_model() -> None:
    routes = {(r.operation, r.method) for r in wire.routes()}
    assert len(routes) == len(wire.OPERATIONS) == 13
    assert ("DescribePhoneNumber", "GET") in routes
    assert wire.match("PUT", "/phone-number/abc/metadata") == ("UpdatePhoneNumberMetadata", {"PhoneNumberId": "abc"})


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
    time.sleep(0.1)
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


# --- running it -----------------------------------------------------------------------------


def test_state_persists_to_a_file_across_runs(tmp_path: Path) -> None:
    state = tmp_path / "connect.json"
    with ConnectEmulator(fast_config(), state_file=state) as first:
        claimed = claim(connect_client(first), first)
    with ConnectEmulator(fast_config(), state_file=state) as second:
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
        [sys.executable, "-m", "connect_phone_number.emulator", "--port", str(port), "--claim-seconds", "0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{url}/_emulator/state")
                break
            except urllib.error.URLError:
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
