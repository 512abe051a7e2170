"""Crashes after any Connect call, Lambda's redeliveries, and lost or late answers: every number stays accounted for.

The test plays CloudFormation: it sends the requests CloudFormation would send (including its
rollbacks), with the handler run as Lambda runs it (support.invoke), against the emulator. The
invariant: once every request is answered, the numbers held that carry this library's marker are
exactly those the stack's physical ids name.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from connect_phone_number_handler import connect_api, handler
from connect_phone_number_local.deploy.responses import ResponseServer
from connect_phone_number_local.emulator import ConnectEmulator
from support import OTHER_INSTANCE, Crash, FakeContext, create, elapse, invoke, make_event, marked_holdings, patch_call, run, search_props, settle


def slow_responses(monkeypatch: pytest.MonkeyPatch, **seconds: float) -> None:
    """Connect applies each named operation at once, but its response reaches the handler that many
    seconds later (within botocore's 10 s read timeout, so the call does not fail)."""

    def wrap(name: str, op: Callable[..., Any]) -> Callable[..., Any] | None:
        if name not in seconds:
            return None

        def applied_then_slow(*a: Any, **k: Any) -> Any:
            result = op(*a, **k)
            elapse(seconds[name])
            return result

        return applied_then_slow

    patch_call(monkeypatch, wrap)


# --- 1. The watchdog answers FAILED while the replacement is being marked as answered ------------


def test_a_replacement_decides_its_success_before_it_marks_the_number_answered(
    emulator: ConnectEmulator, responses: ResponseServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Repro (a finding, fixed): a replacement whose claim settles just inside the deadline; the TagResource that
    flips its marker from pending to answered is slow and returns after the watchdog's time. It used to start
    before the answer was decided, so the watchdog answered FAILED while the number became "answered": a leak.
    Now SUCCESS is decided first, so the watchdog keeps out, and the number CloudFormation is told of is the one
    marked answered."""
    old = search_props()
    held = create(responses, old)
    emulator.service.config.claim_seconds = 2.0
    new = search_props(Type="TOLL_FREE")
    with monkeypatch.context() as patch:
        slow_responses(patch, tag_resource=7.0)  # started at ~2.5 s, returns at ~9.5 s
        # A 14 s budget: the work deadline is at 4 s, the watchdog's time at 9 s.
        update = invoke(make_event("Update", responses, new, old=old, physical_id=held), responses, seconds=14)
    elapse(1.0)  # the main path finishes its (already answered) run

    assert update.response["Status"] == "SUCCESS", update.response
    replacement = update.response["PhysicalResourceId"]
    settle(emulator)
    # The old number is kept (RETAIN: no Delete is sent), the new one is the stack's: nothing else is held.
    assert marked_holdings(emulator) == {held, replacement}


# --- 2. A Lambda retry of a replacement arrives after CloudFormation gave up on it ----------------


class CrashingClient:
    """A Connect client whose run dies (Crash) right after its ``after``-th call returns: Connect applied it."""

    def __init__(self, client: Any, after: int) -> None:
        self._client, self._after, self.calls = client, after, 0

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._client, name)
        if not callable(real) or name.startswith("_") or name in {"meta", "exceptions"}:
            return real

        def counted(*args: Any, **kwargs: Any) -> Any:
            result = real(*args, **kwargs)
            self.calls += 1
            if self.calls >= self._after:
                raise Crash
            return result

        counted.__name__ = name
        return counted


def crash_after(event: dict[str, Any], monkeypatch: pytest.MonkeyPatch, calls: int) -> bool:
    """Run ``event`` and kill it after ``calls`` Connect calls. Returns whether it died (else it answered)."""
    real_make_client = connect_api.make_client
    with monkeypatch.context() as patch:
        patch.setattr(connect_api, "make_client", lambda: CrashingClient(real_make_client(), calls))
        try:
            handler.on_event(event, FakeContext(60))
        except Crash:
            return True
    return False


# --- 3. A crash after every N Connect calls, then redelivery, then CloudFormation's next step -----

CRASH_POINTS = range(1, 9)


def redeliver_and_answer(event: dict[str, Any], responses: ResponseServer, monkeypatch: pytest.MonkeyPatch, calls: int) -> dict[str, Any]:
    """Crash the first run after ``calls`` Connect calls; if it died, Lambda retries the event."""
    if crash_after(event, monkeypatch, calls):
        return invoke(event, responses).response
    return responses.wait(event["RequestId"], timeout=5)


@pytest.mark.parametrize("calls", CRASH_POINTS)
@pytest.mark.parametrize("exact", [False, True], ids=["searched", "exact"])
def test_a_create_that_crashes_after_n_calls_and_is_redelivered_holds_exactly_its_number(
    emulator: ConnectEmulator, responses: ResponseServer, monkeypatch: pytest.MonkeyPatch, calls: int, exact: bool
) -> None:
    props = search_props(PhoneNumber=emulator.service.available("US", "DID")[2]) if exact else search_props()
    event = make_event("Create", responses, props)

    answer = redeliver_and_answer(event, responses, monkeypatch, calls)

    if answer["Status"] == "SUCCESS":
        settle(emulator)
        assert marked_holdings(emulator) == {answer["PhysicalResourceId"]}
    else:
        rollback = run("Delete", responses, props, physical_id=answer["PhysicalResourceId"])
        assert rollback.response["Status"] == "SUCCESS", rollback.response["Reason"]
        settle(emulator)
        assert marked_holdings(emulator) == set(), answer["Reason"]


@pytest.mark.parametrize("calls", CRASH_POINTS)
@pytest.mark.parametrize("change", [{"Type": "TOLL_FREE"}, {"TargetArn": OTHER_INSTANCE}], ids=["replacement", "move"])
def test_an_update_that_crashes_after_n_calls_and_is_redelivered_leaves_only_the_stacks_number(
    emulator: ConnectEmulator, responses: ResponseServer, monkeypatch: pytest.MonkeyPatch, calls: int, change: dict[str, str]
) -> None:
    old = search_props()
    held = create(responses, old)
    new = search_props(**change)
    event = make_event("Update", responses, new, old=old, physical_id=held)

    answer = redeliver_and_answer(event, responses, monkeypatch, calls)

    if answer["Status"] == "SUCCESS":
        if answer["PhysicalResourceId"] != held:  # CloudFormation's clean-up deletes the replaced number
            assert run("Delete", responses, old, physical_id=held).response["Status"] == "SUCCESS"
        settle(emulator)
        assert marked_holdings(emulator) == {answer["PhysicalResourceId"]}
        [record] = [n for n in emulator.service.holding() if n["arn"] == answer["PhysicalResourceId"]]
        assert record["target_arn"] == new["TargetArn"]
    else:
        assert answer["PhysicalResourceId"] == held
        rollback = run("Update", responses, old, old=new, physical_id=held)
        assert rollback.response["Status"] == "SUCCESS", rollback.response["Reason"]
        settle(emulator)
        assert marked_holdings(emulator) == {held}, answer["Reason"]


@pytest.mark.parametrize("calls", range(1, 5))
def test_a_delete_that_crashes_after_n_calls_and_is_redelivered_releases_the_number(
    emulator: ConnectEmulator, responses: ResponseServer, monkeypatch: pytest.MonkeyPatch, calls: int
) -> None:
    held = create(responses, search_props())
    event = make_event("Delete", responses, search_props(), physical_id=held)

    answer = redeliver_and_answer(event, responses, monkeypatch, calls)

    assert answer["Status"] == "SUCCESS", answer["Reason"]
    settle(emulator)
    assert marked_holdings(emulator) == set()


# --- 4. The watchdog answers FAILED while a Create's ClaimPhoneNumber is in flight ---------------


def test_a_create_whose_claim_response_comes_after_the_watchdogs_failed_is_released_by_the_rollback(
    emulator: ConnectEmulator, responses: ResponseServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Repro: a 14 s Lambda budget (work deadline at 4 s, watchdog at 9 s). The search answers after
    3.5 s, so ClaimPhoneNumber starts inside the deadline; Connect accepts it at once but its
    response arrives 7 s later. The watchdog has answered FAILED under ``unclaimed-...`` by then,
    so CloudFormation's rollback Delete releases nothing, and the claimed number is held by no stack."""
    props = search_props()
    event = make_event("Create", responses, props)
    with monkeypatch.context() as patch:
        slow_responses(patch, search_available_phone_numbers=3.5, claim_phone_number=7.0)
        answer = invoke(event, responses, seconds=14).response
    assert answer["Status"] == "FAILED", answer
    elapse(1.0)

    rollback = run("Delete", responses, props, physical_id=answer["PhysicalResourceId"])

    assert rollback.response["Status"] == "SUCCESS", rollback.response["Reason"]
    settle(emulator)
    assert marked_holdings(emulator) == set(), answer["Reason"]


# --- 5. Response outages -------------------------------------------------------------------------


def test_an_answer_that_cannot_be_delivered_is_delivered_unchanged_by_lambdas_retry(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    """Every PUT of the first run fails (500) until its Lambda time runs out: the run raises, and
    Lambda's retry must deliver SUCCESS for the same number, not a different one or FAILED."""
    props = search_props()
    event = make_event("Create", responses, props)
    responses.fail_next(10_000)
    with pytest.raises(Exception):  # noqa: B017 - whatever urllib raises last
        handler.on_event(event, FakeContext(20))
    [first] = marked_holdings(emulator)
    responses.fail_next(0)

    answer = invoke(event, responses).response

    assert answer["Status"] == "SUCCESS", answer["Reason"]
    assert answer["PhysicalResourceId"] == first
    assert marked_holdings(emulator) == {first}


# --- 6. A claim accepted by Connect whose response is lost at the deadline ------------------------


def test_a_create_whose_accepted_claim_lost_its_response_at_the_deadline_is_released_by_the_rollback(
    emulator: ConnectEmulator, responses: ResponseServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Repro: WaitTimeoutSeconds=10. The search answers after 9.5 s; ClaimPhoneNumber is accepted by
    Connect, but the connection drops before its response (botocore's ReadTimeoutError, a network
    error) 0.8 s later, past the deadline, so the call is not retried. The handler answers FAILED
    under ``unclaimed-...`` although a number was claimed: the rollback Delete releases nothing."""
    from botocore.exceptions import ReadTimeoutError

    props = search_props(WaitTimeoutSeconds="10")
    event = make_event("Create", responses, props)

    def wrap(name: str, op: Callable[..., Any]) -> Callable[..., Any] | None:
        if name == "search_available_phone_numbers":

            def slow_search(*a: Any, **k: Any) -> Any:
                elapse(9.5)
                return op(*a, **k)

            return slow_search
        if name != "claim_phone_number":
            return None

        def applied_then_lost(*a: Any, **k: Any) -> Any:
            op(*a, **k)
            elapse(0.8)
            raise ReadTimeoutError(endpoint_url="http://connect")

        return applied_then_lost

    with monkeypatch.context() as patch:
        patch_call(patch, wrap)
        answer = invoke(event, responses, seconds=60).response
    assert answer["Status"] == "FAILED", answer

    rollback = run("Delete", responses, props, physical_id=answer["PhysicalResourceId"])

    assert rollback.response["Status"] == "SUCCESS", rollback.response["Reason"]
    settle(emulator)
    assert marked_holdings(emulator) == set(), answer["Reason"]


# --- 7. Rollbacks that time out, are redelivered, or are denied ---------------------------------


def test_the_rollback_of_a_timed_out_replacement_that_itself_times_out_releases_the_number_when_continued(
    emulator: ConnectEmulator, responses: ResponseServer
) -> None:
    old = search_props(WaitTimeoutSeconds="10")
    held = create(responses, old)
    emulator.service.config.claim_seconds = 25.0
    new = search_props(Type="TOLL_FREE", WaitTimeoutSeconds="10")
    update = run("Update", responses, new, old=old, physical_id=held, seconds=60)
    assert update.response["Status"] == "FAILED"
    first = run("Update", responses, old, old=new, physical_id=held, seconds=12)  # a tiny budget: 2 s of work
    assert first.response["Status"] == "FAILED", first.response["Reason"]  # UPDATE_ROLLBACK_FAILED
    settle(emulator)

    continued = run("Update", responses, old, old=new, physical_id=held)  # continue-update-rollback

    assert continued.response["Status"] == "SUCCESS", continued.response["Reason"]
    settle(emulator)
    assert marked_holdings(emulator) == {held}


def test_the_rollback_of_a_timed_out_move_with_a_tiny_budget_then_continued_moves_the_number_back(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    old = search_props(WaitTimeoutSeconds="10")
    held = create(responses, old)
    emulator.service.config.update_seconds = 14.0
    new = search_props(TargetArn=OTHER_INSTANCE, WaitTimeoutSeconds="10")
    assert run("Update", responses, new, old=old, physical_id=held).response["Status"] == "FAILED"
    first = run("Update", responses, old, old=new, physical_id=held, seconds=11)
    assert first.response["Status"] == "FAILED", first.response["Reason"]
    emulator.service.config.update_seconds = 0.1  # the move back is quick; the forward move is still running

    continued = run("Update", responses, old, old=new, physical_id=held, seconds=120)

    assert continued.response["Status"] == "SUCCESS", continued.response["Reason"]
    settle(emulator)
    [record] = [n for n in emulator.service.holding() if n["arn"] == held]
    assert record["target_arn"] == old["TargetArn"]
    assert record["status"] == "CLAIMED"


def deny(emulator: ConnectEmulator, action: str) -> None:
    """The handler's role loses one Connect action (an IAM change mid-flow)."""
    emulator.service.config.identity_policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "connect:*", "Resource": "*"},
            {"Effect": "Deny", "Action": f"connect:{action}", "Resource": "*"},
        ],
    }


@pytest.mark.parametrize("action", ["ListPhoneNumbersV2", "ReleasePhoneNumber", "DescribePhoneNumber"])
def test_a_rollback_denied_an_action_answers_failed_and_releases_once_continued_with_the_permission(
    emulator: ConnectEmulator, responses: ResponseServer, action: str
) -> None:
    old = search_props(WaitTimeoutSeconds="10")
    held = create(responses, old)
    emulator.service.config.claim_seconds = 12.0
    new = search_props(Type="TOLL_FREE", WaitTimeoutSeconds="10")
    assert run("Update", responses, new, old=old, physical_id=held).response["Status"] == "FAILED"
    settle(emulator)
    deny(emulator, action)
    denied = run("Update", responses, old, old=new, physical_id=held)
    assert denied.response["Status"] == "FAILED", denied.response["Reason"]  # UPDATE_ROLLBACK_FAILED, not a silent SUCCESS
    emulator.service.config.identity_policy = None

    continued = run("Update", responses, old, old=new, physical_id=held)

    assert continued.response["Status"] == "SUCCESS", continued.response["Reason"]
    settle(emulator)
    assert marked_holdings(emulator) == {held}


def test_a_replacement_denied_tag_resource_leaves_only_the_old_number_after_the_rollback(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    old = search_props()
    held = create(responses, old)
    new = search_props(Type="TOLL_FREE")
    deny(emulator, "TagResource")
    update = run("Update", responses, new, old=old, physical_id=held)
    emulator.service.config.identity_policy = None
    if update.response["Status"] == "SUCCESS":
        assert run("Delete", responses, old, physical_id=held).response["Status"] == "SUCCESS"
        settle(emulator)
        assert marked_holdings(emulator) == {update.response["PhysicalResourceId"]}
        return

    rollback = run("Update", responses, old, old=new, physical_id=held)

    assert rollback.response["Status"] == "SUCCESS", rollback.response["Reason"]
    settle(emulator)
    assert marked_holdings(emulator) == {held}, update.response["Reason"]


# --- 8. A ResponseURL that never answers ----------------------------------------------------------


@pytest.mark.real_clock  # a real black-holed connection: its socket timeouts pass on the real clock
def test_a_response_url_that_never_answers_ends_the_run_before_the_lambda_deadline_having_claimed_one_number(
    emulator: ConnectEmulator,
) -> None:
    """The PUT hangs (a black-holed connection): the run must raise before Lambda kills it, so Lambda
    retries, and it must not have claimed more than one number."""
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # accepts connections, never reads or answers
    try:
        with ResponseServer() as unused:
            event = make_event("Create", unused, search_props())
        event["ResponseURL"] = f"http://127.0.0.1:{silent.getsockname()[1]}/answer"
        budget = 25.0
        started = time.monotonic()
        with pytest.raises(Exception):  # noqa: B017 - whatever urllib raises last
            handler.on_event(event, FakeContext(budget))
        took = time.monotonic() - started
    finally:
        silent.close()
    print(f"run ended after {took:.1f} s of a {budget:.0f} s budget")
    assert took < budget
    assert len(marked_holdings(emulator)) == 1


# --- 9. Two resources of one stack fail their replacements together -----------------------------


def test_the_rollback_of_one_resources_replacement_releases_only_that_resources_claim(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    old = search_props(WaitTimeoutSeconds="10")
    new = search_props(Type="TOLL_FREE", WaitTimeoutSeconds="10")
    held = {name: str(run("Create", responses, old, logical_id=name).response["PhysicalResourceId"]) for name in ("First", "Second")}
    emulator.service.config.claim_seconds = 11.0
    for name in held:
        assert run("Update", responses, new, old=old, physical_id=held[name], logical_id=name).response["Status"] == "FAILED"
    settle(emulator)
    before = marked_holdings(emulator)

    rollback = run("Update", responses, old, old=new, physical_id=held["First"], logical_id="First")

    assert rollback.response["Status"] == "SUCCESS", rollback.response["Reason"]
    settle(emulator)
    assert len(before) == 4
    assert len(marked_holdings(emulator)) == 3  # the second resource's claim waits for its own rollback
    rollback = run("Update", responses, old, old=new, physical_id=held["Second"], logical_id="Second")
    assert rollback.response["Status"] == "SUCCESS", rollback.response["Reason"]
    settle(emulator)
    assert marked_holdings(emulator) == set(held.values())
