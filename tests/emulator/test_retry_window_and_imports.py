"""The one-day retry window after a FAILED claim, and imports that settle (and fail) like claims."""

from __future__ import annotations

from typing import Any

import pytest

from connect_phone_number_local.emulator import LIMIT_MESSAGE, ConnectService
from connect_phone_number_local.emulator.wire import WireError
from support import INSTANCE, fast_config

DAY = 86400.0
OTHER_ACCOUNT = "999999999999"
SOURCE = "arn:aws:sms-voice:us-east-1:123456789012:phone-number/phone-0123456789abcdef"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(clock: Clock) -> ConnectService:
    return ConnectService(fast_config(), clock=clock)


def call(service: ConnectService, operation: str, **params: Any) -> Any:
    return service.handle(operation, params, "us-east-1")


def status(service: ConnectService, clock: Clock, number_id: str) -> dict[str, str]:
    clock.now += 1
    return dict(call(service, "DescribePhoneNumber", PhoneNumberId=number_id)["ClaimedPhoneNumberSummary"]["PhoneNumberStatus"])


def search(service: ConnectService) -> list[str]:
    found = call(service, "SearchAvailablePhoneNumbers", TargetArn=INSTANCE, PhoneNumberCountryCode="US", PhoneNumberType="DID", MaxResults=10)
    return [n["PhoneNumber"] for n in found["AvailableNumbersList"]]


@pytest.fixture
def failed(service: ConnectService, clock: Clock) -> tuple[str, str]:
    """A number whose claim ended FAILED: (number, id)."""
    number = service.available("US", "DID")[0]
    service.fail_claims(number)
    number_id = call(service, "ClaimPhoneNumber", TargetArn=INSTANCE, PhoneNumber=number)["PhoneNumberId"]
    assert status(service, clock, number_id) == {"Status": "FAILED", "Message": LIMIT_MESSAGE}
    service.clear_faults()
    return number, number_id


def test_a_failed_claims_number_is_out_of_other_accounts_search_for_a_day(service: ConnectService, clock: Clock, failed: tuple[str, str]) -> None:
    number, _ = failed

    assert number not in service.available("US", "DID", account=OTHER_ACCOUNT)
    clock.now += DAY + 10
    assert number in service.available("US", "DID", account=OTHER_ACCOUNT)


def test_the_claiming_account_still_finds_its_failed_claims_number_in_search_and_may_claim_it(
    service: ConnectService, clock: Clock, failed: tuple[str, str]
) -> None:
    number, _ = failed

    assert number in search(service)
    again = call(service, "ClaimPhoneNumber", TargetArn=INSTANCE, PhoneNumber=number)["PhoneNumberId"]
    assert status(service, clock, again) == {"Status": "CLAIMED"}


def test_releasing_a_failed_claim_keeps_its_number_out_of_search_until_its_day_ends(service: ConnectService, clock: Clock, failed: tuple[str, str]) -> None:
    number, number_id = failed

    call(service, "ReleasePhoneNumber", PhoneNumberId=number_id)

    assert number not in search(service)
    assert number not in service.available("US", "DID", account=OTHER_ACCOUNT)
    clock.now += DAY
    assert number in search(service)


def test_an_import_can_be_made_to_fail_with_a_message_and_may_be_retried(service: ConnectService, clock: Clock) -> None:
    service.fail_imports(SOURCE, "The source number is linked to another service.")
    instance_id = INSTANCE.rsplit("/", 1)[1]
    first = call(service, "ImportPhoneNumber", InstanceId=instance_id, SourcePhoneNumberArn=SOURCE)["PhoneNumberId"]
    assert status(service, clock, first) == {"Status": "FAILED", "Message": "The source number is linked to another service."}
    service.clear_faults()

    again = call(service, "ImportPhoneNumber", InstanceId=instance_id, SourcePhoneNumberArn=SOURCE)["PhoneNumberId"]

    assert status(service, clock, again) == {"Status": "CLAIMED"}


def test_an_import_onto_a_full_instance_fails_with_the_limit_message(service: ConnectService, clock: Clock) -> None:
    for number in service.available("US", "DID")[:5]:
        call(service, "ClaimPhoneNumber", TargetArn=INSTANCE, PhoneNumber=number)
    imported = call(service, "ImportPhoneNumber", InstanceId=INSTANCE.rsplit("/", 1)[1], SourcePhoneNumberArn=SOURCE)["PhoneNumberId"]

    assert status(service, clock, imported) == {"Status": "FAILED", "Message": LIMIT_MESSAGE}


def test_an_import_that_is_held_cannot_be_imported_twice(service: ConnectService) -> None:
    instance_id = INSTANCE.rsplit("/", 1)[1]
    call(service, "ImportPhoneNumber", InstanceId=instance_id, SourcePhoneNumberArn=SOURCE)

    with pytest.raises(WireError, match="already imported"):
        call(service, "ImportPhoneNumber", InstanceId=instance_id, SourcePhoneNumberArn=SOURCE, ClientToken="11111111-2222-3333-4444-555555555555")
