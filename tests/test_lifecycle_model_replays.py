"""Findings of the lifecycle model (tests/test_lifecycle_model.py), replayed as explicit step lists.

Each test drives the model's own machine (CloudFormation, Lambda and the emulator on virtual time) through the
shrunk example a seed found, rule by rule, with no faults drawn, then checks the model's invariants. A finding in
the model's expectations is fixed in the model and kept here; a finding in the handler is kept as its
reproduction through the emulator.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
import test_lifecycle_model as model
from model_world import NO_FAULTS, World
from model_world import world as world  # noqa: PLC0414 - the model's fixture, made visible to pytest here
from test_lifecycle_model import Change, Lifecycle, with_wait

from connect_phone_number_handler.marker import CLAIM_MARKER_TAG
from connect_phone_number_local.deploy.responses import ResponseServer
from connect_phone_number_local.emulator import ConnectEmulator
from support import FLOW, INSTANCE, OTHER_INSTANCE, run

KEPT = "+18885550121"
OTHER = "+12065550120"
CARE = [{"Key": "team", "Value": "care"}]


class Chosen:
    """``st.data()`` for an explicit replay: every draw is the value chosen."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def draw(self, strategy: Any, label: str | None = None) -> Any:
        return self.value


@pytest.fixture
def machine(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[Lifecycle]:
    """The model's machine outside Hypothesis: its notes and events go nowhere."""
    monkeypatch.setattr(Lifecycle, "world", world, raising=False)
    monkeypatch.setattr(model, "note", lambda *_: None)
    monkeypatch.setattr(model, "event", lambda *_: None)
    machine = Lifecycle()
    machine.fresh_account(rng_seed=0)
    yield machine
    machine.teardown()


def check(machine: Lifecycle) -> None:
    machine.every_held_number_is_named_by_the_stack_or_kept_by_policy()
    machine.every_held_number_keeps_to_the_one_reserved_tag()
    machine.every_number_the_stack_names_is_held_as_declared()


def marker_of(emulator: ConnectEmulator, arn: str) -> str:
    [record] = [n for n in emulator.service.held() if n["arn"] == arn]
    return str(record["tags"][CLAIM_MARKER_TAG])


def create(machine: Lifecycle, policy: str, **props: Any) -> str:
    logical = machine.create(props=with_wait({"TargetArn": INSTANCE, **props}, "10"), policy=policy, faults=NO_FAULTS, rollback=NO_FAULTS)
    assert isinstance(logical, str), "the Create failed"
    return logical


def adopt(machine: Lifecycle, number: str) -> str:
    """A DESTROY resource that adopts ``number`` (kept by RETAIN), as the model's adopt rule does."""
    searched = with_wait({"TargetArn": INSTANCE, "CountryCode": "GB", "Type": "DID"}, "10")
    logical = machine.adopt(data=Chosen(number), props=searched, policy="DESTROY", faults=NO_FAULTS, rollback=NO_FAULTS)
    assert isinstance(logical, str), "the adoption failed"
    return logical


def pin(machine: Lifecycle, logical: str, number: str) -> None:
    machine.update(logical=logical, change=(Change("selection", (("PhoneNumber", number),)),), faults=NO_FAULTS, rollback=NO_FAULTS, another_fails=False)


def test_the_model_does_not_expect_an_update_to_adopt_a_number_another_resource_of_the_stack_names(machine: Lifecycle) -> None:
    """LIFECYCLE_SEED=3133327393, shrunk: Number1 (RETAIN) claims +18885550121 and is deleted, so the number is kept;
    Number2 adopts it (AdoptExisting) under DESTROY; Number3 claims +12065550120 with the tag team=care; an Update of
    Number2 declares PhoneNumber=+12065550120, still with AdoptExisting. The handler adopts Number3's number, as the
    README says it would ("nothing stops" it), so two resources name one number: Number2's tags were Number3's (and,
    with a move in the same Update, Number3's number left Number3's target). The handler now refuses it (Number3's
    marker names another resource) and the rollback restores; the model expects that refusal."""
    first = create(machine, "RETAIN", PhoneNumber=KEPT)
    machine.delete(logical=first, faults=NO_FAULTS)
    adopter = adopt(machine, KEPT)
    create(machine, "DESTROY", PhoneNumber=OTHER, Tags=CARE)

    pin(machine, adopter, OTHER)

    check(machine)
    assert machine.stack[adopter].number == KEPT


def test_the_model_expects_an_update_that_adopts_a_kept_number_to_keep_its_tags_and_no_longer_keep_it(machine: Lifecycle) -> None:
    """The legitimate form of the same step: the number Number2's Update adopts was kept by RETAIN (Number3 left the
    stack), carrying Number3's tag team=care, and the operator removed Number3's marker. The adoption keeps tags the
    stack never declared (README), so the model expects them as the number's own; and the number is the stack's now,
    so no later rule may adopt it again."""
    first = create(machine, "RETAIN", PhoneNumber=KEPT)
    machine.delete(logical=first, faults=NO_FAULTS)
    adopter = adopt(machine, KEPT)
    third = create(machine, "RETAIN", PhoneNumber=OTHER, Tags=CARE)
    kept = machine.stack[third].physical_id
    machine.delete(logical=third, faults=NO_FAULTS)
    machine.world.remove_marker(kept)
    machine.unmarked.add(kept)

    pin(machine, adopter, OTHER)

    check(machine)
    assert machine.stack[adopter].number == OTHER
    assert machine.stack[adopter].physical_id not in machine.retained


def test_an_update_that_adopts_a_number_another_resource_manages_is_refused(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    """The handler's side of the seed, through the emulator: Number2 (AdoptExisting) changes its PhoneNumber to the
    number Number3 manages. The replacement goes through _claim, so it adopts: it rewrites Number3's marker and
    Number3's number is now named by two resources (and released by whichever DESTROY resource is deleted first).
    The same finding as tests/lifecycle/test_adoption_undo_and_give_back.py's Create, by the Update path; fixed by rules.adoption_refusal:
    FAILED naming the number, Number3's marker unchanged."""
    held = run("Create", responses, {"TargetArn": INSTANCE, "PhoneNumber": OTHER, "Tags": CARE}, logical_id="Number3").response
    assert held["Status"] == "SUCCESS", held["Reason"]
    marker = marker_of(emulator, held["PhysicalResourceId"])
    old = {"TargetArn": INSTANCE, "PhoneNumber": KEPT, "AdoptExisting": "true"}
    adopter = run("Create", responses, old, logical_id="Number2").response
    assert adopter["Status"] == "SUCCESS", adopter["Reason"]

    new = {**old, "PhoneNumber": OTHER}
    answer = run("Update", responses, new, old=old, physical_id=adopter["PhysicalResourceId"], logical_id="Number2").response

    assert answer["Status"] == "FAILED", "adopted a number another resource manages"
    assert OTHER in answer["Reason"]
    assert marker_of(emulator, held["PhysicalResourceId"]) == marker


# --- handler defects the model finds (issue 13), reproduced here; the model tolerates each while it is listed in
# --- model.KNOWN_DEFECTS. Each test takes its entry out, so the model's own check is the assertion: once the handler
# --- is fixed the test passes, strict xfail turns that into a failure, and the entry and the mark are removed together.


def routed_to(machine: Lifecycle, logical: str) -> str | None:
    """The flow ``logical``'s number routes to, or None."""
    return machine.world.held()[machine.stack[logical].physical_id]["contact_flow"] or None


# The Update rolled back -> its change. Once KNOWN_DEFECTS entries ("a move drops a hand-set flow for good", "a hand-set
# flow equal to the first declared one is taken for the stack's"), fixed by the routing record (docs/rollbacks.md).
HAND_SET_ROUTING_KEPT = {
    "an Update that moved the number": Change("move", 1),
    "an Update that first declared the hand-set flow": Change("flow", 1),
}


@pytest.mark.parametrize("change", list(HAND_SET_ROUTING_KEPT.values()), ids=list(HAND_SET_ROUTING_KEPT))
def test_the_rollback_of_a_successful_update_gives_back_the_hand_set_routing(machine: Lifecycle, change: Change) -> None:
    """LIFECYCLE_SEED=1262074598, shrunk: a number on INSTANCE routed by hand to OTHER_FLOW, no flow declared; an Update
    moves it to OTHER_INSTANCE, or declares ContactFlowArn=OTHER_FLOW (the stack's first flow, the one set by hand), and
    succeeds; another resource fails, so CloudFormation rolls it back. The hand-set routing comes back (docs/rollbacks.md)."""
    logical = create(machine, "DESTROY", CountryCode="US", Type="DID")
    machine.by_hand(logical, "route", 0)
    assert routed_to(machine, logical) == model.OTHER_FLOW

    machine.update(logical=logical, change=(change,), faults=NO_FAULTS, rollback=NO_FAULTS, another_fails=True)

    assert routed_to(machine, logical) == model.OTHER_FLOW


@pytest.mark.parametrize("between", [None, Change("flow", 0)], ids=["moved back", "a first flow rolled back, then moved back"])
def test_a_move_back_restores_the_hand_set_routing_the_stacks_move_dropped_and_no_rollback_restores_it_elsewhere(
    machine: Lifecycle, between: Change | None
) -> None:
    """LIFECYCLE_SEED=1262074598, shrunk: routed by hand, moved to GROUP by the stack (the routing recorded before the
    move). A move back to INSTANCE restores the hand-set routing. A first declared flow in between, rolled back, leaves
    the number unrouted, as it was before that Update (not the older record), and its record replaces the move's: the
    move back then finds the number unrouted, as the stack last left it."""
    logical = create(machine, "DESTROY", CountryCode="US", Type="DID")
    machine.by_hand(logical, "route", 0)
    machine.update(logical=logical, change=(Change("move", 0),), faults=NO_FAULTS, rollback=NO_FAULTS, another_fails=False)
    assert machine.stack[logical].props["TargetArn"] == model.GROUP and routed_to(machine, logical) is None
    if between is not None:
        machine.update(logical=logical, change=(between,), faults=NO_FAULTS, rollback=NO_FAULTS, another_fails=True)
        assert routed_to(machine, logical) is None

    machine.update(logical=logical, change=(Change("move", 0),), faults=NO_FAULTS, rollback=NO_FAULTS, another_fails=False)

    assert routed_to(machine, logical) == (model.OTHER_FLOW if between is None else None)


@pytest.mark.xfail(
    strict=True,
    reason="handler defect: _flow_before_adoption reads a traffic distribution group's number's flow only on the declared flow's "
    "instance, so an adoption that moves such a number records no routing, and its undo gives it back unrouted",
)
def test_a_failed_adoption_gives_a_groups_number_back_routed_as_it_was(machine: Lifecycle, monkeypatch: pytest.MonkeyPatch) -> None:
    """LIFECYCLE_SEED=1262074598, shrunk: a number on GROUP (INSTANCE's flows) routed by hand to OTHER_FLOW is kept by RETAIN;
    a new resource adopts it onto OTHER_INSTANCE with a flow of that instance, which was deleted, so the adoption fails after
    its move and undoes itself. docs/adoption.md: "A failed adoption leaves the number as it was ... re-associates the flow it had".
    It is back on GROUP, routed to nothing."""
    monkeypatch.setattr(model, "KNOWN_DEFECTS", model.KNOWN_DEFECTS - {"a group's number's routing is not read before a move"})
    first = create(machine, "RETAIN", TargetArn=model.GROUP, CountryCode="US", Type="DID")
    number = machine.stack[first].number
    machine.by_hand(first, "route", 0)
    machine.delete(logical=first, faults=NO_FAULTS)
    machine.world.deleted_flows.add(model.SECOND_FLOW_ON_OTHER)

    adopting = with_wait({"TargetArn": OTHER_INSTANCE, "CountryCode": "US", "Type": "DID", "ContactFlowArn": model.SECOND_FLOW_ON_OTHER}, "60")
    adopted = machine.adopt(data=Chosen(number), props=adopting, policy="DESTROY", faults=NO_FAULTS, rollback=NO_FAULTS)

    [record] = [n for n in machine.world.service.holding() if n["number"] == number]
    assert not isinstance(adopted, str), f"the adoption succeeded ({adopted}): nothing to undo"
    assert (record["target_arn"], record["contact_flow"]) == (model.GROUP, model.OTHER_FLOW)


@pytest.mark.xfail(
    strict=True,
    reason="handler defect: the rollback of an Update that removed the flow declares it again with no flow declared before, "
    "so plan_flow takes it for the stack's first flow and records the flow set by hand that it repairs; a later removal "
    "restores that hand-set flow instead of the routing from before the stack's first flow",
)
def test_removing_the_flow_restores_the_routing_from_before_the_stacks_first_flow(machine: Lifecycle, monkeypatch: pytest.MonkeyPatch) -> None:
    """LIFECYCLE_SEED=3621566360 (300 examples), shrunk: a number claimed with ContactFlowArn=FLOW (nothing routed it
    before); someone routes it by hand to OTHER_FLOW; an Update removing the flow leaves the hand-set routing (not the
    stack's) and is rolled back, which repairs the drift to FLOW; a later Update removes the flow. The routing from before
    the stack first declared a flow was none (docs/rollbacks.md), so the number should route to nothing; it routes to
    OTHER_FLOW, the drift the rollback repaired."""
    monkeypatch.setattr(model, "KNOWN_DEFECTS", model.KNOWN_DEFECTS - {"a rollback of a removed flow records the drift it repairs"})
    logical = create(machine, "DESTROY", CountryCode="US", Type="DID", ContactFlowArn=FLOW)
    machine.by_hand(logical, "route", 0)
    machine.update(logical=logical, change=(Change("flow", 0),), faults=NO_FAULTS, rollback=NO_FAULTS, another_fails=True)
    assert routed_to(machine, logical) == FLOW

    machine.update(logical=logical, change=(Change("flow", 0),), faults=NO_FAULTS, rollback=NO_FAULTS, another_fails=False)

    check(machine)
    assert routed_to(machine, logical) is None


@pytest.mark.xfail(
    strict=True,
    reason="handler defect: an adopted number's marker keeps where it routed before the adoption and is never rewritten, so a "
    "flow set by hand after the adoption is not recorded when the stack first declares a flow; the rollback of that Update "
    "restores the adoption's routing instead",
)
def test_the_rollback_of_a_first_flow_on_an_adopted_number_gives_back_the_hand_set_routing(machine: Lifecycle, monkeypatch: pytest.MonkeyPatch) -> None:
    """LIFECYCLE_SEED=1262074598, shrunk: a number kept by RETAIN is adopted (routed to nothing); someone routes it by hand
    to OTHER_FLOW; an Update first declares FLOW and succeeds; another resource fails, so CloudFormation rolls it back. The
    routing of before is the hand-set one (docs/rollbacks.md); the number routes to nothing, as before the adoption."""
    monkeypatch.setattr(model, "KNOWN_DEFECTS", model.KNOWN_DEFECTS - {model.ADOPTED_RECORD})
    first = create(machine, "RETAIN", CountryCode="US", Type="DID")
    number = machine.stack[first].number
    machine.delete(logical=first, faults=NO_FAULTS)
    adopting = with_wait({"TargetArn": INSTANCE, "CountryCode": "US", "Type": "DID"}, "60")
    logical = machine.adopt(data=Chosen(number), props=adopting, policy="DESTROY", faults=NO_FAULTS, rollback=NO_FAULTS)
    assert isinstance(logical, str), "the adoption failed"
    machine.by_hand(logical, "route", 0)
    assert routed_to(machine, logical) == model.OTHER_FLOW

    machine.update(logical=logical, change=(Change("flow", 0),), faults=NO_FAULTS, rollback=NO_FAULTS, another_fails=True)

    assert routed_to(machine, logical) == model.OTHER_FLOW


@pytest.mark.xfail(
    strict=True,
    reason="handler defect: the rollback of an Update that first declared the flow set by hand and failed before writing its "
    "record sees that flow routing the number and no record, as after a Create that declared it, and disassociates it",
)
def test_the_rollback_of_a_first_flow_equal_to_the_hand_set_one_that_failed_before_its_record_keeps_the_routing(
    machine: Lifecycle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LIFECYCLE_SEED=2751886710 (150 examples), shrunk by hand: a number routed by hand to OTHER_FLOW, no flow declared;
    an Update declares ContactFlowArn=OTHER_FLOW with a Lambda budget too small to read the number, and fails; its
    rollback must leave the hand-set routing (nothing was changed); it disassociates it."""
    monkeypatch.setattr(model, "KNOWN_DEFECTS", model.KNOWN_DEFECTS - {model.EQUAL_FIRST_FLOW_UNRECORDED})
    logical = create(machine, "DESTROY", CountryCode="US", Type="DID")
    machine.by_hand(logical, "route", 0)
    assert routed_to(machine, logical) == model.OTHER_FLOW

    machine.update(logical=logical, change=(Change("flow", 1),), faults=replace(NO_FAULTS, budget=8.0), rollback=NO_FAULTS, another_fails=False)

    assert routed_to(machine, logical) == model.OTHER_FLOW
