"""Adoption under redelivery, races between adoptions, and deadlines: the undo always gets its time, one marker wins.

Each test plays CloudFormation and Lambda against the emulator: the requests CloudFormation sends (its rollbacks too),
Lambda's redelivery of a crashed run (the same event again), and faults injected into the handler's Connect calls.
The docstring gives the exact reproduction, the rule it guards, and why it matters (first found by a hostile review).
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import boto3
import pytest
from aws_cdk import aws_iam as iam
from botocore.exceptions import ClientError, ReadTimeoutError

from connect_phone_number import ClaimedPhoneNumber
from connect_phone_number_handler import arns, connect_api, contract, handler
from connect_phone_number_handler.marker import CLAIM_MARKER_TAG, ClaimMarker
from connect_phone_number_local.deploy.engine import DeployFailed, LocalCloudFormation
from connect_phone_number_local.deploy.responses import ResponseServer
from connect_phone_number_local.deploy.template import load
from connect_phone_number_local.emulator import ConnectEmulator
from support import (
    ACCOUNT,
    FLOW,
    FLOW_ON_OTHER,
    INSTANCE,
    OTHER_INSTANCE,
    Crash,
    FakeContext,
    elapse,
    invoke,
    live_number_by_hand,
    make_event,
    patch_call,
    record_of,
    run,
    settle,
)
from virtual_clock import VirtualClock

OTHER_FLOW = f"{INSTANCE}/contact-flow/11111111-aaaa-bbbb-cccc-000000000002"
GROUP = INSTANCE.replace("instance/aaaaaaaa", "traffic-distribution-group/cccccccc")


def denied(operation: str) -> Callable[..., Any]:
    """An operation IAM denies (an SCP or permission boundary: the construct's own role allows it)."""

    def deny(*a: Any, **k: Any) -> Any:
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "explicit deny in a service control policy"}}, operation)

    return deny


def sets_the_marker(kwargs: dict[str, Any]) -> bool:
    return CLAIM_MARKER_TAG in kwargs.get("tags", {})


# --- A. Lambda's redelivery after a crash mid-adoption ---------------------------------------------------------


@pytest.mark.parametrize("crash_after", ["the move", "the declared tags"])
def test_a_redelivered_adoption_that_fails_undoes_it_back_to_where_the_number_was_before_the_first_delivery(
    emulator: ConnectEmulator, responses: ResponseServer, monkeypatch: pytest.MonkeyPatch, crash_after: str
) -> None:
    """Repro: a live number on INSTANCE, routed to FLOW, in no stack. A Create adopts it to OTHER_INSTANCE with
    ContactFlowArn=FLOW_ON_OTHER and a tag. The first delivery dies right after UpdatePhoneNumber is accepted (or
    right after the declared tags' TagResource): Crash, nothing answered, the move goes on in Connect. Lambda
    delivers the same event again; in that run AssociatePhoneNumberContactFlow is denied (the failure the undo exists
    for). The redelivery takes the moved number as "before" (_adopt describes it anew), so its undo restores the
    moved state: the number stays on OTHER_INSTANCE with no flow (and keeps the declared tag), and the Reason says
    "The adoption was undone: ... is on OTHER_INSTANCE as before". Rule 2 (a failure after a change undoes the
    adoption: move back, tags, flow) breaks on a redelivery, and the Reason misleads the operator: a live line is
    left off its instance and unrouted, and nothing (the rollback, a redeploy) puts it back. The same holds when no
    redelivery succeeds at all (CloudFormation times out): nothing ever undoes the first delivery's move. The state
    before the adoption must outlive the first delivery (in the marker, say, written before the first change).
    Fixed: the marker is written first and records the origin and its flow; the redelivery's undo restores both
    (the denial is of the new flow, so the old one can be associated again). The description and tags an earlier
    delivery set cannot be known, so they stay, and the Reason says so."""
    number = live_number_by_hand(emulator)
    props = {
        "TargetArn": OTHER_INSTANCE,
        "PhoneNumber": number,
        "AdoptExisting": "true",
        "ContactFlowArn": FLOW_ON_OTHER,
        "Tags": [{"Key": "team", "Value": "a"}],
    }
    event = make_event("Create", responses, props)
    crashing = "update_phone_number" if crash_after == "the move" else "tag_resource"

    def then_crash(op: Callable[..., Any]) -> Callable[..., Any]:
        def applied_then_crash(*a: Any, **k: Any) -> Any:
            op(*a, **k)
            raise Crash

        return applied_then_crash

    with monkeypatch.context() as patch:
        patch_call(patch, lambda name, op: then_crash(op) if name == crashing else None)
        with pytest.raises(Crash):
            handler.on_event(event, FakeContext(60))
    settle(emulator)

    def denied_on_the_new_flow(op: Callable[..., Any]) -> Callable[..., Any]:
        def associate(*a: Any, **k: Any) -> Any:
            if k["ContactFlowId"] == arns.flow_id(FLOW_ON_OTHER):
                return denied("AssociatePhoneNumberContactFlow")(*a, **k)
            return op(*a, **k)

        return associate

    with monkeypatch.context() as patch:
        patch_call(patch, lambda name, op: denied_on_the_new_flow(op) if name == "associate_phone_number_contact_flow" else None)
        answer = invoke(event, responses).response
    assert answer["Status"] == "FAILED", answer
    assert "an earlier delivery set its description and tags, which stay" in answer["Reason"], answer["Reason"]
    rollback = run("Delete", responses, props, physical_id=answer["PhysicalResourceId"])
    assert rollback.response["Status"] == "SUCCESS", rollback.response["Reason"]
    settle(emulator)

    record = record_of(emulator, number)
    assert (record["target_arn"], record["contact_flow"], CLAIM_MARKER_TAG in record["tags"]) == (INSTANCE, FLOW, False), answer["Reason"]


def test_a_redelivered_give_back_does_not_release_the_number_it_gave_back(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    """Repro: a live number on INSTANCE, routed to FLOW, is adopted (RetainAdoptedNumber=true, as RETAIN and
    RETAIN_ON_UPDATE_OR_DELETE render it). The first deploy fails elsewhere, so CloudFormation's rollback sends a
    Delete: the handler gives the number back (UntagResource of the marker) and answers SUCCESS, but the ResponseURL
    answers 503 for the whole run (an S3 outage; a crash right after the UntagResource ends the same), so on_event
    raises and Lambda delivers the Delete again, as the handler intends ("Lambda retries the run, which is safe to
    repeat"). The redelivery finds no marker on the number: keep_on_delete returns None ("release it") and the number
    the account held before the stack is released, into a cooldown of up to 180 days. Rule 3 ("a Delete of an
    adopted number under RETAIN_ON_UPDATE_OR_DELETE gives it back instead of releasing") holds only for a Delete
    delivered once: the give-back destroys the only evidence that it must not release."""
    number = live_number_by_hand(emulator)
    props = {"TargetArn": INSTANCE, "PhoneNumber": number, "AdoptExisting": "true", "RetainAdoptedNumber": "true"}
    adopted = run("Create", responses, props)
    assert adopted.response["Status"] == "SUCCESS", adopted.response["Reason"]
    event = make_event("Delete", responses, props, physical_id=adopted.response["PhysicalResourceId"])

    responses.fail_next(1000)
    with pytest.raises(OSError):  # the undeliverable answer: Lambda retries the run
        handler.on_event(event, FakeContext(14))
    responses.fail_next(0)
    again = invoke(event, responses).response
    assert again["Status"] == "SUCCESS", again["Reason"]
    settle(emulator)

    assert [n["number"] for n in emulator.service.holding()] == [number], "the number the account held before the stack was released"


# --- B. The undo on a traffic distribution group ---------------------------------------------------------------


def test_an_undone_adoption_on_a_traffic_distribution_group_keeps_the_flow_the_number_had(
    emulator: ConnectEmulator, responses: ResponseServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Repro: a live number on traffic distribution group GROUP, routed by hand to FLOW (on INSTANCE). A Create adopts
    it on GROUP with ContactFlowArn=OTHER_FLOW: AssociatePhoneNumberContactFlow replaces FLOW with OTHER_FLOW. Then the
    marker's TagResource is denied (an SCP limiting tag keys is common governance). The undo disassociates OTHER_FLOW
    but never re-associates FLOW: _flow_before_adoption reads nothing for a group's number ("no move of it comes
    here"), although a declared flow replaces the group number's flow without any move. The number is left with no
    flow at all, while the Reason says "The adoption was undone: ... is on GROUP as before". Rule 2 (the undo restores
    the flow) breaks for every group number that had a flow: calls to it go nowhere."""
    number = live_number_by_hand(emulator, target=GROUP, flow=FLOW)
    props = {"TargetArn": GROUP, "PhoneNumber": number, "AdoptExisting": "true", "ContactFlowArn": OTHER_FLOW}

    def marker_denied(op: Callable[..., Any]) -> Callable[..., Any]:
        def tag(*a: Any, **k: Any) -> Any:
            if sets_the_marker(k):
                return denied("TagResource")(*a, **k)
            return op(*a, **k)

        return tag

    with monkeypatch.context() as patch:
        patch_call(patch, lambda name, op: marker_denied(op) if name == "tag_resource" else None)
        answer = run("Create", responses, props).response
    assert answer["Status"] == "FAILED", answer
    assert "The adoption was undone" in answer["Reason"]

    assert record_of(emulator, number)["contact_flow"] == FLOW, answer["Reason"]


@pytest.mark.real_clock  # a local deploy: its Lambda runs are processes on the real clock
def test_an_adoption_on_a_group_refused_by_a_tag_guardrail_leaves_the_group_numbers_flow_local_deploy(emulator: ConnectEmulator, tmp_path: Path) -> None:
    """The same finding through the local deploy, IAM enforced: the stack's role carries the account's tag guardrail
    (a managed policy denying connect:TagResource for tag keys outside an approved list, so the marker's key is
    denied; the emulator applies a Deny with a Condition always, as AWS does for this key). Stack "Adopter" adopts a
    live group number (routed by hand to FLOW) on GROUP with contact_flow_arn=OTHER_FLOW. The deploy fails, as it
    should, and the rollback releases nothing; but the number no longer routes anywhere."""
    number = live_number_by_hand(emulator, target=GROUP, flow=FLOW)
    app = cdk.App(outdir=str(tmp_path / "adopter"), context={"aws:cdk:enable-asset-metadata": True})
    stack = cdk.Stack(app, "Adopter")
    adopted = ClaimedPhoneNumber(stack, "Number0", target_arn=GROUP, phone_number=number, adopt_existing=True, contact_flow_arn=OTHER_FLOW)
    guardrail = iam.PolicyStatement(
        effect=iam.Effect.DENY,
        actions=["connect:TagResource"],
        resources=["*"],
        conditions={"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["team", "cost-center"]}},
    )
    role = adopted.function.role
    assert role is not None
    role.add_managed_policy(iam.ManagedPolicy(stack, "TagGuardrail", statements=[guardrail]))
    app.synth()
    cloudformation = LocalCloudFormation(tmp_path / "state", environment=dict(os.environ), out=io.StringIO())

    with pytest.raises(DeployFailed, match=re.escape("The adoption was undone")):
        cloudformation.deploy(load(tmp_path / "adopter", "Adopter", region="us-east-1", account=ACCOUNT))

    assert record_of(emulator, number)["contact_flow"] == FLOW


# --- C. Two resources adopting one number at once --------------------------------------------------------------


def test_an_adoption_that_begins_while_another_is_under_way_is_refused(
    emulator: ConnectEmulator, responses: ResponseServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A live number, in no stack. Resource A's adoption has written its marker (first, before any change) and is
    converging when resource B's adoption of the same number begins: B reads A's marker and is refused, changing
    nothing. (The finding's own schedule, B entirely between A's read and A's write, cannot be closed: Connect has
    no conditional tag write. docs/adoption.md says so.)"""
    number = live_number_by_hand(emulator)
    props = {"TargetArn": OTHER_INSTANCE, "PhoneNumber": number, "AdoptExisting": "true"}
    answers: dict[str, dict[str, Any]] = {}

    def b_during_the_move(op: Callable[..., Any]) -> Callable[..., Any]:
        def move(*a: Any, **k: Any) -> Any:
            if "B" not in answers:
                answers["B"] = run("Create", responses, props, logical_id="B").response
            return op(*a, **k)

        return move

    with monkeypatch.context() as patch:
        patch_call(patch, lambda name, op: b_during_the_move(op) if name == "update_phone_number" else None)
        answers["A"] = run("Create", responses, props, logical_id="A").response

    assert (answers["A"]["Status"], answers["B"]["Status"]) == ("SUCCESS", "FAILED"), answers
    assert "another resource" in answers["B"]["Reason"]


def test_two_adoptions_that_both_read_before_either_wrote_leave_the_number_to_the_last_marker_only(
    emulator: ConnectEmulator, responses: ResponseServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Repro: A and B both read the number before either wrote its marker; A writes, then B writes (simulated here by
    B's marker landing while A converges). Both used to answer SUCCESS. A's final read finds B's marker: A fails,
    naming it, and leaves the number to B (no undo: B is converging it)."""
    number = live_number_by_hand(emulator)
    props = {"TargetArn": OTHER_INSTANCE, "PhoneNumber": number, "AdoptExisting": "true"}
    arn = record_of(emulator, number)["arn"]
    b_marker = ClaimMarker("b-request", contract.resource_token("arn:aws:cloudformation:us-east-1:1:stack/B/x", "B"), adopted=True)

    def b_writes_during_the_move(op: Callable[..., Any]) -> Callable[..., Any]:
        def move(*a: Any, **k: Any) -> Any:
            boto3.client("connect", region_name="us-east-1").tag_resource(resourceArn=arn, tags={CLAIM_MARKER_TAG: b_marker.value})
            return op(*a, **k)

        return move

    with monkeypatch.context() as patch:
        patch_call(patch, lambda name, op: b_writes_during_the_move(op) if name == "update_phone_number" else None)
        answer = run("Create", responses, props, logical_id="A").response

    assert answer["Status"] == "FAILED"
    assert "adopted by another resource during this adoption" in answer["Reason"]
    assert record_of(emulator, number)["tags"][CLAIM_MARKER_TAG] == b_marker.value


# --- D. A marker write whose reply was lost ---------------------------------------------------------------------


def test_an_undone_adoption_leaves_no_marker_even_when_the_markers_reply_was_lost(
    emulator: ConnectEmulator, responses: ResponseServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Repro: a live number on INSTANCE, in no stack. A Create adopts it (WaitTimeoutSeconds=10). The marker's
    TagResource is applied by Connect but its reply never comes (botocore's 10 s read timeout, which takes the run
    past its wait limit, so the call is not retried). The undo runs and the Reason says "The adoption was undone",
    but the undo only converges the tags the stack declared: the marker RESOURCE/REQUEST/adopted stays. The rollback
    Delete releases nothing (right), and leaves the marker. The number is now marked as adopted by a resource that
    holds nothing: every other stack's adoption is refused ("another resource ... manages it"), and the operator was
    told the adoption was undone. The undo must remove a marker this request may have set (UntagResource is
    idempotent), or restore the marker the number had before."""
    number = live_number_by_hand(emulator)
    props = {"TargetArn": INSTANCE, "PhoneNumber": number, "AdoptExisting": "true", "WaitTimeoutSeconds": "10"}

    def applied_then_lost(op: Callable[..., Any]) -> Callable[..., Any]:
        def tag(*a: Any, **k: Any) -> Any:
            result = op(*a, **k)
            if sets_the_marker(k):
                elapse(10.5)  # the read timeout, past the wait limit
                raise ReadTimeoutError(endpoint_url="http://connect")
            return result

        return tag

    with monkeypatch.context() as patch:
        patch_call(patch, lambda name, op: applied_then_lost(op) if name == "tag_resource" else None)
        answer = run("Create", responses, props).response
    assert answer["Status"] == "FAILED", answer
    assert "The adoption was undone" in answer["Reason"], answer["Reason"]
    rollback = run("Delete", responses, props, physical_id=answer["PhysicalResourceId"])
    assert rollback.response["Status"] == "SUCCESS", rollback.response["Reason"]

    assert CLAIM_MARKER_TAG not in record_of(emulator, number)["tags"], answer["Reason"]
    elsewhere = run("Create", responses, props, logical_id="Elsewhere").response
    assert elsewhere["Status"] == "SUCCESS", elsewhere["Reason"]


# --- E. The undo racing the deadline (on the tests' virtual clock: no test waits minutes) --------------------


def test_a_failed_adoption_whose_calls_hang_still_answers_inside_service_timeout(
    emulator: ConnectEmulator, responses: ResponseServer, monkeypatch: pytest.MonkeyPatch, clock: VirtualClock
) -> None:
    """Repro (virtual clock, the emulator's included; backoff fixed at its 4 s cap so the schedule is exact):
    WaitTimeoutSeconds=10, so the construct renders ServiceTimeout=130. A live number on INSTANCE routed to FLOW is
    adopted to OTHER_INSTANCE with ContactFlowArn=FLOW_ON_OTHER. Connect is degraded for AssociatePhoneNumberContactFlow:
    it answers 429 at once, except that an attempt started 65 to 75 s, or 118 s or more, after the request hangs
    until botocore's timeouts (connect 3 s + read 10 s) and fails. The main path spends its 60 s throttle grace as
    designed (deadline 71 s), but its last attempt started at 65 s and ends at 78 s; the undo then gets 45 s (to
    123 s): the move back is done, and the flow's re-association is throttled until its last attempt, started at
    119 s, ends at 132 s. The answer comes after CloudFormation gave up
    at 130 s: rule 2 ("still answering inside ServiceTimeout") breaks. W + 60 + 45 leaves 15 s, but each of the two
    deadlines can be overrun by one call in flight (up to 13 s). CloudFormation then shows a bare timeout, not the
    Reason ("Undoing the adoption failed too ... check NUMBER; it was on INSTANCE"), and rolls back while the
    handler may still be undoing."""
    monkeypatch.setattr("connect_phone_number_handler.connect_api.backoff_delay", lambda attempt, rng=None: connect_api.BACKOFF_CAP_SECONDS)
    number = live_number_by_hand(emulator)
    props = {
        "TargetArn": OTHER_INSTANCE,
        "PhoneNumber": number,
        "AdoptExisting": "true",
        "ContactFlowArn": FLOW_ON_OTHER,
        "WaitTimeoutSeconds": "10",
        "ServiceTimeout": "130",
    }
    started = clock.monotonic()

    def degraded(*a: Any, **k: Any) -> Any:
        elapsed = clock.monotonic() - started
        if 65 <= elapsed < 75 or elapsed >= 118:
            clock.advance(13.0)  # connect_timeout 3 s + read_timeout 10 s
            raise ReadTimeoutError(endpoint_url="http://connect")
        raise ClientError({"Error": {"Code": "TooManyRequestsException", "Message": "Rate exceeded"}, "ResponseMetadata": {"HTTPStatusCode": 429}}, "x")

    with monkeypatch.context() as patch:
        patch_call(patch, lambda name, op: degraded if name == "associate_phone_number_contact_flow" else None)
        answer = invoke(make_event("Create", responses, props), responses, seconds=900).response
    answered_after = clock.monotonic() - started

    assert answer["Status"] == "FAILED", answer
    assert answered_after <= 130, f"answered {answered_after:.1f} s after the request, ServiceTimeout is 130 s: {answer['Reason']}"


def test_the_undo_of_an_adoption_with_the_longest_wait_limit_still_gets_its_own_45_seconds(
    emulator: ConnectEmulator, responses: ResponseServer, monkeypatch: pytest.MonkeyPatch, clock: VirtualClock
) -> None:
    """Repro (virtual clock, the emulator's included; backoff fixed at its 4 s cap): timeout=Duration.minutes(14), the
    longest the construct allows (WaitTimeoutSeconds=840; the function runs 900 s). A number claimed by hand on
    INSTANCE, described "Hand line", is adopted to OTHER_INSTANCE with Description "Sales" and a flow. Moves and
    description changes take Connect 5 s each. AssociatePhoneNumberContactFlow is throttled for the whole run, so the
    main path spends its 60 s throttle grace and runs to Lambda's end less the 10 s reserve (890 s). The undo's
    "own 45 s" (rule 2) is Deadline(context, 45), which Lambda's end caps: it gets under 4 s, issues the move back and
    runs out while it is IN_PROGRESS. The number ends on INSTANCE still described "Sales" (and any tags the stack
    declared would stay), and the Reason says the undo failed. Any wait limit over 785 s can lose the undo this way:
    the main deadline must keep the undo's 45 s inside the Lambda run, not only inside ServiceTimeout."""
    monkeypatch.setattr("connect_phone_number_handler.connect_api.backoff_delay", lambda attempt, rng=None: connect_api.BACKOFF_CAP_SECONDS)
    client = boto3.client("connect", region_name="us-east-1")
    number = emulator.service.available("US", "DID")[0]
    claimed = client.claim_phone_number(TargetArn=INSTANCE, PhoneNumber=number, PhoneNumberDescription="Hand line")
    settle(emulator)
    emulator.service.config.update_seconds = 5
    props = {
        "TargetArn": OTHER_INSTANCE,
        "PhoneNumber": number,
        "AdoptExisting": "true",
        "Description": "Sales",
        "ContactFlowArn": FLOW_ON_OTHER,
        "WaitTimeoutSeconds": "840",
        "ServiceTimeout": "960",
    }

    def throttled(*a: Any, **k: Any) -> Any:
        raise ClientError({"Error": {"Code": "TooManyRequestsException", "Message": "Rate exceeded"}, "ResponseMetadata": {"HTTPStatusCode": 429}}, "x")

    with monkeypatch.context() as patch:
        patch_call(patch, lambda name, op: throttled if name == "associate_phone_number_contact_flow" else None)
        answer = invoke(make_event("Create", responses, props), responses, seconds=900).response
    assert answer["Status"] == "FAILED", answer
    clock.advance(10)  # Connect finishes whatever the undo started
    settle(emulator)

    record = record_of(emulator, number)
    assert (record["arn"], record["target_arn"], record["description"]) == (claimed["PhoneNumberArn"], INSTANCE, "Hand line"), answer["Reason"]


# --- F. Adopting this resource's own pending replacement ---------------------------------------------------------


def test_adopting_this_resources_own_pending_replacement_is_refused_and_the_rollback_releases_it(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    """Repro: resource Number holds X. An earlier replacement of it claimed Y and never answered SUCCESS, so Y still
    carries Number's marker RESOURCE/REQUEST/pending (the state docs/rollbacks.md's "Left out" leaves when the rollback cannot
    list a number still IN_PROGRESS, or after continue-update-rollback skipped the resource). An Update asks for
    PhoneNumber=Y with AdoptExisting=true (and RetainAdoptedNumber). It used to adopt Y, rewriting the marker to
    "adopted", so the rollback's Delete gave Y back: held, billed, unmarked, in no stack, though this stack claimed it.
    Fixed by rules.adoption_refusal: this resource's pending claim is refused, and the rollback of the failed
    Update releases Y as any unreported replacement."""
    x, y = emulator.service.available("US", "DID")[:2]
    first = run("Create", responses, {"TargetArn": INSTANCE, "PhoneNumber": x})
    assert first.response["Status"] == "SUCCESS", first.response["Reason"]
    client = boto3.client("connect", region_name="us-east-1")
    claimed = client.claim_phone_number(TargetArn=INSTANCE, PhoneNumber=y)
    own_pending = ClaimMarker("0b5b7f0e-6c1a-5a34-9d0c-3f5f4a1e2b11", contract.resource_token(first.event["StackId"], "Number"), pending=True)
    client.tag_resource(resourceArn=claimed["PhoneNumberArn"], tags={CLAIM_MARKER_TAG: own_pending.value})
    settle(emulator)
    old = {"TargetArn": INSTANCE, "PhoneNumber": x}
    new = {"TargetArn": INSTANCE, "PhoneNumber": y, "AdoptExisting": "true", "RetainAdoptedNumber": "true"}

    update = run("Update", responses, new, old=old, physical_id=first.response["PhysicalResourceId"])
    assert update.response["Status"] == "FAILED"
    assert "rollback of that update releases it" in update.response["Reason"]
    rollback = run("Update", responses, old, old=new, physical_id=first.response["PhysicalResourceId"])
    assert rollback.response["Status"] == "SUCCESS", rollback.response["Reason"]
    settle(emulator)

    assert [n["number"] for n in emulator.service.holding()] == [x]


# --- G. Markers of the old StackId form --------------------------------------------------------------------------


def test_a_number_marked_by_stack_id_before_2026_11_is_refused_to_a_stack_created_again_with_the_untag_command(
    emulator: ConnectEmulator, responses: ResponseServer
) -> None:
    """The finding, kept as the documented limit (docs/limits.md): stack "Test" claimed X with a release before
    2026-11, whose marker names the resource by the stack's *id*; the stack is deleted under RETAIN and created again
    under the same name (a new StackId). The old-form marker cannot tell the stack's name, so its adoption is refused,
    naming the command that removes the marker; nothing changes."""
    number = emulator.service.available("US", "DID")[0]
    first = run("Create", responses, {"TargetArn": INSTANCE, "PhoneNumber": number})
    assert first.response["Status"] == "SUCCESS", first.response["Reason"]
    old_form = ClaimMarker(first.event["RequestId"], contract.deterministic_token(first.event["StackId"], "Number"))
    boto3.client("connect", region_name="us-east-1").tag_resource(resourceArn=first.response["PhysicalResourceId"], tags={CLAIM_MARKER_TAG: old_form.value})
    event = make_event("Create", responses, {"TargetArn": INSTANCE, "PhoneNumber": number, "AdoptExisting": "true"})
    event["StackId"] = event["StackId"].rsplit("/", 1)[0] + "/99999999-8888-7777-6666-555555555555"

    again = invoke(event, responses).response

    assert again["Status"] == "FAILED"
    assert f"aws connect untag-resource --resource-arn {first.response['PhysicalResourceId']}" in again["Reason"]
    assert record_of(emulator, number)["tags"][CLAIM_MARKER_TAG] == old_form.value


def test_a_redelivery_of_an_adoption_that_completed_before_its_crash_answers_success(
    emulator: ConnectEmulator, responses: ResponseServer, monkeypatch: pytest.MonkeyPatch, clock: VirtualClock
) -> None:
    """Finding A at its last step (virtual clock): the first delivery completes the adoption (move, flow, marker
    RESOURCE/REQUEST/adopted) and dies before answering. In the redelivery TagResource is throttled until the wait
    limit (WaitTimeoutSeconds=10, plus the 60 s grace). The undo restores "before", which this delivery read after the
    first one's changes: the number stays on OTHER_INSTANCE, routed to FLOW_ON_OTHER, marked adopted by a resource
    whose Create failed, and the Reason says "The adoption was undone ... as before". Fixed: the redelivery finds its
    own request's adopted marker, so it resumes instead of writing it again; the adoption had completed, so it
    answers SUCCESS with the number, routed as declared."""
    number = live_number_by_hand(emulator)
    props = {"TargetArn": OTHER_INSTANCE, "PhoneNumber": number, "AdoptExisting": "true", "ContactFlowArn": FLOW_ON_OTHER, "WaitTimeoutSeconds": "10"}
    event = make_event("Create", responses, props)

    def marker_then_crash(op: Callable[..., Any]) -> Callable[..., Any]:
        def tag(*a: Any, **k: Any) -> Any:
            op(*a, **k)
            if sets_the_marker(k):
                raise Crash
            return None

        return tag

    def throttled(*a: Any, **k: Any) -> Any:
        raise ClientError({"Error": {"Code": "TooManyRequestsException", "Message": "Rate exceeded"}, "ResponseMetadata": {"HTTPStatusCode": 429}}, "x")

    with monkeypatch.context() as patch:
        patch_call(patch, lambda name, op: marker_then_crash(op) if name == "tag_resource" else None)
        with pytest.raises(Crash):
            handler.on_event(event, FakeContext(900))
    settle(emulator)
    with monkeypatch.context() as patch:
        patch_call(patch, lambda name, op: throttled if name == "tag_resource" else None)
        answer = invoke(event, responses, seconds=900).response
    assert answer["Status"] == "SUCCESS", answer
    record = record_of(emulator, number)
    assert answer["PhysicalResourceId"] == record["arn"]
    assert (record["target_arn"], record["contact_flow"]) == (OTHER_INSTANCE, FLOW_ON_OTHER)
