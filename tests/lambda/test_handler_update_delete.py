"""Update (move, description, tags in place; replacement for a different number) and Delete."""

from __future__ import annotations

from typing import Any

import pytest

from connect_phone_number_handler.connect_api import RESPONSE_RESERVE_SECONDS
from connect_phone_number_local.deploy.responses import ResponseServer
from connect_phone_number_local.emulator import LIMIT_MESSAGE, ConnectEmulator
from support import INSTANCE, OTHER_INSTANCE, create, elapse, run, search_props

# A Lambda run with a few seconds of work before its deadline (enough to search and claim on a loaded machine),
# and a workflow that takes longer than that.
SHORT_RUN = RESPONSE_RESERVE_SECONDS + 4
SLOWER_THAN_A_SHORT_RUN = 7.0


def record(emulator: ConnectEmulator, arn: str) -> dict[str, Any]:
    [found] = [n for n in emulator.service.held() if n["arn"] == arn]
    return found


# --- Update ---------------------------------------------------------------------------------


def test_target_change_moves_the_same_number(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    arn = create(responses, search_props())

    result = run("Update", responses, search_props(TargetArn=OTHER_INSTANCE), old=search_props(), physical_id=arn)

    assert result.response["Status"] == "SUCCESS", result.response["Reason"]
    assert result.response["PhysicalResourceId"] == arn
    moved = record(emulator, arn)
    assert moved["target_arn"] == OTHER_INSTANCE
    assert moved["status"] == "CLAIMED"


def test_a_move_to_a_full_instance_fails_with_connects_message(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    arn = create(responses, search_props())
    emulator.service.config.numbers_per_instance = 0

    result = run("Update", responses, search_props(TargetArn=OTHER_INSTANCE), old=search_props(), physical_id=arn)

    assert result.response["Status"] == "FAILED"
    assert result.response["Reason"].startswith(LIMIT_MESSAGE)
    assert result.response["PhysicalResourceId"] == arn


def test_description_change_updates_metadata_in_place(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    arn = create(responses, search_props(Description="old"))

    result = run("Update", responses, search_props(Description="new"), old=search_props(Description="old"), physical_id=arn)

    assert result.response["Status"] == "SUCCESS", result.response["Reason"]
    assert result.response["PhysicalResourceId"] == arn
    assert record(emulator, arn)["description"] == "new"
    assert emulator.service.calls.get("UpdatePhoneNumberMetadata") == 1
    assert "UpdatePhoneNumber" not in emulator.service.calls


def test_tag_changes_are_applied_as_a_diff(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    old = search_props(Tags=[{"Key": "keep", "Value": "1"}, {"Key": "change", "Value": "a"}, {"Key": "drop", "Value": "x"}])
    new = search_props(Tags=[{"Key": "keep", "Value": "1"}, {"Key": "change", "Value": "b"}, {"Key": "add", "Value": "y"}])
    arn = create(responses, old)
    emulator.service.handle("TagResource", {"resourceArn": arn, "tags": {"added-by-hand": "z"}}, None)

    result = run("Update", responses, new, old=old, physical_id=arn)

    assert result.response["Status"] == "SUCCESS", result.response["Reason"]
    assert result.response["PhysicalResourceId"] == arn
    tags = record(emulator, arn)["tags"]
    marker = tags.pop("cdk-connect-phone-number:claim-request")
    assert marker
    assert tags == {"keep": "1", "change": "b", "add": "y", "added-by-hand": "z"}
    assert emulator.service.calls["TagResource"] == 2  # the one by hand, and one for {change, add}
    assert emulator.service.calls["UntagResource"] == 1


@pytest.mark.parametrize(
    "change",
    [
        {"CountryCode": "GB"},
        {"Type": "TOLL_FREE"},
        {"Type": "TOLL_FREE", "Prefix": "+1888"},
    ],
)
def test_a_different_number_wanted_claims_a_replacement(emulator: ConnectEmulator, responses: ResponseServer, change: dict[str, str]) -> None:
    old = search_props(Type="TOLL_FREE", Prefix="+1800") if "Prefix" in change else search_props()
    arn = create(responses, old)

    result = run("Update", responses, search_props(**change), old=old, physical_id=arn)

    assert result.response["Status"] == "SUCCESS", result.response["Reason"]
    assert result.response["PhysicalResourceId"] != arn
    # The old number stays held: CloudFormation's follow-up Delete releases it (or keeps it, for RETAIN).
    assert record(emulator, arn)["status"] == "CLAIMED"
    assert record(emulator, result.response["PhysicalResourceId"])["status"] == "CLAIMED"


def test_a_different_exact_number_claims_a_replacement(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    first, second = emulator.service.available("US", "DID")[:2]
    arn = create(responses, {"TargetArn": INSTANCE, "PhoneNumber": first})

    result = run("Update", responses, {"TargetArn": INSTANCE, "PhoneNumber": second}, old={"TargetArn": INSTANCE, "PhoneNumber": first}, physical_id=arn)

    assert result.response["Status"] == "SUCCESS", result.response["Reason"]
    assert result.response["Data"]["PhoneNumber"] == second
    assert result.response["PhysicalResourceId"] != arn


def test_pinning_the_held_number_exactly_keeps_it(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    arn = create(responses, search_props())
    held = record(emulator, arn)["number"]

    result = run("Update", responses, {"TargetArn": INSTANCE, "PhoneNumber": held}, old=search_props(), physical_id=arn)

    assert result.response["Status"] == "SUCCESS", result.response["Reason"]
    assert result.response["PhysicalResourceId"] == arn
    assert emulator.service.calls["ClaimPhoneNumber"] == 1


def test_a_new_prefix_the_held_number_already_has_keeps_it(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    arn = create(responses, search_props())  # US DIDs here are +1206555...

    result = run("Update", responses, search_props(Prefix="+1206"), old=search_props(), physical_id=arn)

    assert result.response["PhysicalResourceId"] == arn
    assert emulator.service.calls["ClaimPhoneNumber"] == 1


def test_a_failed_replacement_keeps_the_old_number_and_its_rollback_claims_nothing(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    old = search_props(Type="TOLL_FREE", Prefix="+1800")
    new = search_props(Type="TOLL_FREE", Prefix="+1888")
    arn = create(responses, old)
    emulator.service.fail_claims("+1888", LIMIT_MESSAGE)

    failed = run("Update", responses, new, old=old, physical_id=arn)
    # CloudFormation's rollback sends the old properties back to the old physical id.
    rollback = run("Update", responses, old, old=new, physical_id=arn)

    assert failed.response["Status"] == "FAILED"
    assert failed.response["Reason"].startswith(LIMIT_MESSAGE)
    assert failed.response["PhysicalResourceId"] == arn
    assert rollback.response["Status"] == "SUCCESS", rollback.response["Reason"]
    assert rollback.response["PhysicalResourceId"] == arn
    assert emulator.service.calls["ClaimPhoneNumber"] == 2
    assert record(emulator, arn)["status"] == "CLAIMED"


def test_only_the_wait_limit_changing_calls_nothing_that_changes_state(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    arn = create(responses, search_props())
    before = dict(emulator.service.calls)

    result = run("Update", responses, search_props(WaitTimeoutSeconds="300"), old=search_props(), physical_id=arn)

    assert result.response["Status"] == "SUCCESS"
    changed = {op for op, n in emulator.service.calls.items() if n != before.get(op)}
    assert changed == {"DescribePhoneNumber"}


def test_update_with_bad_input_fails_and_keeps_the_physical_id(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    arn = create(responses, search_props())

    result = run("Update", responses, search_props(Type="NOPE"), old=search_props(), physical_id=arn)

    assert result.response["Status"] == "FAILED"
    assert "Invalid property Type:" in result.response["Reason"]
    assert result.response["PhysicalResourceId"] == arn


# --- Delete ---------------------------------------------------------------------------------


def test_delete_releases_the_number(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    arn = create(responses, search_props())
    number = record(emulator, arn)["number"]

    result = run("Delete", responses, search_props(), physical_id=arn)

    assert result.response["Status"] == "SUCCESS"
    assert result.response["PhysicalResourceId"] == arn
    assert emulator.service.calls["ReleasePhoneNumber"] == 1
    assert number not in emulator.service.available("US", "DID")  # in its cooldown


def test_delete_of_a_number_already_gone_succeeds(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    arn = create(responses, search_props())
    assert run("Delete", responses, search_props(), physical_id=arn).response["Status"] == "SUCCESS"

    again = run("Delete", responses, search_props(), physical_id=arn)

    assert again.response["Status"] == "SUCCESS"


@pytest.mark.parametrize("physical_id", ["Number-ABCDEF", "arn:aws:connect:us-east-1:123456789012:instance/x"])
def test_delete_of_a_physical_id_that_is_not_a_number_succeeds_without_calls(emulator: ConnectEmulator, responses: ResponseServer, physical_id: str) -> None:
    result = run("Delete", responses, search_props(), physical_id=physical_id)

    assert result.response["Status"] == "SUCCESS"
    assert emulator.service.calls == {}


def test_the_delete_of_an_unclaimed_id_releases_only_what_that_request_claimed(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    """A Create that failed without naming its number: its rollback looks for that request's claim, and no other."""
    kept = create(responses, search_props())  # another request's number on the same target

    result = run("Delete", responses, search_props(), physical_id="unclaimed-00000000-0000-5000-8000-000000000000")

    assert result.response["Status"] == "SUCCESS", result.response["Reason"]
    assert emulator.service.calls.get("ListPhoneNumbersV2") == 1
    assert "ReleasePhoneNumber" not in emulator.service.calls
    assert [n["arn"] for n in emulator.service.held()] == [kept]


def test_the_rollback_after_a_failed_create_succeeds(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    emulator.service.fail_claims("*")
    failed = run("Create", responses, search_props())
    assert failed.response["Status"] == "FAILED"

    rollback = run("Delete", responses, search_props(), physical_id=failed.response["PhysicalResourceId"])

    assert rollback.response["Status"] == "SUCCESS"
    assert "ReleasePhoneNumber" not in emulator.service.calls


def test_the_rollback_after_a_timed_out_create_releases_the_late_number(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    emulator.service.config.claim_seconds = SLOWER_THAN_A_SHORT_RUN
    timed_out = run("Create", responses, search_props(), seconds=SHORT_RUN)
    assert timed_out.response["Status"] == "FAILED"
    arn = timed_out.response["PhysicalResourceId"]

    rollback = run("Delete", responses, search_props(), physical_id=arn)

    assert rollback.response["Status"] == "SUCCESS", rollback.response["Reason"]
    assert emulator.service.calls["ReleasePhoneNumber"] == 1
    assert not [n for n in emulator.service.held() if n["arn"] == arn and not n["releasing"]]


def test_delete_waits_out_a_number_still_in_progress(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    arn = create(responses, search_props())
    emulator.service.handle("UpdatePhoneNumberMetadata", {"PhoneNumberId": arn, "PhoneNumberDescription": "busy"}, None)

    result = run("Delete", responses, search_props(), physical_id=arn)

    assert result.response["Status"] == "SUCCESS", result.response["Reason"]
    assert emulator.service.calls["ReleasePhoneNumber"] == 1


def test_a_delete_waits_out_an_earlier_operation_until_cloudformation_stops_listening_not_for_its_wait_limit(
    emulator: ConnectEmulator, responses: ResponseServer
) -> None:
    arn = create(responses, search_props())
    emulator.service.config.update_seconds = 300
    emulator.service.handle("UpdatePhoneNumberMetadata", {"PhoneNumberId": arn, "PhoneNumberDescription": "busy"}, None)

    # ServiceTimeout 40 s from the signed ResponseURL: work stops 13 s (a call in flight) + 10 s (the answer) before it.
    result = run("Delete", responses, search_props(WaitTimeoutSeconds="10", ServiceTimeout="40"), physical_id=arn, seconds=60)

    assert result.response["Status"] == "FAILED"
    assert "It was not released" in result.response["Reason"]
    assert "ServiceTimeout" in result.response["Reason"]
    assert 12 < result.seconds < 25  # past the 10 s wait limit, inside CloudFormation's wait
    assert "ReleasePhoneNumber" not in emulator.service.calls


# --- rollbacks after a timeout ----------------------------------------------------------------


def marker_of(emulator: ConnectEmulator, arn: str) -> str:
    return str(record(emulator, arn)["tags"]["cdk-connect-phone-number:claim-request"])


def still_held(emulator: ConnectEmulator) -> list[str]:
    return sorted(n["arn"] for n in emulator.service.held() if not n["releasing"] and n["status"] != "FAILED")


def test_the_rollback_of_a_timed_out_move_waits_for_it_and_moves_the_number_back(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    arn = create(responses, search_props())
    emulator.service.config.update_seconds = SLOWER_THAN_A_SHORT_RUN
    moved = search_props(TargetArn=OTHER_INSTANCE)

    failed = run("Update", responses, moved, old=search_props(), physical_id=arn, seconds=SHORT_RUN)
    rollback = run("Update", responses, search_props(), old=moved, physical_id=arn)

    assert failed.response["Status"] == "FAILED"
    assert "IN_PROGRESS" in failed.response["Reason"]
    assert rollback.response["Status"] == "SUCCESS", rollback.response["Reason"]
    assert record(emulator, arn)["target_arn"] == INSTANCE
    assert record(emulator, arn)["status"] == "CLAIMED"
    elapse(2.5)  # long after the first move would have finished
    assert record(emulator, arn)["target_arn"] == INSTANCE


def test_a_replacement_that_timed_out_is_released_by_the_rollback(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    old, new = search_props(), search_props(Type="TOLL_FREE")
    arn = create(responses, old)
    emulator.service.config.claim_seconds = SLOWER_THAN_A_SHORT_RUN

    failed = run("Update", responses, new, old=old, physical_id=arn, seconds=SHORT_RUN)
    [replacement] = [a for a in still_held(emulator) if a != arn]
    # CloudFormation's rollback: the old properties back, the failed attempt's as the old ones, a new RequestId.
    rollback = run("Update", responses, old, old=new, physical_id=arn)

    assert failed.response["Status"] == "FAILED"
    assert failed.response["PhysicalResourceId"] == arn
    assert "rollback releases it once it settles" in failed.response["Reason"]
    assert rollback.response["Status"] == "SUCCESS", rollback.response["Reason"]
    assert rollback.response["PhysicalResourceId"] == arn
    assert still_held(emulator) == [arn]
    assert replacement not in still_held(emulator)


def test_the_rollback_of_a_replacement_releases_only_numbers_nobody_was_told_about(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    did, toll_free = search_props(), search_props(Type="TOLL_FREE")
    first = create(responses, did)
    # Replaced under RETAIN: CloudFormation keeps the first number and never sends its Delete.
    replaced = run("Update", responses, toll_free, old=did, physical_id=first)
    second = replaced.response["PhysicalResourceId"]
    emulator.service.config.claim_seconds = SLOWER_THAN_A_SHORT_RUN

    # Back to a DID: the first number is one too, but it was answered SUCCESS and is kept.
    failed = run("Update", responses, did, old=toll_free, physical_id=second, seconds=SHORT_RUN)
    [abandoned] = [a for a in still_held(emulator) if a not in (first, second)]
    rollback = run("Update", responses, toll_free, old=did, physical_id=second)

    assert replaced.response["Status"] == "SUCCESS", replaced.response["Reason"]
    assert not marker_of(emulator, second).endswith("/pending")
    assert failed.response["Status"] == "FAILED"
    assert rollback.response["Status"] == "SUCCESS", rollback.response["Reason"]
    assert still_held(emulator) == sorted([first, second])
    assert abandoned not in still_held(emulator)


def test_a_normal_update_never_lists_the_targets_numbers(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    arn = create(responses, search_props())

    run("Update", responses, search_props(Prefix="+1206", Description="x"), old=search_props(), physical_id=arn)
    run("Update", responses, search_props(Type="TOLL_FREE"), old=search_props(Prefix="+1206", Description="x"), physical_id=arn)

    assert "ListPhoneNumbersV2" not in emulator.service.calls
