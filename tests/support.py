"""Test helpers: events, Lambda contexts, and running the handler as Lambda would.

The handler is imported as Lambda imports it: ``lambda/`` is on sys.path (see pyproject's
pytest ``pythonpath``), so ``import handler`` loads ``lambda/handler.py``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from connect_phone_number_handler import arns, clock, connect_api, handler
from connect_phone_number_handler.marker import CLAIM_MARKER_TAG
from connect_phone_number_local.deploy.lambda_runner import Context
from connect_phone_number_local.deploy.responses import ResponseServer
from connect_phone_number_local.emulator import ConnectEmulator
from connect_phone_number_local.testing import fast_config

__all__ = ["fast_config"]  # re-exported for the tests

ACCOUNT = "123456789012"
INSTANCE = f"arn:aws:connect:us-east-1:{ACCOUNT}:instance/aaaaaaaa-1111-2222-3333-444444444444"
OTHER_INSTANCE = f"arn:aws:connect:us-east-1:{ACCOUNT}:instance/bbbbbbbb-1111-2222-3333-444444444444"
FLOW = f"{INSTANCE}/contact-flow/11111111-aaaa-bbbb-cccc-000000000001"
FLOW_ON_OTHER = f"{OTHER_INSTANCE}/contact-flow/22222222-aaaa-bbbb-cccc-000000000001"
STACK_ID = f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/Test/11111111-2222-3333-4444-555555555555"
SERVICE_TOKEN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:handler"


def search_props(**extra: Any) -> dict[str, Any]:
    """ResourceProperties for a searched US DID number on INSTANCE."""
    return {"TargetArn": INSTANCE, "CountryCode": "US", "Type": "DID", **extra}


class FakeContext(Context):
    """Lambda's context object for a run of ``timeout`` seconds, on the handler's clock (the test's, see conftest.py)."""

    def __init__(self, timeout: float, function_name: str = "local") -> None:
        super().__init__(timeout, function_name, monotonic=clock.monotonic)


@dataclass
class Invocation:
    """One handler run: its event and the response CloudFormation would have received."""

    event: dict[str, Any]
    response: dict[str, Any]
    seconds: float


def make_event(
    request_type: str,
    responses: ResponseServer,
    props: dict[str, Any],
    *,
    old: dict[str, Any] | None = None,
    physical_id: str | None = None,
    request_id: str | None = None,
    logical_id: str = "Number",
) -> dict[str, Any]:
    """A custom-resource event as CloudFormation sends it (scalars as strings)."""
    request_id = request_id or str(uuid.uuid4())
    event: dict[str, Any] = {
        "RequestType": request_type,
        "ServiceToken": SERVICE_TOKEN,
        "ResponseURL": responses.url_for(request_id),
        "StackId": STACK_ID,
        "RequestId": request_id,
        "LogicalResourceId": logical_id,
        "ResourceType": "Custom::ConnectPhoneNumber",
        "ResourceProperties": {"ServiceToken": SERVICE_TOKEN, **props},
    }
    if old is not None:
        event["OldResourceProperties"] = {"ServiceToken": SERVICE_TOKEN, **old}
    if physical_id is not None:
        event["PhysicalResourceId"] = physical_id
    return event


def invoke(event: dict[str, Any], responses: ResponseServer, *, seconds: float = 60.0) -> Invocation:
    """Run the handler on ``event`` with a ``seconds`` Lambda budget; return what CloudFormation got."""
    from connect_phone_number_handler import handler

    started = clock.monotonic()
    handler.on_event(event, FakeContext(seconds))
    response = responses.wait(event["RequestId"], timeout=5)
    return Invocation(event, response, clock.monotonic() - started)


def run(request_type: str, responses: ResponseServer, props: dict[str, Any], **kwargs: Any) -> Invocation:
    """make_event and invoke in one step."""
    seconds = kwargs.pop("seconds", 60.0)
    return invoke(make_event(request_type, responses, props, **kwargs), responses, seconds=seconds)


# --- playing faults around the handler ---------------------------------------------------------------


class Crash(BaseException):
    """Lambda dying mid-run (out of memory, a lost sandbox): nothing is answered."""


def elapse(seconds: float) -> None:
    """Let ``seconds`` pass on the test's clock: a call that hangs, or a pause between CloudFormation's steps.

    The virtual clock (conftest.py) skips them at once, running the handler's watchdog if they pass its time.
    """
    clock.sleep(seconds)


def settle(emulator: ConnectEmulator) -> None:
    """Let every workflow in progress finish (CloudFormation and Lambda take their time between steps)."""
    while pending := [n["settle_at"] for n in emulator.service.held() if n["status"] == "IN_PROGRESS"]:
        elapse(max(0.01, min(pending) - emulator.service.clock()))


def marked_holdings(emulator: ConnectEmulator) -> set[str]:
    """ARNs of the numbers the account is billed for that carry this library's marker."""
    return {n["arn"] for n in emulator.service.holding() if CLAIM_MARKER_TAG in n["tags"]}


class WrappedClient:
    """The handler's Connect client, with the operations ``wrap`` names replaced (it returns a replacement, or None)."""

    def __init__(self, client: Any, wrap: Callable[[str, Callable[..., Any]], Callable[..., Any] | None]) -> None:
        self._client, self._wrap = client, wrap

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._client, name)
        if not callable(real) or name.startswith("_"):
            return real
        replaced = self._wrap(name, real)
        if replaced is None:
            return real
        replaced.__name__ = name
        return replaced


def patch_call(monkeypatch: pytest.MonkeyPatch, wrap: Callable[[str, Callable[..., Any]], Callable[..., Any] | None]) -> None:
    """Replace the handler's Connect calls named by ``wrap`` (which returns a replacement operation, or None).

    The seam is the client the handler makes (connect_api.make_client): every call goes through it, the
    polls of a wait included.
    """
    real_make_client = connect_api.make_client
    monkeypatch.setattr(connect_api, "make_client", lambda: WrappedClient(real_make_client(), wrap))


def crash_on(monkeypatch: pytest.MonkeyPatch, event: dict[str, Any], operation: str, *, after: bool = True, nth: int = 1) -> None:
    """Run ``event`` and let Lambda die (Crash) at the ``nth`` call of ``operation``: after Connect applied it, or before."""
    seen = 0

    def wrap(name: str, op: Callable[..., Any]) -> Callable[..., Any] | None:
        if name != operation:
            return None

        def dying(*args: Any, **kwargs: Any) -> Any:
            nonlocal seen
            seen += 1
            if seen < nth:
                return op(*args, **kwargs)
            if after:
                op(*args, **kwargs)
            raise Crash

        return dying

    with monkeypatch.context() as patch:
        patch_call(patch, wrap)
        with pytest.raises(Crash):
            handler.on_event(event, FakeContext(60))


def crash_after_the_claim(event: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Run ``event`` and die right after Connect accepted its ClaimPhoneNumber."""
    crash_on(monkeypatch, event, "claim_phone_number")


def record_of(emulator: ConnectEmulator, number: str) -> dict[str, Any]:
    """The emulator's record of ``number`` (held, whatever its status)."""
    [record] = [n for n in emulator.service.held() if n["number"] == number]
    return record


def live_number_by_hand(emulator: ConnectEmulator, target: str = INSTANCE, flow: str = FLOW) -> str:
    """A number the account claimed in the console on ``target``, routed to ``flow``: a live line, in no stack."""
    client = boto3.client("connect", region_name="us-east-1")
    number = emulator.service.available("US", "DID")[0]
    claimed = client.claim_phone_number(TargetArn=target, PhoneNumber=number)
    settle(emulator)
    client.associate_phone_number_contact_flow(
        PhoneNumberId=claimed["PhoneNumberArn"], InstanceId=arns.flow_instance_arn(flow).rsplit("/", 1)[1], ContactFlowId=flow
    )
    assert record_of(emulator, number)["contact_flow"] == flow
    return number


HAND_FLOW = f"{INSTANCE}/contact-flow/11111111-aaaa-bbbb-cccc-000000000009"
HAND_ON_OTHER = f"{OTHER_INSTANCE}/contact-flow/22222222-aaaa-bbbb-cccc-000000000009"


def create(responses: ResponseServer, props: dict[str, Any]) -> str:
    result = run("Create", responses, props)
    assert result.response["Status"] == "SUCCESS", result.response["Reason"]
    return str(result.response["PhysicalResourceId"])


def update(responses: ResponseServer, new: dict[str, Any], old: dict[str, Any], arn: str) -> None:
    """An Update (or a rollback: old and new swapped) that must succeed."""
    result = run("Update", responses, new, old=old, physical_id=arn)
    assert result.response["Status"] == "SUCCESS", result.response["Reason"]


def state(emulator: ConnectEmulator, arn: str) -> tuple[str, str]:
    """Where the number is and what routes it ("" for nothing)."""
    [found] = [n for n in emulator.service.held() if n["arn"] == arn]
    return str(found["target_arn"]), str(found["contact_flow"])


def marker(emulator: ConnectEmulator, arn: str) -> str:
    [found] = [n for n in emulator.service.held() if n["arn"] == arn]
    return str(found["tags"].get(CLAIM_MARKER_TAG, ""))


def route_by_hand(arn: str, flow: str) -> None:
    """Someone routes the number in the console (AssociatePhoneNumberContactFlow)."""
    instance_id = flow.split(":instance/", 1)[1].split("/", 1)[0]
    boto3.client("connect", region_name="us-east-1").associate_phone_number_contact_flow(
        PhoneNumberId=arn, InstanceId=instance_id, ContactFlowId=flow.rsplit("/", 1)[1]
    )
