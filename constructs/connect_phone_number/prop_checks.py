"""ClaimedPhoneNumber's props checked at synth time, with the handler's own rules (connect_phone_number_handler.validation).

A token (a value known only at deploy time) cannot be checked here; the handler checks it before it calls Connect.
"""

from __future__ import annotations

from collections.abc import Mapping

import jsii
from aws_cdk import Arn, ArnFormat, Duration, RemovalPolicy, Stack, TagManager, Token

from connect_phone_number_handler import validation
from constructs import IValidation

from .props import NumberProps

#: CloudFormation gives up on a silent custom resource this long after the wait limit.
SERVICE_TIMEOUT_MARGIN = Duration.minutes(2)

PROP_NAMES = {
    "phone_number": "phone_number",
    "country_code": "country_code",
    "phone_number_type": "phone_number_type",
    "prefix": "prefix",
    "adopt_existing": "adopt_existing",
    "source_phone_number_arn": "source_phone_number_arn",
    "target_arn": "target_arn",
}


def refusal(error: validation.InvalidProperty) -> str:
    """An invalid prop as the ValueError's message: the construct, the prop and why."""
    return f"ClaimedPhoneNumber: {error}"


def check_all(stack: Stack, props: NumberProps, *, removal_policy: RemovalPolicy, timeout: Duration) -> tuple[str, str]:
    """Every synth-time check of the props; ValueError naming the prop. Returns the rendered timeouts (see ``_timeouts``)."""
    try:
        check_removal_policy(removal_policy)
        rendered_timeouts = _timeouts(timeout)
        validation.check_adoption_and_import(
            adopt_existing=bool(props.adopt_existing),
            source_phone_number_arn=props.source_phone_number_arn,
            phone_number=props.phone_number,
            country_code=props.country_code,
            phone_number_type=props.phone_number_type,
            prefix=props.prefix,
            target_arn=None if Token.is_unresolved(props.target_arn) else props.target_arn,
            names=PROP_NAMES,
        )
        if _known(props.source_phone_number_arn):
            validation.check_source_phone_number_arn("source_phone_number_arn", str(props.source_phone_number_arn))
        if props.source_phone_number_arn is None:
            selection = {name: getattr(props, name) for name in ("phone_number", "country_code", "phone_number_type", "prefix")}
            validation.check_selection(**selection, names=PROP_NAMES)
        if _known(props.target_arn):
            validation.check_target_arn("target_arn", props.target_arn)
            _check_target_env(stack, props.target_arn)
        checks = (
            ("phone_number", validation.check_phone_number),
            ("country_code", validation.check_country_code),
            ("phone_number_type", validation.check_phone_number_type),
            ("prefix", validation.check_prefix),
            ("description", validation.check_description),
        )
        for name, check in checks:
            if _known(getattr(props, name)):
                check(name, getattr(props, name))
        check_tags("tags", props.tags)
        _check_contact_flow(props.target_arn, props.contact_flow_arn)
    except validation.InvalidProperty as error:
        raise ValueError(refusal(error)) from None
    return rendered_timeouts


def _timeouts(timeout: Duration) -> tuple[str, str]:
    """WaitTimeoutSeconds and ServiceTimeout as the template renders them.

    CloudFormation has no arithmetic, so a token wait (``Duration.seconds(parameter.value_as_number)``) cannot get
    its margin added at deploy time. It is passed on as a token, for the handler to check, and ServiceTimeout is the
    longest wait plus the margin: the handler answers within its one Lambda run whatever the wait, so that is always
    late enough, and a lost answer still fails the stack in minutes, not an hour. Refusing token waits would be
    simpler, but would break stacks that take the wait as a parameter.
    """
    try:
        seconds = timeout.to_seconds(integral=False)
    except RuntimeError:  # CDK cannot convert a token given in another unit
        raise validation.InvalidProperty("timeout", "a token must be given in seconds: Duration.seconds(token)") from None
    margin = int(SERVICE_TIMEOUT_MARGIN.to_seconds())
    if Token.is_unresolved(seconds):
        return Token.as_string(seconds), str(validation.MAX_WAIT_TIMEOUT_SECONDS + margin)
    if seconds != int(seconds):
        raise validation.InvalidProperty("timeout", f"{timeout.to_human_string()} is not a whole number of seconds")
    validation.check_wait_timeout("timeout", seconds)
    return str(int(seconds)), str(int(seconds) + margin)


def check_removal_policy(policy: RemovalPolicy) -> None:
    """A number has no snapshot: RETAIN, RETAIN_ON_UPDATE_OR_DELETE and DESTROY are the policies that mean something."""
    if policy == RemovalPolicy.SNAPSHOT:
        raise validation.InvalidProperty("removal_policy", "RemovalPolicy.SNAPSHOT is not supported: a phone number has no snapshot (use RETAIN or DESTROY)")


def check_tags(prop: str, tags: Mapping[str, str]) -> None:
    """Each concrete key and value with the handler's rules; a token key or value is left to the handler, but still counts."""
    for key, value in tags.items():
        if not Token.is_unresolved(key):
            validation.check_tags(prop, {key: "" if Token.is_unresolved(value) else value})
    if len(tags) > validation.MAX_USER_TAGS:
        validation.check_tags(prop, tags)  # it counts before it reads any key, so a token cannot confuse it


@jsii.implements(IValidation)
class MergedTagsCheck:
    """The tag rules, on the tags the number will really carry: the prop merged with Tags.of, known only at synthesis."""

    def __init__(self, tags: TagManager) -> None:
        self._tags = tags

    def validate(self) -> list[str]:
        rendered = self._tags.render_tags() or []
        try:
            check_tags("tags", {tag["Key"]: tag["Value"] for tag in rendered})
        except validation.InvalidProperty as error:
            return [refusal(error)]
        return []


def _known(value: str | None) -> bool:
    return value is not None and not Token.is_unresolved(value)


def _check_contact_flow(target_arn: str, contact_flow_arn: str | None) -> None:
    """A concrete flow must be a flow of the target's instance, as the handler checks; a token is left to the handler."""
    if contact_flow_arn is None or Token.is_unresolved(contact_flow_arn):
        return
    if Token.is_unresolved(target_arn):
        validation.check_contact_flow_arn("contact_flow_arn", contact_flow_arn)
    else:
        validation.check_contact_flow("contact_flow_arn", contact_flow_arn, target_arn)


def _check_target_env(stack: Stack, target_arn: str) -> None:
    """The handler calls Connect in the stack's Region, as a role of the stack's account: a target elsewhere cannot work."""
    target = Arn.split(target_arn, ArnFormat.SLASH_RESOURCE_NAME)
    for what, stack_value, target_value in (
        ("partition", stack.partition, target.partition),
        ("Region", stack.region, target.region),
        ("account", stack.account, target.account),
    ):
        if not Token.is_unresolved(stack_value) and stack_value != target_value:
            raise validation.InvalidProperty(
                "target_arn",
                f"{target_arn!r} is in {what} {target_value}, but the stack deploys to {stack_value}: "
                "the handler can claim only in the stack's own account and Region",
            )
