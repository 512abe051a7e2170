"""Riding out Connect's throttles, and delivering the response as CloudFormation requires."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from connect_phone_number_handler import cfn_response, connect_api
from connect_phone_number_local.deploy.responses import ResponseServer
from connect_phone_number_local.emulator import ConnectEmulator
from support import FakeContext, elapse, make_event, run, search_props
from virtual_clock import TestClock


def client_error(code: str, status: int, message: str = "") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}, "DescribePhoneNumber")


# --- throttling -----------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["TooManyRequestsException", "ThrottlingException"])
def test_a_burst_of_consecutive_throttles_is_ridden_out(emulator: ConnectEmulator, responses: ResponseServer, code: str) -> None:
    emulator.service.fail_next(3, status=429, code=code, operation="SearchAvailablePhoneNumbers")
    emulator.service.fail_next(5, status=429, code=code, operation="ClaimPhoneNumber")
    emulator.service.fail_next(2, status=429, code=code, operation="DescribePhoneNumber")

    result = run("Create", responses, search_props())

    assert result.response["Status"] == "SUCCESS", result.response["Reason"]
    assert emulator.service.injected == []


def test_a_throttled_poll_is_not_retried_but_slows_the_next_polls(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    emulator.service.config.claim_seconds = 2.0
    emulator.service.fail_next(2, status=429, operation="DescribePhoneNumber")

    result = run("Create", responses, search_props())

    assert result.response["Status"] == "SUCCESS", result.response["Reason"]
    # Two throttled polls, then intervals of 2 s and 1 s instead of 0.5 s: fewer calls than unthrottled (5).
    assert emulator.service.calls["DescribePhoneNumber"] <= 5


def test_an_unmodeled_429_code_is_retried(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    emulator.service.fail_next(3, status=429, code="RateLimited", operation="SearchAvailablePhoneNumbers")

    result = run("Create", responses, search_props())

    assert result.response["Status"] == "SUCCESS", result.response["Reason"]


def test_server_faults_are_retried(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    emulator.service.fail_next(2, status=500, code="InternalServiceException")

    result = run("Create", responses, search_props())

    assert result.response["Status"] == "SUCCESS", result.response["Reason"]


def test_throttles_past_the_deadline_fail_in_time(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    emulator.service.fail_next(10_000, status=429, operation="SearchAvailablePhoneNumbers")
    budget = connect_api.RESPONSE_RESERVE_SECONDS + 2

    result = run("Create", responses, search_props(), seconds=budget)

    assert result.response["Status"] == "FAILED"
    assert "TooManyRequestsException" in result.response["Reason"]
    assert result.seconds < budget - 1


def test_a_claim_under_connects_real_quota_completes(monkeypatch: pytest.MonkeyPatch, responses: ResponseServer, clock: TestClock) -> None:
    from support import fast_config

    with ConnectEmulator(fast_config(rate_per_second=2.0, burst=5), clock=clock.time) as limited:
        for key, value in limited.client_environment().items():
            monkeypatch.setenv(key, value)
        limited.service.config.claim_seconds = 3.0

        result = run("Create", responses, search_props())

    assert result.response["Status"] == "SUCCESS", result.response["Reason"]


def test_not_found_and_bad_input_are_not_retried() -> None:
    assert not connect_api.is_retryable(client_error("ResourceNotFoundException", 404))
    assert not connect_api.is_retryable(client_error("InvalidParameterException", 400))
    assert not connect_api.is_retryable(client_error("IdempotencyException", 409))
    assert connect_api.is_retryable(client_error("TooManyRequestsException", 429))
    assert connect_api.is_retryable(client_error("Whatever", 429))
    assert connect_api.is_retryable(client_error("InternalServiceException", 500))


def test_botocore_retry_mode_is_set_explicitly() -> None:
    retries = vars(connect_api.CLIENT_CONFIG)["retries"]
    assert retries == {"mode": "standard", "total_max_attempts": 1}


def test_backoff_is_jittered_and_capped() -> None:
    import random

    rng = random.Random(7)
    delays = [connect_api.backoff_delay(attempt, rng) for attempt in range(1, 40)]
    assert all(connect_api.BACKOFF_FLOOR_SECONDS <= d <= connect_api.BACKOFF_CAP_SECONDS for d in delays)
    assert len({round(d, 3) for d in delays}) > 30


def test_the_client_honours_the_standard_endpoint_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_CONNECT", "http://127.0.0.1:1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-2")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")

    assert connect_api.make_client().meta.endpoint_url == "http://127.0.0.1:1"


# --- the response ---------------------------------------------------------------------------


def test_the_response_is_a_put_with_an_empty_content_type(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    result = run("Create", responses, search_props())

    assert responses.raw(result.event["RequestId"])["content_type"] == ""


def test_a_long_reason_is_shortened_to_fit_4096_bytes_keeping_its_start() -> None:
    event = make_event("Create", ResponseServer(), search_props())
    reason = "Connect said: the target reached its limit. " + "detail " * 2000

    body = cfn_response.build_body(event, status="FAILED", physical_id="x", reason=reason)

    assert len(body) <= cfn_response.MAX_BODY_BYTES
    assert json.loads(body)["Reason"].startswith("Connect said: the target reached its limit.")


def test_a_transient_error_on_the_response_url_is_retried(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    responses.fail_next(2)

    result = run("Create", responses, search_props())

    assert result.response["Status"] == "SUCCESS"


def test_the_response_url_and_the_event_are_never_logged(emulator: ConnectEmulator, responses: ResponseServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    event = make_event("Create", responses, search_props())

    from connect_phone_number_handler import handler

    handler.on_event(event, FakeContext(60))
    responses.wait(event["RequestId"], timeout=5)

    assert caplog.records, "the handler logs its decisions"
    assert "X-Amz-Signature" not in caplog.text
    assert event["ResponseURL"].split("?")[0] not in caplog.text


@pytest.mark.real_clock  # a call that really hangs, and the real Timer that answers for it
def test_the_watchdog_answers_if_a_call_hangs(emulator: ConnectEmulator, responses: ResponseServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from connect_phone_number_handler import handler, reconcile

    def hang(*args: object, **kwargs: object) -> None:
        time.sleep(8)

    monkeypatch.setattr(reconcile, "contract", _HangingContract(hang))
    event = make_event("Create", responses, search_props())
    budget = connect_api.RESPONSE_RESERVE_SECONDS / 2 + 1.0
    started = time.monotonic()

    import threading

    threading.Thread(target=handler.on_event, args=(event, FakeContext(budget)), daemon=True).start()
    response = responses.wait(event["RequestId"], timeout=budget)

    assert response["Status"] == "FAILED"
    assert "ran out of Lambda run time" in response["Reason"]
    assert time.monotonic() - started < budget


class _HangingContract:
    """The contract module, but parsing hangs: stands in for any call that never returns."""

    def __init__(self, hang: object) -> None:
        from connect_phone_number_handler import contract

        self._contract = contract
        self.parse_properties = hang

    def __getattr__(self, name: str) -> object:
        return getattr(self._contract, name)


def spy_on_puts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the Status of every PUT the handler attempts, delivered or not."""
    attempted: list[str] = []
    real_put = cfn_response.put

    def put(url: str, body: bytes, time_left: Callable[[], float]) -> None:
        attempted.append(json.loads(body)["Status"])
        real_put(url, body, time_left)

    monkeypatch.setattr(cfn_response, "put", put)
    return attempted


def test_a_short_response_url_outage_still_delivers_the_same_success(
    emulator: ConnectEmulator, responses: ResponseServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempted = spy_on_puts(monkeypatch)
    monkeypatch.setattr(cfn_response, "SEND_PAUSE_CAP_SECONDS", 0.5)
    responses.fail_next(5)

    result = run("Create", responses, search_props())

    assert result.response["Status"] == "SUCCESS", result.response["Reason"]
    assert set(attempted) == {"SUCCESS"}


def test_an_undeliverable_answer_raises_so_lambda_retries_and_is_never_replaced(
    emulator: ConnectEmulator, responses: ResponseServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from connect_phone_number_handler import handler

    attempted = spy_on_puts(monkeypatch)
    responses.fail_next(10_000)
    event = make_event("Create", responses, search_props())

    with pytest.raises(Exception, match="503"):
        handler.on_event(event, FakeContext(connect_api.RESPONSE_RESERVE_SECONDS + 4))
    # Lambda retries the invocation once the outage is over: the same number, answered SUCCESS.
    responses.fail_next(0)
    handler.on_event(event, FakeContext(60))

    assert attempted == ["SUCCESS", "SUCCESS"]  # one answer per run, never replaced by FAILED
    response = responses.wait(event["RequestId"], timeout=5)
    assert response["Status"] == "SUCCESS", response["Reason"]
    assert [n["arn"] for n in emulator.service.held()] == [response["PhysicalResourceId"]]


def test_a_reason_of_emoji_keeps_the_longest_prefix_that_fits_4096_bytes() -> None:
    event = make_event("Create", ResponseServer(), search_props())
    reason = "\N{GRINNING FACE}" * 341  # 12 bytes each as JSON escapes

    body = cfn_response.build_body(event, status="FAILED", physical_id="x", reason=reason)

    assert len(body) <= cfn_response.MAX_BODY_BYTES
    kept = json.loads(body)["Reason"].removesuffix(" [...]")
    assert kept == reason[: len(kept)]
    one_more = json.dumps({**json.loads(body), "Reason": reason[: len(kept) + 1] + " [...]"}).encode()
    assert len(one_more) > cfn_response.MAX_BODY_BYTES


def test_a_reason_that_fits_is_sent_whole() -> None:
    event = make_event("Create", ResponseServer(), search_props())
    reason = "\N{GRINNING FACE}" * 100

    body = cfn_response.build_body(event, status="FAILED", physical_id="x", reason=reason)

    assert json.loads(body)["Reason"] == reason


# --- the deadline ---------------------------------------------------------------------------


def test_with_too_little_lambda_time_the_watchdog_answers_and_nothing_is_called(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    result = run("Create", responses, search_props(), seconds=5)

    assert result.response["Status"] == "FAILED"
    assert emulator.service.calls == {}
    assert emulator.service.held() == []


def test_a_call_that_returns_after_the_watchdog_answered_starts_nothing_more(
    emulator: ConnectEmulator, responses: ResponseServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = emulator.service
    search = service._search_available_phone_numbers
    budget = connect_api.RESPONSE_RESERVE_SECONDS + 2  # the watchdog answers after 7 s

    def slow_search(params: dict[str, Any], region: str, now: float) -> dict[str, Any]:
        elapse(8)  # less than the client's read timeout
        return search(params, region, now)

    monkeypatch.setattr(service, "_search_available_phone_numbers", slow_search)

    result = run("Create", responses, search_props(), seconds=budget)

    assert result.response["Status"] == "FAILED"
    assert "ran out of Lambda run time" in result.response["Reason"]
    assert "ClaimPhoneNumber" not in service.calls
    assert service.held() == []


def test_throttled_polls_do_not_use_up_the_wait_limit_of_a_delete(emulator: ConnectEmulator, responses: ResponseServer) -> None:
    """Found by the lifecycle model: four 429s at the minimum wait limit (10 s) used to fail the Delete, number CLAIMED."""
    props = search_props(WaitTimeoutSeconds="10")
    created = run("Create", responses, props)
    emulator.service.fail_next(4, status=429)

    deleted = run("Delete", responses, props, physical_id=created.response["PhysicalResourceId"])

    assert deleted.response["Status"] == "SUCCESS", deleted.response["Reason"]
    assert [n for n in emulator.service.held() if not n["releasing"]] == []
