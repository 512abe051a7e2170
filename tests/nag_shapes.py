"""Users' stacks under cdk-nag, whichever version is importable: 2 applied as an Aspect, or 3 as a validation plugin.

Run as a script (``python nag_shapes.py [--without-nag2-metadata]``) it synthesizes every shape under the cdk-nag it
imports and prints the findings as JSON: the test runs it in a subprocess with cdk-nag 2 first on PYTHONPATH, since
the venv holds cdk-nag 3. ``--without-nag2-metadata`` stops this library from writing its cdk-nag 2 suppressions, to
show they are what makes the stacks pass.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import cdk_nag
from aws_cdk import aws_connect as connect

from connect_phone_number import ClaimedPhoneNumber, permissions
from constructs import Construct

ACCOUNT = "111122223333"
#: More distinct targets than one inline policy holds (without minimizePolicies): the role gets overflow managed policies.
OVERFLOW_TARGETS = 60


def target(partition: str, region: str, account: str, kind: str = "instance", index: int = 0) -> str:
    return f"arn:{partition}:connect:{region}:{account}:{kind}/{index:08d}-1111-2222-3333-444444444444"


def connect_instance(scope: Construct, construct_id: str = "Instance") -> connect.CfnInstance:
    """A Connect instance as apps declare one (the local deploy gives it a placeholder ARN)."""
    attributes = connect.CfnInstance.AttributesProperty(inbound_calls=True, outbound_calls=True)
    return connect.CfnInstance(scope, construct_id, identity_management_type="CONNECT_MANAGED", attributes=attributes)


def build(app: cdk.App, *, all_shapes: bool = True, many_targets: bool = True) -> None:
    """The shapes: env-agnostic, an explicit env, aws-cn, many targets (overflow policies), an import, a nested stack, a CfnPhoneNumber migration.

    ``all_shapes`` False builds the first (env-agnostic) stack only; ``many_targets`` False leaves out the slowest one.
    """
    agnostic = cdk.Stack(app, "Agnostic")
    instance = connect_instance(agnostic)
    flow = connect.CfnContactFlow(agnostic, "Flow", instance_arn=instance.attr_arn, name="Inbound", type="CONTACT_FLOW", content="{}")
    ClaimedPhoneNumber(agnostic, "Main", target_arn=instance.attr_arn, country_code="US", phone_number_type="DID", contact_flow_arn=flow.attr_contact_flow_arn)
    ClaimedPhoneNumber(
        agnostic, "Distributed", target_arn=target("aws", "us-east-1", "123456789012", "traffic-distribution-group"), country_code="US", phone_number_type="DID"
    )
    legacy = connect.CfnPhoneNumber(agnostic, "Legacy", target_arn=instance.attr_arn, country_code="US", type="DID")
    ClaimedPhoneNumber(agnostic, "Migrated", target_arn=instance.attr_arn, migrate_from=legacy)
    if not all_shapes:
        return

    for name, region, partition in (("London", "eu-west-2", "aws"), ("Beijing", "cn-north-1", "aws-cn")):
        stack = cdk.Stack(app, name, env=cdk.Environment(account=ACCOUNT, region=region))
        ClaimedPhoneNumber(stack, "Number", target_arn=target(partition, region, ACCOUNT), country_code="GB", phone_number_type="DID")
        ClaimedPhoneNumber(
            stack,
            "Imported",
            target_arn=target(partition, region, ACCOUNT, index=1),
            source_phone_number_arn=f"arn:{partition}:sms-voice:{region}:{ACCOUNT}:phone-number/phone-1234",
        )

    if many_targets:
        many = cdk.Stack(app, "ManyTargets", env=cdk.Environment(account=ACCOUNT, region="us-east-1"))
        for index in range(OVERFLOW_TARGETS):
            ClaimedPhoneNumber(many, f"Number{index}", target_arn=target("aws", "us-east-1", ACCOUNT, index=index), country_code="US", phone_number_type="DID")

    parent = cdk.Stack(app, "Parent")
    numbers = cdk.NestedStack(parent, "Numbers")
    ClaimedPhoneNumber(numbers, "Number", target_arn=cdk.CfnParameter(numbers, "InstanceArn").value_as_string, country_code="US", phone_number_type="DID")


def is_nag2() -> bool:
    """cdk-nag 2 has NagSuppressions; 3 removed it for CDK's own Validations.of(...).acknowledge."""
    return hasattr(cdk_nag, "NagSuppressions")


def findings(app: cdk.App) -> dict[str, Any]:
    """Synthesize ``app`` under the cdk-nag imported, and return its findings by level (rule id and construct path)."""
    if is_nag2():
        cdk.Aspects.of(app).add(cdk_nag.AwsSolutionsChecks())  # type: ignore[arg-type]  # cdk-nag 2's is an IAspect; mypy sees 3's
    else:
        cdk.Validations.of(app).add_plugins(cdk_nag.AwsSolutionsChecks(app))
    try:
        assembly = app.synth()
    except RuntimeError as failed:  # cdk-nag 3 fails synthesis on a violation; the report says which
        if "ValidationFailed" not in str(failed):
            raise
        report = json.loads((Path(app.outdir) / "validation-report.json").read_text())
        return {"error": sorted(v["ruleName"] for plugin in report["pluginReports"] for v in plugin["violations"]), "warning": [], "overflow": 0}
    found: dict[str, Any] = {"error": [], "warning": []}
    for stack in assembly.stacks_recursively:
        for message in stack.messages:
            text = str(message.entry.data)
            rule = text.split("]:", maxsplit=1)[0] + "]" if "]:" in text else text.split(":", maxsplit=1)[0]
            if message.level.value in ("ERROR", "WARNING") and text.startswith("AwsSolutions-"):
                found[message.level.value.lower()].append(f"{rule} at {message.id}")
    templates = [json.loads(path.read_text())["Resources"] for path in Path(assembly.directory).glob("*.template.json")]
    found["overflow"] = sum(1 for resources in templates for resource in resources.values() if resource["Type"] == "AWS::IAM::ManagedPolicy")
    return found


def main(argv: list[str]) -> int:
    without = "--without-nag2-metadata" in argv
    if without:
        permissions._Nag2Suppressions.visit = lambda self, node: None  # type: ignore[method-assign]
    app = cdk.App(outdir=tempfile.mkdtemp(prefix="nag-shapes-"))
    build(app, all_shapes=not without)
    print(json.dumps({"nag2": is_nag2(), **findings(app)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
