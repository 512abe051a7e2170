"""A FAILED claim's Reason: Connect's message, then the day the number stays reserved and how to claim it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from connect_phone_number_local.deploy.responses import ResponseServer
from connect_phone_number_local.emulator import LIMIT_MESSAGE, ConnectEmulator
from support import INSTANCE, invoke, make_event, run, search_props


def test_a_failed_claims_reason_keeps_connects_message_first_then_says_until_when_and_how_to_claim_it(
    emulator: ConnectEmulator, responses: ResponseServer
) -> None:
    emulator.service.fail_claims("*", LIMIT_MESSAGE)
    before = datetime.now(UTC)

    result = run("Create", responses, {**search_props(), "ServiceTimeout": "420"})

    reason = result.response["Reason"]
    assert result.response["Status"] == "FAILED"
    assert reason.startswith(LIMIT_MESSAGE + " (")
    [number] = [n["number"] for n in emulator.service.held()]
    assert f'phone_number="{number}"' in reason
    until = re.search(r"reserved for this account until (\d{4}-\d\d-\d\d \d\d:\d\d) UTC", reason)
    assert until is not None, reason
    stated = datetime.strptime(until.group(1), "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
    # The claim may be an earlier delivery's (Connect gives no claim time), so the day counts from the earliest it
    # can have been: when CloudFormation signed the ResponseURL (rules.claimed_no_earlier_than), to the minute.
    assert before + timedelta(days=1) - timedelta(seconds=61) <= stated <= datetime.now(UTC) + timedelta(days=1)


def test_without_a_signed_response_url_the_window_counts_from_service_timeout_before_the_answer(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    emulator.service.fail_claims("*", LIMIT_MESSAGE)
    event = make_event("Create", responses, {**search_props(), "ServiceTimeout": "420"})
    event["ResponseURL"] = re.sub(r"X-Amz-Date=\w+&", "", event["ResponseURL"])  # a SigV2 or hand-made URL
    before = datetime.now(UTC)

    reason = invoke(event, responses).response["Reason"]

    until = re.search(r"reserved for this account until (\d{4}-\d\d-\d\d \d\d:\d\d) UTC", reason)
    assert until is not None, reason
    stated = datetime.strptime(until.group(1), "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
    assert before + timedelta(days=1) - timedelta(seconds=420 + 60) <= stated <= datetime.now(UTC) + timedelta(days=1) - timedelta(seconds=420)


def test_the_number_a_failed_claim_was_offered_is_claimed_by_its_exact_number_once_the_cause_is_fixed(
    emulator: ConnectEmulator, responses: ResponseServer
) -> None:
    emulator.service.fail_claims("*", LIMIT_MESSAGE)
    failed = run("Create", responses, search_props())
    number = re.search(r'phone_number="(\+\d+)"', failed.response["Reason"])
    assert number is not None, failed.response["Reason"]
    emulator.service.clear_faults()  # the cause is fixed (room made on the instance, say)

    retried = run("Create", responses, {"TargetArn": INSTANCE, "PhoneNumber": number.group(1)})

    assert retried.response["Status"] == "SUCCESS", retried.response["Reason"]
    assert retried.response["Data"]["PhoneNumber"] == number.group(1)
