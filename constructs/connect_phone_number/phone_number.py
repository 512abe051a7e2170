"""ClaimedPhoneNumber: an Amazon Connect phone number claimed, updated and released by CloudFormation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import jsii
from aws_cdk import (
    Arn,
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
from aws_cdk import aws_connect as connect
from aws_cdk import aws_lambda as lambda_

from connect_phone_number_handler import arns, contract, validation
from constructs import Construct, IDependable, IValidation

from . import migration, permissions, prop_checks
from .handler_function import (
    HANDLER_ASSET,
    HANDLER_ASSET_EXCLUDE,
    HANDLER_ENTRY,
    HANDLER_ID,
    HANDLER_LOGICAL_IDS,
    HANDLER_PACKAGE,
    HANDLER_RUNTIME,
    LOG_RETENTION,
    HandlerFunction,
)
from .prop_checks import PROP_NAMES, SERVICE_TIMEOUT_MARGIN
from .props import NumberProps
from .replacement import REPLACING_PROPS, ReplacementNote

__all__ = [
    "ADOPTION_REMOVAL_POLICY",
    "DEFAULT_REMOVAL_POLICY",
    "DEFAULT_TIMEOUT",
    "HANDLER_ASSET",
    "HANDLER_ASSET_EXCLUDE",
    "HANDLER_ENTRY",
    "HANDLER_ID",
    "HANDLER_LOGICAL_IDS",
    "HANDLER_PACKAGE",
    "HANDLER_RUNTIME",
    "LOG_RETENTION",
    "PROP_NAMES",
    "REPLACING_PROPS",
    "SERVICE_TIMEOUT_MARGIN",
    "ClaimedPhoneNumber",
    "IPhoneNumber",
]

#: Default: RemovalPolicy.RETAIN. A released number cools down for up to 180 days.
DEFAULT_REMOVAL_POLICY = RemovalPolicy.RETAIN
#: Default with adopt_existing: RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE. It keeps the number as RETAIN does, except
#: that the rollback of a failed first deploy sends the Delete that gives the number back where it was (under RETAIN
#: CloudFormation sends no Delete then, and the number would stay moved and marked by a stack that does not exist).
ADOPTION_REMOVAL_POLICY = RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE
#: Default: 10 minutes, as CloudFormation's own AWS::Connect::PhoneNumber.
DEFAULT_TIMEOUT = Duration.seconds(contract.DEFAULT_WAIT_TIMEOUT_SECONDS)


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
    replacement (REPLACING_PROPS). On delete the number is kept (RETAIN) unless the removal policy says DESTROY.

    The number is taggable: ``Tags.of(scope).add(...)`` reaches it, merged with the ``tags`` prop.
    To take over a number an ``aws_connect.CfnPhoneNumber`` holds, use ``migrate_from`` (docs/migration.md).

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
        migrate_from: connect.CfnPhoneNumber | None = None,
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
            RETAIN_ON_UPDATE_OR_DELETE or DESTROY. Default: RemovalPolicy.RETAIN; with ``adopt_existing``,
            RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE (a failed first deploy gives the number back)
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
        :param migrate_from: An existing ``aws_connect.CfnPhoneNumber`` whose number this one takes over, never releasing
            it: the CfnPhoneNumber is set to RemovalPolicy.RETAIN and its number adopted (``phone_number`` is its
            ``attr_address``, ``adopt_existing`` is implied, and the removal policy defaults to RETAIN_ON_UPDATE_OR_DELETE
            so that a failed deploy gives the number back as it was). Once that is deployed, delete the CfnPhoneNumber
            and declare ``phone_number="<its number>", adopt_existing=True`` instead (docs/migration.md). Not with
            ``country_code``, ``phone_number_type``, ``prefix``, ``source_phone_number_arn`` or removal policy DESTROY;
            from another stack, give ``phone_number`` too. Default: - no migration.
        """
        super().__init__(scope, id)
        stack = Stack.of(self)
        props = NumberProps(
            target_arn=target_arn,
            country_code=country_code,
            phone_number_type=phone_number_type,
            prefix=prefix,
            phone_number=phone_number,
            description=description,
            tags=dict(tags or {}),
            removal_policy=removal_policy,
            timeout=timeout,
            adopt_existing=adopt_existing,
            source_phone_number_arn=source_phone_number_arn,
            contact_flow_arn=contact_flow_arn,
        )
        if migrate_from is not None:
            props = migration.adopting(self, migrate_from, props)
        policy = props.removal_policy or (ADOPTION_REMOVAL_POLICY if props.adopt_existing else DEFAULT_REMOVAL_POLICY)
        # Checked before anything joins the tree: a refused number leaves no handler behind.
        wait_seconds, service_timeout = prop_checks.check_all(stack, props, removal_policy=policy, timeout=props.timeout or DEFAULT_TIMEOUT)
        handler = HandlerFunction.of(stack)
        permissions.grant_number(handler.function, stack, target_arn, source_phone_number_arn)
        self.function: lambda_.IFunction = handler.function
        """The stack's shared handler function."""
        # Prop tags enter at TagManager's initial priority, below Tags.of's default: Tags.of wins on the same key,
        # and Tags.of(...).remove removes a prop tag too, as on every CloudFormation resource CDK generates.
        self._tags = TagManager(TagType.KEY_VALUE, contract.RESOURCE_TYPE, dict(props.tags))
        properties = props.properties(service_token=handler.function.function_arn, wait_seconds=wait_seconds, service_timeout=service_timeout, tags=self._tags)
        self.resource = CfnResource(self, "Resource", type=contract.RESOURCE_TYPE, properties=properties)
        """The custom resource (Custom::ConnectPhoneNumber); also ``node.default_child``."""
        self.apply_removal_policy(policy)
        self.node.add_validation(prop_checks.MergedTagsCheck(self._tags))
        self.node.add_validation(ReplacementNote(self, self.resource))
        if props.adopt_existing:
            self.node.add_validation(_AdoptedRetention(self.resource))
        if migrate_from is not None:
            migration.hold(self, self.resource, migrate_from, target_arn=target_arn, description=description)

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
            prop_checks.check_removal_policy(policy)
        except validation.InvalidProperty as error:
            raise ValueError(prop_checks.refusal(error)) from None
        self.resource.apply_removal_policy(policy)

    def add_dependency(self, *targets: IDependable) -> None:
        """Create the number after ``targets``, and delete it before them, as ``CfnPhoneNumber.add_dependency`` does.

        ``targets`` may be L1 resources (a ``CfnInstance``), L2 constructs or whole stacks; the same as ``node.add_dependency``.
        """
        self.node.add_dependency(*targets)

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
            raise ValueError(prop_checks.refusal(validation.InvalidProperty("phone_number_arn", problem)))
        super().__init__(scope, id, environment_from_arn=phone_number_arn)
        self.phone_number_arn = phone_number_arn
        self.phone_number_id = Arn.extract_resource_name(phone_number_arn, "phone-number")
        self.phone_number: str | None = None


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
