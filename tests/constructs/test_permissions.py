"""The handler role's policy: cdk-nag passes in any environment, and the policy grows with distinct targets only."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import assertions
from cdk_nag import AwsSolutionsChecks

from connect_phone_number import ClaimedPhoneNumber, permissions
from support import INSTANCE

#: IAM's quotas: inline policies of a role in all, one managed policy, managed policies per role (default).
MAX_INLINE_CHARS = 10_240
MAX_MANAGED_CHARS = 6_144
MAX_MANAGED_PER_ROLE = 10
PARTITION_LITERALS = "@aws-cdk/core:enablePartitionLiterals"


def target(partition: str, region: str, account: str, kind: str = "instance", index: int = 0) -> str:
    return f"arn:{partition}:connect:{region}:{account}:{kind}/{index:08d}-1111-2222-3333-444444444444"


ENVIRONMENTS = {
    "eu-west-2": ({}, cdk.Environment(account="111122223333", region="eu-west-2"), "aws"),
    "aws-cn": ({PARTITION_LITERALS: True}, cdk.Environment(account="111122223333", region="cn-north-1"), "aws-cn"),
    "aws-cn without partition literals": ({PARTITION_LITERALS: False}, cdk.Environment(account="111122223333", region="cn-north-1"), "aws-cn"),
    "env-agnostic": ({}, None, "aws"),
}


def nagged_app(name: str) -> tuple[cdk.App, cdk.Stack]:
    """A stack in the named environment with a number on an instance and one on a traffic distribution group, under cdk-nag."""
    context, env, partition = ENVIRONMENTS[name]
    app = cdk.App(outdir=tempfile.mkdtemp(prefix="nag-"), context=context)
    stack = cdk.Stack(app, "Nagged", env=env)
    region, account = (env.region, env.account) if env else ("us-east-1", "123456789012")
    assert region is not None and account is not None
    for kind in ("instance", "traffic-distribution-group"):
        ClaimedPhoneNumber(stack, kind, target_arn=target(partition, region, account, kind), country_code="US", phone_number_type="DID")
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app, stack


def violations(outdir: Path) -> set[str]:
    """The findings the validation report lists (cdk-nag's rule ids, with the resource for IAM5)."""
    report = json.loads((outdir / "validation-report.json").read_text())
    return {v["ruleName"] for plugin in report["pluginReports"] for v in plugin["violations"]}


@pytest.mark.parametrize("env", list(ENVIRONMENTS))
def test_cdk_nag_passes_with_no_unacknowledged_finding_in_any_environment(env: str) -> None:
    app, _ = nagged_app(env)

    assembly = app.synth()

    assert violations(Path(assembly.directory)) == set()


@pytest.mark.parametrize("env", list(ENVIRONMENTS))
def test_the_acknowledgements_are_the_ids_cdk_nag_reports_in_that_environment(env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without them the same synth fails, with exactly the findings whose ids permissions.py builds."""
    monkeypatch.setattr(permissions, "acknowledge_wildcards", lambda *_: None)
    monkeypatch.setattr(permissions, "acknowledge_flow_wildcards", lambda *_: None)
    app, stack = nagged_app(env)

    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()

    kinds = ("phone-number", "instance", "traffic-distribution-group", permissions.CONTACT_FLOW_RESOURCE)
    expected = {f"AwsSolutions-IAM5[Resource::{permissions._rendered_arn(stack, kind)}]" for kind in kinds}
    assert violations(Path(app.outdir)) == expected


def handler_policies(targets: list[str]) -> list[dict[str, Any]]:
    """The handler role's policies (inline and overflow managed), one number per entry of ``targets``."""
    stack = cdk.Stack(cdk.App(), "Test", env=cdk.Environment(account="123456789012", region="us-east-1"))
    for index, arn in enumerate(targets):
        ClaimedPhoneNumber(stack, f"Number{index}", target_arn=arn, country_code="US", phone_number_type="DID")
    resources = assertions.Template.from_stack(stack).to_json()["Resources"]
    return [r for r in resources.values() if r["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")]


def claim_targets(policies: list[dict[str, Any]]) -> set[str]:
    found: set[str] = set()
    for policy in policies:
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Action"] == "connect:ClaimPhoneNumber":
                found.update(statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]])
    return found


def test_the_policy_does_not_grow_with_numbers_on_the_same_target() -> None:
    one, many = handler_policies([INSTANCE]), handler_policies([INSTANCE] * 25)

    assert [p["Properties"]["PolicyDocument"] for p in many] == [p["Properties"]["PolicyDocument"] for p in one]


def test_with_many_distinct_targets_every_policy_fits_iams_quotas_and_keeps_every_target() -> None:
    targets = [target("aws", "us-east-1", "123456789012", index=i) for i in range(120)]

    policies = handler_policies(targets)

    sizes: dict[str, list[int]] = {"AWS::IAM::Policy": [], "AWS::IAM::ManagedPolicy": []}
    for policy in policies:
        sizes[policy["Type"]].append(len(json.dumps(policy["Properties"]["PolicyDocument"], separators=(",", ":"))))
    print(f"120 distinct targets: policy sizes {sizes}")
    assert sum(sizes["AWS::IAM::Policy"]) <= MAX_INLINE_CHARS
    assert all(size <= MAX_MANAGED_CHARS for size in sizes["AWS::IAM::ManagedPolicy"])
    assert len(sizes["AWS::IAM::ManagedPolicy"]) <= MAX_MANAGED_PER_ROLE
    assert claim_targets(policies) == set(targets)
