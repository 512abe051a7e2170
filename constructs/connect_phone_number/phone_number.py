"""ClaimedPhoneNumber: an Amazon Connect phone number claimed, updated and released by CloudFormation."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol, cast

import jsii
from aws_cdk import (
    Arn,
    ArnFormat,
    CfnDeletionPolicy,
    CfnResource,
    Duration,
    IResource,
    ITaggable,
    RemovalPolicy,
    Resource,
    Stack,
    TagManager,
    TagType,
    Token,
)
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs

import connect_phone_number_handler
from connect_phone_number_handler import arns, contract, validation
from constructs import Construct, IConstruct, IValidation

from . import permissions

#: The Lambda asset root: the folder that holds the handler package, ``lambda/`` in this repository and
#: site-packages once installed. Only the handler package goes into the asset (HANDLER_ASSET_EXCLUDE).
HANDLER_ASSET = Path(connect_phone_number_handler.__file__).resolve().parent.parent
HANDLER_PACKAGE = connect_phone_number_handler.__name__
HANDLER_ASSET_EXCLUDE = ["*", f"!{HANDLER_PACKAGE}", f"!{HANDLER_PACKAGE}/**", "__pycache__", "*.pyc"]
HANDLER_ENTRY = f"{HANDLER_PACKAGE}.index.on_event"
HANDLER_RUNTIME = lambda_.Runtime.PYTHON_3_14
#: The id of the stack's one handler (shared by every number in it), namespaced by this distribution's name so a
#: user's own construct cannot take it by accident.
HANDLER_ID = "cdk-connect-phone-number.Handler"
#: The handler's logical ids from before HANDLER_ID was namespaced (``ConnectPhoneNumberHandler/...``), kept so that
#: an upgrade replaces nothing. The function's ARN is every number's ServiceToken, and CloudFormation refuses to
#: change a custom resource's ServiceToken ("Modifying service token is not allowed"); a new role would wait for IAM
#: to propagate, and a new log group would lose the old one's logs (it is destroyed with the stack).
HANDLER_LOGICAL_IDS = {
    "Function": "ConnectPhoneNumberHandlerFunction59832BE6",
    "Role": "ConnectPhoneNumberHandlerRole09643CE6",
    "Role/DefaultPolicy": "ConnectPhoneNumberHandlerRoleDefaultPolicy3D34FFA3",
    "Logs": "ConnectPhoneNumberHandlerLogs682E9BF4",
}
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
    "adopt_existing": "adopt_existing",
    "source_phone_number_arn": "source_phone_number_arn",
    "target_arn": "target_arn",
}


class IPhoneNumber(IResource, Protocol):
    """An Amazon Connect phone number: one a ClaimedPhoneNumber claims, or a reference to one managed elsewhere.

    Take this type in your own constructs to accept either.
    """

    @property
    def phone_number_arn(self) -> str:
        """The number's ARN."""
        ...

    @property
    def phone_number_id(self) -> str:
        """The number's id (the last part of its ARN)."""
        ...

    @property
    def phone_number(self) -> str | None:
        """The number in E.164 format, such as +18005550100; None where it is not known (a reference made from an ARN)."""
        ...


@jsii.implements(ITaggable)
class ClaimedPhoneNumber(Resource):
    """An Amazon Connect phone number, claimed when the stack deploys.

    The stack does not complete until Connect reports the number CLAIMED; a FAILED claim fails
    the deployment with Connect's own message. Moving the number to another target and changing
    its description or tags update it in place; asking for a different number claims a
    replacement. On delete the number is kept (RETAIN) unless the removal policy says DESTROY.

    The number is taggable: ``Tags.of(scope).add(...)`` reaches it, merged with the ``tags`` prop.

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
        adopt_existing: bool | None = None,
        source_phone_number_arn: str | None = None,
        contact_flow_arn: str | None = None,
    ) -> None:
        """Declare a phone number.

        :param target_arn: The Connect instance ARN or traffic distribution group ARN to claim the number to, in the
            stack's own account and Region. Changing it moves the same number.
        :param country_code: ISO country code to search, such as ``US``. Default: - none; required without ``phone_number``.
        :param phone_number_type: ``TOLL_FREE``, ``DID``, ``UIFN``, ``SHARED``, ``THIRD_PARTY_TF``, ``THIRD_PARTY_DID``
            or ``SHORT_CODE``. Default: - none; required without ``phone_number``.
        :param prefix: Digits the searched number starts with, such as ``+1800``. Default: - any number.
        :param phone_number: An exact E.164 number to claim instead of searching. Default: - the number is
            searched for by country and type.
        :param description: The number's description (at most 500 characters). Default: - no description.
        :param tags: Tags for the number, merged with those of ``Tags.of`` (which win on the same key, as for CDK's
            own resources); at most 49 in all, one is reserved. Default: - no tags.
        :param removal_policy: What happens to the number when it leaves the stack or is replaced: RETAIN,
            RETAIN_ON_UPDATE_OR_DELETE or DESTROY. Default: RemovalPolicy.RETAIN
        :param timeout: How long to wait for Connect to finish a claim or move: whole seconds, 10 s to 14 min. A
            token must be ``Duration.seconds(token)``. Default: Duration.minutes(10)
        :param adopt_existing: Take over ``phone_number`` if this account already holds it (moved to ``target_arn`` if
            it is elsewhere, its description, tags and flow converged), instead of failing. A number another resource
            of this library manages is refused; a failed adoption is undone; under RETAIN or RETAIN_ON_UPDATE_OR_DELETE a
            rollback gives the number back instead of releasing it. Default: false - a number the account already holds
            fails the deployment, naming where it is.
        :param source_phone_number_arn: An AWS End User Messaging phone-number ARN to import with ImportPhoneNumber
            instead of claiming a number (as AWS::Connect::PhoneNumber's SourcePhoneNumberArn); ``target_arn`` must be
            an instance. Changing it imports a replacement. Default: - no import; a number is claimed.
        :param contact_flow_arn: The contact flow calls to the number go to, a flow of the target's instance. It is
            associated once the number is CLAIMED, again after a move (a move drops it), and restored on every
            update if it was changed by hand; removing the prop disassociates it. Default: - no flow is managed
            (a flow set by hand is left alone).
        """
        super().__init__(scope, id)
        stack = Stack.of(self)
        try:
            _check_removal_policy(removal_policy or DEFAULT_REMOVAL_POLICY)  # before anything joins the tree
            wait_seconds, service_timeout = _timeouts(timeout or DEFAULT_TIMEOUT)
            _check_adoption_and_import(
                target_arn=target_arn,
                phone_number=phone_number,
                country_code=country_code,
                phone_number_type=phone_number_type,
                prefix=prefix,
                adopt_existing=bool(adopt_existing),
                source_phone_number_arn=source_phone_number_arn,
            )
            _check_props(
                stack=stack,
                target_arn=target_arn,
                country_code=country_code,
                phone_number_type=phone_number_type,
                prefix=prefix,
                phone_number=phone_number,
                description=description,
                tags=tags or {},
                importing=source_phone_number_arn is not None,
            )
            _check_contact_flow(target_arn, contact_flow_arn)
        except validation.InvalidProperty as error:
            raise ValueError(_refusal(error)) from None
        handler = _Handler.of(stack)
        if source_phone_number_arn is None:
            permissions.grant_target(handler.function, target_arn)
        else:
            permissions.grant_import(handler.function, stack, target_arn, source_phone_number_arn)
        self.function: lambda_.IFunction = handler.function
        """The stack's shared handler function."""
        # Prop tags enter at TagManager's initial priority, below Tags.of's default: Tags.of wins on the same key,
        # and Tags.of(...).remove removes a prop tag too, as on every CloudFormation resource CDK generates.
        self._tags = TagManager(TagType.KEY_VALUE, contract.RESOURCE_TYPE, dict(tags or {}))

        properties: dict[str, object] = {
            contract.SERVICE_TOKEN: handler.function.function_arn,
            contract.SERVICE_TIMEOUT: service_timeout,
            contract.TARGET_ARN: target_arn,
            contract.WAIT_TIMEOUT_SECONDS: wait_seconds,
        }
        optional = {
            contract.COUNTRY_CODE: country_code,
            contract.TYPE: phone_number_type,
            contract.PREFIX: prefix,
            contract.PHONE_NUMBER: phone_number,
            contract.DESCRIPTION: description,
            contract.SOURCE_PHONE_NUMBER_ARN: source_phone_number_arn,
            contract.ADOPT_EXISTING: "true" if adopt_existing else None,
            contract.CONTACT_FLOW_ARN: contact_flow_arn,
        }
        properties.update({k: v for k, v in optional.items() if v is not None})
        # Rendered by CDK at synthesis, after Tags.of has run; absent when there are no tags.
        properties[contract.TAGS] = self._tags.rendered_tags

        self.resource = CfnResource(self, "Resource", type=contract.RESOURCE_TYPE, properties=properties)
        """The custom resource (Custom::ConnectPhoneNumber); also ``node.default_child``."""
        self.apply_removal_policy(removal_policy or DEFAULT_REMOVAL_POLICY)
        self.node.add_validation(_MergedTagsCheck(self._tags))
        if adopt_existing:
            self.node.add_validation(_AdoptedRetention(self.resource))

        self.phone_number: str = Token.as_string(self.resource.get_att(contract.ATTR_PHONE_NUMBER))
        """The claimed number in E.164 format, such as +18005550100."""
        self.phone_number_arn: str = Token.as_string(self.resource.get_att(contract.ATTR_PHONE_NUMBER_ARN))
        """The number's ARN (also the resource's Ref)."""
        self.phone_number_id: str = Token.as_string(self.resource.get_att(contract.ATTR_PHONE_NUMBER_ID))
        """The number's id."""

    @property
    def tags(self) -> TagManager:
        """The number's tags: the ``tags`` prop and whatever ``Tags.of`` adds or removes."""
        return self._tags

    def apply_removal_policy(self, policy: RemovalPolicy) -> None:
        """Set what happens to the number when it leaves the stack or is replaced (SNAPSHOT is refused)."""
        try:
            _check_removal_policy(policy)
        except validation.InvalidProperty as error:
            raise ValueError(_refusal(error)) from None
        self.resource.apply_removal_policy(policy)

    @staticmethod
    def from_phone_number_arn(scope: Construct, id: str, phone_number_arn: str) -> IPhoneNumber:  # noqa: A002 - the CDK's naming
        """A read-only reference to a number managed elsewhere (another stack, AWS::Connect::PhoneNumber, the console).

        Its id is parsed from the ARN (with Fn::Select and Fn::Split when the ARN is a token); its E.164 number is
        not known, so ``phone_number`` is None.
        """
        return _PhoneNumberReference(scope, id, phone_number_arn)


class _PhoneNumberReference(Resource):
    """A number this stack refers to but does not manage."""

    def __init__(self, scope: Construct, id: str, phone_number_arn: str) -> None:  # noqa: A002 - the CDK's naming
        if not Token.is_unresolved(phone_number_arn) and not arns.is_phone_number_arn(phone_number_arn):
            problem = f"{phone_number_arn!r} is not a Connect phone-number ARN (arn:aws:connect:REGION:ACCOUNT:phone-number/ID)"
            raise ValueError(_refusal(validation.InvalidProperty("phone_number_arn", problem)))
        super().__init__(scope, id, environment_from_arn=phone_number_arn)
        self.phone_number_arn = phone_number_arn
        self.phone_number_id = Arn.extract_resource_name(phone_number_arn, "phone-number")
        self.phone_number: str | None = None


@jsii.implements(IValidation)
class _MergedTagsCheck:
    """The tag rules, on the tags the number will really carry: the prop merged with Tags.of, known only at synthesis."""

    def __init__(self, tags: TagManager) -> None:
        self._tags = tags

    def validate(self) -> list[str]:
        rendered = self._tags.render_tags() or []
        try:
            _check_tags("tags", {tag["Key"]: tag["Value"] for tag in rendered})
        except validation.InvalidProperty as error:
            return [_refusal(error)]
        return []


@jsii.implements(IValidation)
class _AdoptedRetention:
    """Tells the handler (RetainAdoptedNumber) that the removal policy keeps an adopted number, from the final DeletionPolicy.

    It is read at synthesis, after ``apply_removal_policy`` and ``RemovalPolicies.of`` have run. With any policy but
    DESTROY, the only Delete CloudFormation sends is a rollback's, which must give the number back, not release it.
    (A Lazy would be the natural form, but a Python producer fails jsii serialization, as for the tags.)
    """

    def __init__(self, resource: CfnResource) -> None:
        self._resource = resource

    def validate(self) -> list[str]:
        if self._resource.cfn_options.deletion_policy not in (None, CfnDeletionPolicy.DELETE):
            self._resource.add_property_override(contract.RETAIN_ADOPTED_NUMBER, "true")
        return []


def _refusal(error: validation.InvalidProperty) -> str:
    return f"ClaimedPhoneNumber: {error}"


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


def _check_removal_policy(policy: RemovalPolicy) -> None:
    """A number has no snapshot: RETAIN, RETAIN_ON_UPDATE_OR_DELETE and DESTROY are the policies that mean something."""
    if policy == RemovalPolicy.SNAPSHOT:
        raise validation.InvalidProperty("removal_policy", "RemovalPolicy.SNAPSHOT is not supported: a phone number has no snapshot (use RETAIN or DESTROY)")


def _check_props(
    *,
    stack: Stack,
    target_arn: str,
    country_code: str | None,
    phone_number_type: str | None,
    prefix: str | None,
    phone_number: str | None,
    description: str | None,
    tags: Mapping[str, str],
    importing: bool = False,
) -> None:
    """Check props at synth time with the handler's own rules (an import's are checked by _check_adoption_and_import).

    A token (a value known only at deploy time) cannot be checked here; the handler checks it
    before it calls Connect.
    """

    def known(value: str | None) -> bool:
        return value is not None and not Token.is_unresolved(value)

    if not importing:
        validation.check_selection(
            phone_number=phone_number,
            country_code=country_code,
            phone_number_type=phone_number_type,
            prefix=prefix,
            names=PROP_NAMES,
        )
    if known(target_arn):
        validation.check_target_arn("target_arn", target_arn)
        _check_target_env(stack, target_arn)
    checks = (
        (phone_number, "phone_number", validation.check_phone_number),
        (country_code, "country_code", validation.check_country_code),
        (phone_number_type, "phone_number_type", validation.check_phone_number_type),
        (prefix, "prefix", validation.check_prefix),
        (description, "description", validation.check_description),
    )
    for value, name, check in checks:
        if value is not None and known(value):
            check(name, value)
    _check_tags("tags", tags)


def _check_adoption_and_import(
    *,
    target_arn: str,
    phone_number: str | None,
    country_code: str | None,
    phone_number_type: str | None,
    prefix: str | None,
    adopt_existing: bool,
    source_phone_number_arn: str | None,
) -> None:
    """Adoption needs an exact number; an import needs an instance and nothing to search or claim (the handler's rules)."""
    validation.check_adoption_and_import(
        adopt_existing=adopt_existing,
        source_phone_number_arn=source_phone_number_arn,
        phone_number=phone_number,
        country_code=country_code,
        phone_number_type=phone_number_type,
        prefix=prefix,
        target_arn=None if Token.is_unresolved(target_arn) else target_arn,
        names=PROP_NAMES,
    )
    if source_phone_number_arn is not None and not Token.is_unresolved(source_phone_number_arn):
        validation.check_source_phone_number_arn("source_phone_number_arn", source_phone_number_arn)


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


def _check_tags(prop: str, tags: Mapping[str, str]) -> None:
    """Each concrete key and value with Connect's rules; a token key or value is left to the handler, but still counts."""
    for key, value in tags.items():
        if not Token.is_unresolved(key):
            validation.check_tags(prop, {key: "" if Token.is_unresolved(value) else value})
    if len(tags) > validation.MAX_USER_TAGS:
        validation.check_tags(prop, tags)  # it counts before it reads any key, so a token cannot confuse it


class _Handler(Construct):
    """The stack's one handler: its function, role, log group and policy."""

    @classmethod
    def of(cls, stack: Stack) -> _Handler:
        """The stack's handler, created on first use."""
        existing = stack.node.try_find_child(HANDLER_ID)
        if existing is None:
            return cls(stack, HANDLER_ID)
        if not isinstance(existing, cls):
            raise ValueError(f"ClaimedPhoneNumber: the id {HANDLER_ID!r} in stack {stack.node.path!r} is reserved for this library's handler")
        return existing

    def __init__(self, stack: Stack, id: str) -> None:  # noqa: A002 - the CDK's naming
        super().__init__(stack, id)
        log_group = logs.LogGroup(self, "Logs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY)
        role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        log_group.grant_write(role)
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=HANDLER_RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            code=lambda_.Code.from_asset(str(HANDLER_ASSET), exclude=HANDLER_ASSET_EXCLUDE),
            handler=HANDLER_ENTRY,
            role=role,
            timeout=Duration.seconds(contract.FUNCTION_TIMEOUT_SECONDS),
            memory_size=256,
            log_group=log_group,
            description="Claims, updates and releases Amazon Connect phone numbers (cdk-connect-phone-number)",
        )
        permissions.grant_account_actions(self.function, stack)
        permissions.acknowledge_wildcards(self, stack)
        permissions.grant_flow_actions(self.function, stack)
        permissions.acknowledge_flow_wildcards(self, stack)
        for path, logical_id in HANDLER_LOGICAL_IDS.items():
            child: IConstruct = self
            for part in path.split("/"):
                child = child.node.find_child(part)
            cast(CfnResource, child.node.default_child).override_logical_id(logical_id)
