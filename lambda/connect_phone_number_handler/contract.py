"""The contract between the ClaimedPhoneNumber construct (synth time) and its handler (deploy time).

Both halves import this one module, under one name: ``connect_phone_number_handler.contract``. Property
names, attribute names and defaults are defined here and nowhere else; the value rules are in
``validation``, the claim marker in ``marker``.

It imports only the standard library and botocore, which the Lambda Python runtime provides.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from . import validation
from .validation import InvalidProperty

RESOURCE_TYPE = "Custom::ConnectPhoneNumber"

# ResourceProperties. Names follow AWS::Connect::PhoneNumber where it has them.
SERVICE_TOKEN = "ServiceToken"  # noqa: S105 - a property name, not a secret
# Read by CloudFormation itself (how long it waits for an answer); delivered along with the rest.
SERVICE_TIMEOUT = "ServiceTimeout"
TARGET_ARN = "TargetArn"
COUNTRY_CODE = "CountryCode"
TYPE = "Type"
PREFIX = "Prefix"
PHONE_NUMBER = "PhoneNumber"
DESCRIPTION = "Description"
TAGS = "Tags"
WAIT_TIMEOUT_SECONDS = "WaitTimeoutSeconds"
ADOPT_EXISTING = "AdoptExisting"
SOURCE_PHONE_NUMBER_ARN = "SourcePhoneNumberArn"
CONTACT_FLOW_ARN = "ContactFlowArn"
# Rendered by the construct for an adoption whose DeletionPolicy is not Delete: the only Delete CloudFormation then
# sends is a rollback's, and that must give an adopted number back to the account, not release it.
RETAIN_ADOPTED_NUMBER = "RetainAdoptedNumber"
KNOWN_PROPERTIES = frozenset(
    {
        RETAIN_ADOPTED_NUMBER,
        ADOPT_EXISTING,
        SOURCE_PHONE_NUMBER_ARN,
        SERVICE_TOKEN,
        SERVICE_TIMEOUT,
        TARGET_ARN,
        COUNTRY_CODE,
        TYPE,
        PREFIX,
        PHONE_NUMBER,
        DESCRIPTION,
        TAGS,
        WAIT_TIMEOUT_SECONDS,
        CONTACT_FLOW_ARN,
    }
)

# Response Data keys, read by the construct with get_att.
ATTR_PHONE_NUMBER = "PhoneNumber"
ATTR_PHONE_NUMBER_ARN = "PhoneNumberArn"
ATTR_PHONE_NUMBER_ID = "PhoneNumberId"

# How long the handler waits for CLAIMED unless told otherwise (validation has the bounds), and the function's timeout.
DEFAULT_WAIT_TIMEOUT_SECONDS = 600
FUNCTION_TIMEOUT_SECONDS = 900
# CloudFormation's wait for a custom resource's answer when ServiceTimeout is not set.
DEFAULT_SERVICE_TIMEOUT_SECONDS = 3600

_NAMESPACE = uuid.UUID("9f6c2b52-5a4e-4c55-9a0f-3e0b6f1f6a11")


@dataclass(frozen=True)
class ClaimSpec:
    """What a resource asks for, parsed and validated from its ResourceProperties."""

    target_arn: str
    phone_number: str | None = None
    country_code: str | None = None
    phone_number_type: str | None = None
    prefix: str | None = None
    description: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    wait_timeout_seconds: int = DEFAULT_WAIT_TIMEOUT_SECONDS
    # Take over the exact number if this account already holds it, instead of failing.
    adopt_existing: bool = False
    # Import this End User Messaging number (ImportPhoneNumber) instead of claiming one.
    source_phone_number_arn: str | None = None
    contact_flow_arn: str | None = None
    # A Delete gives an adopted number back to the account instead of releasing it (RETAIN_ADOPTED_NUMBER).
    retain_adopted: bool = False


HANDLER_NAMES = {
    "phone_number": PHONE_NUMBER,
    "country_code": COUNTRY_CODE,
    "phone_number_type": TYPE,
    "prefix": PREFIX,
    "adopt_existing": ADOPT_EXISTING,
    "source_phone_number_arn": SOURCE_PHONE_NUMBER_ARN,
    "target_arn": TARGET_ARN,
}


def _parse_bool(props: Mapping[str, Any], name: str) -> bool:
    """A boolean property: CloudFormation delivers booleans as "true" or "false"."""
    value = props.get(name)
    if value is None or value == "" or value is False or str(value).lower() == "false":
        return False
    if value is True or str(value).lower() == "true":
        return True
    raise InvalidProperty(name, f"{value!r} is not true or false")


def _optional_string(props: Mapping[str, Any], name: str) -> str | None:
    value = props.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidProperty(name, f"must be a string, not {type(value).__name__}")
    return value


def _parse_tags(raw: Any) -> dict[str, str]:
    if raw is None or raw == "":
        return {}
    if not isinstance(raw, list) or not all(isinstance(t, Mapping) and set(t) == {"Key", "Value"} for t in raw):
        raise InvalidProperty(TAGS, "must be a list of {Key, Value} objects")
    tags = {str(t["Key"]): t["Value"] for t in raw}
    if len(tags) != len(raw):
        raise InvalidProperty(TAGS, "has the same Key more than once")
    return tags


def _parse_wait_timeout(raw: Any) -> int:
    if raw is None or raw == "":
        return DEFAULT_WAIT_TIMEOUT_SECONDS
    try:
        seconds = int(str(raw))
    except ValueError:
        raise InvalidProperty(WAIT_TIMEOUT_SECONDS, f"{raw!r} is not a whole number of seconds") from None
    validation.check_wait_timeout(WAIT_TIMEOUT_SECONDS, seconds)
    return seconds


def retains_adopted(props: Mapping[str, Any]) -> bool:
    """RETAIN_ADOPTED_NUMBER of ``props``, False if it does not parse: a Delete must not fail on its properties."""
    try:
        return _parse_bool(props, RETAIN_ADOPTED_NUMBER)
    except InvalidProperty:
        return False


def service_timeout_or_default(props: Mapping[str, Any]) -> int:
    """ServiceTimeout of ``props`` in seconds: how long CloudFormation waits for an answer (3600 s when not set)."""
    try:
        return int(str(props.get(SERVICE_TIMEOUT) or DEFAULT_SERVICE_TIMEOUT_SECONDS))
    except ValueError:
        return DEFAULT_SERVICE_TIMEOUT_SECONDS


def request_signed_at(response_url: str) -> datetime | None:
    """When CloudFormation signed the request's ResponseURL (its SigV4 ``X-Amz-Date``); None if it carries none.

    (choice) CloudFormation documents the ResponseURL only as a presigned S3 URL. Its URLs are SigV4-presigned
    when the request is made, so ``X-Amz-Date`` comes before any delivery of the request, and CloudFormation's
    ServiceTimeout runs from about then. A URL without it (SigV2, or a hand-made event) is never judged late.
    """
    values = parse_qs(urlsplit(response_url).query).get("X-Amz-Date")
    try:
        return datetime.strptime(values[0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC) if values else None
    except ValueError:
        return None


def wait_timeout_or_default(props: Mapping[str, Any]) -> int:
    """The wait limit of ``props``, or the default if it does not parse: a Delete must not fail on its properties."""
    try:
        return _parse_wait_timeout(props.get(WAIT_TIMEOUT_SECONDS))
    except InvalidProperty:
        return DEFAULT_WAIT_TIMEOUT_SECONDS


def parse_properties(props: Mapping[str, Any]) -> ClaimSpec:
    """Validate ResourceProperties and return the ClaimSpec. Raises InvalidProperty."""
    unknown = sorted(set(props) - KNOWN_PROPERTIES)
    if unknown:
        raise InvalidProperty(unknown[0], f"is not a property of {RESOURCE_TYPE} (known: {', '.join(sorted(KNOWN_PROPERTIES))})")
    target_arn = _optional_string(props, TARGET_ARN)
    if target_arn is None:
        raise InvalidProperty(TARGET_ARN, "is required")
    validation.check_target_arn(TARGET_ARN, target_arn)
    spec = ClaimSpec(
        target_arn=target_arn,
        phone_number=_optional_string(props, PHONE_NUMBER),
        country_code=_optional_string(props, COUNTRY_CODE),
        phone_number_type=_optional_string(props, TYPE),
        prefix=_optional_string(props, PREFIX),
        description=_optional_string(props, DESCRIPTION),
        tags=_parse_tags(props.get(TAGS)),
        wait_timeout_seconds=_parse_wait_timeout(props.get(WAIT_TIMEOUT_SECONDS)),
        adopt_existing=_parse_bool(props, ADOPT_EXISTING),
        source_phone_number_arn=_optional_string(props, SOURCE_PHONE_NUMBER_ARN),
        contact_flow_arn=_optional_string(props, CONTACT_FLOW_ARN),
        retain_adopted=_parse_bool(props, RETAIN_ADOPTED_NUMBER),
    )
    _check_claim_kind(spec)
    if spec.source_phone_number_arn is None:
        validation.check_selection(
            phone_number=spec.phone_number,
            country_code=spec.country_code,
            phone_number_type=spec.phone_number_type,
            prefix=spec.prefix,
            names=HANDLER_NAMES,
        )
    if spec.phone_number is not None:
        validation.check_phone_number(PHONE_NUMBER, spec.phone_number)
    if spec.country_code is not None:
        validation.check_country_code(COUNTRY_CODE, spec.country_code)
    if spec.phone_number_type is not None:
        validation.check_phone_number_type(TYPE, spec.phone_number_type)
    if spec.prefix is not None:
        validation.check_prefix(PREFIX, spec.prefix)
    if spec.description is not None:
        validation.check_description(DESCRIPTION, spec.description)
    validation.check_tags(TAGS, spec.tags)
    if spec.contact_flow_arn is not None:
        validation.check_contact_flow(CONTACT_FLOW_ARN, spec.contact_flow_arn, target_arn)
    return spec


def _check_claim_kind(spec: ClaimSpec) -> None:
    """Adoption and import, checked together with what else the properties ask for."""
    validation.check_adoption_and_import(
        adopt_existing=spec.adopt_existing,
        source_phone_number_arn=spec.source_phone_number_arn,
        phone_number=spec.phone_number,
        country_code=spec.country_code,
        phone_number_type=spec.phone_number_type,
        prefix=spec.prefix,
        target_arn=spec.target_arn,
        names=HANDLER_NAMES,
    )
    if spec.source_phone_number_arn is not None:
        validation.check_source_phone_number_arn(SOURCE_PHONE_NUMBER_ARN, spec.source_phone_number_arn)


def deterministic_token(*parts: str) -> str:
    """A lowercase UUID derived from ``parts``: the same request always gets the same token."""
    return str(uuid.uuid5(_NAMESPACE, "\n".join(parts)))


def resource_token(stack_id: str, logical_id: str) -> str:
    """A lowercase UUID naming one resource of one stack, the same for every request about it.

    It derives from the stack's name, not its id: a stack deleted and created again under the same name
    (its number kept by RETAIN) names the same resource, so it may adopt the number again. Two live stacks
    never share a name in one account and Region, so no other resource gets this token.
    """
    return deterministic_token(stack_id.rsplit("/", 1)[0] if stack_id.count("/") >= 2 else stack_id, logical_id)


def resource_tokens(stack_id: str, logical_id: str) -> frozenset[str]:
    """Every token a marker of this resource may carry: resource_token, and the stack id's (releases before 2026-11)."""
    return frozenset({resource_token(stack_id, logical_id), deterministic_token(stack_id, logical_id)})
