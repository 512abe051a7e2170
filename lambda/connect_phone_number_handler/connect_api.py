"""The Connect client, the run's deadline, and every call riding out throttles within it."""

from __future__ import annotations

import copy
import logging
import random
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, ParamSpec, Protocol, TypeVar

import boto3
import botocore
from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from . import clock

if TYPE_CHECKING:
    # Development only (mypy-boto3-connect): the Lambda runtime has boto3 but not its stubs.
    from mypy_boto3_connect import ConnectClient

log = logging.getLogger(__name__)

# Our own loop retries (it knows the deadline and both throttle codes), so botocore makes one
# attempt per call. The mode is set explicitly because its default differs between botocore
# releases, and the Lambda runtime's botocore is not ours to choose.
CLIENT_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 1},
    connect_timeout=3,  # CALL_SECONDS_AT_MOST
    read_timeout=10,
    user_agent_extra="cdk-connect-phone-number",
)

# Throttle codes Connect sends. In the field it is TooManyRequestsException (from its API
# Gateway front), though the model only lists ThrottlingException. Any 429 counts too.
THROTTLE_CODES = frozenset({"ThrottlingException", "TooManyRequestsException", "Throttling", "LimitExceededException", "RequestLimitExceeded"})

# Time lost to Connect's throttling and transient faults does not count against the wait limit, up to this
# much: the answer still comes a minute inside CloudFormation's ServiceTimeout (the wait limit + 2 minutes).
THROTTLE_GRACE_SECONDS = 60.0

# Backoff for throttles and transient errors: full jitter between a floor and a doubling cap.
BACKOFF_FLOOR_SECONDS = 0.1
BACKOFF_BASE_SECONDS = 0.25
BACKOFF_CAP_SECONDS = 4.0

# Failures on the way to Connect (refused, reset, timed out): worth another try.
NETWORK_ERRORS = (BotoConnectionError, HTTPClientError)

# Time kept back from the Lambda deadline to answer CloudFormation.
RESPONSE_RESERVE_SECONDS = 10.0

# The longest one attempt of a call can take once started (botocore's connect and read timeouts): work must
# stop this much before CloudFormation stops listening, as no watchdog answers for that end.
CALL_SECONDS_AT_MOST = 3 + 10

P = ParamSpec("P")
R = TypeVar("R")


class LambdaContext(Protocol):
    """The part of Lambda's context object the handler uses."""

    def get_remaining_time_in_millis(self) -> int: ...


class OutOfTime(Exception):
    """A Connect call was not started: the deadline has passed, or the request was answered already."""


class Deadline:
    """When the handler must stop working: the Lambda deadline less the reserve, or the wait limit.

    ``stop`` is set once CloudFormation has been answered (by the watchdog, say): from then on
    no time is left, so nothing new starts after the answer. ``listening_seconds`` is how long
    CloudFormation still waits for the answer, when known: no work goes past it, grace included,
    so a late Lambda retry changes nothing CloudFormation will never hear of.
    """

    def __init__(
        self,
        context: LambdaContext,
        limit_seconds: float | None = None,
        *,
        stop: threading.Event | None = None,
        listening_seconds: float | None = None,
    ) -> None:
        now = clock.monotonic()
        self.lambda_end = now + context.get_remaining_time_in_millis() / 1000.0
        # The latest any work may run: the Lambda run's end, or CloudFormation's (less a call in flight), less the time to answer.
        listening_end = now + listening_seconds - CALL_SECONDS_AT_MOST if listening_seconds is not None else float("inf")
        self.hard_end = min(self.lambda_end, listening_end) - RESPONSE_RESERVE_SECONDS
        self.end = self.hard_end if limit_seconds is None else min(self.hard_end, now + limit_seconds)
        self.stop = stop or threading.Event()
        self.grace_left = THROTTLE_GRACE_SECONDS

    def excuse(self, seconds: float) -> None:
        """Give back ``seconds`` lost to a throttle or a transient fault (THROTTLE_GRACE_SECONDS in all, within hard_end)."""
        added = min(seconds, self.grace_left)
        self.grace_left -= added
        self.end = min(self.end + added, self.hard_end)

    def keeping(self, seconds: float) -> Deadline:
        """This deadline, with ``seconds`` kept free before its hard end for work that must follow it (an undo)."""
        kept = copy.copy(self)
        kept.hard_end = self.hard_end - seconds
        kept.end = min(self.end, kept.hard_end)
        return kept

    def remaining(self) -> float:
        """Seconds of work left; zero or less means stop."""
        if self.stop.is_set():
            return 0.0
        return self.end - clock.monotonic()

    def allows(self, seconds: float) -> bool:
        """Whether sleeping ``seconds`` still leaves time for one more call."""
        return self.remaining() > seconds

    def check(self, what: str) -> None:
        """Raise OutOfTime unless there is time to start ``what``."""
        if self.stop.is_set():
            raise OutOfTime(f"{what} was not started: the request was answered already")
        if self.remaining() <= 0:
            raise OutOfTime(f"{what} was not started: no time was left before the deadline")


def error_code(error: ClientError) -> str:
    """The error code botocore parsed (from x-amzn-ErrorType, then the body)."""
    return str(error.response.get("Error", {}).get("Code", ""))


def _status(error: ClientError) -> int:
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def is_already_gone(error: ClientError) -> bool:
    """A number that Connect no longer knows counts as released."""
    return error_code(error) == "ResourceNotFoundException" or _status(error) == 404


def is_retryable(error: ClientError) -> bool:
    """Throttles (any code on a 429) and server-side faults are retried; nothing else is."""
    status = _status(error)
    return error_code(error) in THROTTLE_CODES or status == 429 or status >= 500 or error_code(error) == "InternalServiceException"


def is_number_taken(error: ClientError) -> bool:
    """Someone claimed the number between our search and our claim: Connect says it is not available."""
    message = str(error.response.get("Error", {}).get("Message", ""))
    return error_code(error) == "InvalidParameterException" and "not available" in message.lower()


def is_token_reused(error: ClientError) -> bool:
    """The ClientToken already claimed something else: an earlier delivery of this request got there first."""
    return error_code(error) == "IdempotencyException"


def is_busy(error: ClientError) -> bool:
    """An operation on the number is still running; wait and try again."""
    return error_code(error) == "ResourceInUseException"


def backoff_delay(attempt: int, rng: random.Random | None = None) -> float:
    """Full-jitter exponential backoff for retry number ``attempt`` (1 for the first retry)."""
    cap = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempt - 1))
    return (rng or random).uniform(BACKOFF_FLOOR_SECONDS, max(BACKOFF_FLOOR_SECONDS, cap))


def make_client() -> ConnectClient:
    """A Connect client. The endpoint comes from the standard settings (AWS_ENDPOINT_URL_CONNECT)."""
    log.info("botocore %s, retries by the handler", botocore.__version__)
    # A session of its own: boto3's default session is not safe to share across threads.
    client: ConnectClient = boto3.session.Session().client("connect", config=CLIENT_CONFIG)
    return client


def call(deadline: Deadline, operation: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """Call ``operation`` and ride out throttles and transient faults until the deadline.

    Typed by the operation's own signature, so a misspelt operation or parameter fails mypy.
    No attempt starts, the first included, once the deadline has passed or the request has
    been answered. Every operation that changes state carries a ClientToken, so a retry after
    a lost response is safe.
    """
    name = getattr(operation, "__name__", "call")
    attempt = 0
    while True:
        deadline.check(name)
        try:
            return operation(*args, **kwargs)
        except ClientError as error:
            if not is_retryable(error):
                raise
            reason = error_code(error) or "HTTP error"
            last: Exception = error
        except NETWORK_ERRORS as error:
            reason, last = type(error).__name__, error
        attempt += 1
        delay = backoff_delay(attempt)
        deadline.excuse(delay)
        if not deadline.allows(delay):
            raise last
        log.info("%s: %s, retry %d in %.2f s", name, reason, attempt, delay)
        clock.sleep(delay)
