"""CloudFormation's side of the handler: one request, its deadlines, and its one answer.

``serve`` runs the resource logic (reconcile.run) and turns every outcome into exactly one answer, decided
once: a success, a Failure, bad input, any exception, or the Lambda deadline approaching (a watchdog). It
also refuses to start work CloudFormation would never hear of (a Lambda retry after ServiceTimeout). The
resource logic never touches the ResponseURL; it returns an Outcome, or raises.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from . import clock, connect_api, contract, rules, validation
from .arns import unclaimed_id
from .cfn_response import Responder
from .connect_api import CALL_SECONDS_AT_MOST, RESPONSE_RESERVE_SECONDS, Deadline, LambdaContext, OutOfTime, error_code
from .marker import ClaimMarker

if TYPE_CHECKING:
    from mypy_boto3_connect import ConnectClient

log = logging.getLogger(__name__)

SUCCESS = "SUCCESS"
FAILED = "FAILED"
REQUEST_TYPES = ("Create", "Update", "Delete")


class Failure(Exception):
    """A failure to report to CloudFormation, with the physical id to report it under (None: the request's)."""

    def __init__(self, reason: str, physical_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.physical_id = physical_id


@dataclass
class Outcome:
    """A successful result: the physical id, the attributes for Fn::GetAtt, and work that follows the decided answer."""

    physical_id: str
    data: dict[str, str] = field(default_factory=dict)
    # Runs once SUCCESS is decided and before it is delivered, never before (a replacement's marker stops being pending).
    after_answer: Callable[[], None] | None = None
    # If after_answer fails before SUCCESS was delivered: the Reason of the FAILED answer that replaces it (None: SUCCESS stands).
    unfollowed: Callable[[Exception], str] | None = None


@dataclass
class Answer:
    """What to tell CloudFormation."""

    status: str
    physical_id: str
    reason: str = ""
    data: dict[str, str] = field(default_factory=dict)


@dataclass
class Run:
    """One invocation: the request, Lambda's context, the one answer, and the physical id to report a failure under."""

    event: Mapping[str, Any]
    context: LambdaContext
    physical_id: str = ""
    responder: Responder = field(init=False)
    started: float = field(init=False, default=0.0)  # clock.now() when the run began (epoch seconds)

    def __post_init__(self) -> None:
        self.started = clock.now()
        self.responder = Responder(self.event, lambda: self.context.get_remaining_time_in_millis() / 1000)
        self.physical_id = self.physical_id or self.event.get("PhysicalResourceId") or unclaimed_id(self.token())

    @cached_property
    def client(self) -> ConnectClient:
        """The Connect client, made on first use (inside the path that answers any error)."""
        return connect_api.make_client()

    @property
    def request_type(self) -> str:
        return str(self.event.get("RequestType", ""))

    def token(self, *purpose: str) -> str:
        """A ClientToken that every delivery of this request derives alike."""
        return contract.deterministic_token(self.event["StackId"], self.event["LogicalResourceId"], self.event["RequestId"], *purpose)

    def marker(self) -> ClaimMarker:
        """The marker a number this request claims carries: this resource and this request."""
        return ClaimMarker(self.token(), contract.resource_token(self.event["StackId"], self.event["LogicalResourceId"]))

    @cached_property
    def own(self) -> frozenset[str]:
        """The tokens a marker of this resource may carry (contract.resource_tokens)."""
        return contract.resource_tokens(self.event["StackId"], self.event["LogicalResourceId"])

    def deadline(self, limit_seconds: float | None = None) -> Deadline:
        """A deadline for this run's work, which also ends the moment CloudFormation is answered, or stops listening."""
        return Deadline(self.context, limit_seconds, stop=self.responder.answered, listening_seconds=self.listening_seconds())

    @cached_property
    def signed_at(self) -> datetime | None:
        """When CloudFormation signed this request's ResponseURL (contract.request_signed_at); None if unknown."""
        return contract.request_signed_at(self.event.get("ResponseURL", ""))

    @cached_property
    def service_timeout(self) -> int:
        """How long CloudFormation waits for this request's answer, from its signing (ServiceTimeout)."""
        return contract.service_timeout_or_default(self.event.get("ResourceProperties", {}))

    def listening_seconds(self) -> float:
        """How much longer CloudFormation waits for this request's answer.

        (choice) A ResponseURL without its signing time (not SigV4, or a hand-made event) counts from this run's
        start: an overestimate for a redelivery, but it still bounds a wait that the wait limit no longer does.
        """
        since = self.signed_at.timestamp() if self.signed_at is not None else self.started
        return since + self.service_timeout - clock.now()

    def claimed_no_earlier_than(self) -> datetime:
        """The earliest a claim this request reports on can have been made (an earlier delivery's, say): rules.claimed_no_earlier_than."""
        return rules.claimed_no_earlier_than(datetime.fromtimestamp(clock.now(), UTC), self.service_timeout, self.signed_at)


def serve(event: Mapping[str, Any], context: LambdaContext, work: Callable[[Run], Outcome]) -> None:
    """Run ``work`` on one request and answer CloudFormation once.

    The answer is worked out first and delivered after, outside the error handling: an answer that cannot be
    delivered raises (so Lambda retries the run, which is safe to repeat), and is never replaced by a different one.
    """
    run = Run(event, context)
    log.info("%s %s (%s)", event.get("RequestType"), event.get("LogicalResourceId"), event.get("PhysicalResourceId", "new"))

    def out_of_time() -> None:
        if run.responder.answered.is_set():
            return  # the main path has decided; it delivers its own answer
        reason = f"The handler ran out of Lambda run time before Connect answered ({run.physical_id})."
        run.responder.send(FAILED, physical_id=run.physical_id, reason=reason)

    # A backstop for a call that hangs: the deadline-aware paths answer well before it.
    watchdog = clock.timer(max(0.0, context.get_remaining_time_in_millis() / 1000 - RESPONSE_RESERVE_SECONDS / 2), out_of_time)
    watchdog.start()
    try:
        answer = _answer(run, work)
        run.responder.send(answer.status, physical_id=answer.physical_id, reason=answer.reason, data=answer.data)
    finally:
        watchdog.cancel()


def _answer(run: Run, work: Callable[[Run], Outcome]) -> Answer:
    """Run the work and turn every outcome, including any exception, into an answer."""
    try:
        late = run.listening_seconds()
        if run.signed_at is not None and late <= RESPONSE_RESERVE_SECONDS + CALL_SECONDS_AT_MOST:  # as Deadline's hard end
            # A Lambda retry after CloudFormation gave up: it ignores the answer, and its rollback may have begun.
            raise Failure(
                f"Too late to start: CloudFormation waits {max(late, 0.0):.0f} s more at most for this answer (ServiceTimeout, "
                "from the signed ResponseURL). Nothing was done."
            )
        if run.request_type not in REQUEST_TYPES:
            raise Failure(f"Unknown RequestType {run.event.get('RequestType')!r}")
        outcome = work(run)
        if outcome.after_answer is not None:
            _decide_then(run, outcome)
        return Answer(SUCCESS, outcome.physical_id, data=outcome.data)
    except Failure as failure:
        return Answer(FAILED, failure.physical_id or run.physical_id, failure.reason)
    except Exception as error:
        return Answer(FAILED, run.physical_id, reason(run, error))


def _decide_then(run: Run, outcome: Outcome) -> None:
    """Decide SUCCESS first, then run what must follow it (never the other way round).

    If the watchdog decided FAILED first, nothing follows: CloudFormation is told FAILED and rolls back. What
    follows runs after the decision, on a deadline of its own (the run's deadline stops at the answer). If it
    fails, the answer becomes FAILED where the outcome says so and SUCCESS was not delivered yet; else SUCCESS stands.
    """
    if not run.responder.decide(SUCCESS, physical_id=outcome.physical_id, data=outcome.data):
        raise Failure("The handler's answer was decided before the replacement could be reported.")
    assert outcome.after_answer is not None
    try:
        outcome.after_answer()
    except Exception as error:
        log.exception("the work that follows the answer failed")
        if outcome.unfollowed is not None:
            why = outcome.unfollowed(error)
            # Not delivered yet (the watchdog may have delivered SUCCESS meanwhile: then it stands).
            if run.responder.revise(FAILED, physical_id=run.physical_id, reason=why):
                raise Failure(why) from error


def reason(run: Run, error: Exception) -> str:
    """The Reason CloudFormation shows for an error."""
    if isinstance(error, Failure):
        return error.reason
    if isinstance(error, validation.InvalidProperty):
        return f"Invalid property {error}. Nothing was claimed or changed."
    if isinstance(error, OutOfTime):
        return f"The handler ran out of time ({error}; {run.physical_id})."
    if isinstance(error, ClientError):
        message = error.response.get("Error", {}).get("Message", "")
        return f"{message} ({error.operation_name}: {error_code(error)})"
    log.exception("unexpected error")
    return f"{type(error).__name__}: {error}"
