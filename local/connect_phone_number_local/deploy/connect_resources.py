"""AWS::Connect::PhoneNumber (CDK's CfnPhoneNumber), played against the Connect emulator as CloudFormation's own provider plays it.

Create searches by CountryCode, Type and Prefix and claims the first number offered (or imports
SourcePhoneNumberArn), then waits for the claim to settle. CountryCode, Type, Prefix and
SourcePhoneNumberArn replace the number; TargetArn, Description and Tags are brought to the
declared values in place. Delete releases it (a number already gone is done). Ref is the number's
ARN; the attributes are PhoneNumberArn and Address. Calls are made as the deployer (CloudFormation),
not as a handler role, so the stack's IAM policies do not apply to them.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from .state import ResourceState

#: The properties whose change makes CloudFormation claim a new number (its resource reference: "Replacement").
REPLACING_PROPERTIES = ("CountryCode", "Type", "Prefix", "SourcePhoneNumberArn")
# How long to wait for a claim, move or change to settle, and how often to look.
SETTLE_TIMEOUT_SECONDS = 120.0
POLL_SECONDS = 0.05


def provide(request: str, properties: dict[str, Any], current: ResourceState | None, *, endpoint: str, region: str, token: str) -> dict[str, Any]:
    """Answer one Create, Update or Delete as a custom resource answers (Status, PhysicalResourceId, Data, Reason). Never raises.

    ``token`` is the ClientToken of a claim or import (a lowercase UUID).
    """
    physical_id = current.physical_id if current else None
    client = boto3.client(
        "connect",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="local-cloudformation",
        aws_secret_access_key="local",  # noqa: S106 - the emulator's, not a secret
        config=Config(retries={"max_attempts": 8, "mode": "standard"}),
    )
    try:
        if request == "Delete":
            _release(client, physical_id)
            return {"Status": "SUCCESS", "PhysicalResourceId": physical_id}
        if current is None or replaces(current.properties, properties):
            physical_id = _claim(client, properties, token)
        else:
            _converge(client, str(physical_id), properties)
        number = client.describe_phone_number(PhoneNumberId=physical_id)["ClaimedPhoneNumberSummary"]
    except (ClientError, BotoCoreError, ClaimFailed) as error:
        return {"Status": "FAILED", "Reason": _reason(error), "PhysicalResourceId": getattr(error, "physical_id", None) or physical_id}
    return {"Status": "SUCCESS", "PhysicalResourceId": physical_id, "Data": {"PhoneNumberArn": number["PhoneNumberArn"], "Address": number["PhoneNumber"]}}


class ClaimFailed(Exception):
    """Connect ended a claim, move or change FAILED (or offered no number)."""

    def __init__(self, message: str, physical_id: str | None = None) -> None:
        super().__init__(message)
        self.physical_id = physical_id


def replaces(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """Whether going from ``before`` to ``after`` claims a new number (CloudFormation's update rule for this type)."""
    return any(before.get(name) != after.get(name) for name in REPLACING_PROPERTIES)


def _claim(client: Any, properties: dict[str, Any], token: str) -> str:
    target = properties["TargetArn"]
    extra: dict[str, Any] = {"ClientToken": token}
    if properties.get("Description"):
        extra["PhoneNumberDescription"] = properties["Description"]
    if properties.get("Tags"):
        extra["Tags"] = _tags(properties)
    if properties.get("SourcePhoneNumberArn"):
        answer = client.import_phone_number(InstanceId=target.rsplit("/", 1)[-1], SourcePhoneNumberArn=properties["SourcePhoneNumberArn"], **extra)
    else:
        kind, country, prefix = properties["Type"], properties["CountryCode"], properties.get("Prefix")
        search: dict[str, Any] = {"TargetArn": target, "PhoneNumberCountryCode": country, "PhoneNumberType": kind, "MaxResults": 1}
        if prefix:
            search["PhoneNumberPrefix"] = prefix
        offered = client.search_available_phone_numbers(**search)["AvailableNumbersList"]
        if not offered:
            raise ClaimFailed(f"no {country} {kind} number is available" + (f" with prefix {prefix}" if prefix else ""))
        answer = client.claim_phone_number(TargetArn=target, PhoneNumber=offered[0]["PhoneNumber"], **extra)
    arn = str(answer["PhoneNumberArn"])
    _settle(client, arn)
    return arn


def _converge(client: Any, arn: str, properties: dict[str, Any]) -> None:
    """Bring a held number to the declared target, description and tags."""
    number = client.describe_phone_number(PhoneNumberId=arn)["ClaimedPhoneNumberSummary"]
    if number["TargetArn"] != properties["TargetArn"]:
        client.update_phone_number(PhoneNumberId=arn, TargetArn=properties["TargetArn"])
        _settle(client, arn)
    if number.get("PhoneNumberDescription", "") != properties.get("Description", ""):
        client.update_phone_number_metadata(PhoneNumberId=arn, PhoneNumberDescription=properties.get("Description", ""))
        _settle(client, arn)
    declared, held = _tags(properties), dict(number.get("Tags", {}))
    if any(held.get(key) != value for key, value in declared.items()):
        client.tag_resource(resourceArn=arn, tags=declared)
    if set(held) - set(declared):
        client.untag_resource(resourceArn=arn, tagKeys=sorted(set(held) - set(declared)))


def _release(client: Any, arn: str | None) -> None:
    if not arn or not arn.startswith("arn:"):
        return  # a create that failed before it claimed holds nothing
    try:
        client.release_phone_number(PhoneNumberId=arn)
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceNotFoundException":
            raise


def _settle(client: Any, arn: str) -> None:
    """Wait until the number's workflow is no longer IN_PROGRESS; ClaimFailed if it ended FAILED."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_SECONDS
    while True:
        status = client.describe_phone_number(PhoneNumberId=arn)["ClaimedPhoneNumberSummary"]["PhoneNumberStatus"]
        if status["Status"] == "FAILED":
            raise ClaimFailed(status.get("Message") or "the phone number's workflow FAILED", arn)
        if status["Status"] != "IN_PROGRESS":
            return
        if time.monotonic() >= deadline:
            raise ClaimFailed(f"the phone number stayed IN_PROGRESS for {SETTLE_TIMEOUT_SECONDS:.0f} s", arn)
        time.sleep(POLL_SECONDS)


def _tags(properties: dict[str, Any]) -> dict[str, str]:
    """CloudFormation's Tags (a list of Key and Value) as Connect takes them (a mapping)."""
    return {str(tag["Key"]): str(tag["Value"]) for tag in properties.get("Tags", [])}


def _reason(error: Exception) -> str:
    if isinstance(error, ClientError):
        return f"{error.response['Error']['Code']}: {error.response['Error'].get('Message', '')}"
    return str(error)
