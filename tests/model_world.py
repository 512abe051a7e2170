"""The lifecycle model's world: virtual time, Lambda runs, the ResponseURL and Connect, all in one process.

tests/test_lifecycle_model.py drives the handler through this world. Time is virtual: the handler's clock
(``clock.use``), its sleeps, its watchdog and the emulator's clock move together, only when the handler sleeps
or calls Connect, so a ten-minute wait costs a few hundred polls, not ten minutes. Connect calls go through
botocore (signing, serialization, error parsing) and the emulator's wire format (``server.respond``), without
a socket; the ResponseURL is a urllib handler. A Lambda run may die after any Connect call.
"""

from __future__ import annotations

import copy
import email.message
import io
import json
import logging
import math
import random
import secrets
import threading
import types
import urllib.request
import urllib.response
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import boto3
import botocore
import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.compat import HTTPHeaders
from botocore.exceptions import ClientError

from connect_phone_number_handler import clock, connect_api, handler
from connect_phone_number_handler.marker import CLAIM_MARKER_TAG
from connect_phone_number_local.emulator import ConnectEmulator
from connect_phone_number_local.emulator import server as emulator_server
from connect_phone_number_local.testing import fast_config

MARKER_TAG = CLAIM_MARKER_TAG
LAMBDA_DIR = Path(handler.__file__).resolve().parent
CALL_SECONDS = 0.05  # what one Connect call costs in virtual time
NUMBERS_PER_INSTANCE = 5
MUTATING = frozenset(
    {
        "claim_phone_number",
        "import_phone_number",
        "update_phone_number",
        "update_phone_number_metadata",
        "release_phone_number",
        "tag_resource",
        "untag_resource",
        "associate_phone_number_contact_flow",
        "disassociate_phone_number_contact_flow",
    }
)


class LambdaDied(BaseException):
    """The Lambda process stopped: a BaseException, so the handler's ``except Exception`` cannot catch it."""


class LambdaCrash(LambdaDied):
    """The process died after a Connect call (out of memory, a host fault)."""


class LambdaTimedOut(LambdaDied):
    """Lambda stopped the run at its deadline."""


class VirtualTimer:
    """A timer on the virtual clock: it fires when the clock passes its time."""

    def __init__(self, virtual: VirtualClock, seconds: float, function: Callable[[], None]) -> None:
        self.clock, self.seconds, self.function = virtual, seconds, function
        self.due = math.inf
        self.cancelled = False

    def start(self) -> None:
        self.due = self.clock.now + max(0.0, self.seconds)
        self.clock.timers.append(self)

    def cancel(self) -> None:
        self.cancelled = True


class VirtualClock:
    """The handler's clock (clock.Clock) and the emulator's, moved by the handler alone.

    Epoch time and monotonic time are one number here: the world starts it at a whole second of the real
    epoch. While a Lambda run is on, moving past its end raises LambdaTimedOut, as Lambda stops the run.
    """

    def __init__(self) -> None:
        self.now = 0.0
        self.lambda_end = math.inf
        self.timers: list[VirtualTimer] = []
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def timer(self, seconds: float, function: Callable[[], None]) -> VirtualTimer:
        return VirtualTimer(self, seconds, function)

    def advance(self, seconds: float) -> None:
        target = self.now + max(0.0, seconds)
        while (timer := self._next_timer(min(target, self.lambda_end))) is not None:
            self.now = max(self.now, timer.due)
            self._fire(timer)
        with self._lock:
            if target > self.lambda_end:
                self.now = max(self.now, self.lambda_end)
                raise LambdaTimedOut(f"Lambda stopped the run at its deadline ({self.lambda_end:.1f})")
            self.now = max(self.now, target)

    def _next_timer(self, until: float) -> VirtualTimer | None:
        with self._lock:
            due = [t for t in self.timers if not t.cancelled and t.due <= until]
            if not due:
                return None
            timer = min(due, key=lambda t: t.due)
            self.timers.remove(timer)
            return timer

    @staticmethod
    def _fire(timer: VirtualTimer) -> None:
        # In the thread that moved the clock, where a thread of its own would have run by now. The handler's one
        # timer (its watchdog) looks at the decided answer before it takes the responder's lock, and the answer is
        # decided before the lock is held across a PUT, so it never waits for a lock this thread holds.
        try:
            timer.function()
        except Exception as error:
            logging.getLogger(__name__).info("timer ended with %r", error)

    def start_lambda(self, budget: float) -> None:
        self.lambda_end = self.now + budget

    def stop_lambda(self) -> None:
        """The run is over: Lambda freezes the process, so pending timers never fire."""
        self.timers.clear()
        self.lambda_end = math.inf


class VirtualContext:
    """Lambda's context object on the virtual clock."""

    function_name = "model"
    memory_limit_in_mb = 256
    aws_request_id = "model"

    def __init__(self, virtual: VirtualClock) -> None:
        self._clock = virtual

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._clock.lambda_end - self._clock.now) * 1000))


@dataclass
class Attempt:
    """One PUT to a ResponseURL."""

    accepted: bool
    body: dict[str, Any]
    size: int
    at: float
    delivery: int


class AnswerRecorder(urllib.request.BaseHandler):
    """The ResponseURL, as a urllib handler: keeps every PUT, and refuses the first few of a request with 500 when told to."""

    HOST = "cloudformation-responses.model.invalid"
    handler_order = 100  # before urllib's own HTTP handler, which would open a socket

    def __init__(self, stamp: Callable[[], tuple[float, int]]) -> None:
        self._stamp = stamp
        self._lock = threading.Lock()
        self._attempts: dict[str, list[Attempt]] = {}
        self._refuse: dict[str, int] = {}

    def http_open(self, request: urllib.request.Request) -> urllib.response.addinfourl | None:
        if request.host != self.HOST:
            return None
        key = urlsplit(request.full_url).path.rsplit("/", 1)[-1]
        body = request.data if isinstance(request.data, bytes) else b""
        at, delivery = self._stamp()
        with self._lock:
            accepted = self._refuse.get(key, 0) <= 0
            self._refuse[key] = self._refuse.get(key, 0) - 1
            self._attempts.setdefault(key, []).append(Attempt(accepted, json.loads(body), len(body), at, delivery))
        # urllib's error processor turns a 500 into the HTTPError the handler's PUT retries on.
        reply = urllib.response.addinfourl(io.BytesIO(b""), email.message.Message(), request.full_url, 200 if accepted else 500)
        reply.msg = "OK" if accepted else "Internal Server Error"  # type: ignore[attr-defined] # read by urllib's error processor
        return reply

    def url_for(self, key: str) -> str:
        """Presigned as CloudFormation's are (SigV4: X-Amz-Date is when it was signed), on the virtual clock."""
        signed = datetime.fromtimestamp(self._stamp()[0], UTC).strftime("%Y%m%dT%H%M%SZ")
        return f"http://{self.HOST}/responses/{key}?X-Amz-Date={signed}&X-Amz-Expires=7200&X-Amz-Signature={secrets.token_hex(8)}"

    def refuse(self, key: str, count: int) -> None:
        with self._lock:
            self._refuse[key] = count

    def attempts(self, key: str) -> list[Attempt]:
        with self._lock:
            return list(self._attempts.get(key, []))

    def clear(self) -> None:
        with self._lock:
            self._attempts.clear()
            self._refuse.clear()

    def accepted(self, key: str) -> int:
        return sum(a.accepted for a in self.attempts(key))


# --- what can go wrong in one request ---------------------------------------------------------


@dataclass(frozen=True)
class Faults:
    """Faults injected into one CloudFormation request (all its deliveries)."""

    budget: float = 900.0  # Lambda seconds per delivery (the function's timeout)
    crash_after: int | None = None  # the first delivery dies after this many Connect calls
    answer_outage: int = 0  # PUTs to the ResponseURL answered 500 before one is accepted
    throttles: int = 0  # Connect calls answered 429 at the start of the request
    workflow: str = "fast"  # "fast", "past the wait limit", "past ServiceTimeout"
    target_full: bool = False  # the instance quota is reached: claims and moves end FAILED

    def excuse(self) -> str:
        """Why this request may fairly answer FAILED, or "" if it should succeed."""
        if self.budget < 30:
            return "a tiny Lambda budget"
        if self.workflow != "fast":
            return "a workflow slower than the wait limit"
        if self.target_full:
            return "a full target"
        return ""


NO_FAULTS = Faults()


def workflow_seconds(workflow: str, wait: int) -> tuple[float, float]:
    """Claim and update durations for a request whose wait limit is ``wait``."""
    if workflow == "past the wait limit":
        return wait + 5.0, wait + 5.0
    if workflow == "past ServiceTimeout":
        return 2.0 * (wait + 120), 2.0 * (wait + 120)
    return 2.0, 1.0


# --- the world the machine drives ----------------------------------------------------------------


@dataclass
class Delivery:
    """What one Lambda run of a request did."""

    index: int = -1
    request_id: str = ""
    calls: int = 0
    crash_after: int | None = None
    answered_before: int = 0
    late_calls: list[str] = field(default_factory=list)


class World:
    """The emulator, the ResponseURL, the virtual clock and the Lambda runs, shared by every example."""

    def __init__(self, emulator: ConnectEmulator) -> None:
        self.emulator = emulator
        self.clock = VirtualClock()
        self.rng = random.Random(0)
        self.delivery = Delivery()
        self.recorder = AnswerRecorder(lambda: (self.clock.now, self.delivery.index))
        self.logs: list[str] = []
        # Set by a planted bug: called with each Connect call's name and arguments, may return a result in its place.
        self.intercept: Callable[[str, dict[str, Any], Callable[..., Any]], Any] | None = None
        self.role = ""  # the request in flight: "", "rollback ", "cleanup "
        # Flows deleted in the account. The emulator does not know flows (it accepts any), so the world answers
        # AssociatePhoneNumberContactFlow for one of these as Connect does for a flow that does not exist.
        self.deleted_flows: set[str] = set()

    def reset(self, rng_seed: int, start: float) -> None:
        """A fresh Connect account for each example, its clock at ``start`` (a whole second of the epoch)."""
        self.clock.stop_lambda()
        # A whole second: the ResponseURL's X-Amz-Date has whole seconds, so every replay of an example
        # sees the same time left (a fraction here would make Hypothesis's replays differ).
        self.clock.now = float(int(start))
        # The churn quota is not under test here: it would soon block every claim.
        config = fast_config(release_seconds=0.5, numbers_per_instance=NUMBERS_PER_INSTANCE, churn_percent=10**6)
        # Re-running __init__ resets every piece of the service's state; the HTTP front keeps serving it.
        self.emulator.service.__init__(config, clock=self.clock.monotonic)  # type: ignore[misc]
        self.rng.seed(rng_seed)
        self.recorder.clear()
        self.deleted_flows.clear()

    @property
    def service(self) -> Any:
        return self.emulator.service

    def held(self) -> dict[str, dict[str, Any]]:
        """Numbers that this library claimed and that the account holds (is billed for) now, by ARN."""
        return {n["arn"]: n for n in self.service.holding() if MARKER_TAG in n["tags"]}

    def unmarked(self) -> dict[str, dict[str, Any]]:
        """Numbers the account holds without this library's marker: given back, or unmarked by the operator."""
        return {n["arn"]: n for n in self.service.holding() if MARKER_TAG not in n["tags"]}

    def by_hand(self, operation: str, params: dict[str, Any]) -> None:
        """A change made outside the stack (the console, the CLI), as the account's own Connect call."""
        self.service.handle(operation, params, "us-east-1")

    def remove_marker(self, arn: str) -> None:
        """The operator's command from an adoption's refusal (aws connect untag-resource ... --tag-keys MARKER)."""
        self.by_hand("UntagResource", {"resourceArn": arn, "tagKeys": [MARKER_TAG]})

    def busy_beyond(self, seconds: float) -> list[str]:
        """Numbers the account holds (marked or not) whose workflow settles more than ``seconds`` from now."""
        return [n["number"] for n in self.service.holding() if n["status"] == "IN_PROGRESS" and n["settle_at"] > self.clock.now + seconds]

    # --- one request ---

    def arm(self, request_id: str, faults: Faults, wait: int) -> None:
        config = self.service.config
        config.claim_seconds, config.update_seconds = workflow_seconds(faults.workflow, wait)
        config.numbers_per_instance = 0 if faults.target_full else NUMBERS_PER_INSTANCE
        if faults.throttles:
            self.service.fail_next(faults.throttles, status=429)
        self.recorder.refuse(request_id, faults.answer_outage)

    def disarm(self) -> None:
        self.service.clear_faults()
        self.service.config.numbers_per_instance = NUMBERS_PER_INSTANCE

    def deliver(self, sent: dict[str, Any], index: int, budget: float, crash_after: int | None) -> BaseException | None:
        """One Lambda run of the handler on ``sent``; the error that ended it, if any (Lambda then retries)."""
        request_id = sent["RequestId"]
        self.delivery = Delivery(index, request_id, crash_after=crash_after, answered_before=self.recorder.accepted(request_id))
        self.clock.start_lambda(budget)
        try:
            handler.on_event(copy.deepcopy(sent), VirtualContext(self.clock))
        except (Exception, LambdaDied) as error:
            return error
        finally:
            self.clock.stop_lambda()
        return None

    # --- the Connect client the handler gets ---

    def call(self, name: str, operation: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        """One Connect call of the handler: it costs virtual time, and the process may die after it."""
        self.clock.advance(CALL_SECONDS)
        if name in MUTATING and self.recorder.accepted(self.delivery.request_id) > self.delivery.answered_before:
            self.delivery.late_calls.append(name)
        try:
            if name == "associate_phone_number_contact_flow" and self.flow_of(kwargs) in self.deleted_flows:
                error = {"Code": "ResourceNotFoundException", "Message": f"Flow not found: {kwargs['ContactFlowId']}"}
                raise ClientError({"Error": error, "ResponseMetadata": {"HTTPStatusCode": 404}}, "AssociatePhoneNumberContactFlow")
            return operation(**kwargs) if self.intercept is None else self.intercept(name, kwargs, operation)
        finally:
            self.delivery.calls += 1
            if self.delivery.calls == self.delivery.crash_after:
                raise LambdaCrash(f"the Lambda process died after {name} (Connect call {self.delivery.calls})")

    def flow_of(self, kwargs: dict[str, Any]) -> str:
        """The ARN of the flow an AssociatePhoneNumberContactFlow call names."""
        instance = str(kwargs["InstanceId"])
        if not instance.startswith("arn:"):
            config = self.service.config
            instance = f"arn:aws:connect:{config.region}:{config.account_id}:instance/{instance}"
        return f"{instance}/contact-flow/{kwargs['ContactFlowId']}"


class DyingClient:
    """The handler's Connect client, in a Lambda process that may die after any call."""

    def __init__(self, client: Any, world: World) -> None:
        self._client = client
        self._world = world

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name.startswith("_") or not callable(attribute):
            return attribute

        def operation(**kwargs: Any) -> Any:
            return self._world.call(name, attribute, kwargs)

        operation.__name__ = name
        return operation


class _Body:
    """A response body as botocore reads it (``raw.stream()``)."""

    def __init__(self, payload: bytes) -> None:
        self._payload = payload

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._payload


def in_process(service: Any) -> Callable[..., AWSResponse]:
    """A botocore ``before-send`` hook that answers from the emulator's wire format in this process (no socket)."""

    def send(request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        url = urlsplit(request.url)
        body = bytes(request.body) if isinstance(request.body, bytes | bytearray) else str(request.body or "").encode()
        authorization = request.headers.get("Authorization", b"")
        authorization = authorization.decode() if isinstance(authorization, bytes) else str(authorization)
        status, headers, payload = emulator_server.respond(service, request.method, url.path + (f"?{url.query}" if url.query else ""), authorization, body)
        received = HTTPHeaders()
        for name, value in {**headers, "x-amzn-RequestId": str(uuid.uuid4())}.items():
            received[name] = value
        return AWSResponse(request.url, status, received, _Body(payload))

    return send


class LogBuffer(logging.Handler):
    """The handler's decisions for the request in flight, noted for the failing example."""

    def __init__(self, world: World) -> None:
        super().__init__(logging.INFO)
        self.world = world

    def emit(self, record: logging.LogRecord) -> None:
        self.world.logs.append(f"      {record.name}: {record.getMessage()}")


def lambda_modules() -> Iterator[types.ModuleType]:
    """The handler's modules, as Lambda loaded them from the asset."""
    import sys

    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if path and Path(path).resolve().parent == LAMBDA_DIR:
            yield module


@pytest.fixture
def world(emulator: ConnectEmulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """The emulator behind a Lambda on virtual time: the handler's clock (clock.use), its random and its Connect client."""
    world = World(emulator)
    previous = clock.use(world.clock)
    # One warm client for every run, its requests answered in-process: a fresh client per run costs 70 ms
    # (botocore builds its methods and error shapes again), a socket round trip a few more per call.
    shared = boto3.session.Session()
    monkeypatch.setattr(boto3.session, "Session", lambda *a, **k: shared)
    real_make_client = connect_api.make_client
    client = real_make_client()
    client.meta.events.register("before-send.connect", cast("Callable[..., None]", in_process(emulator.service)))
    # Unsigned: SigV4 is a third of botocore's time per call, and the model enforces no IAM (the emulator then
    # takes the request as its own Region's).
    client.meta.events.register("choose-signer.connect", lambda **_: botocore.UNSIGNED)
    seeded = {name: getattr(world.rng, name) for name, value in vars(random).items() if getattr(value, "__self__", None) is getattr(random, "_inst", None)}
    virtual_random = types.SimpleNamespace(**{**vars(random), **seeded, "SystemRandom": lambda *_: world.rng})
    swaps: dict[int, Any] = {id(random): virtual_random, id(real_make_client): lambda: DyingClient(client, world)}
    swapped = set()
    for module in lambda_modules():
        for name, value in list(vars(module).items()):
            if id(value) in swaps and not name.startswith("__"):
                monkeypatch.setattr(module, name, swaps[id(value)])
                swapped.add(id(value))
    # If the handler stops reaching its client this way, the model must say so.
    assert id(real_make_client) in swapped, "the handler's make_client was not found to swap"
    monkeypatch.setattr(urllib.request, "_opener", urllib.request.build_opener(world.recorder))
    # The handler's decisions go to the failing example's notes, not to pytest's log capture
    # (thousands of lines): each module's logger is swapped for one outside logging's tree.
    buffer = LogBuffer(world)
    for module in lambda_modules():
        for name, value in list(vars(module).items()):
            if isinstance(value, logging.Logger):
                detached = logging.Logger(value.name, logging.INFO)
                detached.addHandler(buffer)
                monkeypatch.setattr(module, name, detached)
    try:
        yield world
    finally:
        clock.use(previous)
