"""One tag rule, Connect's model's own patterns, applied alike at synth, in the handler and in the emulator."""

from __future__ import annotations

import re

import aws_cdk as cdk
import boto3
import pytest
from botocore.exceptions import ClientError

from connect_phone_number import ClaimedPhoneNumber
from connect_phone_number_handler import validation
from connect_phone_number_handler.validation import InvalidProperty
from connect_phone_number_local.deploy.responses import ResponseServer
from connect_phone_number_local.emulator import ConnectEmulator
from support import INSTANCE, run, search_props

REFUSED = [{"a\tb": "v"}, {"a\nb": "v"}, {"team\n": "v"}, {"team": "a\tb"}, {"team": "care\n"}, {"bad#key": "v"}, {"k": "v\x00"}]
ALLOWED = {"team": "care", "cost centre": "42", "a.b:c/d=e+f-g@h_i": "v", "ünïcödé 名前": "値", "no\u00a0break": "x\u2028y"}


def test_the_patterns_are_the_models_own() -> None:
    assert validation.tag_key_pattern_source() == validation._connect_shape("TagKey").metadata["pattern"]
    assert "\\p{L}" in validation.tag_key_pattern_source()


@pytest.mark.parametrize("tags", REFUSED)
def test_the_handlers_rule_refuses_control_characters_and_other_punctuation(tags: dict[str, str]) -> None:
    with pytest.raises(InvalidProperty, match=r"^Tags: .*refuses"):
        validation.check_tags("Tags", tags)


def test_the_handlers_rule_allows_letters_numbers_separators_and_the_listed_punctuation() -> None:
    validation.check_tags("Tags", ALLOWED)


def test_the_translation_matches_unicode_categories() -> None:
    assert validation.translate_pattern(r"^[\p{Lu}]+$") != r"^[\p{Lu}]+$"
    upper = validation.translate_pattern(r"^[\p{Lu}]+$")
    assert re.fullmatch(upper, "ÀB")
    assert not re.fullmatch(upper, "àb")
    assert re.fullmatch(validation.translate_pattern(r"^\p{N}+$"), "٣3")  # outside a class too


def test_a_create_with_a_tab_in_a_tag_fails_before_any_call(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    result = run("Create", responses, search_props(Tags=[{"Key": "team", "Value": "care\t"}]))

    assert result.response["Status"] == "FAILED"
    assert "Invalid property Tags:" in result.response["Reason"]
    assert emulator.service.calls == {}


@pytest.mark.parametrize("tags", REFUSED)
def test_the_emulator_refuses_what_connects_pattern_refuses(emulator: ConnectEmulator, tags: dict[str, str]) -> None:
    client = boto3.client("connect")
    [number] = emulator.service.available("US", "DID")[:1]

    with pytest.raises(ClientError) as refused:
        client.claim_phone_number(TargetArn=INSTANCE, PhoneNumber=number, Tags=tags)

    assert refused.value.response["Error"]["Code"] == "InvalidParameterException"
    assert emulator.service.held() == []


def test_the_emulator_accepts_letters_numbers_and_separators(emulator: ConnectEmulator) -> None:
    client = boto3.client("connect")
    [number] = emulator.service.available("US", "DID")[:1]

    client.claim_phone_number(TargetArn=INSTANCE, PhoneNumber=number, Tags=ALLOWED)


@pytest.mark.parametrize("tags", REFUSED[:5])
def test_the_construct_refuses_control_characters_at_synth(tags: dict[str, str]) -> None:
    stack = cdk.Stack(cdk.App(), "Test")

    with pytest.raises(ValueError, match=r"^ClaimedPhoneNumber: tags: "):
        ClaimedPhoneNumber(stack, "Number", target_arn=INSTANCE, country_code="US", phone_number_type="DID", tags=tags)
