"""The routing record through moves, redeliveries and rollbacks (flow_plan.plan_flow), and a migration's rollbacks.

Each test plays CloudFormation's requests (tests/support.py) against the emulator, or the local deploy. A real defect
is ``xfail(strict=True)`` with its schedule, what happened and what should in the docstring; the rest are cheap
regression tests of what held up. The invariant for routing: after any rollback the number routes as it did before the
rolled-back Update (docs/rollbacks.md, "What a rollback restores"; its "Left out" list is not reported here).
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_connect
from botocore.exceptions import ClientError

from connect_phone_number import ClaimedPhoneNumber
from connect_phone_number_handler.marker import CLAIM_MARKER_TAG
from connect_phone_number_local.deploy.engine import DeployFailed, LocalCloudFormation
from connect_phone_number_local.deploy.responses import ResponseServer
from connect_phone_number_local.deploy.template import load
from connect_phone_number_local.emulator import LIMIT_MESSAGE, ConnectEmulator
from support import (
    ACCOUNT,
    FLOW,
    FLOW_ON_OTHER,
    HAND_FLOW,
    HAND_ON_OTHER,
    INSTANCE,
    OTHER_INSTANCE,
    crash_on,
    create,
    invoke,
    make_event,
    marker,
    patch_call,
    route_by_hand,
    search_props,
    settle,
    state,
    update,
)

# --- change B: findings -------------------------------------------------------------------------------------------


def test_the_rollback_of_a_move_back_restores_the_routing_set_by_hand_on_the_instance_it_left(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    """Schedule: a searched number on INSTANCE, routed by hand to HAND_FLOW. Update 1 moves it to OTHER_INSTANCE (no flow
    declared): it records HAND_FLOW before the move. On OTHER_INSTANCE someone routes it by hand to HAND_ON_OTHER.
    Update 2 moves it back to INSTANCE: HAND_FLOW comes back and the record is spent. Another resource fails and
    CloudFormation rolls Update 2 back (a move to OTHER_INSTANCE).
    What happened: Update 2's plan.reads_routing skipped the read of OTHER_INSTANCE ("a record there is stays": the
    record held HAND_FLOW), so HAND_ON_OTHER was never recorded; apply.route_flow then spent the record (record="")
    instead of keeping what the move dropped. The rollback reads INSTANCE (HAND_FLOW) and moves the number to
    OTHER_INSTANCE, where it is left unrouted.
    What should: the number routes to HAND_ON_OTHER after the rollback, as before Update 2 (docs/rollbacks.md: "A move
    of a number routed by hand, with no flow declared: the hand-set routing comes back once the number is back on its
    instance"). One record suffices: when the move back spends HAND_FLOW, it can keep HAND_ON_OTHER in its place."""
    on_instance, on_other = search_props(), search_props(TargetArn=OTHER_INSTANCE)
    arn = create(responses, on_instance)
    route_by_hand(arn, HAND_FLOW)
    update(responses, on_other, on_instance, arn)
    route_by_hand(arn, HAND_ON_OTHER)
    update(responses, on_instance, on_other, arn)
    assert state(emulator, arn) == (INSTANCE, HAND_FLOW)

    update(responses, on_other, on_instance, arn)  # the rollback of Update 2

    assert state(emulator, arn) == (OTHER_INSTANCE, HAND_ON_OTHER)


def test_the_rollback_of_a_move_back_that_declares_the_first_flow_restores_the_routing_set_by_hand_where_it_was(
    emulator: ConnectEmulator, responses: ResponseServer
) -> None:
    """Schedule: a searched number on INSTANCE, routed by hand to HAND_FLOW. Update 1 moves it to OTHER_INSTANCE (no
    flow): HAND_FLOW is recorded. By hand, it is routed to HAND_ON_OTHER there. Update 2 moves it back to INSTANCE and
    declares its first flow, FLOW. CloudFormation rolls Update 2 back.
    What happened: Update 2 read nothing before its move (plan.reads_routing: a record is there) and plan.plan_flow,
    with ``moved`` and a record, took the older HAND_FLOW record as this Update's own. The rollback moves the number to
    OTHER_INSTANCE, finds the record on INSTANCE, spends it, and leaves the number unrouted.
    What should: after the rollback the number is on OTHER_INSTANCE routed to HAND_ON_OTHER, as before Update 2."""
    on_instance, on_other = search_props(), search_props(TargetArn=OTHER_INSTANCE)
    arn = create(responses, on_instance)
    route_by_hand(arn, HAND_FLOW)
    update(responses, on_other, on_instance, arn)
    route_by_hand(arn, HAND_ON_OTHER)
    back_with_flow = search_props(ContactFlowArn=FLOW)
    update(responses, back_with_flow, on_other, arn)
    assert state(emulator, arn) == (INSTANCE, FLOW)

    update(responses, on_other, back_with_flow, arn)  # the rollback of Update 2

    assert state(emulator, arn) == (OTHER_INSTANCE, HAND_ON_OTHER)


def test_the_rollback_of_a_first_flow_equal_to_the_hand_set_one_keeps_it_when_an_earlier_move_left_a_record(
    emulator: ConnectEmulator, responses: ResponseServer
) -> None:
    """Schedule: a searched number on INSTANCE, routed by hand to HAND_FLOW. Update 1 moves it to OTHER_INSTANCE (no
    flow): HAND_FLOW is recorded. On OTHER_INSTANCE it is routed by hand to FLOW_ON_OTHER. Update 2 declares the flow
    the number already routes to, FLOW_ON_OTHER (codifying the console's routing: no move). CloudFormation rolls
    Update 2 back.
    What happened: plan.plan_flow's first branch (``recorded is not None and associated == declared``) reads the
    earlier move's HAND_FLOW record as an earlier delivery's of this Update, so nothing is recorded. The rollback
    (flow removed) finds FLOW_ON_OTHER associated, the record on another instance, and disassociates: the number,
    routed before Update 2, is left unrouted. A later removal of the prop does the same.
    What should: the number still routes to FLOW_ON_OTHER after the rollback, as it did before Update 2."""
    on_instance, on_other = search_props(), search_props(TargetArn=OTHER_INSTANCE)
    arn = create(responses, on_instance)
    route_by_hand(arn, HAND_FLOW)
    update(responses, on_other, on_instance, arn)
    route_by_hand(arn, FLOW_ON_OTHER)
    declared = search_props(TargetArn=OTHER_INSTANCE, ContactFlowArn=FLOW_ON_OTHER)
    update(responses, declared, on_other, arn)

    update(responses, on_other, declared, arn)  # the rollback of Update 2

    assert state(emulator, arn) == (OTHER_INSTANCE, FLOW_ON_OTHER)


def test_a_removal_after_the_rollback_of_a_move_that_removed_the_flow_restores_the_routing_set_by_hand_before_the_first_flow(
    emulator: ConnectEmulator, responses: ResponseServer
) -> None:
    """Schedule: a searched number on INSTANCE, routed by hand to HAND_FLOW. Update 1 declares the first flow, FLOW:
    HAND_FLOW is recorded. Update 2 moves the number to OTHER_INSTANCE and removes the flow; it is rolled back (moved
    back to INSTANCE, FLOW declared again). Update 3 removes the flow.
    What happened: Update 2 spent the record (plan.plan_flow: the record is on another instance than the number's
    now, ``record=""``). Its rollback declares FLOW "for the first time" with nothing associated after the move, and
    records NOWHERE. Update 3 then disassociates FLOW: the number is left unrouted.
    What should: the rollback of Update 2 puts back what Update 2 changed, the record included, so that Update 3
    restores HAND_FLOW (docs/rollbacks.md: "Removing contact_flow_arn ...: the routing from before the stack first
    declared a flow comes back"). This is not "Left out" item 3: nothing was changed by hand after Update 1."""
    bare, with_flow = search_props(), search_props(ContactFlowArn=FLOW)
    arn = create(responses, bare)
    route_by_hand(arn, HAND_FLOW)
    update(responses, with_flow, bare, arn)
    moved_bare = search_props(TargetArn=OTHER_INSTANCE)
    update(responses, moved_bare, with_flow, arn)
    update(responses, with_flow, moved_bare, arn)  # the rollback of Update 2
    assert state(emulator, arn) == (INSTANCE, FLOW)

    update(responses, bare, with_flow, arn)

    assert state(emulator, arn) == (INSTANCE, HAND_FLOW)


# --- change B: what held up (regression tests) --------------------------------------------------------------------


@pytest.mark.parametrize("after", [False, True], ids=["before the association", "after the association"])
def test_a_crash_around_the_first_flows_association_then_a_redelivery_and_a_rollback_restore_the_hand_set_routing(
    emulator: ConnectEmulator, responses: ResponseServer, monkeypatch: pytest.MonkeyPatch, after: bool
) -> None:
    """Schedule: a number routed by hand to HAND_FLOW; an Update declares the first flow FLOW; Lambda dies at its
    AssociatePhoneNumberContactFlow (the record already written), before or after Connect applied it; Lambda redelivers;
    CloudFormation rolls the Update back. The number routes to HAND_FLOW again, and each request answers SUCCESS."""
    bare, with_flow = search_props(), search_props(ContactFlowArn=FLOW)
    arn = create(responses, bare)
    route_by_hand(arn, HAND_FLOW)
    event = make_event("Update", responses, with_flow, old=bare, physical_id=arn)
    crash_on(monkeypatch, event, "associate_phone_number_contact_flow", after=after)
    assert "flow=" in marker(emulator, arn)
    redelivered = invoke(event, responses)
    assert redelivered.response["Status"] == "SUCCESS", redelivered.response["Reason"]
    assert state(emulator, arn) == (INSTANCE, FLOW)

    update(responses, bare, with_flow, arn)

    assert state(emulator, arn) == (INSTANCE, HAND_FLOW)


@pytest.mark.parametrize(
    "operation",
    [
        "tag_resource",
        "update_phone_number",  # fixed: the Update's move (old target, not this delivery's step) makes the record its own
        "associate_phone_number_contact_flow",
    ],
)
def test_a_crash_in_a_move_that_declares_the_first_flow_then_a_redelivery_and_a_rollback_restore_the_hand_set_routing(
    emulator: ConnectEmulator, responses: ResponseServer, monkeypatch: pytest.MonkeyPatch, operation: str
) -> None:
    """Schedule: a number routed by hand to HAND_FLOW; an Update moves it to OTHER_INSTANCE and declares FLOW_ON_OTHER;
    Lambda dies after the record's TagResource, the move, or the association; Lambda redelivers; the Update is rolled
    back. The number is back on INSTANCE routed to HAND_FLOW.
    The crash after UpdatePhoneNumber fails on 33cbd7f (so does main's own regression test
    test_rollbacks_restore_and_complete.py::test_a_redelivered_move_that_declared_the_first_flow_keeps_the_record_...):
    the redelivery finds the number already on OTHER_INSTANCE, plans no Move, so RouteFlow's ``moved`` is False and
    plan.plan_flow's "a record an earlier move left is replaced" branch writes NOWHERE over the HAND_FLOW record this
    Update's own first delivery wrote. The rollback moves the number back and leaves it unrouted. What should: HAND_FLOW
    comes back. ``moved`` should say whether the Update moves the number (old target != new), not whether this run did."""
    bare, moved = search_props(), search_props(TargetArn=OTHER_INSTANCE, ContactFlowArn=FLOW_ON_OTHER)
    arn = create(responses, bare)
    route_by_hand(arn, HAND_FLOW)
    event = make_event("Update", responses, moved, old=bare, physical_id=arn)
    crash_on(monkeypatch, event, operation)
    settle(emulator)
    redelivered = invoke(event, responses)
    assert redelivered.response["Status"] == "SUCCESS", redelivered.response["Reason"]

    update(responses, bare, moved, arn)

    assert state(emulator, arn) == (INSTANCE, HAND_FLOW)


def test_a_crash_after_the_restored_association_of_a_removal_then_a_redelivery_leaves_the_hand_set_routing_and_spends_the_record(
    emulator: ConnectEmulator, responses: ResponseServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Schedule: HAND_FLOW by hand, FLOW declared (recorded), then the prop removed: Lambda dies right after the
    association that restores HAND_FLOW, before the record is spent; Lambda redelivers. HAND_FLOW routes the number
    and the record is gone; a later first flow records HAND_FLOW afresh."""
    bare, with_flow = search_props(), search_props(ContactFlowArn=FLOW)
    arn = create(responses, bare)
    route_by_hand(arn, HAND_FLOW)
    update(responses, with_flow, bare, arn)
    event = make_event("Update", responses, bare, old=with_flow, physical_id=arn)
    crash_on(monkeypatch, event, "associate_phone_number_contact_flow")
    redelivered = invoke(event, responses)
    assert redelivered.response["Status"] == "SUCCESS", redelivered.response["Reason"]
    assert state(emulator, arn) == (INSTANCE, HAND_FLOW)
    assert "flow=" not in marker(emulator, arn)


def test_a_removal_whose_recorded_flow_was_deleted_disassociates_and_succeeds(
    emulator: ConnectEmulator, responses: ResponseServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Schedule: HAND_FLOW by hand, FLOW declared (recorded), HAND_FLOW deleted from the instance, then the prop removed
    (or the declaring Update rolled back). The association of HAND_FLOW answers ResourceNotFoundException: the number
    is left unrouted and the request answers SUCCESS."""
    bare, with_flow = search_props(), search_props(ContactFlowArn=FLOW)
    arn = create(responses, bare)
    route_by_hand(arn, HAND_FLOW)
    update(responses, with_flow, bare, arn)

    def gone(name: str, op: Any) -> Any:
        if name != "associate_phone_number_contact_flow":
            return None

        def associate(**kwargs: Any) -> Any:
            if kwargs["ContactFlowId"] == HAND_FLOW.rsplit("/", 1)[1]:
                error = {"Error": {"Code": "ResourceNotFoundException", "Message": "Contact flow not found"}, "ResponseMetadata": {"HTTPStatusCode": 404}}
                raise ClientError(error, "AssociatePhoneNumberContactFlow")
            return op(**kwargs)

        return associate

    with monkeypatch.context() as patch:
        patch_call(patch, gone)
        update(responses, bare, with_flow, arn)

    assert state(emulator, arn) == (INSTANCE, "")
    assert "flow=" not in marker(emulator, arn)


def test_a_first_flow_removed_then_declared_again_and_rolled_back_each_time_routes_as_before_each_update(
    emulator: ConnectEmulator, responses: ResponseServer
) -> None:
    """Schedule: HAND_FLOW by hand; Update 1 declares FLOW; Update 2 removes it (HAND_FLOW back), rolled back (FLOW);
    Update 3 removes it again; someone routes HAND_FLOW2 by hand; Update 4 declares FLOW again, rolled back. After
    each rollback the number routes as before the rolled-back Update."""
    bare, with_flow = search_props(), search_props(ContactFlowArn=FLOW)
    hand_2 = f"{INSTANCE}/contact-flow/11111111-aaaa-bbbb-cccc-000000000008"
    arn = create(responses, bare)
    route_by_hand(arn, HAND_FLOW)
    update(responses, with_flow, bare, arn)
    update(responses, bare, with_flow, arn)
    assert state(emulator, arn) == (INSTANCE, HAND_FLOW)
    update(responses, with_flow, bare, arn)  # the rollback of Update 2
    assert state(emulator, arn) == (INSTANCE, FLOW)
    update(responses, bare, with_flow, arn)
    assert state(emulator, arn) == (INSTANCE, HAND_FLOW)
    route_by_hand(arn, hand_2)
    update(responses, with_flow, bare, arn)
    assert state(emulator, arn) == (INSTANCE, FLOW)
    update(responses, bare, with_flow, arn)  # the rollback of Update 4
    assert state(emulator, arn) == (INSTANCE, hand_2)


# --- change A: the migration from CfnPhoneNumber, through the local deploy ------------------------------------------

STACK = "Desk"
GROUP = f"arn:aws:connect:us-east-1:{ACCOUNT}:traffic-distribution-group/cccccccc-1111-2222-3333-444444444444"
Build = Callable[[cdk.Stack], None]


@pytest.fixture
def local(emulator: ConnectEmulator, tmp_path: Path) -> LocalCloudFormation:
    return LocalCloudFormation(tmp_path / "state", environment=dict(os.environ), out=io.StringIO())


def deploy(cloudformation: LocalCloudFormation, tmp_path: Path, step: str, build: Build) -> dict[str, str]:
    """Synthesize one stack as `cdk synth` does (asset and path metadata) and deploy it locally."""
    app = cdk.App(outdir=str(tmp_path / step), context={"aws:cdk:enable-asset-metadata": True, "aws:cdk:enable-path-metadata": True})
    build(cdk.Stack(app, STACK))
    app.synth()
    outputs: dict[str, str] = cloudformation.deploy(load(tmp_path / step, STACK, region="us-east-1", account=ACCOUNT))
    return outputs


def held(emulator: ConnectEmulator) -> list[dict[str, Any]]:
    return [n for n in emulator.service.held() if not n["releasing"] and n["status"] != "FAILED"]


def legacy_number(stack: cdk.Stack, target: str = INSTANCE, **extra: Any) -> aws_connect.CfnPhoneNumber:
    return aws_connect.CfnPhoneNumber(stack, "MainNumber", target_arn=target, country_code="US", type="DID", description="Main line", **extra)


def the_app_as_it_was(target: str = INSTANCE, **extra: Any) -> Build:
    def build(stack: cdk.Stack) -> None:
        cdk.CfnOutput(stack, "Address", value=legacy_number(stack, target, **extra).attr_address)

    return build


def migrating(target: str = INSTANCE, *, failing: bool = False, legacy_extra: dict[str, Any] | None = None, **props: Any) -> Build:
    """Deploy 1: the CfnPhoneNumber kept, its number adopted; ``failing`` adds a line whose claim fails (a rollback)."""

    def build(stack: cdk.Stack) -> None:
        legacy = legacy_number(stack, target, **(legacy_extra or {}))
        number = ClaimedPhoneNumber(stack, "Main", target_arn=target, migrate_from=legacy, **{"description": "Main line", **props})
        cdk.CfnOutput(stack, "Address", value=number.phone_number)
        if failing:
            ClaimedPhoneNumber(stack, "Overflow", target_arn=INSTANCE, country_code="US", phone_number_type="TOLL_FREE")

    return build


def claimed(address: str, target: str = INSTANCE, **props: Any) -> Build:
    """Deploy 2: the CfnPhoneNumber gone from the code; the number pinned."""

    def build(stack: cdk.Stack) -> None:
        number = ClaimedPhoneNumber(stack, "Main", target_arn=target, phone_number=address, adopt_existing=True, **{"description": "Main line", **props})
        cdk.CfnOutput(stack, "Address", value=number.phone_number)

    return build


@pytest.mark.real_clock
def test_deploy_2_without_deploy_1_is_allowed_and_keeps_the_number_when_the_cfn_phone_number_was_already_retained(
    emulator: ConnectEmulator, local: LocalCloudFormation, tmp_path: Path
) -> None:
    """Schedule: a CfnPhoneNumber the team had already set to Retain; deploy 2's code directly (no migrate_from deploy).
    CloudFormation removes it under Retain and the ClaimedPhoneNumber adopts the same number: nothing is released."""

    def retained(stack: cdk.Stack) -> None:
        legacy = legacy_number(stack)
        legacy.apply_removal_policy(cdk.RemovalPolicy.RETAIN)
        cdk.CfnOutput(stack, "Address", value=legacy.attr_address)

    first = deploy(local, tmp_path, "0", retained)
    [original] = held(emulator)
    deploy(local, tmp_path, "2", claimed(first["Address"]))

    assert [n["arn"] for n in held(emulator)] == [original["arn"]]
    assert "ReleasePhoneNumber" not in emulator.service.calls


@pytest.mark.real_clock
def test_a_failed_deploy_1_gives_the_number_back_routed_by_hand_as_it_was_and_keeps_the_declared_description_and_tags(
    emulator: ConnectEmulator, local: LocalCloudFormation, tmp_path: Path
) -> None:
    """Schedule: the CfnPhoneNumber app (Description "Main line"), its number routed by hand in the console to
    HAND_FLOW (CfnPhoneNumber cannot route). Deploy 1 (migrate_from) declares a flow (FLOW), the description
    "Help desk" (the construct warns) and a tag team=desk; another line's claim fails; CloudFormation rolls back to
    the CfnPhoneNumber alone (the Delete under RETAIN_ON_UPDATE_OR_DELETE: a give-back).
    Then: the same ARN, routed to HAND_FLOW again, the marker removed; the description "Help desk" and the tag team=desk
    stay, as for any give-back (docs/migration.md and docs/adoption.md say so: the marker has no room to record them)."""
    the_first = deploy(local, tmp_path, "0", the_app_as_it_was())
    [original] = held(emulator)
    route_by_hand(original["arn"], HAND_FLOW)
    emulator.service.fail_claims("+18", LIMIT_MESSAGE)

    with pytest.raises(DeployFailed, match=LIMIT_MESSAGE):
        deploy(local, tmp_path, "1-failed", migrating(failing=True, description="Help desk", contact_flow_arn=FLOW, tags={"team": "desk"}))

    [after] = held(emulator)
    assert (after["arn"], after["number"], after["contact_flow"]) == (original["arn"], the_first["Address"], HAND_FLOW)
    assert CLAIM_MARKER_TAG not in after["tags"]
    assert (after["description"], after["tags"]) == ("Help desk", {**original["tags"], "team": "desk"})


@pytest.mark.real_clock
def test_a_traffic_distribution_groups_cfn_phone_number_migrates_keeping_the_number(
    emulator: ConnectEmulator, local: LocalCloudFormation, tmp_path: Path
) -> None:
    """Schedule: a CfnPhoneNumber on a traffic distribution group; deploy 1 (migrate_from); deploy 2. One ARN throughout."""
    first = deploy(local, tmp_path, "0", the_app_as_it_was(GROUP))
    [original] = held(emulator)
    deploy(local, tmp_path, "1", migrating(GROUP))
    deploy(local, tmp_path, "2", claimed(first["Address"], GROUP))

    [after] = held(emulator)
    assert (after["arn"], after["target_arn"]) == (original["arn"], GROUP)
    assert "ReleasePhoneNumber" not in emulator.service.calls


@pytest.mark.real_clock
def test_a_cfn_phone_number_with_tags_and_a_parameter_target_migrates_keeping_its_tags_and_number(
    emulator: ConnectEmulator, local: LocalCloudFormation, tmp_path: Path
) -> None:
    """Schedule: a CfnPhoneNumber tagged team=desk whose target is a CfnParameter (a token); deploy 1 with the same
    token target and no tags declared; deploy 2. The number keeps its ARN, target and the CfnPhoneNumber's tag."""

    def parameter(stack: cdk.Stack) -> str:
        return cdk.CfnParameter(stack, "InstanceArn", default=INSTANCE).value_as_string

    def before(stack: cdk.Stack) -> None:
        legacy = aws_connect.CfnPhoneNumber(
            stack, "MainNumber", target_arn=parameter(stack), country_code="US", type="DID", tags=[cdk.CfnTag(key="team", value="desk")]
        )
        cdk.CfnOutput(stack, "Address", value=legacy.attr_address)

    def step_one(stack: cdk.Stack) -> None:
        target = parameter(stack)
        legacy = aws_connect.CfnPhoneNumber(stack, "MainNumber", target_arn=target, country_code="US", type="DID", tags=[cdk.CfnTag(key="team", value="desk")])
        cdk.CfnOutput(stack, "Address", value=ClaimedPhoneNumber(stack, "Main", target_arn=target, migrate_from=legacy).phone_number)

    first = deploy(local, tmp_path, "0", before)
    [original] = held(emulator)
    deploy(local, tmp_path, "1", step_one)

    def step_two(stack: cdk.Stack) -> None:
        number = ClaimedPhoneNumber(stack, "Main", target_arn=parameter(stack), phone_number=first["Address"], adopt_existing=True)
        cdk.CfnOutput(stack, "Address", value=number.phone_number)

    deploy(local, tmp_path, "2", step_two)

    [after] = held(emulator)
    assert (after["arn"], after["target_arn"], after["tags"].get("team")) == (original["arn"], INSTANCE, "desk")


@pytest.mark.real_clock
@pytest.mark.parametrize("where", ["the new number in a nested stack", "the CfnPhoneNumber in a nested stack"])
def test_a_naive_port_across_a_nested_stack_is_refused_before_it_releases_the_published_number(
    emulator: ConnectEmulator, local: LocalCloudFormation, tmp_path: Path, where: str
) -> None:
    """Schedule: the app with a CfnPhoneNumber under the default Delete (in the stack, or in a NestedStack); a deploy
    removes it and adds a ClaimedPhoneNumber adopting the same number (phone_number, adopt_existing) in a NestedStack
    (or in the stack). The local deploy refuses it before anything runs, as it refuses the same port within one stack,
    and the number stays held."""
    nested_legacy = where == "the CfnPhoneNumber in a nested stack"

    def before(stack: cdk.Stack) -> None:
        scope = cdk.NestedStack(stack, "Legacy") if nested_legacy else stack
        legacy = legacy_number(scope)
        cdk.CfnOutput(stack, "Address", value=legacy.attr_address)

    first = deploy(local, tmp_path, "0", before)
    [original] = held(emulator)

    def ported(stack: cdk.Stack) -> None:
        scope = stack if nested_legacy else cdk.NestedStack(stack, "Numbers")
        if nested_legacy:
            cdk.NestedStack(stack, "Legacy")  # emptied
        ClaimedPhoneNumber(scope, "Main", target_arn=INSTANCE, phone_number=first["Address"], adopt_existing=True, description="Main line")

    with pytest.raises(DeployFailed, match="under DeletionPolicy Delete, which releases the number, while it adds Custom::ConnectPhoneNumber"):
        deploy(local, tmp_path, "1", ported)

    assert [n["arn"] for n in held(emulator)] == [original["arn"]]
    assert "ReleasePhoneNumber" not in emulator.service.calls
