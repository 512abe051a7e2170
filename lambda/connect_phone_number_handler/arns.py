"""ARN shapes and the parts of them the handler reads (a number, a target, a contact flow), and the physical ids it answers."""

from __future__ import annotations

import re

PHONE_NUMBER_ARN = re.compile(r"^arn:aws[a-z-]*:connect:[a-z0-9-]+:\d{12}:phone-number/[A-Za-z0-9-]+$")
TARGET_ARN = re.compile(r"^arn:aws[a-z-]*:connect:[a-z0-9-]+:\d{12}:(instance|traffic-distribution-group)/[A-Za-z0-9-]+$")
CONTACT_FLOW_ARN = re.compile(r"^arn:(aws[a-z-]*):connect:([a-z0-9-]+):(\d{12}):instance/([A-Za-z0-9-]+)/contact-flow/([A-Za-z0-9-]+)$")
# ImportPhoneNumber's source: a number in AWS End User Messaging (the only source this library grants IAM for).
SOURCE_PHONE_NUMBER_ARN = re.compile(r"^arn:aws[a-z-]*:sms-voice:[a-z0-9-]+:\d{12}:phone-number/[A-Za-z0-9_-]+$")


def is_phone_number_arn(value: str) -> bool:
    """True for a current (not instance-scoped) Connect phone-number ARN."""
    return bool(PHONE_NUMBER_ARN.fullmatch(value))


def flow_instance_arn(flow_arn: str) -> str:
    """The ARN of the instance a contact flow belongs to."""
    return flow_arn.split("/contact-flow/", 1)[0]


def flow_id(flow_arn: str) -> str:
    """A contact flow's id: the last part of its ARN."""
    return flow_arn.rsplit("/", 1)[-1]


# The physical id of a Create that names no number: CloudFormation's rollback must not release a number for it,
# so a failed claim never hands CloudFormation a number's ARN.
UNCLAIMED_PREFIX = "unclaimed-"


def unclaimed_id(request: str) -> str:
    """``unclaimed-REQUEST``: the physical id of a Create (request token ``request``) that names no number."""
    return UNCLAIMED_PREFIX + request
