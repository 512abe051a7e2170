"""The shared contract's value rules and the lifecycle rules, one function each."""

from __future__ import annotations

import pytest

from connect_phone_number_handler import arns, contract, rules, validation, waiting
from connect_phone_number_handler.connect_api import Deadline
from connect_phone_number_handler.contract import ClaimSpec
from connect_phone_number_handler.marker import CLAIM_MARKER_TAG, ClaimMarker
from connect_phone_number_handler.validation import InvalidProperty
from support import INSTANCE, FakeContext


def test_country_codes_and_types_come_from_botocores_model() -> None:
    assert {"US", "GB", "AN"} <= validation.country_codes()
    assert len(validation.country_codes()) == 237
    assert validation.phone_number_types() >= {"TOLL_FREE", "DID", "UIFN", "SHARED", "THIRD_PARTY_TF", "THIRD_PARTY_DID", "SHORT_CODE"}


@pytest.mark.parametrize("value", ["+18005550100", "+442079460123", "+12"])
def test_e164_numbers_pass(value: str) -> None:
    validation.check_phone_number("PhoneNumber", value)


@pytest.mark.parametrize("value", ["18005550100", "+08005550100", "+1 800 555 0100", "+1234567890123456", "+1"])
def test_non_e164_numbers_fail_naming_the_property(value: str) -> None:
    with pytest.raises(InvalidProperty, match=r"^PhoneNumber: "):
        validation.check_phone_number("PhoneNumber", value)


@pytest.mark.parametrize("value", ["+1800", "1800", "+44", "4"])
def test_prefixes_with_or_without_plus_pass(value: str) -> None:
    validation.check_prefix("Prefix", value)


def test_tag_rules_follow_connect() -> None:
    validation.check_tags("Tags", {"team": "care", "cost centre": "42", "a.b:c/d=e+f-g@h_i": "v", "ünïcödé": "v"})
    for bad in ({"aws:x": "v"}, {"": "v"}, {"k" * 129: "v"}, {"k": "v" * 257}, {"bad#key": "v"}, {CLAIM_MARKER_TAG: "v"}):
        with pytest.raises(InvalidProperty, match=r"^Tags: "):
            validation.check_tags("Tags", bad)
    with pytest.raises(InvalidProperty, match="limit is 49"):
        validation.check_tags("Tags", {f"k{i}": "v" for i in range(50)})


def test_properties_arrive_as_strings_and_parse() -> None:
    spec = contract.parse_properties(
        {
            "ServiceToken": "arn",
            "TargetArn": INSTANCE,
            "PhoneNumber": "+18005550100",
            "Tags": [{"Key": "a", "Value": "b"}],
            "WaitTimeoutSeconds": "120",
        }
    )
    assert spec == ClaimSpec(target_arn=INSTANCE, phone_number="+18005550100", tags={"a": "b"}, wait_timeout_seconds=120)


def test_a_traffic_distribution_group_is_a_valid_target() -> None:
    validation.check_target_arn("TargetArn", "arn:aws:connect:us-west-2:123456789012:traffic-distribution-group/abc-123")


def test_duplicate_tag_keys_are_refused() -> None:
    with pytest.raises(InvalidProperty, match="same Key"):
        contract.parse_properties({"TargetArn": INSTANCE, "PhoneNumber": "+18005550100", "Tags": [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]})


def test_tokens_are_deterministic_lowercase_uuids() -> None:
    first = contract.deterministic_token("stack", "logical", "request")
    assert first == contract.deterministic_token("stack", "logical", "request")
    assert first != contract.deterministic_token("stack", "logical", "other request")
    assert first == first.lower() and len(first) == 36


def test_only_phone_number_arns_count_as_numbers() -> None:
    assert arns.is_phone_number_arn("arn:aws:connect:us-east-1:123456789012:phone-number/0f3e2c1a-aaaa-bbbb-cccc-1234567890ab")
    assert not arns.is_phone_number_arn("arn:aws:connect:us-east-1:123456789012:instance/abc/phone-number/def")
    assert not arns.is_phone_number_arn("unclaimed-1234")


def spec(**changes: object) -> ClaimSpec:
    base: dict[str, object] = {"target_arn": INSTANCE, "country_code": "US", "phone_number_type": "DID"}
    base.update(changes)
    return ClaimSpec(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("change", "replaces"),
    [
        ({"country_code": "GB"}, True),
        ({"phone_number_type": "TOLL_FREE"}, True),
        ({"prefix": "+1206"}, True),
        ({"phone_number": "+12065550100", "country_code": None, "phone_number_type": None}, True),
        ({"target_arn": INSTANCE.replace("aaaa", "bbbb")}, False),
        ({"description": "new"}, False),
        ({"tags": {"a": "b"}}, False),
        ({"wait_timeout_seconds": 60}, False),
    ],
)
def test_which_changes_replace_the_number(change: dict[str, object], replaces: bool) -> None:
    assert rules.requires_replacement(spec(), spec(**change)) is replaces


def test_polling_starts_at_connects_sustained_rate_and_backs_off() -> None:
    assert waiting.poll_interval(0) == 0.5
    assert waiting.poll_interval(9.9) == 0.5
    assert waiting.poll_interval(10) == 1.0
    assert waiting.poll_interval(45) == 2.0
    assert waiting.poll_interval(600) == 3.0


def test_polling_slows_down_while_throttled_up_to_eight_times() -> None:
    assert [waiting.poll_interval(0, crowding) for crowding in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]


@pytest.mark.parametrize(
    "marker",
    [
        ClaimMarker("request", "resource"),
        ClaimMarker("request", "resource", pending=True),
        ClaimMarker("request", "resource", adopted=True),
        ClaimMarker("legacy-request"),
    ],
)
def test_every_marker_state_fits_one_tag_value_and_reads_back(marker: ClaimMarker) -> None:
    assert ClaimMarker.parse(marker.value) == marker
    assert len(marker.value) <= validation.MAX_TAG_VALUE_LENGTH


def test_a_resource_is_named_by_its_stacks_name_so_a_stack_created_again_names_it_alike() -> None:
    stack = "arn:aws:cloudformation:us-east-1:123456789012:stack/Prod/11111111-2222-3333-4444-555555555555"
    again = stack.replace("11111111", "99999999")
    other = stack.replace("stack/Prod/", "stack/Test/")

    assert contract.resource_token(stack, "Number") == contract.resource_token(again, "Number")
    assert contract.resource_token(stack, "Number") not in contract.resource_tokens(other, "Number")
    assert contract.resource_token(stack, "Number") != contract.resource_token(stack, "Other")
    assert contract.deterministic_token(stack, "Number") in contract.resource_tokens(stack, "Number")  # markers of earlier releases


@pytest.mark.parametrize(
    ("url", "signed"),
    [
        ("https://bucket.s3.amazonaws.com/key?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20261129T051742Z&X-Amz-Expires=7200", "2026-11-29 05:17:42"),
        ("https://bucket.s3.amazonaws.com/key?AWSAccessKeyId=AKIA&Expires=1764393462&Signature=abc", None),  # SigV2: no signing time
        ("https://bucket.s3.amazonaws.com/key?X-Amz-Date=yesterday", None),
        ("", None),
    ],
)
def test_the_requests_signing_time_is_read_from_a_sigv4_response_url_only(url: str, signed: str | None) -> None:
    at = contract.request_signed_at(url)

    assert (at.strftime("%Y-%m-%d %H:%M:%S") if at else None) == signed


def test_no_work_goes_past_the_time_cloudformation_listens_grace_included() -> None:
    deadline = Deadline(FakeContext(900), 600, listening_seconds=120)
    assert 96 < deadline.remaining() <= 97  # CloudFormation's end, less a call in flight (13 s) and the time to answer (10 s)

    deadline.excuse(60)  # a throttle's grace cannot pass it either
    assert deadline.remaining() <= 97
    assert deadline.keeping(45).remaining() <= 52  # an adoption keeps its undo's time free

    unknown = Deadline(FakeContext(900), 600)
    unknown.excuse(60)
    assert 659 < unknown.remaining() <= 660
