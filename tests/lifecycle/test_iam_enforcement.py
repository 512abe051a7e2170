"""IAM as the emulator enforces it: resource-scoped grants, wildcards, boundaries, managed policies, and deploys without IAM.

The last section holds a guard instead: it fails under the mutation its docstring names.

Emulator tests call it through boto3 with a key whose identity policy is set in the test; local-deploy tests
synthesize a stack with the real construct, change only what the test names, and deploy it locally.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import boto3
import pytest
from aws_cdk import aws_connect as connect
from aws_cdk import aws_iam as iam
from botocore.config import Config
from botocore.exceptions import ClientError
from test_iam_lifecycle import run_as, synthesized_policies, without

from connect_phone_number import ClaimedPhoneNumber
from connect_phone_number_local.deploy.engine import DeployFailed, LocalCloudFormation
from connect_phone_number_local.deploy.responses import ResponseServer
from connect_phone_number_local.deploy.template import load
from connect_phone_number_local.emulator import ConnectEmulator
from connect_phone_number_local.emulator import iam as emulator_iam
from support import ACCOUNT, INSTANCE, elapse, run, search_props

REGION = "us-east-1"
KEY = "ASIAHOSTILE000000001"
ADMIN_KEY = "ASIAHOSTILEADMIN0001"  # no identity registered: the emulator does not enforce IAM on it
STACK = "HostileIam"
ALL_NUMBERS = f"arn:aws:connect:{REGION}:{ACCOUNT}:phone-number/*"


# --- helpers ---------------------------------------------------------------------------------


def client(emulator: ConnectEmulator, key: str, region: str = REGION) -> Any:
    return boto3.client(
        "connect",
        endpoint_url=emulator.url,
        region_name=region,
        aws_access_key_id=key,
        aws_secret_access_key="x",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )


def claimed_number(emulator: ConnectEmulator) -> dict[str, str]:
    """A number claimed by a caller IAM does not restrict; returns ClaimPhoneNumber's answer."""
    admin = client(emulator, ADMIN_KEY)
    wanted = emulator.service.available("US", "DID")[0]
    claimed = admin.claim_phone_number(TargetArn=INSTANCE, PhoneNumber=wanted)
    while admin.describe_phone_number(PhoneNumberId=claimed["PhoneNumberId"])["ClaimedPhoneNumberSummary"]["PhoneNumberStatus"]["Status"] != "CLAIMED":
        elapse(0.05)
    return {"PhoneNumberId": claimed["PhoneNumberId"], "PhoneNumberArn": claimed["PhoneNumberArn"]}


def as_role(emulator: ConnectEmulator, *statements: dict[str, Any]) -> Any:
    emulator.service.add_identity(KEY, f"arn:aws:sts::{ACCOUNT}:assumed-role/Hostile/fn", {"Version": "2012-10-17", "Statement": list(statements)})
    return client(emulator, KEY)


def held(emulator: ConnectEmulator) -> list[dict[str, Any]]:
    return [n for n in emulator.service.held() if not n["releasing"] and n["status"] != "FAILED"]


def synthesize(out: Path, customize: Callable[[cdk.Stack, list[ClaimedPhoneNumber]], object] | None = None, *, numbers: int = 1) -> Path:
    """A stack with ``numbers`` searched numbers on INSTANCE (DESTROY), changed by ``customize`` before synth."""
    app = cdk.App(outdir=str(out), context={"aws:cdk:enable-asset-metadata": True})
    stack = cdk.Stack(app, STACK)
    made = [
        ClaimedPhoneNumber(stack, f"Number{i}", target_arn=INSTANCE, country_code="US", phone_number_type="DID", removal_policy=cdk.RemovalPolicy.DESTROY)
        for i in range(numbers)
    ]
    if customize is not None:
        customize(stack, made)
    app.synth()
    return out


def edit_template(assembly: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    path = assembly / f"{STACK}.template.json"
    template = json.loads(path.read_text())
    change(template)
    path.write_text(json.dumps(template))
    return assembly


def drop_action(action: str) -> Callable[[dict[str, Any]], None]:
    """A template change: ``action`` removed from every AWS::IAM::Policy statement."""

    def change(template: dict[str, Any]) -> None:
        for resource in template["Resources"].values():
            if resource["Type"] == "AWS::IAM::Policy":
                for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
                    if isinstance(statement["Action"], list):
                        statement["Action"] = [a for a in statement["Action"] if a != action]

    return change


def an_instance(stack: cdk.Stack) -> connect.CfnInstance:
    """A Connect instance in the template (not run by the local deploy: it gets placeholder attributes)."""
    attributes = connect.CfnInstance.AttributesProperty(inbound_calls=True, outbound_calls=True)
    return connect.CfnInstance(stack, "Instance", identity_management_type="CONNECT_MANAGED", attributes=attributes)


def deployer(state: Path, *, enforce_iam: bool = True) -> tuple[LocalCloudFormation, io.StringIO]:
    out = io.StringIO()
    return LocalCloudFormation(state, environment=dict(os.environ), out=out, enforce_iam=enforce_iam), out


def known_physical_ids(state: Path) -> set[str]:
    path = state / f"{STACK}.state.json"
    if not path.exists():
        return set()
    return {r["physical_id"] for r in json.loads(path.read_text())["resources"].values()}


# --- the emulator: denies what AWS allows ----------------------------------------------------


def test_tagging_a_number_is_authorized_against_that_number_not_against_every_number(emulator: ConnectEmulator) -> None:
    """TagResource names one resource; AWS authorizes it against that ARN. The emulator also demands phone-number/*.

    Why: the table lists wildcard-phone-number among TagResource's optional types, and DERIVE always derives it.
    """
    number = claimed_number(emulator)
    api = as_role(emulator, {"Effect": "Allow", "Action": ["connect:TagResource", "connect:UntagResource"], "Resource": number["PhoneNumberArn"]})

    api.tag_resource(resourceArn=number["PhoneNumberArn"], tags={"team": "care"})
    api.untag_resource(resourceArn=number["PhoneNumberArn"], tagKeys=["team"])


def test_the_escaped_star_of_a_policy_matches_the_literal_wildcard_resource(emulator: ConnectEmulator) -> None:
    """IAM's ``${*}`` (policy version 2012-10-17) is a literal ``*``: the narrowest grant of wildcard-phone-number."""
    literal_wildcard = f"arn:aws:connect:{REGION}:{ACCOUNT}:phone-number/${{*}}"
    api = as_role(emulator, {"Effect": "Allow", "Action": "connect:ListPhoneNumbersV2", "Resource": literal_wildcard})

    api.list_phone_numbers_v2(TargetArn=INSTANCE)


# --- the emulator: allows what AWS denies ----------------------------------------------------


def test_a_number_named_by_an_arn_of_another_region_is_not_released_under_that_regions_grant(emulator: ConnectEmulator) -> None:
    """IAM checks the ARN as the request spells it, and the emulator then acts on whatever number has that id.

    A role allowed to release numbers only in eu-west-2 releases a us-east-1 number by naming it with an eu-west-2
    ARN. AWS authorizes against the number's own ARN (or answers ResourceNotFoundException: issue 7 item 13).
    """
    number = claimed_number(emulator)
    api = as_role(emulator, {"Effect": "Allow", "Action": "connect:ReleasePhoneNumber", "Resource": f"arn:aws:connect:eu-west-2:{ACCOUNT}:phone-number/*"})
    disguised = f"arn:aws:connect:eu-west-2:{ACCOUNT}:phone-number/{number['PhoneNumberId']}"

    with pytest.raises(ClientError):
        api.release_phone_number(PhoneNumberId=disguised)
    assert [n["arn"] for n in held(emulator)] == [number["PhoneNumberArn"]]


def test_a_wildcard_inside_an_arn_segment_does_not_match_across_colons() -> None:
    """IAM: only a ``*`` that is the last character of a segment may expand beyond the colons.

    ``arn:aws:connect:*2:phone-number/*`` has a ``*`` inside its fourth segment: AWS does not match it against
    ``arn:aws:connect:us-east-1:123456789012:phone-number/*``; the emulator's glob spans the colon.
    """
    policy = {"Statement": [{"Effect": "Allow", "Action": "connect:ListPhoneNumbersV2", "Resource": "arn:aws:connect:*2:phone-number/*"}]}

    assert emulator_iam.evaluate([policy], "connect:ListPhoneNumbersV2", ALL_NUMBERS) == "Implicit"


def test_a_policy_statement_without_a_resource_is_refused_not_ignored() -> None:
    """IAM refuses such a policy (MalformedPolicyDocument); the emulator drops the statement, here a Deny."""
    policy = {
        "Statement": [
            {"Effect": "Allow", "Action": "connect:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "connect:ReleasePhoneNumber"},
        ]
    }

    with pytest.raises(ValueError, match="Resource"):
        emulator_iam.Identity.from_policy("arn:aws:sts::123456789012:assumed-role/Hostile/fn", policy)


def test_a_claim_that_carries_tags_needs_tag_resource_as_tag_on_create(
    emulator: ConnectEmulator, responses: ResponseServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Likely, not published for this action: a claim with Tags is also authorized as connect:TagResource.

    Evidence: the reference gives ClaimPhoneNumber the aws:RequestTag/aws:TagKeys keys (tag on create), and lists
    wildcard-phone-number, the ARN of a number not yet claimed, among TagResource's types; Connect's admin guide
    allows CreateUser with tags only together with connect:TagResource. The handler tags every claim (its marker),
    so a role without TagResource would fail every claim in AWS, and passes every create offline today.
    """
    run_as(emulator, monkeypatch, without(synthesized_policies(INSTANCE), "connect:TagResource"))

    result = run("Create", responses, search_props())

    assert result.response["Status"] == "FAILED"
    assert "connect:TagResource" in result.response["Reason"]
    assert held(emulator) == []


# --- the local deploy: the stack's IAM it does not read ----------------------------------------


def guardrail_attached_by_managed_policy_arns(stack: cdk.Stack, numbers: list[ClaimedPhoneNumber]) -> None:
    """A user's guardrail as CDK attaches managed policies: the role's ManagedPolicyArns, not the policy's Roles."""
    guardrail = iam.ManagedPolicy(
        stack, "KeepNumbers", statements=[iam.PolicyStatement(effect=iam.Effect.DENY, actions=["connect:ReleasePhoneNumber"], resources=["*"])]
    )
    role = numbers[0].function.role
    assert role is not None
    role.add_managed_policy(guardrail)


@pytest.mark.real_clock  # a local deploy: its Lambda runs are processes on the real clock
def test_a_deny_in_a_managed_policy_attached_by_the_roles_managed_policy_arns_is_enforced(emulator: ConnectEmulator, tmp_path: Path) -> None:
    """``role.add_managed_policy(ManagedPolicy(...))`` renders the role's ManagedPolicyArns: [Ref]; only Roles is read."""
    assembly = synthesize(tmp_path / "a", guardrail_attached_by_managed_policy_arns)
    cloudformation, _ = deployer(tmp_path / "state")
    cloudformation.deploy(load(assembly, STACK, region=REGION, account=ACCOUNT))

    with pytest.raises(DeployFailed, match="connect:ReleasePhoneNumber"):
        cloudformation.destroy(STACK)
    assert len(held(emulator)) == 1


def boundary_without_connect(stack: cdk.Stack, numbers: list[ClaimedPhoneNumber]) -> None:
    """A permissions boundary (common in enterprise accounts) that allows logs only."""
    boundary = iam.ManagedPolicy(stack, "Boundary", statements=[iam.PolicyStatement(actions=["logs:*"], resources=["*"])])
    iam.PermissionsBoundary.of(stack).apply(boundary)


@pytest.mark.real_clock  # a local deploy: its Lambda runs are processes on the real clock
def test_a_permissions_boundary_that_leaves_out_connect_denies_the_handler(emulator: ConnectEmulator, tmp_path: Path) -> None:
    """AWS allows a call only if the identity policy and the boundary both allow it; the boundary is not read."""
    assembly = synthesize(tmp_path / "a", boundary_without_connect)
    cloudformation, _ = deployer(tmp_path / "state")

    with pytest.raises(DeployFailed, match="AccessDeniedException"):
        cloudformation.deploy(load(assembly, STACK, region=REGION, account=ACCOUNT))
    assert held(emulator) == []


@pytest.mark.real_clock  # a local deploy: its Lambda runs are processes on the real clock
def test_a_release_refused_in_a_rollback_leaves_the_number_known_to_the_stack(emulator: ConnectEmulator, tmp_path: Path) -> None:
    """A failed create rolls back; IAM refuses the release; the deploy still says ROLLBACK_COMPLETE and forgets it.

    Repro: two numbers in one stack, the role without ReleasePhoneNumber; Number1 asks for a number Connect does not
    offer, so it fails while Number0 is CLAIMED. CloudFormation would end in ROLLBACK_FAILED with Number0 still in
    the stack (a later delete retries it). The local deploy prints ROLLBACK_COMPLETE and deletes its state file, so
    Number0 stays held and no stack knows it.
    """

    def unavailable_second_number(stack: cdk.Stack, numbers: list[ClaimedPhoneNumber]) -> None:
        ClaimedPhoneNumber(stack, "Unavailable", target_arn=INSTANCE, phone_number="+15555550199", removal_policy=cdk.RemovalPolicy.DESTROY)

    assembly = edit_template(synthesize(tmp_path / "a", unavailable_second_number), drop_action("connect:ReleasePhoneNumber"))
    state = tmp_path / "state"
    cloudformation, out = deployer(state)

    with pytest.raises(DeployFailed):
        cloudformation.deploy(load(assembly, STACK, region=REGION, account=ACCOUNT))

    assert len(held(emulator)) == 1
    assert {n["arn"] for n in held(emulator)} <= known_physical_ids(state), out.getvalue()
    assert "ROLLBACK_COMPLETE" not in out.getvalue()


@pytest.mark.real_clock  # a local deploy: its Lambda runs are processes on the real clock
def test_a_destroy_after_a_deploy_without_iam_enforces_the_role_or_says_it_does_not(emulator: ConnectEmulator, tmp_path: Path) -> None:
    """The state of a --no-iam deploy (or of a local deploy older than IAM) has no roles.

    A later destroy with enforcement on registers nothing, so the handler's key is unknown to the emulator, which
    then enforces nothing: a role without ReleasePhoneNumber releases the number, and nothing says IAM was off.
    """
    assembly = edit_template(synthesize(tmp_path / "a"), drop_action("connect:ReleasePhoneNumber"))
    state = tmp_path / "state"
    without_iam, _ = deployer(state, enforce_iam=False)
    without_iam.deploy(load(assembly, STACK, region=REGION, account=ACCOUNT))
    with_iam, out = deployer(state)

    try:
        with_iam.destroy(STACK)
    except DeployFailed as failure:
        assert "connect:ReleasePhoneNumber" in str(failure)
    else:
        assert "IAM not enforced" in out.getvalue(), out.getvalue()


@pytest.mark.real_clock  # a local deploy: its Lambda runs are processes on the real clock
def test_no_iam_deploys_a_stack_whose_role_policy_names_a_parameter(emulator: ConnectEmulator, tmp_path: Path) -> None:
    """The roles are resolved even with enforcement off, and a Ref to a CfnParameter raises KeyError.

    Before the IAM change this stack deployed: the parameter is used only in a policy. (Parameters in custom resource
    properties are issue 7 item 10; here --no-iam does not help either.)
    """

    def parameter_in_policy(stack: cdk.Stack, numbers: list[ClaimedPhoneNumber]) -> None:
        flows = cdk.CfnParameter(stack, "FlowInstance", default=INSTANCE)
        numbers[0].function.add_to_role_policy(iam.PolicyStatement(actions=["connect:ListFlowAssociations"], resources=[flows.value_as_string]))

    assembly = synthesize(tmp_path / "a", parameter_in_policy)
    cloudformation, _ = deployer(tmp_path / "state", enforce_iam=False)

    cloudformation.deploy(load(assembly, STACK, region=REGION, account=ACCOUNT))

    assert len(held(emulator)) == 1


@pytest.mark.real_clock  # a local deploy: its Lambda runs are processes on the real clock
def test_a_stack_with_an_explicit_env_is_not_refused_as_if_its_role_were_wrong(emulator: ConnectEmulator, tmp_path: Path) -> None:
    """The role's ARNs carry the stack's own env (111122223333, eu-west-2); the local deploy plays another one.

    The deploy then fails with AccessDeniedException on phone-number/* of us-east-1, which blames a correct role
    (before IAM was enforced this stack deployed). Expected: deploy in the stack's env, or refuse naming the env.
    """
    app = cdk.App(outdir=str(tmp_path / "a"), context={"aws:cdk:enable-asset-metadata": True})
    stack = cdk.Stack(app, STACK, env=cdk.Environment(account="111122223333", region="eu-west-2"))
    target = an_instance(stack).attr_arn
    ClaimedPhoneNumber(stack, "Number", target_arn=target, country_code="US", phone_number_type="DID", removal_policy=cdk.RemovalPolicy.DESTROY)
    app.synth()
    cloudformation, _ = deployer(tmp_path / "state")

    try:
        cloudformation.deploy(load(tmp_path / "a", STACK, region=REGION, account=ACCOUNT))
    except DeployFailed as failure:
        assert "AccessDeniedException" not in str(failure)


@pytest.mark.real_clock  # a local deploy: its Lambda runs are processes on the real clock
def test_a_number_removed_from_the_template_is_released_under_a_role_not_without_iam(emulator: ConnectEmulator, tmp_path: Path) -> None:
    """Removing the stack's last number removes its handler too: the new template has no role for the old function.

    The clean-up's Delete then runs with a key the emulator does not know, so nothing is enforced (CloudFormation
    runs it with the old function and its old role, deleted after it). Detected here by a ReleasePhoneNumber call
    for which the emulator made no IAM decision at all.
    """
    cloudformation, out = deployer(tmp_path / "state")
    cloudformation.deploy(load(synthesize(tmp_path / "a"), STACK, region=REGION, account=ACCOUNT))

    cloudformation.deploy(load(synthesize(tmp_path / "b", lambda stack, _: an_instance(stack), numbers=0), STACK, region=REGION, account=ACCOUNT))

    assert emulator.service.calls.get("ReleasePhoneNumber", 0) == 1
    decided = [action for _, action, _ in emulator.service.authorized] + emulator.service.denied
    assert any("connect:ReleasePhoneNumber" in entry for entry in decided), out.getvalue()


# --- coverage gaps: these pass today, and fail under the mutation named (nothing in `make test` does) -----------

TDG = f"arn:aws:connect:{REGION}:{ACCOUNT}:traffic-distribution-group/cccccccc-1111-2222-3333-444444444444"


def test_a_traffic_distribution_group_claim_and_moves_both_ways_are_authorized(
    emulator: ConnectEmulator, responses: ResponseServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guard. Mutation: ``TARGET_RESOURCE_TYPES = ("instance",)`` in permissions.py (moves lose traffic-distribution-group/*).

    Under that mutation the whole suite (test_iam_lifecycle, constructs, local deploy, emulator, demo) still passes:
    no test claims on or moves to a traffic distribution group under enforcement, and the independent
    policy_sentry check has no example ARN for the traffic-distribution-group type.
    """
    run_as(emulator, monkeypatch, synthesized_policies(TDG))
    on_group = run("Create", responses, search_props(TargetArn=TDG))
    assert on_group.response["Status"] == "SUCCESS", on_group.response["Reason"]
    arn = on_group.response["PhysicalResourceId"]
    run_as(emulator, monkeypatch, synthesized_policies(INSTANCE))  # the new template names the instance only

    moved = run("Update", responses, search_props(), old=search_props(TargetArn=TDG), physical_id=arn)
    rolled_back = run("Update", responses, search_props(TargetArn=TDG), old=search_props(), physical_id=arn)

    assert moved.response["Status"] == "SUCCESS", moved.response["Reason"]
    assert rolled_back.response["Status"] == "SUCCESS", rolled_back.response["Reason"]
    assert emulator.service.denied == []
    assert [n["target_arn"] for n in held(emulator)] == [TDG]
