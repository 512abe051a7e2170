"""The contract and lifecycle rules for adoption, import and the retry window."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connect_phone_number_handler import contract, rules
from connect_phone_number_handler.contract import ClaimSpec
from connect_phone_number_handler.validation import InvalidProperty
from support import INSTANCE

SOURCE = "arn:aws:sms-voice:us-east-1:123456789012:phone-number/phone-0123456789abcdef"


@pytest.mark.parametrize(("raw", "adopt"), [("true", True), ("True", True), (True, True), ("false", False), (None, False), ("", False)])
def test_adopt_existing_parses_cloudformations_string_booleans(raw: object, adopt: bool) -> None:
    props = {"TargetArn": INSTANCE, "PhoneNumber": "+12065550100", "AdoptExisting": raw}

    assert contract.parse_properties(props).adopt_existing is adopt


def test_adopt_existing_that_is_not_a_boolean_fails_naming_it() -> None:
    with pytest.raises(InvalidProperty, match=r"^AdoptExisting: 'yes' is not true or false"):
        contract.parse_properties({"TargetArn": INSTANCE, "PhoneNumber": "+12065550100", "AdoptExisting": "yes"})


def test_an_import_needs_no_country_or_type() -> None:
    spec = contract.parse_properties({"TargetArn": INSTANCE, "SourcePhoneNumberArn": SOURCE})

    assert spec.source_phone_number_arn == SOURCE
    assert (spec.country_code, spec.phone_number_type, spec.phone_number) == (None, None, None)


def test_an_import_and_adoption_cannot_be_combined() -> None:
    with pytest.raises(InvalidProperty, match=r"^SourcePhoneNumberArn: cannot be combined with 'AdoptExisting'"):
        contract.parse_properties({"TargetArn": INSTANCE, "SourcePhoneNumberArn": SOURCE, "AdoptExisting": "true"})


def test_a_new_source_requires_a_replacement_and_the_same_source_does_not() -> None:
    old = ClaimSpec(INSTANCE, source_phone_number_arn=SOURCE)

    assert rules.requires_replacement(old, ClaimSpec(INSTANCE, source_phone_number_arn=SOURCE + "0"))
    assert not rules.requires_replacement(old, ClaimSpec(INSTANCE, source_phone_number_arn=SOURCE, description="d"))


def test_an_imported_number_satisfies_its_import_only_and_a_claimed_one_a_search_only() -> None:
    imported = {"PhoneNumber": "+12066660100", "PhoneNumberCountryCode": "US", "PhoneNumberType": "DID", "SourcePhoneNumberArn": SOURCE}
    claimed = {k: v for k, v in imported.items() if k != "SourcePhoneNumberArn"}
    search = ClaimSpec(INSTANCE, country_code="US", phone_number_type="DID")
    importing = ClaimSpec(INSTANCE, source_phone_number_arn=SOURCE)

    assert rules.already_satisfies(imported, importing)
    assert not rules.already_satisfies(imported, search)
    assert rules.already_satisfies(claimed, search)
    assert not rules.already_satisfies(claimed, importing)


def test_the_failed_claim_reason_starts_with_connects_message_and_gives_a_day_later_in_utc() -> None:
    reason = rules.failed_claim_reason("Limit reached.", "+12065550100", INSTANCE, datetime(2026, 11, 29, 3, 15, tzinfo=UTC))

    assert reason.startswith("Limit reached. (claim of +12065550100 on " + INSTANCE + " FAILED.")
    assert "reserved for this account until 2026-11-30 03:15 UTC" in reason
    assert 'phone_number="+12065550100"' in reason
