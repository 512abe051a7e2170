"""Create: validate, claim (exact or searched), wait for CLAIMED, answer with the FAILED message or in time."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import pytest

from connect_phone_number_handler import handler, protocol
from connect_phone_number_handler.connect_api import RESPONSE_RESERVE_SECONDS
from connect_phone_number_local.deploy.responses import ResponseServer
from connect_phone_number_local.emulator import LIMIT_MESSAGE, ConnectEmulator
from support import INSTANCE, FakeContext, crash_after_the_claim, elapse, invoke, make_event, run, search_props

UUID = re.compile(r"^[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}$")


def held_numbers(emulator: ConnectEmulator) -> list[dict[str, Any]]:
    return [n for n in emulator.service.held() if n["status"] != "FAILED" and not n["releasing"]]


def test_searched_claim_succeeds_with_number_arn_and_id(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    result = run("Create", responses, search_props(Description="Support", Tags=[{"Key": "team", "Value": "care"}]))

    assert result.response["Status"] == "SUCCESS", result.response["Reason"]
    data = result.response["Data"]
    assert re.match(r"^\+1206555\d{4}$", data["PhoneNumber"])
    assert result.response["PhysicalResourceId"] == data["PhoneNumberArn"]
    assert data["PhoneNumberArn"].endswith("/" + data["PhoneNumberId"])
    [number] = held_numbers(emulator)
    assert number["status"] == "CLAIMED"
    assert number["description"] == "Support"
    assert number["tags"]["team"] == "care"


def test_exact_claim_takes_that_number(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    wanted = emulator.service.available("US", "TOLL_FREE")[3]

    result = run("Create", responses, {"TargetArn": INSTANCE, "PhoneNumber": wanted})

    assert result.response["Status"] == "SUCCESS", result.response["Reason"]
    assert result.response["Data"]["PhoneNumber"] == wanted


def test_failed_status_fails_with_its_message(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    emulator.service.fail_claims("*", LIMIT_MESSAGE)

    result = run("Create", responses, search_props())

    assert result.response["Status"] == "FAILED"
    assert result.response["Reason"].startswith(LIMIT_MESSAGE)
    assert "+1206555" in result.response["Reason"]
    # The rollback's Delete must not release anything: the physical id is not a number's.
    assert ":phone-number/" not in result.response["PhysicalResourceId"]


def test_a_failed_claim_names_the_numbers_this_resource_kept_and_how_to_take_one_back(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    """A stack whose numbers RETAIN kept claims again (a context flag off, then on): the quota is full of its own numbers."""
    kept = [run("Create", responses, search_props()).response["Data"]["PhoneNumber"] for _ in range(2)]
    other = run("Create", responses, search_props(), logical_id="Other").response["Data"]["PhoneNumber"]
    emulator.service.fail_claims("*", LIMIT_MESSAGE)

    result = run("Create", responses, search_props())

    reason = result.response["Reason"]
    assert result.response["Status"] == "FAILED"
    assert reason.startswith(LIMIT_MESSAGE)
    assert all(number in reason for number in kept), reason
    assert other not in reason  # another resource's number is not this resource's to take back
    assert "adopt_existing=True" in reason


def test_still_in_progress_at_the_deadline_fails_in_time_naming_the_number(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    emulator.service.config.claim_seconds = 120
    budget = RESPONSE_RESERVE_SECONDS + 2

    result = run("Create", responses, search_props(), seconds=budget)

    assert result.response["Status"] == "FAILED"
    assert "IN_PROGRESS" in result.response["Reason"]
    assert re.search(r"\+1206555\d{4}", result.response["Reason"])
    # Answered with the Lambda run still alive, and under the number's ARN so a rollback can release it.
    assert result.seconds < budget - 1
    assert result.response["PhysicalResourceId"] == held_numbers(emulator)[0]["arn"]


def test_wait_limit_property_bounds_the_wait(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    """An exact number still IN_PROGRESS at the wait limit is answered at once, under its ARN (a searched one is
    waited out and released: tests/lifecycle/test_rollbacks_restore_and_complete.py)."""
    emulator.service.config.claim_seconds = 120
    exact = emulator.service.available("US", "DID")[0]

    result = run("Create", responses, {"TargetArn": INSTANCE, "PhoneNumber": exact, "WaitTimeoutSeconds": "10"}, seconds=300)

    assert result.response["Status"] == "FAILED"
    assert result.response["PhysicalResourceId"].startswith("arn:")
    assert 9 < result.seconds < 12


@pytest.mark.parametrize(
    ("props", "named"),
    [
        (search_props(CountryCode="XX"), "CountryCode"),
        (search_props(Type="MOBILE"), "Type"),
        (search_props(Prefix="+1-800"), "Prefix"),
        ({"TargetArn": INSTANCE, "PhoneNumber": "18005550100"}, "PhoneNumber"),
        ({"TargetArn": "arn:aws:s3:::bucket", "PhoneNumber": "+18005550100"}, "TargetArn"),
        ({"TargetArn": INSTANCE, "CountryCode": "US"}, "Type"),
        ({"TargetArn": INSTANCE, "PhoneNumber": "+18005550100", "CountryCode": "US"}, "PhoneNumber"),
        (search_props(Description="x" * 501), "Description"),
        (search_props(Tags=[{"Key": "aws:owner", "Value": "x"}]), "Tags"),
        (search_props(Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)]), "Tags"),
        (search_props(WaitTimeoutSeconds="3600"), "WaitTimeoutSeconds"),
        (search_props(Colour="blue"), "Colour"),
    ],
)
def test_bad_input_fails_naming_the_property_and_claims_nothing(
    emulator: ConnectEmulator, responses: ResponseServer, props: dict[str, object], named: str
) -> None:
    result = run("Create", responses, props)

    assert result.response["Status"] == "FAILED"
    assert f"Invalid property {named}:" in result.response["Reason"]
    assert emulator.service.calls == {}


def test_claim_uses_a_deterministic_lowercase_uuid_token(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    result = run("Create", responses, search_props())

    assert result.response["Status"] == "SUCCESS"
    [token_key] = [k for k in emulator.service.tokens if k.startswith("ClaimPhoneNumber/")]
    token = token_key.split("/", 1)[1]
    assert UUID.match(token)
    assert token == protocol.Run(result.event, FakeContext(1)).token("claim")


def test_the_same_exact_create_delivered_twice_holds_one_number(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    wanted = emulator.service.available("US", "DID")[0]
    event = make_event("Create", responses, {"TargetArn": INSTANCE, "PhoneNumber": wanted})

    first = invoke(event, responses)
    second = invoke(event, responses)

    assert first.response["Status"] == second.response["Status"] == "SUCCESS"
    assert first.response["PhysicalResourceId"] == second.response["PhysicalResourceId"]
    assert len(held_numbers(emulator)) == 1


def test_the_same_searched_create_delivered_twice_holds_one_number(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    event = make_event("Create", responses, search_props())

    first = invoke(event, responses)
    # The first number is now held, so the repeat's search offers other candidates.
    second = invoke(event, responses)

    assert first.response["Status"] == second.response["Status"] == "SUCCESS"
    assert first.response["PhysicalResourceId"] == second.response["PhysicalResourceId"]
    assert len(held_numbers(emulator)) == 1
    # The normal path never lists the instance's numbers; only the repeat did.
    assert emulator.service.calls.get("ListPhoneNumbersV2") == 1


def test_a_repeat_after_a_crash_mid_wait_finds_the_earlier_number(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    emulator.service.config.claim_seconds = 1.0
    event = make_event("Create", responses, search_props())
    # The first delivery dies (Lambda timeout) right after its claim: simulate by claiming as it would.
    crashed = threading.Thread(target=handler.on_event, args=(event, FakeContext(RESPONSE_RESERVE_SECONDS + 0.3)))
    crashed.start()
    crashed.join()
    responses.wait(event["RequestId"], timeout=5)  # it answered FAILED (IN_PROGRESS at its deadline)
    responses._server.received.clear()

    repeat = invoke(event, responses)

    assert repeat.response["Status"] == "SUCCESS", repeat.response["Reason"]
    assert len(held_numbers(emulator)) == 1


def test_a_used_token_with_no_earlier_number_fails_rather_than_claim_twice(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    event = make_event("Create", responses, search_props())
    token = protocol.Run(event, FakeContext(1)).token("claim")
    # Connect remembers this token from a request that holds no number we can find.
    emulator.service.tokens[f"ClaimPhoneNumber/{token}"] = ("another request", {}, time.time())

    result = invoke(event, responses, seconds=RESPONSE_RESERVE_SECONDS + 8)

    assert result.response["Status"] == "FAILED"
    assert "Nothing more was claimed" in result.response["Reason"]
    assert held_numbers(emulator) == []
    assert emulator.service.calls["ListPhoneNumbersV2"] >= 2  # it looked again before giving up


def test_a_number_taken_between_search_and_claim_is_replaced_by_another(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    service = emulator.service
    original = service._claim_phone_number
    stolen: list[str] = []

    def claim_after_a_rival(params: dict[str, Any], region: str, now: float) -> dict[str, Any]:
        if not stolen:  # a rival claims the candidate first
            stolen.append(str(params["PhoneNumber"]))
            original({k: v for k, v in params.items() if k != "ClientToken"}, region, now)
        return original(params, region, now)

    service._claim_phone_number = claim_after_a_rival  # type: ignore[method-assign,assignment]

    result = run("Create", responses, search_props())

    assert result.response["Status"] == "SUCCESS", result.response["Reason"]
    assert result.response["Data"]["PhoneNumber"] != stolen[0]


def test_no_available_number_fails_naming_the_search(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    result = run("Create", responses, search_props(Prefix="+1999"))

    assert result.response["Status"] == "FAILED"
    assert "No available number" in result.response["Reason"]
    assert "Prefix=+1999" in result.response["Reason"]


def test_an_exact_number_not_available_fails_with_connects_message(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    result = run("Create", responses, {"TargetArn": INSTANCE, "PhoneNumber": "+19995550100"})

    assert result.response["Status"] == "FAILED"
    assert "Phone number not available: +19995550100" in result.response["Reason"]
    assert held_numbers(emulator) == []


def test_parallel_searched_claims_each_get_a_different_number(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    events = [make_event("Create", responses, search_props(), logical_id=f"Number{i}") for i in range(5)]
    threads = [threading.Thread(target=handler.on_event, args=(e, FakeContext(60))) for e in events]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    numbers = [responses.wait(e["RequestId"], timeout=5) for e in events]
    assert all(r["Status"] == "SUCCESS" for r in numbers), [r["Reason"] for r in numbers]
    assert len({r["Data"]["PhoneNumber"] for r in numbers}) == 5
    assert len(held_numbers(emulator)) == 5


def test_an_unknown_request_type_is_answered(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    result = run("Replace", responses, search_props())

    assert result.response["Status"] == "FAILED"
    assert "Unknown RequestType" in result.response["Reason"]


class Crash(BaseException):
    """Lambda dying mid-run (out of memory, a lost sandbox): nothing is answered."""


def test_a_redelivery_that_finds_no_candidate_finds_the_earlier_deliverys_number(
    emulator: ConnectEmulator, responses: ResponseServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    only = emulator.service.available("US", "DID")[0]
    event = make_event("Create", responses, search_props(Prefix=only[:12]))  # a prefix that matches one number
    crash_after_the_claim(event, monkeypatch)

    repeat = invoke(event, responses)

    assert repeat.response["Status"] == "SUCCESS", repeat.response["Reason"]
    assert repeat.response["Data"]["PhoneNumber"] == only
    assert [n["arn"] for n in held_numbers(emulator)] == [repeat.response["PhysicalResourceId"]]


def test_a_redelivery_after_the_earlier_claim_failed_answers_at_once_with_connects_message(
    emulator: ConnectEmulator, responses: ResponseServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator.service.fail_claims("*", LIMIT_MESSAGE)
    event = make_event("Create", responses, search_props(WaitTimeoutSeconds="60"))
    crash_after_the_claim(event, monkeypatch)
    while any(n["status"] == "IN_PROGRESS" for n in emulator.service.held()):
        elapse(0.05)  # Lambda retries a crashed run after a while: the claim has ended FAILED by then

    repeat = invoke(event, responses, seconds=120)

    assert repeat.response["Status"] == "FAILED"
    assert repeat.response["Reason"].startswith(LIMIT_MESSAGE)
    assert repeat.seconds < 30  # not the whole wait limit
    assert emulator.service.calls["ClaimPhoneNumber"] == 2  # the claim and its replay
    assert held_numbers(emulator) == []


def test_candidates_are_tried_in_an_order_derived_from_the_request(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    def first_choice(request_id: str) -> str:
        emulator.service.numbers.clear()  # a fresh account each time: the same search results
        emulator.service.tokens.clear()
        result = invoke(make_event("Create", responses, search_props(), request_id=request_id), responses)
        return str(result.response["Data"]["PhoneNumber"])

    requests = [f"request-{i}" for i in range(4)]
    choices = [first_choice(r) for r in requests]

    assert [first_choice(r) for r in requests] == choices
    assert len(set(choices)) > 1  # unrelated requests pick unrelated numbers
