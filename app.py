#!/usr/bin/env python3
"""Demo app: one Amazon Connect phone number, claimed by ClaimedPhoneNumber.

Context (``-c key=value``), all optional; synth needs no AWS credentials and no look-ups:

- ``instance_arn``: claim on this existing instance. Without it the stack creates its own
  Connect instance, so ``cdk deploy`` works in an empty account, and a contact flow on it
  that the number routes to.
- ``contact_flow_arn``: with ``instance_arn``, the flow of that instance to route the number to.
- ``target``: ``primary`` (default) or ``secondary``. With ``secondary`` (and no
  ``instance_arn``) the stack also creates a second instance and moves the number there.
- ``phone_number``: an exact E.164 number. Otherwise ``country_code`` (default US),
  ``phone_number_type`` (default DID) and ``prefix`` are searched.
- ``description``, ``removal_policy`` (``retain``, the default, or ``destroy``),
  ``instance_alias`` (default ``connect-phone-demo-<account>``).
"""

from __future__ import annotations

import json

import aws_cdk as cdk
from aws_cdk import aws_connect as connect
from cdk_nag import AwsSolutionsChecks

from connect_phone_number import ClaimedPhoneNumber
from connect_phone_number.replacement import RELEASES_WARNING
from constructs import Construct

STACK_NAME = "ConnectPhoneNumberDemo"
#: The demo's flow, in Connect's flow language: it ends the call.
DEMO_FLOW = {
    "Version": "2019-10-30",
    "StartAction": "end",
    "Actions": [{"Identifier": "end", "Type": "DisconnectParticipant", "Parameters": {}, "Transitions": {}}],
}
REMOVAL_POLICIES = {"retain": cdk.RemovalPolicy.RETAIN, "destroy": cdk.RemovalPolicy.DESTROY}


class PhoneNumberDemoStack(cdk.Stack):
    """A Connect instance (unless one is given) and a phone number claimed on it."""

    def __init__(self, scope: Construct, construct_id: str, **kwargs: object) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]

        def context(key: str, default: str | None = None) -> str | None:
            value = self.node.try_get_context(key)
            return default if value is None else str(value)

        given = context("instance_arn")
        target_arn, flow_arn = (given, context("contact_flow_arn")) if given else self._instance(secondary=context("target", "primary") == "secondary")
        policy_name = context("removal_policy", "retain") or "retain"
        if policy_name not in REMOVAL_POLICIES:
            raise ValueError(f"context 'removal_policy' must be one of {', '.join(REMOVAL_POLICIES)}, not {policy_name!r}")
        exact = context("phone_number")
        number = ClaimedPhoneNumber(
            self,
            "PhoneNumber",
            target_arn=target_arn,
            phone_number=exact,
            country_code=None if exact else context("country_code", "US"),
            phone_number_type=None if exact else context("phone_number_type", "DID"),
            prefix=None if exact else context("prefix"),
            description=context("description", "Connect phone number demo"),
            tags={"project": "cdk-connect-phone-number"},
            removal_policy=REMOVAL_POLICIES[policy_name],
            contact_flow_arn=flow_arn,
        )
        if policy_name == "destroy":
            cdk.Annotations.of(number).acknowledge_warning(RELEASES_WARNING, "The demo releases its number on purpose; a replacement may too.")
        cdk.CfnOutput(self, "PhoneNumberOutput", key="PhoneNumber", value=number.phone_number)
        cdk.CfnOutput(self, "PhoneNumberArnOutput", key="PhoneNumberArn", value=number.phone_number_arn)
        cdk.CfnOutput(self, "PhoneNumberIdOutput", key="PhoneNumberId", value=number.phone_number_id)

    def _instance(self, *, secondary: bool) -> tuple[str, str]:
        """The demo's own Connect instance ARN and its flow's; the second instance exists only when it is the target."""
        alias = self.node.try_get_context("instance_alias") or cdk.Fn.join("-", ["connect-phone-demo", cdk.Aws.ACCOUNT_ID])
        primary = self._new_instance("PrimaryInstance", alias)
        if not secondary:
            return primary.attr_arn, self._new_flow("PrimaryFlow", primary).attr_contact_flow_arn
        instance = self._new_instance("SecondaryInstance", cdk.Fn.join("-", [alias, "2"]))
        return instance.attr_arn, self._new_flow("SecondaryFlow", instance).attr_contact_flow_arn

    def _new_instance(self, construct_id: str, alias: str) -> connect.CfnInstance:
        return connect.CfnInstance(
            self,
            construct_id,
            identity_management_type="CONNECT_MANAGED",
            instance_alias=alias,
            attributes=connect.CfnInstance.AttributesProperty(inbound_calls=True, outbound_calls=True),
        )

    def _new_flow(self, construct_id: str, instance: connect.CfnInstance) -> connect.CfnContactFlow:
        """A minimal inbound flow on ``instance``: it ends the call."""
        return connect.CfnContactFlow(
            self,
            construct_id,
            instance_arn=instance.attr_arn,
            name="Phone number demo",
            type="CONTACT_FLOW",
            content=json.dumps(DEMO_FLOW),
        )


app = cdk.App()
PhoneNumberDemoStack(app, STACK_NAME, description="Demo of cdk-connect-phone-number: one Amazon Connect phone number")
cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
app.synth()
