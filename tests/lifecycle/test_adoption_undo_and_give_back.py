"""Adoption: refusals, the undo of a failed adoption, and the give-back of an adopted number when the stack lets go.

The test plays CloudFormation: it sends the requests CloudFormation would send (including its rollbacks), with the
handler run as Lambda runs it (support.invoke), against the emulator. Each docstring gives the reproduction, the
invariant and why it matters.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import boto3
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from connect_phone_number import ClaimedPhoneNumber
from connect_phone_number_handler import arns
from connect_phone_number_handler import clock as handler_clock
from connect_phone_number_handler.marker import CLAIM_MARKER_TAG, ClaimMarker
from connect_phone_number_local.deploy.engine import DeployFailed, LocalCloudFormation
from connect_phone_number_local.deploy.responses import ResponseServer
from connect_phone_number_local.deploy.template import load
from connect_phone_number_local.emulator import LIMIT_MESSAGE, ConnectEmulator
from support import (
    ACCOUNT,
    FLOW,
    FLOW_ON_OTHER,
    INSTANCE,
    OTHER_INSTANCE,
    crash_after_the_claim,
    elapse,
    invoke,
    live_number_by_hand,
    make_event,
    marked_holdings,
    patch_call,
    record_of,
    run,
    search_props,
    settle,
)

# --- 1. A failed adoption has already moved the live number off its instance and dropped its flow ---------


def test_an_adoption_that_fails_after_its_move_leaves_the_number_on_its_instance_and_routed_as_before(
    emulator: ConnectEmulator, responses: ResponseServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Repro: a live number on INSTANCE, routed to FLOW, in no stack. A Create with AdoptExisting=true targets
    OTHER_INSTANCE with ContactFlowArn=FLOW_ON_OTHER; the move is applied, then AssociatePhoneNumberContactFlow is
    denied (AccessDeniedException: a missing permission, a flow deleted, a throttle past the deadline all end the
    same). The Create answers FAILED under ``unclaimed-...`` and CloudFormation's rollback Delete does nothing
    (docs/adoption.md: "A failed adoption reports a physical id that is no number's, so its rollback releases nothing").
    The number stays on OTHER_INSTANCE with no flow at all: the failed deployment took a live line off its
    instance and its routing, and nothing (not the rollback, not a redeploy without adoption) puts it back.
    The issue promises for the refusal "Nothing changes"; a failed adoption should leave the number as it was.
    Fixed by plan.plan_undo (reconcile.undo): a failure after a change converges the number back on its old state."""
    number = live_number_by_hand(emulator)
    props = {"TargetArn": OTHER_INSTANCE, "PhoneNumber": number, "AdoptExisting": "true", "ContactFlowArn": FLOW_ON_OTHER}

    def denied_on_the_new_flow(op: Callable[..., Any]) -> Callable[..., Any]:
        def associate(*a: Any, **k: Any) -> Any:
            if k["ContactFlowId"] == FLOW_ON_OTHER.rsplit("/", 1)[1]:
                raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}}, "AssociatePhoneNumberContactFlow")
            return op(*a, **k)

        return associate

    with monkeypatch.context() as patch:
        patch_call(patch, lambda name, op: denied_on_the_new_flow(op) if name == "associate_phone_number_contact_flow" else None)
        answer = run("Create", responses, props).response
    assert answer["Status"] == "FAILED", answer
    rollback = run("Delete", responses, props, physical_id=answer["PhysicalResourceId"])
    assert rollback.response["Status"] == "SUCCESS", rollback.response["Reason"]
    settle(emulator)

    record = record_of(emulator, number)
    assert (record["target_arn"], record["contact_flow"]) == (INSTANCE, FLOW), answer["Reason"]


def test_an_adoption_refused_by_connects_tag_limit_leaves_the_number_on_its_instance(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    """The same finding with no fault injected: the live number carries 48 tags added by hand; the adoption to
    OTHER_INSTANCE declares 2. The move is applied first, then the declared tags (50) and the marker (51) exceed
    Connect's 50 and TagResource fails: FAILED, the rollback does nothing, and the number is left on
    OTHER_INSTANCE without its flow. The tag count is known from the Describe the adoption makes before the move.
    Fixed by rules.adoption_refusal: the merged tag count is checked before the move."""
    number = live_number_by_hand(emulator)
    client = boto3.client("connect", region_name="us-east-1")
    client.tag_resource(resourceArn=record_of(emulator, number)["arn"], tags={f"hand{i}": "x" for i in range(48)})
    props = {"TargetArn": OTHER_INSTANCE, "PhoneNumber": number, "AdoptExisting": "true", "Tags": [{"Key": "team", "Value": "a"}, {"Key": "cc", "Value": "1"}]}

    answer = run("Create", responses, props).response
    assert answer["Status"] == "FAILED", answer
    run("Delete", responses, props, physical_id=answer["PhysicalResourceId"])
    settle(emulator)

    record = record_of(emulator, number)
    assert (record["target_arn"], record["contact_flow"]) == (INSTANCE, FLOW), answer["Reason"]


# --- 2. AdoptExisting on a number not yet held claims it; a lost claim response then leaks it --------------


def test_an_adopt_existing_create_that_claims_and_loses_the_claims_response_is_released_by_the_rollback(
    emulator: ConnectEmulator, responses: ResponseServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Repro: AdoptExisting=true with a PhoneNumber the account does not hold, so (docs/adoption.md) "it is claimed as
    usual"; WaitTimeoutSeconds=10. The two ListPhoneNumbersV2 of the adoption check answer after 4.7 s each;
    ClaimPhoneNumber is accepted by Connect but the connection drops 0.8 s later (ReadTimeoutError), past the
    deadline. The handler answers FAILED under ``unclaimed-REQUEST``. The rollback Delete
    (_release_unreported_create) returns at once for any AdoptExisting resource ("an adoption is never
    released this way"), although this request *claimed* the number and marked it with its own request: the
    number stays held, billed, in no stack. The same path without AdoptExisting is released (test_crashes_redeliveries_and_lost_answers 6).
    Fixed by the ``adopted`` state of the marker: the clean-up releases this request's claims, never an adoption."""
    number = emulator.service.available("US", "DID")[0]
    props = {"TargetArn": INSTANCE, "PhoneNumber": number, "AdoptExisting": "true", "WaitTimeoutSeconds": "10"}

    def wrap(name: str, op: Callable[..., Any]) -> Callable[..., Any] | None:
        if name == "list_phone_numbers_v2":

            def slow(*a: Any, **k: Any) -> Any:
                elapse(4.7)
                return op(*a, **k)

            return slow
        if name == "claim_phone_number":

            def applied_then_lost(*a: Any, **k: Any) -> Any:
                op(*a, **k)
                elapse(0.8)
                raise ReadTimeoutError(endpoint_url="http://connect")

            return applied_then_lost
        return None

    with monkeypatch.context() as patch:
        patch_call(patch, wrap)
        answer = invoke(make_event("Create", responses, props), responses, seconds=60).response
    assert answer["Status"] == "FAILED", answer
    assert answer["PhysicalResourceId"].startswith(arns.UNCLAIMED_PREFIX)

    rollback = run("Delete", responses, props, physical_id=answer["PhysicalResourceId"])

    assert rollback.response["Status"] == "SUCCESS", rollback.response["Reason"]
    settle(emulator)
    assert marked_holdings(emulator) == set(), answer["Reason"]


# --- 3. Adoption silently takes a number that another stack's marker names -----------------------------


def test_adopting_a_number_that_another_resources_marker_names_is_refused_naming_that_resource(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    """Repro: resource Elsewhere claims a number (its marker tag names it, answered). A second resource
    ("another stack") creates with PhoneNumber=that number and AdoptExisting=true. It answers SUCCESS and
    overwrites the marker, so Elsewhere's next Update moves the number back and its Delete (DESTROY) releases it
    under the adopter. The README documents "two stacks must not manage one number", but the handler reads the
    marker (Describe) during the adoption and has what it needs to refuse: the issue asks bad states to fail
    before anything changes. Expected: FAILED, naming the number and that another resource of this library
    manages it; the marker unchanged. Fixed by rules.adoption_refusal."""
    number = emulator.service.available("US", "DID")[0]
    first = run("Create", responses, {"TargetArn": INSTANCE, "PhoneNumber": number}, logical_id="Elsewhere")
    assert first.response["Status"] == "SUCCESS", first.response["Reason"]
    marker_before = record_of(emulator, number)["tags"][CLAIM_MARKER_TAG]

    answer = run("Create", responses, {"TargetArn": OTHER_INSTANCE, "PhoneNumber": number, "AdoptExisting": "true"}).response

    assert answer["Status"] == "FAILED", "adopted a number another resource manages"
    assert number in answer["Reason"]
    assert record_of(emulator, number)["tags"][CLAIM_MARKER_TAG] == marker_before


# --- 4. The retry window's UTC time, on a redelivered claim ----------------------------------------------


def test_a_redelivered_failed_claim_states_a_reservation_end_no_later_than_connects(
    emulator: ConnectEmulator, responses: ResponseServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Repro: claims FAIL (LIMIT_MESSAGE). The first delivery dies right after ClaimPhoneNumber is accepted
    (Crash); Lambda's second retry arrives about 3 minutes later (its async retries wait 1 and 2 minutes), replays
    the claim (same ClientToken) and answers FAILED with the retry window. rules.failed_claim_reason counts the day
    from ``claimed_at = datetime.now()`` of *this* delivery, not of the claim Connect accepted; its docstring
    promises "a time the number is certainly still reserved until", but the time given is 3 minutes after the
    reservation ends, so a user who waits for the last minute finds the number gone. Fixed by
    rules.claimed_no_earlier_than: the day counts from ServiceTimeout before the answer."""
    emulator.service.fail_claims("*", LIMIT_MESSAGE)
    event = make_event("Create", responses, search_props())
    crash_after_the_claim(event, monkeypatch)
    settle(emulator)
    [failed] = [n for n in emulator.service.held() if n["status"] == "FAILED"]
    reserved_until = datetime.fromtimestamp(failed["settle_at"] + emulator.service.config.failed_claim_seconds, UTC)

    class ThreeMinutesLater(handler_clock.SystemClock):
        def time(self) -> float:
            return super().time() + timedelta(minutes=3).total_seconds()

    previous = handler_clock.use(ThreeMinutesLater())
    try:
        answer = invoke(event, responses).response
    finally:
        handler_clock.use(previous)

    assert answer["Status"] == "FAILED", answer
    stated = re.search(r"until (\d{4}-\d\d-\d\d \d\d:\d\d) UTC", answer["Reason"])
    assert stated is not None, answer["Reason"]
    assert datetime.strptime(stated.group(1), "%Y-%m-%d %H:%M").replace(tzinfo=UTC) <= reserved_until, answer["Reason"]


# --- 5. The rollback of a failed first deploy releases a number the account held before the stack ------


@pytest.mark.real_clock  # a local deploy: its Lambda runs are processes on the real clock
def test_the_rollback_of_a_failed_first_deploy_keeps_an_adopted_number_under_retain_on_update_or_delete(emulator: ConnectEmulator, tmp_path: Path) -> None:
    """Repro (local deploy, IAM enforced): a live number X on INSTANCE, claimed by hand, routed to FLOW. Stack
    "Adopter": Number0 adopts X (adopt_existing=True, RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE, the policy one picks
    to keep a production number); Number1 (DESTROY, depends on Number0) claims a GB number, and GB claims FAIL.
    The adoption succeeds, Number1 fails, and the rollback of the create deletes Number0 (RetainExceptOnCreate
    deletes in the rollback of the create) and the handler releases X: the account loses a number it held before
    the stack existed, into a cooldown of up to 180 days. The README promises RETAIN_ON_UPDATE_OR_DELETE releases
    numbers only "when the stack that first claimed them fails to create", and "a failed adoption ... releases
    nothing"; this stack never claimed X. Fixed by RetainAdoptedNumber (rendered from the DeletionPolicy) and
    rules.keep_on_delete: the rollback gives the number back to the account, without this library's marker."""
    number = live_number_by_hand(emulator)
    emulator.service.fail_claims("+44", LIMIT_MESSAGE)
    app = cdk.App(outdir=str(tmp_path / "adopter"), context={"aws:cdk:enable-asset-metadata": True})
    stack = cdk.Stack(app, "Adopter")
    adopted = ClaimedPhoneNumber(
        stack, "Number0", target_arn=INSTANCE, phone_number=number, adopt_existing=True, removal_policy=cdk.RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE
    )
    failing = ClaimedPhoneNumber(stack, "Number1", target_arn=INSTANCE, country_code="GB", phone_number_type="DID", removal_policy=cdk.RemovalPolicy.DESTROY)
    failing.node.add_dependency(adopted)
    app.synth()
    cloudformation = LocalCloudFormation(tmp_path / "state", environment=dict(os.environ), out=io.StringIO())

    with pytest.raises(DeployFailed, match=re.escape(LIMIT_MESSAGE)):
        cloudformation.deploy(load(tmp_path / "adopter", "Adopter", region="us-east-1", account=ACCOUNT))

    assert [n["number"] for n in emulator.service.holding() if n["number"] == number] == [number], "the adopted number was released"


# --- The rules those fixes rest on, each shown through the emulator -----------------------------------


def test_an_adoption_whose_undo_fails_too_says_so_naming_where_the_number_was(
    emulator: ConnectEmulator, responses: ResponseServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every association is denied, the undo's too: the Reason says the undo failed and where the number was."""
    number = live_number_by_hand(emulator)
    props = {"TargetArn": OTHER_INSTANCE, "PhoneNumber": number, "AdoptExisting": "true", "ContactFlowArn": FLOW_ON_OTHER}

    def denied(*a: Any, **k: Any) -> Any:
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}}, "AssociatePhoneNumberContactFlow")

    with monkeypatch.context() as patch:
        patch_call(patch, lambda name, op: denied if name == "associate_phone_number_contact_flow" else None)
        answer = run("Create", responses, props).response

    assert answer["Status"] == "FAILED"
    assert answer["PhysicalResourceId"].startswith(arns.UNCLAIMED_PREFIX)
    assert "Undoing the adoption failed too" in answer["Reason"]
    assert f"it was on {INSTANCE}, routed to {FLOW}" in answer["Reason"]
    assert record_of(emulator, number)["target_arn"] == INSTANCE  # the move back came before the denied flow


def test_a_stack_created_again_under_its_name_adopts_the_number_it_kept(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    """RETAIN kept the number when the stack was deleted; the stack created again (same name, new id) adopts it."""
    number = emulator.service.available("US", "DID")[0]
    first = run("Create", responses, {"TargetArn": INSTANCE, "PhoneNumber": number})
    assert first.response["Status"] == "SUCCESS", first.response["Reason"]
    event = make_event("Create", responses, {"TargetArn": INSTANCE, "PhoneNumber": number, "AdoptExisting": "true"})
    event["StackId"] = event["StackId"].rsplit("/", 1)[0] + "/99999999-8888-7777-6666-555555555555"

    again = invoke(event, responses).response

    assert again["Status"] == "SUCCESS", again["Reason"]
    assert again["PhysicalResourceId"] == first.response["PhysicalResourceId"]
    assert ClaimMarker.parse(record_of(emulator, number)["tags"][CLAIM_MARKER_TAG]).adopted


def test_a_delete_keeps_a_number_another_resource_adopted_since(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    """Resource A's number was untagged by hand and adopted by resource B: A's Delete (DESTROY) must not release B's number."""
    number = emulator.service.available("US", "DID")[0]
    props = {"TargetArn": INSTANCE, "PhoneNumber": number}
    first = run("Create", responses, props, logical_id="A")
    arn = first.response["PhysicalResourceId"]
    boto3.client("connect", region_name="us-east-1").untag_resource(resourceArn=arn, tagKeys=[CLAIM_MARKER_TAG])
    adopted = run("Create", responses, {**props, "AdoptExisting": "true"}, logical_id="B")
    assert adopted.response["Status"] == "SUCCESS", adopted.response["Reason"]
    value = record_of(emulator, number)["tags"][CLAIM_MARKER_TAG]

    deleted = run("Delete", responses, props, physical_id=arn, logical_id="A")

    assert deleted.response["Status"] == "SUCCESS", deleted.response["Reason"]
    assert record_of(emulator, number)["status"] == "CLAIMED"
    assert record_of(emulator, number)["tags"][CLAIM_MARKER_TAG] == value


@pytest.mark.parametrize(("retain", "kept"), [("true", True), (None, False)])
def test_an_adopted_numbers_delete_gives_it_back_only_when_the_removal_policy_keeps_it(
    emulator: ConnectEmulator, responses: ResponseServer, retain: str | None, kept: bool
) -> None:
    number = live_number_by_hand(emulator)
    props = {"TargetArn": INSTANCE, "PhoneNumber": number, "AdoptExisting": "true", **({"RetainAdoptedNumber": retain} if retain else {})}
    adopted = run("Create", responses, props)
    assert adopted.response["Status"] == "SUCCESS", adopted.response["Reason"]

    deleted = run("Delete", responses, props, physical_id=adopted.response["PhysicalResourceId"])

    assert deleted.response["Status"] == "SUCCESS", deleted.response["Reason"]
    held = [n for n in emulator.service.holding() if n["number"] == number]
    assert bool(held) is kept
    if kept:
        assert CLAIM_MARKER_TAG not in held[0]["tags"]  # the account's again, adoptable by any stack


def test_an_adoption_whose_marker_reply_is_lost_is_undone_marker_included(
    emulator: ConnectEmulator, responses: ResponseServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The adoption's TagResource of its marker is applied, then its reply is lost: the undo takes the marker off too,
    so the number is the account's as before, adoptable by any stack."""
    number = live_number_by_hand(emulator)
    props = {"TargetArn": OTHER_INSTANCE, "PhoneNumber": number, "AdoptExisting": "true"}

    def wrap(name: str, op: Callable[..., Any]) -> Callable[..., Any] | None:
        if name != "tag_resource":
            return None

        def applied_then_lost(*a: Any, **k: Any) -> Any:
            op(*a, **k)
            if CLAIM_MARKER_TAG in k["tags"]:
                raise ClientError({"Error": {"Code": "InvalidParameterException", "Message": "lost"}}, "TagResource")

        return applied_then_lost

    with monkeypatch.context() as patch:
        patch_call(patch, wrap)
        answer = run("Create", responses, props).response

    assert answer["Status"] == "FAILED"
    assert "The adoption was undone" in answer["Reason"], answer["Reason"]
    record = record_of(emulator, number)
    assert record["target_arn"] == INSTANCE
    assert CLAIM_MARKER_TAG not in record["tags"]


def test_a_redelivered_give_back_still_keeps_the_adopted_number(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    """The rollback's Delete gives the adopted number back (the marker removed), then its answer is lost and the Delete
    comes again: with no marker left to say "adopted", the redelivery must keep it too, not release it."""
    number = live_number_by_hand(emulator)
    props = {"TargetArn": INSTANCE, "PhoneNumber": number, "AdoptExisting": "true", "RetainAdoptedNumber": "true"}
    adopted = run("Create", responses, props)
    assert adopted.response["Status"] == "SUCCESS", adopted.response["Reason"]
    delete = make_event("Delete", responses, props, physical_id=adopted.response["PhysicalResourceId"])

    first, again = invoke(delete, responses), invoke(delete, responses)

    assert (first.response["Status"], again.response["Status"]) == ("SUCCESS", "SUCCESS"), again.response["Reason"]
    [kept] = [n for n in emulator.service.holding() if n["number"] == number]
    assert CLAIM_MARKER_TAG not in kept["tags"]


def test_a_given_back_number_goes_back_where_it_was_and_routes_to_its_old_flow(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    """The rollback of a failed first deploy gives an adopted number back as the account had it: the marker says where
    it was and its flow, so it moves back and routes there again, without the marker."""
    number = live_number_by_hand(emulator)
    props = {"TargetArn": OTHER_INSTANCE, "PhoneNumber": number, "AdoptExisting": "true", "ContactFlowArn": FLOW_ON_OTHER, "RetainAdoptedNumber": "true"}
    adopted = run("Create", responses, props)
    assert adopted.response["Status"] == "SUCCESS", adopted.response["Reason"]
    assert (record_of(emulator, number)["target_arn"], record_of(emulator, number)["contact_flow"]) == (OTHER_INSTANCE, FLOW_ON_OTHER)

    deleted = run("Delete", responses, props, physical_id=adopted.response["PhysicalResourceId"])

    assert deleted.response["Status"] == "SUCCESS", deleted.response["Reason"]
    settle(emulator)
    record = record_of(emulator, number)
    assert (record["status"], record["target_arn"], record["contact_flow"]) == ("CLAIMED", INSTANCE, FLOW)
    assert CLAIM_MARKER_TAG not in record["tags"]
