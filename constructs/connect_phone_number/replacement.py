"""Which props replace the number, and the synth-time note that says so (``cdk diff`` does not).

CloudFormation knows which properties of its own resource types require replacement, and ``cdk diff`` marks
them ``(requires replacement)``. A custom resource has no such schema: ``cdk diff`` shows a change of
``PhoneNumber`` or ``Type`` as ``[~]``, an in-place update, though the handler claims a new public number
(and the old one follows the UpdateReplacePolicy). Where a replacement would RELEASE the old number (removal
policy DESTROY), each number carries an acknowledgeable warning that says so at synth time. Under RETAIN (the
default) a replacement keeps the old number, and no note is added: it would print on every synth of every app
whether or not anything changed (aws-cdk-lib reports infos through the validation report too), which is what
documentation is for (docs/replacements.md).
"""

from __future__ import annotations

import jsii
from aws_cdk import Annotations, CfnDeletionPolicy, CfnResource

from constructs import Construct, IValidation

#: The props whose change claims a new number, as the handler's rule (rules.requires_replacement) has them; the
#: others (target_arn, description, tags, contact_flow_arn, timeout, removal_policy) change the same number in place.
REPLACING_PROPS = ("phone_number", "country_code", "phone_number_type", "prefix", "source_phone_number_arn")
#: The warning's id, for ``Annotations.of(number).acknowledge_warning(RELEASES_WARNING, reason)``.
RELEASES_WARNING = "cdk-connect-phone-number:replacementReleasesTheNumber"
_PROPS = ", ".join(REPLACING_PROPS)
_DIFF = "cdk diff shows such a change as an in-place update ([~]), not a replacement"


@jsii.implements(IValidation)
class ReplacementNote:
    """Adds the warning once the final UpdateReplacePolicy is known (after ``apply_removal_policy`` and ``RemovalPolicies.of``)."""

    def __init__(self, number: Construct, resource: CfnResource) -> None:
        self._number = number
        self._resource = resource
        self._added = False

    def validate(self) -> list[str]:
        if self._added:  # a second synth of the same app must not repeat the warning
            return []
        self._added = True
        if self._resource.cfn_options.update_replace_policy in (None, CfnDeletionPolicy.DELETE):
            Annotations.of(self._number).add_warning_v2(
                RELEASES_WARNING,
                f"A change of {_PROPS} claims a new number and RELEASES this one (removal policy DESTROY); {_DIFF}.",
            )
        return []
