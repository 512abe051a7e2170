"""The contract between the ClaimedPhoneNumber construct (synth time) and its handler (deploy time).

Both halves import this one module: the Lambda handler as ``contract`` (it sits in the asset
root), the construct as ``connect_phone_number.runtime.contract``. Property names, attribute
names, defaults and the value rules are defined here and nowhere else.

It imports only the standard library and botocore, which the Lambda Python runtime provides.
"""

from __future__ import annotations

import re
import sys
import unicodedata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any
from urllib.parse import parse_qs, urlsplit

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

# How long the handler may wait for CLAIMED. Lambda stops a run at 15 minutes; the handler
# keeps a minute of that to answer CloudFormation.
DEFAULT_WAIT_TIMEOUT_SECONDS = 600
MIN_WAIT_TIMEOUT_SECONDS = 10
MAX_WAIT_TIMEOUT_SECONDS = 840
FUNCTION_TIMEOUT_SECONDS = 900
# CloudFormation's wait for a custom resource's answer when ServiceTimeout is not set.
DEFAULT_SERVICE_TIMEOUT_SECONDS = 3600

# Every number this library claims carries this tag. Its value (ClaimMarker) names the resource
# and the CloudFormation request that claimed it, so a repeated delivery of that request can find
# the number again, and a rollback can find a replacement nobody was told about.
# Connect allows 50 tags, so users get one fewer.
CLAIM_MARKER_TAG = "cdk-connect-phone-number:claim-request"
MAX_USER_TAGS = 49

MAX_DESCRIPTION_LENGTH = 500
MAX_TAG_KEY_LENGTH = 128
MAX_TAG_VALUE_LENGTH = 256

_E164 = re.compile(r"^\+[1-9]\d{1,14}$")
_PREFIX = re.compile(r"^\+?[0-9]{1,11}$")
_TARGET_ARN = re.compile(r"^arn:aws[a-z-]*:connect:[a-z0-9-]+:\d{12}:(instance|traffic-distribution-group)/[A-Za-z0-9-]+$")
_PHONE_NUMBER_ARN = re.compile(r"^arn:aws[a-z-]*:connect:[a-z0-9-]+:\d{12}:phone-number/[A-Za-z0-9-]+$")
# ImportPhoneNumber's source: a number in AWS End User Messaging (the only source this library grants IAM for).
_SOURCE_PHONE_NUMBER_ARN = re.compile(r"^arn:aws[a-z-]*:sms-voice:[a-z0-9-]+:\d{12}:phone-number/[A-Za-z0-9_-]+$")
_CONTACT_FLOW_ARN = re.compile(r"^arn:(aws[a-z-]*):connect:([a-z0-9-]+):(\d{12}):instance/([A-Za-z0-9-]+)/contact-flow/([A-Za-z0-9-]+)$")
_UNICODE_CLASS = re.compile(r"\\p\{(\w{1,2})\}")
_RESERVED_PREFIX_LOOKAHEAD = "(?!aws:)"
_TAG_CHARACTERS = "letters, numbers, spaces and _.:/=+-@"
_NAMESPACE = uuid.UUID("9f6c2b52-5a4e-4c55-9a0f-3e0b6f1f6a11")


class InvalidProperty(ValueError):
    """A property value or combination that the handler refuses before any Connect call."""

    def __init__(self, prop: str, problem: str) -> None:
        super().__init__(f"{prop}: {problem}")
        self.prop = prop


@cache
def _connect_shape(shape: str) -> Any:
    """A shape from botocore's Connect service model, the authority for allowed values."""
    import botocore.session  # noqa: PLC0415 - loaded on first use only: the model is large

    return botocore.session.get_session().get_service_model("connect").shape_for(shape)


def _connect_enum(shape: str) -> frozenset[str]:
    return frozenset(_connect_shape(shape).enum)


@cache
def _category_runs() -> tuple[tuple[str, int, int], ...]:
    """Every code point as runs of one Unicode general category: (category, first, last)."""
    runs = []
    start, current = 0, unicodedata.category(chr(0))
    for code in range(1, sys.maxunicode + 1):
        category = unicodedata.category(chr(code))
        if category != current:
            runs.append((current, start, code - 1))
            start, current = code, category
    runs.append((current, start, sys.maxunicode))
    return tuple(runs)


def _category_class(category: str) -> str:
    """The body of a character class matching ``\\p{category}`` ("L", "Zs", ...), for Python's re."""
    return "".join(
        re.escape(chr(first)) + ("" if first == last else "-" + re.escape(chr(last))) for name, first, last in _category_runs() if name.startswith(category)
    )


def translate_pattern(pattern: str) -> str:
    """A model pattern (Java regex syntax) in Python's re syntax.

    Python's re lacks the Unicode category classes (``\\p{L}``) that Connect's patterns use,
    so each becomes the explicit ranges of that category from unicodedata. This is the one
    place the translation happens; the handler, the construct and the emulator all use it.
    """
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        found = _UNICODE_CLASS.match(pattern, i)
        if found:
            body = _category_class(found.group(1))
            out.append(body if in_class else f"[{body}]")
            i = found.end()
            continue
        char = pattern[i]
        if char == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if char == "[" and not in_class:
            in_class = True
        elif char == "]" and in_class:
            in_class = False
        out.append(char)
        i += 1
    return "".join(out)


@cache
def tag_key_pattern_source() -> str:
    """The model's TagKey pattern as written (letters, numbers, separators and _.:/=+-@, no 'aws:' prefix)."""
    return str(_connect_shape("TagKey").metadata["pattern"])


@cache
def tag_value_pattern_source() -> str:
    """The model's TagValue pattern as written, if it has one.

    (choice) The model gives TagValue no pattern today. AWS's tag restrictions allow the same
    characters in values as in keys (letters, numbers and separators, and _.:/=+-@), so values
    are checked against the TagKey pattern less its reserved-prefix lookahead. Control
    characters such as tab and newline are refused either way.
    """
    own = _connect_shape("TagValue").metadata.get("pattern")
    return str(own) if own is not None else tag_key_pattern_source().replace(_RESERVED_PREFIX_LOOKAHEAD, "", 1)


@cache
def tag_key_pattern() -> re.Pattern[str]:
    """TagKey's pattern, compiled for Python. Use ``fullmatch``: ``$`` alone allows a final newline."""
    return re.compile(translate_pattern(tag_key_pattern_source()))


@cache
def tag_value_pattern() -> re.Pattern[str]:
    """TagValue's pattern (see tag_value_pattern_source), compiled for Python. Use ``fullmatch``."""
    return re.compile(translate_pattern(tag_value_pattern_source()))


def _refused_characters(pattern: re.Pattern[str], text: str) -> str:
    """The characters of ``text`` that ``pattern`` refuses one by one, for the error message."""
    return "".join(dict.fromkeys(c for c in text if not pattern.fullmatch(c)))


def country_codes() -> frozenset[str]:
    """Every ISO country code Connect's model accepts for phone numbers."""
    return _connect_enum("PhoneNumberCountryCode")


def phone_number_types() -> frozenset[str]:
    """Every phone-number type Connect's model accepts (TOLL_FREE, DID, ...)."""
    return _connect_enum("PhoneNumberType")


def check_phone_number(prop: str, value: str) -> None:
    """An exact number must be E.164: a plus, then 2 to 15 digits, not starting with 0."""
    if not _E164.fullmatch(value):
        raise InvalidProperty(prop, f"{value!r} is not an E.164 number such as +18005550100")


def check_country_code(prop: str, value: str) -> None:
    """A country code must be one that Connect knows (two upper-case letters)."""
    if value not in country_codes():
        raise InvalidProperty(prop, f"{value!r} is not a Connect country code such as 'US' or 'GB'")


def check_phone_number_type(prop: str, value: str) -> None:
    """A type must be one of Connect's PhoneNumberType values."""
    if value not in phone_number_types():
        allowed = ", ".join(sorted(phone_number_types()))
        raise InvalidProperty(prop, f"{value!r} is not one of {allowed}")


def check_prefix(prop: str, value: str) -> None:
    """A prefix is an optional plus and 1 to 11 digits."""
    if not _PREFIX.fullmatch(value):
        raise InvalidProperty(prop, f"{value!r} is not a prefix of 1 to 11 digits such as +1800")


def check_description(prop: str, value: str) -> None:
    """A description is at most 500 characters."""
    if len(value) > MAX_DESCRIPTION_LENGTH:
        raise InvalidProperty(prop, f"is {len(value)} characters long; the limit is {MAX_DESCRIPTION_LENGTH}")


def check_target_arn(prop: str, value: str) -> None:
    """The target is a Connect instance ARN or a traffic distribution group ARN."""
    if not _TARGET_ARN.fullmatch(value):
        raise InvalidProperty(
            prop,
            f"{value!r} is not a Connect instance ARN (arn:aws:connect:REGION:ACCOUNT:instance/ID) or traffic distribution group ARN",
        )


def check_tags(prop: str, tags: Mapping[str, str]) -> None:
    """Tags follow Connect's rules, with one tag kept back for the claim marker."""
    if len(tags) > MAX_USER_TAGS:
        raise InvalidProperty(prop, f"has {len(tags)} tags; the limit is {MAX_USER_TAGS} (Connect allows 50, one is ours)")
    for key, value in tags.items():
        if not 1 <= len(key) <= MAX_TAG_KEY_LENGTH:
            raise InvalidProperty(prop, f"tag key {key!r} must be 1 to {MAX_TAG_KEY_LENGTH} characters")
        if key.lower().startswith("aws:"):
            raise InvalidProperty(prop, f"tag key {key!r} uses the reserved prefix 'aws:'")
        if key == CLAIM_MARKER_TAG:
            raise InvalidProperty(prop, f"tag key {key!r} is reserved for this library")
        if not tag_key_pattern().fullmatch(key):
            refused = _refused_characters(tag_value_pattern(), key)
            raise InvalidProperty(prop, f"tag key {key!r} has characters Connect refuses: {refused!r} (allowed: {_TAG_CHARACTERS})")
        if not isinstance(value, str) or len(value) > MAX_TAG_VALUE_LENGTH:
            raise InvalidProperty(prop, f"tag {key!r} needs a string value of at most {MAX_TAG_VALUE_LENGTH} characters")
        if not tag_value_pattern().fullmatch(value):
            refused = _refused_characters(tag_value_pattern(), value)
            raise InvalidProperty(prop, f"tag {key!r} has a value with characters Connect refuses: {refused!r} (allowed: {_TAG_CHARACTERS})")


def check_selection(
    *,
    phone_number: object,
    country_code: object,
    phone_number_type: object,
    prefix: object,
    names: Mapping[str, str],
) -> None:
    """Either an exact number, or a country and type (and optional prefix) to search.

    ``names`` maps the logical names (phone_number, country_code, phone_number_type, prefix)
    to the spelling the caller's user knows, so the construct and the handler each name
    their own properties.
    """
    if phone_number is not None:
        clashing = [names[n] for n, v in (("country_code", country_code), ("phone_number_type", phone_number_type), ("prefix", prefix)) if v is not None]
        if clashing:
            raise InvalidProperty(
                names["phone_number"],
                f"cannot be combined with {', '.join(repr(c) for c in clashing)}: claim an exact number, or search by country and type",
            )
        return
    if country_code is None or phone_number_type is None:
        missing = names["country_code"] if country_code is None else names["phone_number_type"]
        raise InvalidProperty(
            missing,
            f"is required when {names['phone_number']!r} is not set "
            f"(set {names['phone_number']!r}, or both {names['country_code']!r} and {names['phone_number_type']!r})",
        )


def check_source_phone_number_arn(prop: str, value: str) -> None:
    """An import's source is an AWS End User Messaging phone-number ARN."""
    if not _SOURCE_PHONE_NUMBER_ARN.fullmatch(value):
        raise InvalidProperty(prop, f"{value!r} is not an AWS End User Messaging phone-number ARN (arn:aws:sms-voice:REGION:ACCOUNT:phone-number/ID)")


def check_adoption_and_import(
    *,
    adopt_existing: bool,
    source_phone_number_arn: object,
    phone_number: object,
    country_code: object,
    phone_number_type: object,
    prefix: object,
    target_arn: str | None,
    names: Mapping[str, str],
) -> None:
    """Adoption takes over an exact number; an import names its source and nothing to search or claim.

    ``target_arn`` is None when it is not known yet (a token). ``names`` maps the logical names
    to the caller's spelling, as for check_selection.
    """
    if source_phone_number_arn is not None:
        chosen = (("phone_number", phone_number), ("country_code", country_code), ("phone_number_type", phone_number_type), ("prefix", prefix))
        clashing = [names[n] for n, v in chosen if v is not None] + ([names["adopt_existing"]] if adopt_existing else [])
        if clashing:
            raise InvalidProperty(
                names["source_phone_number_arn"],
                f"cannot be combined with {', '.join(repr(c) for c in clashing)}: import a number, or claim one",
            )
        if target_arn is not None and ":instance/" not in target_arn:
            raise InvalidProperty(
                names["target_arn"], f"{target_arn!r} must be a Connect instance to import a number into (ImportPhoneNumber takes an instance)"
            )
    if adopt_existing and phone_number is None:
        raise InvalidProperty(names["adopt_existing"], f"needs {names['phone_number']!r}: only an exact number already in the account can be adopted")


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
    check_wait_timeout(WAIT_TIMEOUT_SECONDS, seconds)
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


def check_wait_timeout(prop: str, seconds: float) -> None:
    """The wait must fit inside one Lambda run, with time left to answer."""
    if not MIN_WAIT_TIMEOUT_SECONDS <= seconds <= MAX_WAIT_TIMEOUT_SECONDS:
        raise InvalidProperty(
            prop,
            f"{seconds} s is outside {MIN_WAIT_TIMEOUT_SECONDS} to {MAX_WAIT_TIMEOUT_SECONDS} s (one Lambda run, less time to answer)",
        )


def parse_properties(props: Mapping[str, Any]) -> ClaimSpec:
    """Validate ResourceProperties and return the ClaimSpec. Raises InvalidProperty."""
    unknown = sorted(set(props) - KNOWN_PROPERTIES)
    if unknown:
        raise InvalidProperty(unknown[0], f"is not a property of {RESOURCE_TYPE} (known: {', '.join(sorted(KNOWN_PROPERTIES))})")
    target_arn = _optional_string(props, TARGET_ARN)
    if target_arn is None:
        raise InvalidProperty(TARGET_ARN, "is required")
    check_target_arn(TARGET_ARN, target_arn)
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
        check_selection(
            phone_number=spec.phone_number,
            country_code=spec.country_code,
            phone_number_type=spec.phone_number_type,
            prefix=spec.prefix,
            names=HANDLER_NAMES,
        )
    if spec.phone_number is not None:
        check_phone_number(PHONE_NUMBER, spec.phone_number)
    if spec.country_code is not None:
        check_country_code(COUNTRY_CODE, spec.country_code)
    if spec.phone_number_type is not None:
        check_phone_number_type(TYPE, spec.phone_number_type)
    if spec.prefix is not None:
        check_prefix(PREFIX, spec.prefix)
    if spec.description is not None:
        check_description(DESCRIPTION, spec.description)
    check_tags(TAGS, spec.tags)
    if spec.contact_flow_arn is not None:
        check_contact_flow(CONTACT_FLOW_ARN, spec.contact_flow_arn, target_arn)
    return spec


def _check_claim_kind(spec: ClaimSpec) -> None:
    """Adoption and import, checked together with what else the properties ask for."""
    check_adoption_and_import(
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
        check_source_phone_number_arn(SOURCE_PHONE_NUMBER_ARN, spec.source_phone_number_arn)


def check_contact_flow(prop: str, flow_arn: str, target_arn: str) -> None:
    """A flow is a contact-flow ARN of the target's own instance (for a traffic distribution group: its account and Region).

    Connect routes a number only to a flow of the instance it is claimed to. (choice) A traffic distribution
    group's ARN does not say which instance owns it, so for one only the account and Region are checked here,
    and Connect decides the rest.
    """
    flow = check_contact_flow_arn(prop, flow_arn)
    target = target_arn.split(":")
    if ":instance/" in target_arn:
        same = flow_instance_arn(flow_arn) == target_arn
    else:
        same = (flow.group(1), flow.group(2), flow.group(3)) == (target[1], target[3], target[4])
    if not same:
        raise InvalidProperty(prop, f"the flow {flow_arn!r} is on instance {flow_instance_arn(flow_arn)!r}; it cannot route a number claimed to {target_arn!r}")


def check_contact_flow_arn(prop: str, flow_arn: str) -> re.Match[str]:
    """A contact flow ARN: ``arn:aws:connect:REGION:ACCOUNT:instance/ID/contact-flow/ID``."""
    flow = _CONTACT_FLOW_ARN.fullmatch(flow_arn)
    if flow is None:
        raise InvalidProperty(prop, f"{flow_arn!r} is not a contact flow ARN (arn:aws:connect:REGION:ACCOUNT:instance/ID/contact-flow/ID)")
    return flow


def flow_instance_arn(flow_arn: str) -> str:
    """The ARN of the instance a contact flow belongs to."""
    return flow_arn.split("/contact-flow/", 1)[0]


def flow_id(flow_arn: str) -> str:
    """A contact flow's id: the last part of its ARN."""
    return flow_arn.rsplit("/", 1)[-1]


def is_phone_number_arn(value: str) -> bool:
    """True for a current (not instance-scoped) Connect phone-number ARN."""
    return bool(_PHONE_NUMBER_ARN.fullmatch(value))


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


@dataclass(frozen=True)
class ClaimMarker:
    """The value of the CLAIM_MARKER_TAG tag: who claimed or adopted the number, and whether anyone was told.

    ``RESOURCE/REQUEST`` names the resource (resource_token) and the request that claimed the
    number. A replacement claim carries ``RESOURCE/REQUEST/pending`` until the handler answers
    SUCCESS: only a pending replacement may be released by a rollback, so a number that
    CloudFormation was told about (or that RETAIN keeps) is never released that way. An adopted
    number carries ``RESOURCE/REQUEST/adopted/ORIGIN[/flow=FLOW]``: it was the account's before, so no
    clean-up of a failed claim ever releases it; ORIGIN (``instance=ID`` or
    ``traffic-distribution-group=ID``) and FLOW (``INSTANCE_ID:FLOW_ID``) are where it was and the flow
    it routed to before, written before the adoption's first change, so a redelivery can still undo it
    (at most 224 characters). Numbers claimed by earlier releases of this library carry ``REQUEST`` alone and are
    never pending. All of it fits in the one reserved tag, so users keep 49.
    """

    request: str
    resource: str = ""
    pending: bool = False
    adopted: bool = False
    origin: str = ""  # adopted: the target before the adoption, as RESOURCE_TYPE=ID
    origin_flow: str = ""  # adopted: the flow it routed to before, if any, as INSTANCE_ID:FLOW_ID
    # RESOURCE/REQUEST/... in a form this release does not know (a later release's, or edited by hand).
    unknown: bool = False

    @property
    def value(self) -> str:
        """The tag value."""
        parts = [self.resource, self.request] if self.resource else [self.request]
        if self.pending:
            parts.append("pending")
        elif self.adopted:
            parts += ["adopted", *([self.origin] if self.origin else []), *([f"flow={self.origin_flow}"] if self.origin_flow else [])]
        return "/".join(parts)

    def answered(self) -> ClaimMarker:
        """The same marker once CloudFormation has been told about the number."""
        return ClaimMarker(self.request, self.resource, adopted=self.adopted, origin=self.origin, origin_flow=self.origin_flow)

    @classmethod
    def parse(cls, value: str) -> ClaimMarker:
        """The marker a tag value holds. A value this library did not write is never pending or adopted."""
        parts = value.split("/")
        if len(parts) == 3 and parts[2] == "pending":
            return cls(parts[1], parts[0], pending=True)
        if 3 <= len(parts) <= 5 and parts[2] == "adopted":
            origin = next((p for p in parts[3:] if not p.startswith("flow=")), "")
            flow = next((p.removeprefix("flow=") for p in parts[3:] if p.startswith("flow=")), "")
            return cls(parts[1], parts[0], adopted=True, origin=origin, origin_flow=flow)
        if len(parts) == 2:
            return cls(parts[1], parts[0])
        if len(parts) > 2:
            return cls(parts[1], parts[0], unknown=True)
        return cls(value)

    def origin_arn(self, number_arn: str) -> str | None:
        """The ARN of the target the number was on before its adoption (same partition, Region and account)."""
        if "=" not in self.origin:
            return None
        kind, _, ident = self.origin.partition("=")
        return f"{number_arn.partition(':phone-number/')[0]}:{kind}/{ident}"

    def origin_flow_arn(self, number_arn: str) -> str | None:
        """The ARN of the flow the number routed to before its adoption."""
        instance, _, flow = self.origin_flow.partition(":")
        return f"{number_arn.partition(':phone-number/')[0]}:instance/{instance}/contact-flow/{flow}" if flow else None


def origin_of(target_arn: str) -> str:
    """A target ARN as a marker's ORIGIN part: ``instance=ID`` or ``traffic-distribution-group=ID``."""
    return target_arn.rsplit(":", 1)[-1].replace("/", "=", 1)


def origin_flow_of(flow_arn: str | None) -> str:
    """A flow ARN as a marker's FLOW part, ``INSTANCE_ID:FLOW_ID`` (empty for no flow)."""
    if not flow_arn:
        return ""
    return f"{flow_instance_arn(flow_arn).rsplit('/', 1)[-1]}:{flow_id(flow_arn)}"
