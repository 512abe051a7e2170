"""Open findings of the second hostile pass (hostile10) on the adoption rework and CloudFormation's deadline.

Not collected by ``make test`` (the file name does not start with ``test_``): run it by name,
``pytest tests/open_findings/hostile10_findings.py``. Every test here still FAILS; each docstring gives the exact
reproduction, the rule it breaks, and why it matters. The fixed findings are in tests/test_adoption_hostile10.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from test_adoption_hostile10 import OTHER_FLOW, SERVICE_TIMEOUT, redelivered_late, then_crash  # the same helpers

from connect_phone_number_handler import clock as handler_clock
from connect_phone_number_handler import contract, handler
from connect_phone_number_handler.marker import CLAIM_MARKER_TAG
from connect_phone_number_local.deploy.responses import ResponseServer
from connect_phone_number_local.emulator import ConnectEmulator
from support import (
    FLOW,
    INSTANCE,
    OTHER_INSTANCE,
    Crash,
    FakeContext,
    invoke,
    live_number_by_hand,
    make_event,
    patch_call,
    record_of,
    run,
    search_props,
    settle,
)

# --- 4. A replacement marked "answered" whose answer never lands leaks past the rollback ---------------------------


def test_a_replacement_marked_answered_whose_answer_never_lands_is_released_by_the_rollback(
    emulator: ConnectEmulator, responses: ResponseServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Repro: a stack holds a searched number. An Update pins PhoneNumber to another number: a replacement. The claim
    settles; _mark_answered decides SUCCESS and re-tags the marker to RESOURCE/REQUEST (no longer pending); then
    Lambda dies before the PUT (Crash; an S3 outage on the PUT ends the same: it raises and Lambda retries). Lambda
    redelivers when CloudFormation listens 5 s more: "Too late to start", FAILED under the old ARN (or CloudFormation
    times out). CloudFormation rolls back with an Update to the old properties; rules.is_rollback_of_replacement holds
    and _release_abandoned_replacements looks for PENDING markers only: the replacement carries an answered marker,
    so it is never released. The stack keeps the old number and the account is billed for the replacement forever,
    marked for a resource that never reported it: "never leaked" breaks. The marker says "answered" before any
    answer landed (decide is not delivery), so a late redelivery must not leave it, or the marker must change only
    after the PUT succeeded."""
    created = run("Create", responses, search_props()).response
    assert created["Status"] == "SUCCESS", created["Reason"]
    old_arn = created["PhysicalResourceId"]
    wanted = emulator.service.available("US", "DID")[0]
    new_props = {"TargetArn": INSTANCE, "PhoneNumber": wanted}
    event = make_event("Update", responses, new_props, old=search_props(), physical_id=old_arn)

    def answered_then_crash(op: Callable[..., Any]) -> Callable[..., Any]:
        def tag(*a: Any, **k: Any) -> Any:
            value = k.get("tags", {}).get(CLAIM_MARKER_TAG, "")
            if value and not value.endswith("/pending"):
                return then_crash(op)(*a, **k)
            return op(*a, **k)

        return tag

    with monkeypatch.context() as patch:
        patch_call(patch, lambda name, op: answered_then_crash(op) if name == "tag_resource" else None)
        with pytest.raises(Crash):
            handler.on_event(event, FakeContext(60))
    settle(emulator)

    answer = invoke(redelivered_late(event, 5), responses).response
    assert answer["Status"] == "FAILED", answer
    rollback = run("Update", responses, search_props(), old=new_props, physical_id=old_arn).response
    assert rollback["Status"] == "SUCCESS", rollback["Reason"]
    settle(emulator)

    held = sorted(n["number"] for n in emulator.service.holding())
    assert wanted not in held, f"the replacement {wanted} is still held after the rollback: {held}; the redelivery said {answer['Reason']}"


# --- 5. A give-back under properties that no longer parse leaves the stack's flow on the number ---------------------


def test_a_give_back_whose_delete_properties_do_not_parse_still_removes_the_flow_the_stack_set(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    """Repro: a number the account holds on INSTANCE with no flow is adopted in place with ContactFlowArn=OTHER_FLOW
    and RetainAdoptedNumber=true (its marker: origin instance=INSTANCE, no flow). The stack is deleted by a handler
    that no longer accepts one of the deployed properties (a later release renamed or dropped it, or tightened a
    check: here an extra property "Routing"). _give_back catches InvalidProperty and takes the declared flow as None;
    with the origin's flow None too, rules.flow_instance returns None and _converge_flow leaves the association as it
    is. The Delete answers SUCCESS and the marker goes, but the number "given back as the account had it" still
    routes to OTHER_FLOW, a flow the deleted stack set (often deleted with it: calls then go nowhere). The marker
    alone knows the number had no flow; the give-back should not depend on props it tolerates not parsing."""
    client = boto3.client("connect", region_name="us-east-1")
    number = emulator.service.available("US", "DID")[0]
    client.claim_phone_number(TargetArn=INSTANCE, PhoneNumber=number)
    settle(emulator)
    props = {"TargetArn": INSTANCE, "PhoneNumber": number, "AdoptExisting": "true", "RetainAdoptedNumber": "true", "ContactFlowArn": OTHER_FLOW}
    adopted = run("Create", responses, props).response
    assert adopted["Status"] == "SUCCESS", adopted["Reason"]
    assert record_of(emulator, number)["contact_flow"] == OTHER_FLOW

    answer = run("Delete", responses, {**props, "Routing": "queue"}, physical_id=adopted["PhysicalResourceId"]).response
    assert answer["Status"] == "SUCCESS", answer["Reason"]
    settle(emulator)

    record = record_of(emulator, number)
    state = (record["target_arn"], record["contact_flow"], record["tags"].get(CLAIM_MARKER_TAG))
    assert state == (INSTANCE, "", None), f"given back as {state}: the stack's flow stayed"


# --- 6. The "answered" marker's TagResource is not bounded by ServiceTimeout ---------------------------------------


def test_the_answered_marker_of_a_replacement_is_never_written_after_cloudformation_stopped_listening(
    emulator: ConnectEmulator, responses: ResponseServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Repro: a stack holds a searched number; an Update pins PhoneNumber to another: a replacement. CloudFormation
    listens 30 s more when the Update starts (its URL signed ServiceTimeout - 30 s ago; the Lambda run has 50 s). The
    claim settles at once; _mark_answered decides SUCCESS, then re-tags the marker on `Deadline(run.context)`: the
    Lambda deadline only, with neither ServiceTimeout (listening_seconds) nor the throttle grace. TagResource is
    throttled (TooManyRequestsException: its account-wide rate is 2/s), so `call` retries it until 10 s before the
    Lambda end, 40 s in, and the answer (PUT after it) lands after CloudFormation stopped listening. CloudFormation
    fails the Update and rolls back; if a late attempt got through, the marker says "answered" and the rollback
    never releases the replacement (finding 4's leak). Breaks "nothing called after ServiceTimeout" and "answered
    within ServiceTimeout": every other call in the handler is capped by listening_seconds, this one is not. The
    test records, at each TagResource attempt of the answered marker, how long CloudFormation still listened."""
    created = run("Create", responses, search_props()).response
    assert created["Status"] == "SUCCESS", created["Reason"]
    wanted = emulator.service.available("US", "DID")[0]
    event = make_event("Update", responses, {"TargetArn": INSTANCE, "PhoneNumber": wanted}, old=search_props(), physical_id=created["PhysicalResourceId"])
    event = redelivered_late(event, 30)
    stops_listening = contract.request_signed_at(event["ResponseURL"]).timestamp() + SERVICE_TIMEOUT  # type: ignore[union-attr]
    listening_left: list[float] = []

    def throttled(op: Callable[..., Any]) -> Callable[..., Any]:
        def tag(*a: Any, **k: Any) -> Any:
            value = k.get("tags", {}).get(CLAIM_MARKER_TAG, "")
            if value and not value.endswith("/pending"):
                listening_left.append(stops_listening - handler_clock.now())
                error = {"Error": {"Code": "TooManyRequestsException", "Message": "Rate exceeded"}, "ResponseMetadata": {"HTTPStatusCode": 429}}
                raise ClientError(error, "TagResource")
            return op(*a, **k)

        return tag

    patch_call(monkeypatch, lambda name, op: throttled(op) if name == "tag_resource" else None)
    invoke(event, responses, seconds=50)
    assert listening_left, "the answered marker was never attempted"
    late = -min(listening_left)
    assert late < 0, f"TagResource attempted {late:.1f} s after CloudFormation stopped listening ({len(listening_left)} attempts)"


# --- 7. A number moved off a traffic distribution group loses its flow for good -----------------------------------

GROUP = INSTANCE.replace("instance/aaaaaaaa", "traffic-distribution-group/cccccccc")


def test_a_group_number_adopted_onto_an_instance_gets_its_flow_back_when_it_is_given_back(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    """Repro: a live number on traffic distribution group GROUP, routed to FLOW (a flow of INSTANCE), is adopted onto
    OTHER_INSTANCE with no ContactFlowArn (RetainAdoptedNumber=true). The move drops the association (Connect does not
    migrate flows). _flow_before_adoption reads the flow before only on the number's instance, or on the DECLARED
    flow's instance for a group's number: with no flow declared it reads nothing, so the marker records
    adopted/traffic-distribution-group=ID with no flow. The rollback's Delete moves the number back to GROUP and
    answers SUCCESS: "put back as the account had it", but with no flow, so calls to the line go nowhere. The same
    gap hits the undo of a failed adoption. A group's number can be routed on any of the account's instances; the
    flows of the instance(s) it could route on (or ListFlowAssociations by number) must be read before a move."""
    number = live_number_by_hand(emulator, target=GROUP, flow=FLOW)
    props = {"TargetArn": OTHER_INSTANCE, "PhoneNumber": number, "AdoptExisting": "true", "RetainAdoptedNumber": "true"}
    adopted = run("Create", responses, props).response
    assert adopted["Status"] == "SUCCESS", adopted["Reason"]
    settle(emulator)
    value = record_of(emulator, number)["tags"][CLAIM_MARKER_TAG]

    answer = run("Delete", responses, props, physical_id=adopted["PhysicalResourceId"]).response
    assert answer["Status"] == "SUCCESS", answer["Reason"]
    settle(emulator)

    record = record_of(emulator, number)
    state = (record["target_arn"], record["contact_flow"], record["tags"].get(CLAIM_MARKER_TAG))
    assert state == (GROUP, FLOW, None), f"given back as {state}; the adoption's marker was {value}"
