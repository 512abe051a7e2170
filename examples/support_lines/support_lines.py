"""Support lines as a reusable pattern: ``SupportLines`` claims a team's numbers in a loop and stores each in SSM.

The app instantiates it twice (two teams) inside a NestedStack, on an instance another stack creates (a cross-stack
reference: CDK exports the instance's ARN and imports it), and once more in a second environment with an explicit
account and Region. Numbers are claimed only with ``-c claim_phone_numbers=true``: teams gate them so that
sandboxes do not pay for numbers. Under RETAIN (the default), a deploy without the flag keeps the numbers (billed)
and removes them from the stack; see docs/migration.md for taking them back with ``adopt_existing``.

Context: ``claim_phone_numbers`` (``true`` to claim), ``lines_per_team`` (default 2), ``eu_account`` (the second
environment's account, default 111122223333).
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_connect as connect
from aws_cdk import aws_ssm as ssm
from cdk_nag import AwsSolutionsChecks

from connect_phone_number import ClaimedPhoneNumber
from constructs import Construct

DEFAULT_LINES = 2
DEFAULT_EU_ACCOUNT = "111122223333"


class SupportLines(Construct):
    """``lines`` phone numbers for one team on ``instance_arn``, each stored in SSM as ``/<team>/phone-lines/<n>``."""

    def __init__(self, scope: Construct, construct_id: str, *, instance_arn: str, team: str, lines: int, claim: bool, country_code: str = "US") -> None:
        """Claim nothing unless ``claim``: the numbers are gated by the app's context."""
        super().__init__(scope, construct_id)
        self.numbers: list[ClaimedPhoneNumber] = []
        for index in range(lines if claim else 0):
            number = ClaimedPhoneNumber(
                self,
                f"Line{index}",
                target_arn=instance_arn,
                country_code=country_code,
                phone_number_type="DID",
                description=f"{team} line {index + 1}",
                tags={"team": team},
            )
            ssm.StringParameter(self, f"Line{index}Parameter", parameter_name=f"/{team}/phone-lines/{index}", string_value=number.phone_number)
            self.numbers.append(number)


class ContactCentreStack(cdk.Stack):
    """The Connect instance, in a stack of its own: the lines stacks refer to it."""

    def __init__(self, scope: Construct, construct_id: str, **kwargs: object) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        self.instance = connect.CfnInstance(
            self,
            "Instance",
            identity_management_type="CONNECT_MANAGED",
            instance_alias=cdk.Fn.join("-", ["support", cdk.Aws.STACK_NAME]),
            attributes=connect.CfnInstance.AttributesProperty(inbound_calls=True, outbound_calls=True),
        )


class TeamLines(cdk.NestedStack):
    """Both teams' lines, in a nested stack of the lines stack."""

    def __init__(self, scope: Construct, construct_id: str, *, instance_arn: str, lines: int, claim: bool) -> None:
        super().__init__(scope, construct_id)
        self.teams = {team: SupportLines(self, team.title(), instance_arn=instance_arn, team=team, lines=lines, claim=claim) for team in ("sales", "support")}


class LinesStack(cdk.Stack):
    """The lines of the contact centre's teams; their numbers are the stack's outputs."""

    def __init__(self, scope: Construct, construct_id: str, *, instance_arn: str, lines: int, claim: bool, **kwargs: object) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        nested = TeamLines(self, "Teams", instance_arn=instance_arn, lines=lines, claim=claim)
        for team, support_lines in nested.teams.items():
            for index, number in enumerate(support_lines.numbers):
                cdk.CfnOutput(self, f"{team.title()}Line{index}", value=number.phone_number)


class EuropeStack(cdk.Stack):
    """The second environment: its own instance and the pattern once more, in an explicit account and Region."""

    def __init__(self, scope: Construct, construct_id: str, *, lines: int, claim: bool, **kwargs: object) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        instance = connect.CfnInstance(
            self,
            "Instance",
            identity_management_type="CONNECT_MANAGED",
            instance_alias="support-eu",
            attributes=connect.CfnInstance.AttributesProperty(inbound_calls=True, outbound_calls=True),
        )
        lines_eu = SupportLines(self, "Support", instance_arn=instance.attr_arn, team="support-eu", lines=lines, claim=claim, country_code="GB")
        for index, number in enumerate(lines_eu.numbers):
            cdk.CfnOutput(self, f"SupportLine{index}", value=number.phone_number)


def build(app: cdk.App) -> list[cdk.Stack]:
    """The app's stacks, from its context."""
    claim = str(app.node.try_get_context("claim_phone_numbers")).lower() == "true"
    lines = int(app.node.try_get_context("lines_per_team") or DEFAULT_LINES)
    europe = cdk.Environment(account=str(app.node.try_get_context("eu_account") or DEFAULT_EU_ACCOUNT), region="eu-west-2")
    centre = ContactCentreStack(app, "ContactCentre")
    team_lines = LinesStack(app, "SupportLines", instance_arn=centre.instance.attr_arn, lines=lines, claim=claim)
    return [centre, team_lines, EuropeStack(app, "SupportLinesEurope", lines=lines, claim=claim, env=europe)]


def main(app: cdk.App) -> None:
    """Build ``app``, check it with cdk-nag 3 as a validation plugin, and synthesize it: a finding fails the synth."""
    build(app)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    app.synth()
