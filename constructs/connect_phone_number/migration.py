"""``migrate_from``: moving a number from AWS::Connect::PhoneNumber (CDK's CfnPhoneNumber) to ClaimedPhoneNumber, never releasing it.

The two resources have different CloudFormation types, so the move cannot keep a logical id, and a custom resource
cannot be brought in with ``cdk import``. A plain swap in the code makes CloudFormation delete the CfnPhoneNumber,
under its default Delete policy: the published number is released (up to 180 days of cooldown) and another claimed.

The safe move takes two deploys, as ``cdk orphan`` does for other resources (decouple, then remove):

1. ``ClaimedPhoneNumber(..., migrate_from=legacy)``: the CfnPhoneNumber stays in the template with
   ``DeletionPolicy`` and ``UpdateReplacePolicy`` Retain, and the new resource adopts its number
   (``phone_number=legacy.attr_address, adopt_existing=True``), under RETAIN_ON_UPDATE_OR_DELETE. Both are in the
   stack; nothing is released, and a failed deploy rolls back to the CfnPhoneNumber alone: the rollback gives the
   adopted number back as it was.
2. The CfnPhoneNumber is deleted from the code and ``migrate_from=legacy`` becomes
   ``phone_number="+1...", adopt_existing=True``: CloudFormation removes the CfnPhoneNumber under the Retain
   deployed in step 1, and the ClaimedPhoneNumber keeps the number it already holds (its properties resolve as before).

Step 1 cannot be skipped by accident: it needs the CfnPhoneNumber object, so it is written while the CfnPhoneNumber
is still in the code, and its Retain reaches CloudFormation in the same deploy that adopts the number.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import jsii
from aws_cdk import Annotations, CfnDeletionPolicy, CfnResource, RemovalPolicy, Stack
from aws_cdk import aws_connect as connect

from constructs import Construct, IValidation

from .props import NumberProps

#: The guide users read (docs/migration.md in this repository).
GUIDE = "docs/migration.md"
#: Props that choose a number; with migrate_from the number is the CfnPhoneNumber's.
_CHOOSING_PROPS = ("country_code", "phone_number_type", "prefix", "source_phone_number_arn")
_RETAINED = (CfnDeletionPolicy.RETAIN,)
_DESTROY_REFUSED = (
    "ClaimedPhoneNumber: migrate_from with removal_policy DESTROY would release the CfnPhoneNumber's number if the deploy "
    "rolls back: migrate under RETAIN (the default), and change the policy in a later deploy"
)
#: The ClaimedPhoneNumber's default removal policy while it migrates (see adopted_number).
MIGRATION_REMOVAL_POLICY = RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE
#: Warning ids, for ``Annotations.of(number).acknowledge_warning(id)``.
MOVES_WARNING = "cdk-connect-phone-number:migrationMovesTheNumber"
DESCRIPTION_WARNING = "cdk-connect-phone-number:migrationChangesTheDescription"


def adopting(number: Construct, legacy: connect.CfnPhoneNumber, props: NumberProps) -> NumberProps:
    """``props`` adopting the CfnPhoneNumber's number, after checking them and setting the CfnPhoneNumber to Retain.

    None of the props that choose a number (``_CHOOSING_PROPS``) may be set; ValueError names them. The number is
    ``legacy.attr_address`` in the same stack or one nested in the same top-level stack (CDK passes it as a nested
    stack's parameter or output); from another top-level stack it must be given as ``phone_number``, since a
    reference would become an export that step 2 removes while it is in use.

    The removal policy defaults to RETAIN_ON_UPDATE_OR_DELETE (MIGRATION_REMOVAL_POLICY): it keeps the number as RETAIN
    does, except in the rollback of the deploy that adopted it, where CloudFormation sends the Delete that gives the
    number back as it was (under RETAIN it sends none, and the adoption's marker and changes would stay on a number
    the CfnPhoneNumber still manages).
    """
    given = sorted(name for name in _CHOOSING_PROPS if getattr(props, name) is not None)
    if given:
        raise ValueError(
            f"ClaimedPhoneNumber: migrate_from adopts the CfnPhoneNumber's number, so {', '.join(given)} cannot be given with it "
            "(to claim another number instead, add a ClaimedPhoneNumber without migrate_from)"
        )
    if props.adopt_existing is False:
        raise ValueError("ClaimedPhoneNumber: migrate_from adopts the CfnPhoneNumber's number: leave adopt_existing unset (it is implied)")
    if props.removal_policy == RemovalPolicy.DESTROY:
        raise ValueError(_DESTROY_REFUSED)
    if props.phone_number is None and _top_level(legacy) != _top_level(number):
        raise ValueError(
            f"ClaimedPhoneNumber: migrate_from names {legacy.node.path}, in another stack: give phone_number (its E.164 number) too, "
            "so that the reference does not become an export that the next step removes while it is in use"
        )
    legacy.apply_removal_policy(RemovalPolicy.RETAIN)
    return replace(
        props, phone_number=props.phone_number or legacy.attr_address, adopt_existing=True, removal_policy=props.removal_policy or MIGRATION_REMOVAL_POLICY
    )


def hold(number: Construct, resource: CfnResource, legacy: connect.CfnPhoneNumber, *, target_arn: str, description: str | None) -> None:
    """Order the adoption after the CfnPhoneNumber, keep the policies safe until synthesis, and say what comes next."""
    if _same_stack(legacy, resource):
        resource.add_resource_dependency(legacy)
    number.node.add_validation(_MigrationIsSafe(resource, legacy))
    Annotations.of(number).add_info(
        f"Migrating from CfnPhoneNumber {legacy.node.path} (kept by Retain, its number adopted). Once this is deployed, delete the "
        f"CfnPhoneNumber and replace migrate_from with phone_number='<its number>', adopt_existing=True ({GUIDE})."
    )
    if _differ(legacy, legacy.target_arn, number, target_arn):
        Annotations.of(number).add_warning_v2(
            MOVES_WARNING, f"target_arn is not the CfnPhoneNumber's TargetArn: the adoption moves {legacy.node.path}'s number to it."
        )
    if _differ(legacy, legacy.description, number, description):
        Annotations.of(number).add_warning_v2(
            DESCRIPTION_WARNING,
            f"description is not the CfnPhoneNumber's Description: the adoption changes {legacy.node.path}'s description"
            + (" (to none)." if description is None else "."),
        )


def _differ(legacy: Construct, theirs: Any, number: Construct, ours: Any) -> bool:
    """Whether two values, each resolved in its own stack, are different (a token compares by what it refers to)."""
    return json.dumps(Stack.of(legacy).resolve(theirs or ""), sort_keys=True) != json.dumps(Stack.of(number).resolve(ours or ""), sort_keys=True)


@jsii.implements(IValidation)
class _MigrationIsSafe:
    """At synthesis, after ``apply_removal_policy`` and ``RemovalPolicies.of`` have run: neither resource may release the number.

    The CfnPhoneNumber must keep Retain, or step 2's removal releases the number now adopted; the ClaimedPhoneNumber
    must not be DESTROY, or the rollback of a failed adoption releases the number the CfnPhoneNumber still holds.
    """

    def __init__(self, resource: CfnResource, legacy: connect.CfnPhoneNumber) -> None:
        self._resource = resource
        self._legacy = legacy

    def validate(self) -> list[str]:
        errors = []
        options = self._legacy.cfn_options
        if options.deletion_policy not in _RETAINED or options.update_replace_policy not in _RETAINED:
            errors.append(
                f"ClaimedPhoneNumber: migrate_from needs {self._legacy.node.path} under RemovalPolicy.RETAIN until it leaves the "
                f"stack; something set DeletionPolicy {options.deletion_policy}, UpdateReplacePolicy {options.update_replace_policy} "
                f"after it, which would release the number being adopted ({GUIDE})"
            )
        if self._resource.cfn_options.deletion_policy in (None, CfnDeletionPolicy.DELETE):
            errors.append(_DESTROY_REFUSED)
        return errors


def _same_stack(one: Construct, other: Construct) -> bool:
    return Stack.of(one).node.addr == Stack.of(other).node.addr


def _top_level(construct: Construct) -> str:
    """The address of the top-level stack ``construct`` deploys with (its own, or the one its nested stack is in)."""
    stack = Stack.of(construct)
    while stack.nested_stack_parent is not None:
        stack = stack.nested_stack_parent
    return stack.node.addr
