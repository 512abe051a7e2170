"""ClaimedPhoneNumber: an Amazon Connect phone number claimed, updated and released by CloudFormation."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from aws_cdk import (
    CustomResource,
    Duration,
    RemovalPolicy,
    Stack,
    Token,
)
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs

from constructs import Construct

from . import permissions
from .runtime import contract

#: Where the handler's code lives: the top-level ``lambda/`` folder, reached through ``runtime``.
HANDLER_ASSET = Path(__file__).resolve().parent / "runtime"
HANDLER_ENTRY = "handler.on_event"
HANDLER_RUNTIME = lambda_.Runtime.PYTHON_3_14
HANDLER_ID = "ConnectPhoneNumberHandler"  # one per stack, shared by every number in it
LOG_RETENTION = logs.RetentionDays.ONE_MONTH

#: Default: RemovalPolicy.RETAIN. A released number cools down for up to 180 days.
DEFAULT_REMOVAL_POLICY = RemovalPolicy.RETAIN
#: Default: 10 minutes, as CloudFormation's own AWS::Connect::PhoneNumber.
DEFAULT_TIMEOUT = Duration.seconds(contract.DEFAULT_WAIT_TIMEOUT_SECONDS)
#: CloudFormation gives up on a silent custom resource this long after the wait limit.
SERVICE_TIMEOUT_MARGIN = Duration.minutes(2)

PROP_NAMES = {
    "phone_number": "phone_number",
    "country_code": "country_code",
    "phone_number_type": "phone_number_type",
    "prefix": "prefix",
}


class ClaimedPhoneNumber(Construct):
    """An Amazon Connect phone number, claimed when the stack deploys.

    The stack does not complete until Connect reports the number CLAIMED; a FAILED claim fails
    the deployment with Connect's own message. Moving the number to another target and changing
    its description or tags update it in place; asking for a different number claims a
    replacement. On delete the number is kept (RETAIN) unless the removal policy says DESTROY.

    Example::

        number = ClaimedPhoneNumber(self, "Support",
            target_arn=instance.attr_arn,
            country_code="US",
            phone_number_type="TOLL_FREE",
            description="Support line",
        )
        CfnOutput(self, "SupportNumber", value=number.phone_number)
    """

    def __init__(
        self,
        scope: Construct,
        id: str,  # noqa: A002 - the CDK's naming
        *,
        target_arn: str,
        country_code: str | None = None,
        phone_number_type: str | None = None,
        prefix: str | None = None,
        phone_number: str | None = None,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
        removal_policy: RemovalPolicy | None = None,
        timeout: Duration | None = None,
    ) -> None:
        """Declare a phone number.

        :param target_arn: The Connect instance ARN or traffic distribution group ARN to claim the number to.
            Changing it moves the same number.
        :param country_code: ISO country code to search, such as ``US``. Default: - none; required without ``phone_number``.
        :param phone_number_type: ``TOLL_FREE``, ``DID``, ``UIFN``, ``SHARED``, ``THIRD_PARTY_TF``, ``THIRD_PARTY_DID``
            or ``SHORT_CODE``. Default: - none; required without ``phone_number``.
        :param prefix: Digits the searched number starts with, such as ``+1800``. Default: - any number.
        :param phone_number: An exact E.164 number to claim instead of searching. Default: - the number is
            searched for by country and type.
        :param description: The number's description (at most 500 characters). Default: - no description.
        :param tags: Tags for the number (at most 49; one is reserved). Default: - no tags.
        :param removal_policy: What happens to the number when it leaves the stack or is replaced.
            Default: RemovalPolicy.RETAIN
        :param timeout: How long to wait for Connect to finish a claim or move (10 s to 14 min).
            Default: Duration.minutes(10)
        """
        super().__init__(scope, id)
        wait = timeout or DEFAULT_TIMEOUT
        _check_props(
            target_arn=target_arn,
            country_code=country_code,
            phone_number_type=phone_number_type,
            prefix=prefix,
            phone_number=phone_number,
            description=description,
            tags=tags or {},
            timeout=wait,
        )
        handler = _handler(Stack.of(self))
        permissions.grant_target(handler, target_arn)
        self.function: lambda_.IFunction = handler
        """The stack's shared handler function."""

        properties: dict[str, object] = {
            contract.TARGET_ARN: target_arn,
            contract.WAIT_TIMEOUT_SECONDS: str(int(wait.to_seconds())),
        }
        optional = {
            contract.COUNTRY_CODE: country_code,
            contract.TYPE: phone_number_type,
            contract.PREFIX: prefix,
            contract.PHONE_NUMBER: phone_number,
            contract.DESCRIPTION: description,
        }
        properties.update({k: v for k, v in optional.items() if v is not None})
        if tags:
            properties[contract.TAGS] = [{"Key": k, "Value": v} for k, v in sorted(tags.items())]

        self.resource = CustomResource(
            self,
            "Resource",
            service_token=handler.function_arn,
            resource_type=contract.RESOURCE_TYPE,
            properties=properties,
            removal_policy=removal_policy or DEFAULT_REMOVAL_POLICY,
            service_timeout=wait.plus(SERVICE_TIMEOUT_MARGIN),
        )
        """The custom resource (Custom::ConnectPhoneNumber)."""

        self.phone_number: str = self.resource.get_att_string(contract.ATTR_PHONE_NUMBER)
        """The claimed number in E.164 format, such as +18005550100."""
        self.phone_number_arn: str = self.resource.get_att_string(contract.ATTR_PHONE_NUMBER_ARN)
        """The number's ARN (also the resource's Ref)."""
        self.phone_number_id: str = self.resource.get_att_string(contract.ATTR_PHONE_NUMBER_ID)
        """The number's id."""


def _check_props(
    *,
    target_arn: str,
    country_code: str | None,
    phone_number_type: str | None,
    prefix: str | None,
    phone_number: str | None,
    description: str | None,
    tags: Mapping[str, str],
    timeout: Duration,
) -> None:
    """Check props at synth time with the handler's own rules.

    A token (a value known only at deploy time) cannot be checked here; the handler checks it
    before it calls Connect.
    """

    def known(value: str | None) -> bool:
        return value is not None and not Token.is_unresolved(value)

    try:
        contract.check_selection(
            phone_number=phone_number,
            country_code=country_code,
            phone_number_type=phone_number_type,
            prefix=prefix,
            names=PROP_NAMES,
        )
        if known(target_arn):
            contract.check_target_arn("target_arn", target_arn)
        checks = (
            (phone_number, "phone_number", contract.check_phone_number),
            (country_code, "country_code", contract.check_country_code),
            (phone_number_type, "phone_number_type", contract.check_phone_number_type),
            (prefix, "prefix", contract.check_prefix),
            (description, "description", contract.check_description),
        )
        for value, name, check in checks:
            if value is not None and known(value):
                check(name, value)
        if not any(Token.is_unresolved(k) or Token.is_unresolved(v) for k, v in tags.items()):
            contract.check_tags("tags", tags)
        if not Token.is_unresolved(timeout.to_seconds()):
            contract.check_wait_timeout("timeout", timeout.to_seconds())
    except contract.InvalidProperty as error:
        raise ValueError(f"ClaimedPhoneNumber: {error}") from None


def _handler(stack: Stack) -> lambda_.Function:
    """The stack's one handler function, with its role and log group, created on first use."""
    existing = stack.node.try_find_child(HANDLER_ID)
    if existing is not None:
        return existing.node.find_child("Function")  # type: ignore[return-value]
    scope = Construct(stack, HANDLER_ID)
    log_group = logs.LogGroup(scope, "Logs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY)
    role = iam.Role(scope, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    log_group.grant_write(role)
    function = lambda_.Function(
        scope,
        "Function",
        runtime=HANDLER_RUNTIME,
        architecture=lambda_.Architecture.ARM_64,
        code=lambda_.Code.from_asset(str(HANDLER_ASSET), exclude=["__pycache__", "*.pyc"]),
        handler=HANDLER_ENTRY,
        role=role,
        timeout=Duration.seconds(contract.FUNCTION_TIMEOUT_SECONDS),
        memory_size=256,
        log_group=log_group,
        description="Claims, updates and releases Amazon Connect phone numbers (cdk-connect-phone-number)",
    )
    permissions.grant_account_actions(function, stack)
    permissions.acknowledge_wildcards(scope, stack)
    return function
