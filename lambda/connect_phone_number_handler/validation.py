"""The value rules for ResourceProperties: Connect's own patterns and limits, from botocore's service model.

The construct (at synth time) and the handler (before any Connect call) check values with these same
functions, so a value is refused the same way wherever it is first known. Each ``check_*`` raises
InvalidProperty naming the property as its caller spells it.

It imports only the standard library and botocore, which the Lambda Python runtime provides.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Mapping
from functools import cache
from typing import Any

from .arns import CONTACT_FLOW_ARN, SOURCE_PHONE_NUMBER_ARN, TARGET_ARN, flow_instance_arn
from .marker import CLAIM_MARKER_TAG

# Connect's limits (botocore's model gives the lengths); Connect allows 50 tags, and one is this library's marker.
MAX_USER_TAGS = 49
MAX_DESCRIPTION_LENGTH = 500
MAX_TAG_KEY_LENGTH = 128
MAX_TAG_VALUE_LENGTH = 256
# How long the handler may wait for CLAIMED: one Lambda run (15 minutes) less a minute to answer CloudFormation.
MIN_WAIT_TIMEOUT_SECONDS = 10
MAX_WAIT_TIMEOUT_SECONDS = 840

_E164 = re.compile(r"^\+[1-9]\d{1,14}$")
_PREFIX = re.compile(r"^\+?[0-9]{1,11}$")
_UNICODE_CLASS = re.compile(r"\\p\{(\w{1,2})\}")
_RESERVED_PREFIX_LOOKAHEAD = "(?!aws:)"
_TAG_CHARACTERS = "letters, numbers, spaces and _.:/=+-@"


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
    if not TARGET_ARN.fullmatch(value):
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
            # (choice) This library's rule, not Connect's model's: see tag_value_pattern_source.
            raise InvalidProperty(prop, f"tag {key!r} has a value with characters this library refuses: {refused!r} (allowed: {_TAG_CHARACTERS})")


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
    if not SOURCE_PHONE_NUMBER_ARN.fullmatch(value):
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


def check_wait_timeout(prop: str, seconds: float) -> None:
    """The wait must fit inside one Lambda run, with time left to answer."""
    if not MIN_WAIT_TIMEOUT_SECONDS <= seconds <= MAX_WAIT_TIMEOUT_SECONDS:
        raise InvalidProperty(
            prop,
            f"{seconds} s is outside {MIN_WAIT_TIMEOUT_SECONDS} to {MAX_WAIT_TIMEOUT_SECONDS} s (one Lambda run, less time to answer)",
        )


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
    flow = CONTACT_FLOW_ARN.fullmatch(flow_arn)
    if flow is None:
        raise InvalidProperty(prop, f"{flow_arn!r} is not a contact flow ARN (arn:aws:connect:REGION:ACCOUNT:instance/ID/contact-flow/ID)")
    return flow
