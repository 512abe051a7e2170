"""A help desk on Amazon Connect: an instance, opening hours, an inbound flow, a queue whose outbound caller id is the
main number, and a routing profile. Its main number moves from CfnPhoneNumber to ClaimedPhoneNumber without being
released, one deploy at a time (context ``main_number_stage``; docs/migration.md):

- ``cfn`` (the app as it was): ``aws_connect.CfnPhoneNumber``, under CloudFormation's default Delete policy.
- ``migrating``: ``ClaimedPhoneNumber(..., migrate_from=<the CfnPhoneNumber>)``. The CfnPhoneNumber stays, kept by
  Retain; the new resource adopts its number and routes it to the flow (CfnPhoneNumber cannot).
- ``claimed`` (the app from now on): the CfnPhoneNumber is gone from the code; ``phone_number`` is the number
  (context ``main_number``, the ``MainNumber`` output of the deploys before) with ``adopt_existing=True``.
"""

from __future__ import annotations

import json

import aws_cdk as cdk
from aws_cdk import aws_connect as connect
from cdk_nag import AwsSolutionsChecks

from connect_phone_number import ClaimedPhoneNumber
from constructs import Construct

STAGES = ("cfn", "migrating", "claimed")
#: The inbound flow, in Connect's flow language: put the caller in the help desk's queue.
INBOUND_FLOW = {
    "Version": "2019-10-30",
    "StartAction": "queue",
    "Actions": [
        {"Identifier": "queue", "Type": "TransferContactToQueue", "Parameters": {}, "Transitions": {"NextAction": "end"}},
        {"Identifier": "end", "Type": "DisconnectParticipant", "Parameters": {}, "Transitions": {}},
    ],
}
WEEKDAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY")


class HelpDeskStack(cdk.Stack):
    """The help desk; ``main_number_stage`` says which of the migration's deploys this is."""

    def __init__(self, scope: Construct, construct_id: str, *, main_number_stage: str, main_number: str | None = None, **kwargs: object) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        if main_number_stage not in STAGES:
            raise ValueError(f"context 'main_number_stage' must be one of {', '.join(STAGES)}, not {main_number_stage!r}")
        self.instance = connect.CfnInstance(
            self,
            "Instance",
            identity_management_type="CONNECT_MANAGED",
            instance_alias=cdk.Fn.join("-", ["help-desk", cdk.Aws.ACCOUNT_ID]),
            attributes=connect.CfnInstance.AttributesProperty(inbound_calls=True, outbound_calls=True),
        )
        hours = connect.CfnHoursOfOperation(
            self,
            "Hours",
            instance_arn=self.instance.attr_arn,
            name="Office hours",
            time_zone="Europe/London",
            config=[
                connect.CfnHoursOfOperation.HoursOfOperationConfigProperty(
                    day=day,
                    start_time=connect.CfnHoursOfOperation.HoursOfOperationTimeSliceProperty(hours=8, minutes=0),
                    end_time=connect.CfnHoursOfOperation.HoursOfOperationTimeSliceProperty(hours=18, minutes=0),
                )
                for day in WEEKDAYS
            ],
        )
        flow = connect.CfnContactFlow(
            self, "Inbound", instance_arn=self.instance.attr_arn, name="Help desk inbound", type="CONTACT_FLOW", content=json.dumps(INBOUND_FLOW)
        )
        caller_id_arn, number = self._main_number(main_number_stage, main_number, flow)
        queue = connect.CfnQueue(
            self,
            "Queue",
            instance_arn=self.instance.attr_arn,
            name="Help desk",
            hours_of_operation_arn=hours.attr_hours_of_operation_arn,
            outbound_caller_config=connect.CfnQueue.OutboundCallerConfigProperty(
                outbound_caller_id_name="Help desk", outbound_caller_id_number_arn=caller_id_arn
            ),
        )
        connect.CfnRoutingProfile(
            self,
            "Agents",
            instance_arn=self.instance.attr_arn,
            name="Help desk agents",
            description="Help desk agents: voice, one call at a time",
            default_outbound_queue_arn=queue.attr_queue_arn,
            media_concurrencies=[connect.CfnRoutingProfile.MediaConcurrencyProperty(channel="VOICE", concurrency=1)],
            queue_configs=[
                connect.CfnRoutingProfile.RoutingProfileQueueConfigProperty(
                    delay=0,
                    priority=1,
                    queue_reference=connect.CfnRoutingProfile.RoutingProfileQueueReferenceProperty(channel="VOICE", queue_arn=queue.attr_queue_arn),
                )
            ],
        )
        cdk.CfnOutput(self, "MainNumberOutput", key="MainNumber", value=number)

    def _main_number(self, stage: str, main_number: str | None, flow: connect.CfnContactFlow) -> tuple[str, str]:
        """The main number at this stage of the migration: its ARN (the queue's caller id) and its E.164 number."""
        if stage == "claimed":
            if not main_number:
                raise ValueError("main_number_stage=claimed needs context main_number: the number the earlier deploys output as MainNumber")
            claimed = ClaimedPhoneNumber(
                self,
                "Main",
                target_arn=self.instance.attr_arn,
                phone_number=main_number,
                adopt_existing=True,
                description="Help desk",
                contact_flow_arn=flow.attr_contact_flow_arn,
            )
            return claimed.phone_number_arn, claimed.phone_number
        # The app as it was: CfnPhoneNumber's construct id stays until the resource leaves the code.
        legacy = connect.CfnPhoneNumber(self, "MainNumber", target_arn=self.instance.attr_arn, country_code="US", type="DID", description="Help desk")
        if stage == "cfn":
            return legacy.attr_phone_number_arn, legacy.attr_address
        migrated = ClaimedPhoneNumber(
            self, "Main", target_arn=self.instance.attr_arn, description="Help desk", contact_flow_arn=flow.attr_contact_flow_arn, migrate_from=legacy
        )
        return legacy.attr_phone_number_arn, migrated.phone_number


def build(app: cdk.App) -> HelpDeskStack:
    """The app's one stack, from its context (``main_number_stage``, default ``cfn``: the app as it was; and ``main_number``)."""
    stage = str(app.node.try_get_context("main_number_stage") or "cfn")
    main_number = app.node.try_get_context("main_number")
    return HelpDeskStack(
        app, "HelpDesk", main_number_stage=stage, main_number=str(main_number) if main_number else None, description="A help desk on Amazon Connect"
    )


def main(app: cdk.App) -> None:
    """Build ``app``, check it with cdk-nag 2 applied as an Aspect (as most projects pin it), and synthesize it.

    cdk-nag 2 reports a finding as an error annotation: `cdk synth` fails on it.
    """
    build(app)
    cdk.Aspects.of(app).add(AwsSolutionsChecks(verbose=True))  # type: ignore[arg-type]  # cdk-nag 2's is an IAspect; mypy sees the venv's 3
    app.synth()
