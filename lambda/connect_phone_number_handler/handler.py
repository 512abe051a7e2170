"""Custom::ConnectPhoneNumber handler: claims, updates and releases one Connect phone number.

Lambda entry point: ``handler.on_event``. The function speaks CloudFormation's custom-resource
protocol itself and waits for Connect's asynchronous status within its own run: every path,
including bad input, an exception and the deadline, ends in exactly one answer, decided once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError

from . import arns, clock, contract, plan, rules, validation
from .cfn_response import Responder
from .connect_api import CALL_SECONDS_AT_MOST, RESPONSE_RESERVE_SECONDS, Deadline, LambdaContext, OutOfTime, call, make_client
from .marker import CLAIM_MARKER_TAG, ClaimMarker, origin_flow_of, origin_of
from .waiting import FAILED, IN_PROGRESS, StillInProgress, describe, status_of, wait_until_settled

if TYPE_CHECKING:
    from mypy_boto3_connect import ConnectClient
    from mypy_boto3_connect.literals import PhoneNumberCountryCodeType, PhoneNumberTypeType
    from mypy_boto3_connect.type_defs import (
        ClaimedPhoneNumberSummaryTypeDef,
        ClaimPhoneNumberRequestTypeDef,
        ImportPhoneNumberRequestTypeDef,
        ListFlowAssociationsRequestTypeDef,
        ListPhoneNumbersV2RequestTypeDef,
        SearchAvailablePhoneNumbersRequestTypeDef,
    )

log = logging.getLogger(__name__)
logging.getLogger().setLevel(logging.INFO)
# botocore's INFO lines (credential and endpoint discovery) would bury the decisions logged here.
logging.getLogger("botocore").setLevel(logging.WARNING)

SUCCESS = "SUCCESS"
# A failed claim must not hand CloudFormation a number's ARN: its rollback would release it.
UNCLAIMED_PREFIX = "unclaimed-"
# A repeat whose earlier claim cannot be found yet looks again after 3 s, then less and less often.
EARLIER_CLAIM_RECHECK_SECONDS = 3.0
EARLIER_CLAIM_RECHECK_CAP_SECONDS = 30.0
# How long waiting out an earlier request's operation may take (Deadline.hard_end), as a Reason says it.
HARD_BOUND = "all the time the Lambda run and CloudFormation's ServiceTimeout left"


class Failure(Exception):
    """A failure to report to CloudFormation, with the physical id to report it under."""

    def __init__(self, reason: str, physical_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.physical_id = physical_id


@dataclass
class Outcome:
    """A successful result: the physical id and the attributes for Fn::GetAtt."""

    physical_id: str
    data: dict[str, str] = field(default_factory=dict)


@dataclass
class Answer:
    """What to tell CloudFormation."""

    status: str
    physical_id: str
    reason: str = ""
    data: dict[str, str] = field(default_factory=dict)


@dataclass
class Run:
    """One invocation: the event, Lambda's context, its one answer, and what has been claimed so far."""

    event: Mapping[str, Any]
    context: LambdaContext
    # The physical id to report if the run fails from here on.
    physical_id: str = ""
    responder: Responder = field(init=False)
    started: float = field(init=False, default=0.0)  # clock.now() when the run began (epoch seconds)

    def __post_init__(self) -> None:
        self.started = clock.now()
        self.responder = Responder(self.event, lambda: self.context.get_remaining_time_in_millis() / 1000)
        self.physical_id = self.physical_id or self.event.get("PhysicalResourceId") or UNCLAIMED_PREFIX + self.token()

    @cached_property
    def client(self) -> ConnectClient:
        """The Connect client, made on first use (inside the path that answers any error)."""
        return make_client()

    def token(self, *purpose: str) -> str:
        """A ClientToken that every delivery of this request derives alike."""
        return contract.deterministic_token(self.event["StackId"], self.event["LogicalResourceId"], self.event["RequestId"], *purpose)

    def marker(self, *, pending: bool = False, adopted: bool = False, origin: str = "", origin_flow: str = "") -> ClaimMarker:
        """The marker for a number this request claims (or adopts, from ``origin``)."""
        resource = contract.resource_token(self.event["StackId"], self.event["LogicalResourceId"])
        return ClaimMarker(self.token(), resource, pending=pending, adopted=adopted, origin=origin, origin_flow=origin_flow)

    @cached_property
    def own(self) -> frozenset[str]:
        """The tokens a marker of this resource may carry (contract.resource_tokens)."""
        return contract.resource_tokens(self.event["StackId"], self.event["LogicalResourceId"])

    def claimed_by_this_request(self, summary: ClaimedPhoneNumberSummaryTypeDef) -> bool:
        """Whether an earlier delivery of this request claimed the number (so it is replayed, not adopted)."""
        marker = rules.marker_of(summary)
        return marker is not None and marker.resource in self.own and marker.request == self.token() and not marker.adopted

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


def on_event(event: Mapping[str, Any], context: LambdaContext) -> None:
    """Lambda entry point.

    The answer is worked out first and delivered after, outside the error handling: an answer
    that cannot be delivered raises (so Lambda retries the run, which is safe to repeat), and is
    never replaced by a different one.
    """
    run = Run(event, context)
    log.info("%s %s (%s)", event.get("RequestType"), event.get("LogicalResourceId"), event.get("PhysicalResourceId", "new"))

    def out_of_time() -> None:
        if run.responder.answered.is_set():
            return  # the main path has decided; it delivers its own answer
        reason = f"The handler ran out of Lambda run time before Connect answered ({run.physical_id})."
        run.responder.send("FAILED", physical_id=run.physical_id, reason=reason)

    # A backstop for a call that hangs: the deadline-aware paths below answer well before it.
    watchdog = clock.timer(max(0.0, context.get_remaining_time_in_millis() / 1000 - RESPONSE_RESERVE_SECONDS / 2), out_of_time)
    watchdog.start()
    try:
        answer = _work(run)
        run.responder.send(answer.status, physical_id=answer.physical_id, reason=answer.reason, data=answer.data)
    finally:
        watchdog.cancel()


def _work(run: Run) -> Answer:
    """Route the request and turn every outcome, including any exception, into an answer."""
    try:
        late = run.listening_seconds()
        if run.signed_at is not None and late <= RESPONSE_RESERVE_SECONDS + CALL_SECONDS_AT_MOST:  # as Deadline's hard end
            # A Lambda retry after CloudFormation gave up: it ignores the answer, and its rollback may have begun.
            raise Failure(
                f"Too late to start: CloudFormation waits {max(late, 0.0):.0f} s more at most for this answer (ServiceTimeout, "
                "from the signed ResponseURL). Nothing was done."
            )
        route = ROUTES.get(run.event.get("RequestType", ""))
        if route is None:
            raise Failure(f"Unknown RequestType {run.event.get('RequestType')!r}")
        outcome = route(run)
        return Answer(SUCCESS, outcome.physical_id, data=outcome.data)
    except Failure as failure:
        return Answer("FAILED", failure.physical_id or run.physical_id, failure.reason)
    except Exception as error:
        return Answer("FAILED", run.physical_id, _reason(run, error))


def _reason(run: Run, error: Exception) -> str:
    """The Reason CloudFormation shows for an error."""
    if isinstance(error, Failure):
        return error.reason
    if isinstance(error, validation.InvalidProperty):
        return f"Invalid property {error}. Nothing was claimed or changed."
    if isinstance(error, OutOfTime):
        return f"The handler ran out of time ({error}; {run.physical_id})."
    if isinstance(error, ClientError):
        message = error.response.get("Error", {}).get("Message", "")
        return f"{message} ({error.operation_name}: {rules.error_code(error)})"
    log.exception("unexpected error")
    return f"{type(error).__name__}: {error}"


# --- Create ---------------------------------------------------------------------------------


def _create(run: Run) -> Outcome:
    spec = contract.parse_properties(run.event["ResourceProperties"])
    return _claim(run, spec, run.deadline(spec.wait_timeout_seconds))


def _claim(run: Run, spec: contract.ClaimSpec, deadline: Deadline) -> Outcome:
    """Claim a number for ``spec``, wait for CLAIMED, and return it as the outcome.

    A failed replacement (an Update) reports the old number's physical id, so CloudFormation
    keeps it; the replacement's marker stays pending, so CloudFormation's rollback finds and
    releases it (_release_abandoned_replacements). A failed Create reports the new number's
    ARN only while the claim may still complete, so that the rollback can release it;
    otherwise an id that is no number's.
    """
    replacing = arns.is_phone_number_arn(run.physical_id)
    if spec.adopt_existing and spec.phone_number is not None:
        held = _held_in_account(run, deadline, spec.phone_number, spec.target_arn)
        if held is not None and not run.claimed_by_this_request(held):
            return _adopt(run, spec, deadline, held)
    marker = run.marker(pending=replacing)
    claimed_at = run.claimed_no_earlier_than()
    if spec.source_phone_number_arn is not None:
        number, arn, number_id = _import_one(run, spec, deadline, marker)
    else:
        number, arn, number_id = _claim_one(run, spec, deadline, marker)
    if not replacing:
        run.physical_id = arn
    try:
        summary = wait_until_settled(run.client, deadline, number_id)
    except StillInProgress as late:
        then = "CloudFormation's rollback releases it once it settles" if replacing else "the rollback releases it where the removal policy allows"
        number = late.summary.get("PhoneNumber") or number  # an import knows its number only once Connect says it
        raise Failure(
            f"Number {number} ({arn}) was still IN_PROGRESS after {late.waited:.0f} s, the wait limit. Connect may still complete the claim: {then}.",
            physical_id=run.physical_id,
        ) from None
    if status_of(summary) == FAILED:
        message = summary.get("PhoneNumberStatus", {}).get("Message", "")
        imported = f"{message} (import of {number} into {spec.target_arn} FAILED)"
        raise Failure(
            imported if spec.source_phone_number_arn else rules.failed_claim_reason(message, number, spec.target_arn, claimed_at),
            physical_id=run.physical_id if replacing else UNCLAIMED_PREFIX + run.token(),
        )
    # Before the marker says "answered": a replacement whose flow cannot be set stays pending, so the rollback releases it.
    try:
        _converge_flow(run, deadline, arn, summary["PhoneNumber"], spec.contact_flow_arn, None, updating=False)
    except Exception as error:
        if replacing:
            raise
        raise _failed_after_claim(run, spec, summary, error) from error
    if replacing:
        _mark_answered(run, arn, marker, _attributes(summary))
    return Outcome(arn, _attributes(summary))


def _failed_after_claim(run: Run, spec: contract.ClaimSpec, summary: ClaimedPhoneNumberSummaryTypeDef, error: Exception) -> Failure:
    """A Create that failed after its number was CLAIMED: nothing this request claimed is left held by no stack.

    Under RETAIN CloudFormation sends no Delete for a failed Create, so a searched number (any number would
    do: this request's, never the user's) is released here, and the answer names no number. An exact number
    (or an imported one) is the user's choice and may be hard to get back, so it stays claimed, marked as this
    resource's, under its ARN: the rollback's Delete releases it where the removal policy allows, and the
    Reason says how to take it back where it does not.
    """
    number, arn = summary["PhoneNumber"], summary["PhoneNumberArn"]
    reason = _reason(run, error)
    if spec.phone_number is None and spec.source_phone_number_arn is None:
        try:
            _release(run, run.deadline(), summary["PhoneNumberId"])
        except Exception as release_error:
            return Failure(
                f"{reason} {number} ({arn}) was claimed for this request and could not be released ({_reason(run, release_error)}): "
                "the rollback's Delete releases it where the removal policy allows; otherwise release it by hand.",
                physical_id=arn,
            )
        log.info("released %s, claimed by a Create that failed", number)
        return Failure(f"{reason} {number}, claimed for this request, was released: nothing is held.", physical_id=UNCLAIMED_PREFIX + run.token())
    return Failure(
        f"{reason} {number} ({arn}) stays claimed for this resource: the rollback releases it where the removal policy allows; "
        "where it keeps it (RETAIN), deploy again with adopt_existing=True (AdoptExisting: true) to take it back.",
        physical_id=arn,
    )


def _mark_answered(run: Run, arn: str, marker: ClaimMarker, data: dict[str, str]) -> None:
    """Decide SUCCESS for a replacement first, then clear its pending marker: never the other way round.

    Once the marker says "answered" no rollback may release the number, so it is cleared only if this
    SUCCESS is the answer CloudFormation gets. If the watchdog decided FAILED first, the marker stays
    pending and the rollback releases the number. The call runs after the decision, on a deadline of
    its own (the run's deadline stops at the answer); if it never completes, Lambda's retry repeats it.
    """
    if not run.responder.decide(SUCCESS, physical_id=arn, data=data):
        raise Failure("The handler's answer was decided before the replacement could be reported.", physical_id=run.physical_id)
    call(Deadline(run.context), run.client.tag_resource, resourceArn=arn, tags={CLAIM_MARKER_TAG: marker.answered().value})


def _claim_one(run: Run, spec: contract.ClaimSpec, deadline: Deadline, marker: ClaimMarker) -> tuple[str, str, str]:
    """ClaimPhoneNumber on one candidate, or find the earlier delivery's claim; never claim a second number.

    Returns the number, its ARN and its id. The ClientToken and the marker derive from the
    request, so a repeated delivery replays the earlier delivery's claim for the same number
    (Connect answers IdempotencyException for any other), and finds it by its marker if search
    no longer offers it. When Connect says the token was used, a number is known to exist, so
    the rounds repeat until the deadline: whether Connect lists a claim still IN_PROGRESS is
    not documented, and a claim that ends FAILED is offered by search again, where its replay
    answers with Connect's message. If the number never shows the request fails, as claiming
    with a fresh token could hold two.
    """
    request: ClaimPhoneNumberRequestTypeDef = {
        "TargetArn": spec.target_arn,
        "PhoneNumber": "",
        "Tags": {**spec.tags, CLAIM_MARKER_TAG: marker.value},
        "ClientToken": run.token("claim"),
    }
    if spec.description:
        request["PhoneNumberDescription"] = spec.description
    pause = EARLIER_CLAIM_RECHECK_SECONDS
    while True:
        attempt = _try_candidates(run, spec, deadline, request)
        if attempt.claimed is not None:
            return attempt.claimed
        # Out of candidates. An earlier delivery of this request may hold a number search no longer offers.
        for summary in _marked_numbers(run, spec, deadline, lambda found: found.request == marker.request and not found.adopted):
            log.info("an earlier delivery of this request claimed %s", summary.get("PhoneNumber"))
            return summary["PhoneNumber"], summary["PhoneNumberArn"], summary["PhoneNumberId"]
        if not attempt.token_used:
            searched = f"CountryCode={spec.country_code} Type={spec.phone_number_type} Prefix={spec.prefix or '-'}"
            raise Failure(f"No available number to claim for {searched} on {spec.target_arn} ({attempt.tried} candidates were taken).")
        if not deadline.allows(EARLIER_CLAIM_RECHECK_SECONDS):
            raise Failure(
                "An earlier delivery of this request used its ClientToken, but no number carrying its marker "
                f"({CLAIM_MARKER_TAG}={marker.value}) is on {spec.target_arn}. Nothing more was claimed, "
                "so that no number is held twice; deploy again."
            )
        clock.sleep(min(pause, deadline.remaining() - 1.0))  # the last look comes just before the deadline
        pause = min(EARLIER_CLAIM_RECHECK_CAP_SECONDS, pause * 2)


@dataclass
class _Attempt:
    """One round of claims over the candidates."""

    claimed: tuple[str, str, str] | None = None
    token_used: bool = False
    tried: int = 0


def _try_candidates(run: Run, spec: contract.ClaimSpec, deadline: Deadline, request: ClaimPhoneNumberRequestTypeDef) -> _Attempt:
    """Claim the first candidate Connect gives us, skipping numbers taken since the search."""
    attempt = _Attempt()
    for number in _candidates(run, spec, deadline):
        request["PhoneNumber"] = number
        try:
            claimed = call(deadline, run.client.claim_phone_number, **request)
        except ClientError as error:
            if rules.is_token_reused(error):
                attempt.token_used = True  # an earlier delivery claimed another number with this token
            elif rules.is_number_taken(error) and spec.phone_number is not None:
                _refuse_if_held(run, deadline, spec)
                raise
            elif not rules.is_number_taken(error):
                raise
            log.info("%s: %s; trying the next candidate", number, rules.error_code(error))
            attempt.tried += 1
            if attempt.tried >= rules.MAX_CLAIM_CANDIDATES:
                break
            continue
        log.info("claim of %s accepted as %s", number, claimed["PhoneNumberArn"])
        attempt.claimed = (number, claimed["PhoneNumberArn"], claimed["PhoneNumberId"])
        break
    return attempt


def _candidates(run: Run, spec: contract.ClaimSpec, deadline: Deadline) -> Iterator[str]:
    """The exact number, or searched numbers in an order derived from the request.

    Parallel requests get unrelated orders, so they rarely collide; a repeated delivery gets
    the same order, so it tries the earlier delivery's number first and Connect replays that
    claim (a FAILED one included, so the repeat answers with Connect's message at once).
    """
    if spec.phone_number is not None:
        yield spec.phone_number
        return
    search: SearchAvailablePhoneNumbersRequestTypeDef = {
        "TargetArn": spec.target_arn,
        "PhoneNumberCountryCode": cast("PhoneNumberCountryCodeType", spec.country_code),
        "PhoneNumberType": cast("PhoneNumberTypeType", spec.phone_number_type),
        "MaxResults": 10,
    }
    if spec.prefix:
        search["PhoneNumberPrefix"] = spec.prefix
    seen: set[str] = set()
    for _ in range(2):  # a second search refills the list after a run of taken numbers
        found = [n["PhoneNumber"] for n in call(deadline, run.client.search_available_phone_numbers, **search).get("AvailableNumbersList", [])]
        fresh = sorted((n for n in found if n not in seen), key=lambda n: run.token("candidate", n))
        seen.update(fresh)
        yield from fresh


def _marked_numbers(run: Run, spec: contract.ClaimSpec, deadline: Deadline, wanted: Callable[[ClaimMarker], bool]) -> list[ClaimedPhoneNumberSummaryTypeDef]:
    """The numbers on ``spec``'s target that could have been claimed for ``spec`` and carry a wanted marker.

    This costs a list and one Describe per matching number (the list carries no tags). It runs
    only off the normal path: for a repeated delivery, and for the rollback of a replacement.
    """
    listing: ListPhoneNumbersV2RequestTypeDef = {"TargetArn": spec.target_arn, "MaxResults": 1000}
    if spec.country_code:
        listing["PhoneNumberCountryCodes"] = [cast("PhoneNumberCountryCodeType", spec.country_code)]
    if spec.phone_number_type:
        listing["PhoneNumberTypes"] = [cast("PhoneNumberTypeType", spec.phone_number_type)]
    found: list[ClaimedPhoneNumberSummaryTypeDef] = []
    while True:
        page = call(deadline, run.client.list_phone_numbers_v2, **listing)
        for listed in page.get("ListPhoneNumbersSummaryList", []):
            if not rules.matches_spec(listed, spec):
                continue
            try:
                summary = describe(run.client, deadline, listed["PhoneNumberId"])
            except ClientError as error:
                if not rules.is_already_gone(error):
                    raise
                continue  # released since the list
            value = summary.get("Tags", {}).get(CLAIM_MARKER_TAG)
            if value is not None and wanted(ClaimMarker.parse(value)):
                found.append(summary)
        if not page.get("NextToken"):
            return found
        listing["NextToken"] = page["NextToken"]


def _import_one(run: Run, spec: contract.ClaimSpec, deadline: Deadline, marker: ClaimMarker) -> tuple[str, str, str]:
    """ImportPhoneNumber from ``spec``'s source; returns the source (the number is known once it settles), ARN and id.

    The ClientToken derives from the request, so a repeated delivery replays the earlier import.
    """
    request: ImportPhoneNumberRequestTypeDef = {
        "InstanceId": spec.target_arn.rsplit("/", 1)[1],  # the contract allows only an instance as an import's target
        "SourcePhoneNumberArn": str(spec.source_phone_number_arn),
        "Tags": {**spec.tags, CLAIM_MARKER_TAG: marker.value},
        "ClientToken": run.token("import"),
    }
    if spec.description:
        request["PhoneNumberDescription"] = spec.description
    try:
        imported = call(deadline, run.client.import_phone_number, **request)
    except ClientError as error:
        if rules.error_code(error) != "InvalidParameterException":
            raise
        # (choice) Connect's refusal of a source imported before is not documented: any refusal of the parameters
        # says where such a number may be, since the most common cause is one kept by RETAIN from an earlier stack.
        raise Failure(
            f"{_reason(run, error)} If {spec.source_phone_number_arn} was imported before and that number is still held "
            "(kept by a RETAIN removal policy, say), take it over with phone_number=<its number> and adopt_existing=True "
            "(PhoneNumber, AdoptExisting: true) instead of importing it again, or release it first. Nothing was imported."
        ) from error
    log.info("import of %s accepted as %s", spec.source_phone_number_arn, imported["PhoneNumberArn"])
    return str(spec.source_phone_number_arn), imported["PhoneNumberArn"], imported["PhoneNumberId"]


# --- Adoption -------------------------------------------------------------------------------


def _held_in_account(run: Run, deadline: Deadline, number: str, target_arn: str) -> ClaimedPhoneNumberSummaryTypeDef | None:
    """The number if this account already holds it (in this Region), described; None otherwise.

    ListPhoneNumbersV2 without a target covers the account's instances; the declared target is
    listed too, in case it is a traffic distribution group. Prefixes stop at 11 digits, so the
    match is exact here.
    """
    for target in (None, target_arn):
        listing: ListPhoneNumbersV2RequestTypeDef = {"PhoneNumberPrefix": number[:12], "MaxResults": 1000}
        if target is not None:
            listing["TargetArn"] = target
        while True:
            page = call(deadline, run.client.list_phone_numbers_v2, **listing)
            for listed in page.get("ListPhoneNumbersSummaryList", []):
                if listed.get("PhoneNumber") == number:
                    return describe(run.client, deadline, listed["PhoneNumberId"])
            if not page.get("NextToken"):
                break
            listing["NextToken"] = page["NextToken"]
    return None


def _refuse_if_held(run: Run, deadline: Deadline, spec: contract.ClaimSpec) -> None:
    """Fail, changing nothing, when the exact number Connect refused is one this account already holds."""
    held = _held_in_account(run, deadline, str(spec.phone_number), spec.target_arn)
    if held is None:
        return
    where = held.get("TargetArn") or held.get("InstanceId")
    raise Failure(
        f"{spec.phone_number} is already held by this account, on {where} ({held['PhoneNumberArn']}). Nothing was claimed or changed. "
        "To bring it under this stack, set adopt_existing=True (AdoptExisting: true); no other stack may manage it then."
    )


def _adopt(run: Run, spec: contract.ClaimSpec, deadline: Deadline, held: ClaimedPhoneNumberSummaryTypeDef) -> Outcome:
    """Take over a number the account already holds: converge it on ``spec`` as an Update would, and mark it adopted.

    Refusals (rules.adoption_refusal) come before any change. The marker comes first: it stakes the
    claim (a second adoption starting now is refused) and records where the number was and its flow,
    so an undo still knows them in a redelivery. A failure after a change undoes the adoption
    (_undo_adoption), so a failed adoption leaves the number where it was, routed as it was; the
    adoption's own deadline keeps the undo's time free. The physical id becomes the number's ARN only
    on success: a failed adoption reports the id it had, so no rollback releases a number this stack
    never held.
    """
    physical_id = held["PhoneNumberArn"]
    deadline = deadline.keeping(rules.UNDO_ADOPTION_SECONDS)
    log.info("adopting %s from %s", held.get("PhoneNumber"), held.get("TargetArn"))
    before = _settled(run, deadline, physical_id, doing="before its adoption")
    earlier = rules.marker_of(before)
    resumed = earlier is not None and earlier.adopted and earlier.resource in run.own and earlier.request == run.token()
    if earlier is not None and resumed:
        marker = earlier  # an earlier delivery of this request began the adoption: its marker says where the number was
        log.info("resuming the adoption an earlier delivery began (it was on %s)", earlier.origin_arn(physical_id))
    else:
        refusal = rules.adoption_refusal(before, spec, run.own)
        if refusal is not None:
            raise Failure(refusal)
        flow = _flow_before_adoption(run, deadline, before, spec)
        marker = run.marker(adopted=True, origin=origin_of(before["TargetArn"]), origin_flow=origin_flow_of(flow))
    try:
        if not resumed:
            call(deadline, run.client.tag_resource, resourceArn=physical_id, tags={CLAIM_MARKER_TAG: marker.value})
        current = _converge(run, deadline, physical_id, before, spec, declared_before={}, flow_before=None)
        now = rules.marker_of(describe(run.client, deadline, physical_id))
        taken = now if rules.managed_elsewhere(now, run.own) else None
        if taken is None and now != marker:  # gone (removed by hand, or a read behind the write): written again
            call(deadline, run.client.tag_resource, resourceArn=physical_id, tags={CLAIM_MARKER_TAG: marker.value})
    except Exception as error:
        raise Failure(f"{_reason(run, error)} {_undo_adoption(run, spec, before, marker, resumed=resumed)}") from error
    if taken is not None:
        # Connect has no conditional write: another adoption that began at the same moment wrote its marker last.
        raise Failure(
            f"{before.get('PhoneNumber')} ({physical_id}) was adopted by another resource during this adoption (its marker is now "
            f"{taken.value}). It is left to that resource."
        )
    return Outcome(physical_id, _attributes(current))


def _flow_before_adoption(run: Run, deadline: Deadline, before: ClaimedPhoneNumberSummaryTypeDef, spec: contract.ClaimSpec) -> str | None:
    """The flow the number routes to before an adoption that may change it (a move drops it); None otherwise.

    Read only when the adoption moves the number or declares a flow: on the instance it is on, or, for a
    traffic distribution group's number, on the declared flow's instance (the one a declared flow replaces).
    """
    target = before.get("TargetArn", "")
    if target == spec.target_arn and spec.contact_flow_arn is None:
        return None
    instance = target if ":instance/" in target else arns.flow_instance_arn(spec.contact_flow_arn) if spec.contact_flow_arn else None
    return _associated_flow(run, deadline, instance, before["PhoneNumberArn"]) if instance else None


def _undo_adoption(run: Run, spec: contract.ClaimSpec, before: ClaimedPhoneNumberSummaryTypeDef, marker: ClaimMarker, *, resumed: bool) -> str:
    """Put an adoption that failed part-way back as it was; returns what to add to the Reason.

    The same converge path runs with the number's old state as the declared one and the adoption's as the
    state declared before, so it undoes exactly what the adoption did: the move, the description, the
    declared tags (tags set by hand stay), the flow and the marker. When an earlier delivery began the
    adoption (``resumed``), only the marker tells the old state: the target and the flow are restored, the
    description and tags stay as they are. It runs on the time the adoption kept free (45 s), inside the
    Lambda run and ServiceTimeout.
    """
    arn, number = before["PhoneNumberArn"], before.get("PhoneNumber", before["PhoneNumberArn"])
    own_tags = {k: v for k, v in before.get("Tags", {}).items() if k != CLAIM_MARKER_TAG}
    restore = replace(
        spec,
        target_arn=marker.origin_arn(arn) or before.get("TargetArn", spec.target_arn),
        description=before.get("PhoneNumberDescription") or None,
        tags=own_tags,
        contact_flow_arn=marker.origin_flow_arn(arn),
    )
    deadline = Deadline(run.context, rules.UNDO_ADOPTION_SECONDS, stop=run.responder.answered, listening_seconds=run.listening_seconds())
    deadline.grace_left = 0.0  # this budget is all the undo gets: the answer must still come inside ServiceTimeout
    where = f"{restore.target_arn}{f', routed to {restore.contact_flow_arn}' if restore.contact_flow_arn else ''}"
    try:
        current = _settled(run, deadline, arn, doing="undoing its adoption")
        declared_before = own_tags if resumed else spec.tags  # resumed: the tags stay as they are
        _converge(run, deadline, arn, current, restore, declared_before=declared_before, flow_before=spec.contact_flow_arn, purpose="undo")
        # The marker as it was (none, or this resource's own): the adoption set it first.
        old = None if resumed else before.get("Tags", {}).get(CLAIM_MARKER_TAG)
        if old is None:
            call(deadline, run.client.untag_resource, resourceArn=arn, tagKeys=[CLAIM_MARKER_TAG])
        else:
            call(deadline, run.client.tag_resource, resourceArn=arn, tags={CLAIM_MARKER_TAG: old})
    except Exception as error:
        log.exception("undoing the adoption of %s failed", number)
        return f"Undoing the adoption failed too ({_reason(run, error)}): check {number} ({arn}); it was on {where}."
    if resumed:
        return f"The adoption was undone: {number} is on {where} as before; an earlier delivery set its description and tags, which stay."
    return f"The adoption was undone: {number} is on {where} as before."


def _attributes(summary: ClaimedPhoneNumberSummaryTypeDef) -> dict[str, str]:
    return {
        contract.ATTR_PHONE_NUMBER: summary["PhoneNumber"],
        contract.ATTR_PHONE_NUMBER_ARN: summary["PhoneNumberArn"],
        contract.ATTR_PHONE_NUMBER_ID: summary["PhoneNumberId"],
    }


# --- Update ---------------------------------------------------------------------------------


def _update(run: Run) -> Outcome:
    """Converge the held number on the declared properties: wait, read, compute, apply."""
    new = contract.parse_properties(run.event["ResourceProperties"])
    old = _old_spec(run.event)
    physical_id = run.event["PhysicalResourceId"]
    if not arns.is_phone_number_arn(physical_id):
        log.info("the resource holds no number yet (%s); claiming one", physical_id)
        return _claim(run, new, run.deadline(new.wait_timeout_seconds))
    try:
        current, waited = _observe(run, physical_id, doing="from an earlier request")
    except ClientError as error:
        if not rules.is_already_gone(error):
            raise
        # Released outside the stack (by hand): the resource holds no number, so it claims one, as a new resource would.
        log.info("%s is gone (%s); claiming a replacement", physical_id, rules.error_code(error))
        return _claim(run, new, run.deadline(new.wait_timeout_seconds))
    # The wait limit bounds this request's own work. A request that had to wait out an earlier one's operation (a
    # rollback after a timeout, most often) finishes on the hard deadline: it must not fail for lack of patience.
    deadline = run.deadline(None if waited else new.wait_timeout_seconds)
    if old is not None and rules.is_rollback_of_replacement(current, old, new):
        _release_abandoned_replacements(run, old, run.deadline())
    elif rules.needs_replacement(current, old, new):
        log.info("what number is wanted changed: claiming a replacement for %s", current.get("PhoneNumber"))
        return _claim(run, new, deadline)
    # Old properties that no longer parse (refused ones, rolled back; or a rule tightened since) widen nothing:
    # no tag is removed and no flow is taken away on their account.
    declared_before = old.tags if old is not None else None
    flow_before = old.contact_flow_arn if old is not None else None
    return Outcome(physical_id, _attributes(_converge(run, deadline, physical_id, current, new, declared_before, flow_before, record_flow=True)))


def _observe(run: Run, physical_id: str, *, doing: str, then: str = "") -> tuple[ClaimedPhoneNumberSummaryTypeDef, bool]:
    """The number once any operation in progress on it has settled, and whether it had to be waited for.

    An operation found in progress is an earlier request's (a timed-out move, say): waiting for it runs on the
    hard deadline (the Lambda run and ServiceTimeout, less the reserve to answer), never on this request's wait
    limit. A FAILED status here is an earlier move's: the number is still held where it was.
    """
    hard = run.deadline()
    summary = describe(run.client, hard, physical_id)
    if status_of(summary) != IN_PROGRESS:
        return summary, False
    return _settled(run, hard, physical_id, doing=doing, bound=HARD_BOUND, then=then), True


def _converge(
    run: Run,
    deadline: Deadline,
    physical_id: str,
    current: ClaimedPhoneNumberSummaryTypeDef,
    new: contract.ClaimSpec,
    declared_before: Mapping[str, str] | None,
    flow_before: str | None,
    purpose: str = "",
    *,
    record_flow: bool = False,
) -> ClaimedPhoneNumberSummaryTypeDef:
    """Bring a held, settled number to what ``new`` declares: move, description, tags, flow. Returns it as it ends.

    Observe (``current``), plan (plan.plan_tags, plan.plan_flow), apply. An Update, an adoption, its undo
    and a give-back all come here; ``declared_before`` is the tags the stack declared before (none, for
    an adoption; None when unknown), so tags it never declared are left alone; ``flow_before`` is the
    flow it declared before (a flow set by hand stays unless the stack declares one). ``purpose`` sets
    the ClientTokens apart when an undo repeats an operation of the same request. ``record_flow`` (an
    Update) keeps the routing a first declared flow replaces in the marker, so a rollback restores it.
    """
    apart = (purpose,) if purpose else ()
    tags = plan.plan_tags(current, new.tags, declared_before)
    if tags.refusal is not None:
        raise Failure(tags.refusal)  # before any change
    if current.get("TargetArn") != new.target_arn:
        log.info("moving %s to %s", current.get("PhoneNumber"), new.target_arn)
        call(deadline, run.client.update_phone_number, PhoneNumberId=physical_id, TargetArn=new.target_arn, ClientToken=run.token("move", *apart))
        current = _applied(run, deadline, physical_id, doing="moving", target_arn=new.target_arn)

    if (current.get("PhoneNumberDescription") or "") != (new.description or ""):
        call(
            deadline,
            run.client.update_phone_number_metadata,
            PhoneNumberId=physical_id,
            PhoneNumberDescription=new.description or "",
            ClientToken=run.token("metadata", *apart),
        )
        current = _applied(run, deadline, physical_id, doing="changing its description")

    to_set, to_remove = tags.to_set, tags.to_remove
    if to_remove:
        call(deadline, run.client.untag_resource, resourceArn=physical_id, tagKeys=to_remove)
    if to_set:
        call(deadline, run.client.tag_resource, resourceArn=physical_id, tags=to_set)
    if to_set or to_remove:
        log.info("tags of %s: set %s, removed %s", current.get("PhoneNumber"), sorted(to_set), to_remove)
    marker = rules.marker_of(current) if record_flow else None
    recordable = marker is not None and marker.resource in run.own and not marker.pending and not marker.unknown
    _converge_flow(run, deadline, physical_id, current.get("PhoneNumber", ""), new.contact_flow_arn, flow_before, marker if recordable else None)
    return current


def _converge_flow(
    run: Run,
    deadline: Deadline,
    number_arn: str,
    number: str,
    declared: str | None,
    declared_before: str | None,
    marker: ClaimMarker | None = None,
    *,
    updating: bool = True,
) -> None:
    """Bring the number's flow association to the declared flow: read it, plan the step (plan.plan_flow), apply it.

    The number is named by its full ARN: a traffic distribution group's number needs it (from the group's other
    Region a UUID answers ResourceNotFoundException), and an instance's number accepts it too.
    (choice) AssociatePhoneNumberContactFlow on a number that has a flow replaces it, so no Disassociate comes first.
    ``marker`` (this resource's, on an Update) holds the routing the stack's first declared flow replaced.
    A flow or instance that no longer exists has nothing to disassociate: on an Update (``updating``) a flow whose
    instance is gone is left as it is (logged), so that no Update, and no rollback, fails on it.
    """
    instance_arn = plan.flow_instance(declared, declared_before)
    if instance_arn is None:
        return
    try:
        associated = _associated_flow(run, deadline, instance_arn, number_arn)
    except ClientError as error:
        if not rules.is_already_gone(error) or not updating:
            raise
        # (choice) On an Update, a rollback included, a flow whose instance is gone is left: nothing can route to it,
        # and failing would leave the stack in UPDATE_ROLLBACK_FAILED. A Create fails on it (its number is new).
        log.warning("the flow's instance %s is gone (%s): %s is left as it is", instance_arn, rules.error_code(error), number)
        return
    recorded = marker.origin_flow_arn(number_arn) if marker is not None else None
    step = plan.plan_flow(declared, declared_before, associated, recorded)
    if step is None:
        return
    instance_id = step.instance_arn.rsplit("/", 1)[-1]
    if step.record is not None and marker is not None:
        # Before the association: a crash after it must still know what it replaced.
        kept = replace(marker, origin_flow=origin_flow_of(step.record or None))
        call(deadline, run.client.tag_resource, resourceArn=number_arn, tags={CLAIM_MARKER_TAG: kept.value})
    if step.flow_arn is not None:
        try:
            call(
                deadline,
                run.client.associate_phone_number_contact_flow,
                PhoneNumberId=number_arn,
                InstanceId=instance_id,
                ContactFlowId=arns.flow_id(step.flow_arn),
            )
        except ClientError as error:
            if step.flow_arn == declared or not rules.is_already_gone(error):
                raise
            # The routing to restore no longer exists: the declared flow's association goes, as without a record.
            log.info("%s: the flow to restore, %s, is gone; disassociating", number, step.flow_arn)
            call(deadline, run.client.disassociate_phone_number_contact_flow, PhoneNumberId=number_arn, InstanceId=instance_id)
            return
        log.info("%s now routes to flow %s", number, step.flow_arn)
    else:
        try:
            call(deadline, run.client.disassociate_phone_number_contact_flow, PhoneNumberId=number_arn, InstanceId=instance_id)
        except ClientError as error:
            if not rules.is_already_gone(error):
                raise
            log.info("%s: its flow association is already gone", number)
            return
        log.info("%s no longer routes to a flow (the prop was removed)", number)


def _associated_flow(run: Run, deadline: Deadline, instance_arn: str, number_arn: str) -> str | None:
    """The ARN of the flow the number routes to on ``instance_arn`` now, from ListFlowAssociations (Describe does not show it)."""
    request: ListFlowAssociationsRequestTypeDef = {"InstanceId": instance_arn.rsplit("/", 1)[-1], "ResourceType": "VOICE_PHONE_NUMBER", "MaxResults": 1000}
    while True:
        page = call(deadline, run.client.list_flow_associations, **request)
        for summary in page.get("FlowAssociationSummaryList", []):
            if summary.get("ResourceId") == number_arn:
                return summary.get("FlowId")
        if not page.get("NextToken"):
            return None
        request["NextToken"] = page["NextToken"]


def _old_spec(event: Mapping[str, Any]) -> contract.ClaimSpec | None:
    """The previous properties, or None if they no longer parse (then the number is replaced)."""
    try:
        return contract.parse_properties(event.get("OldResourceProperties", {}))
    except validation.InvalidProperty as error:
        log.info("old properties do not parse (%s)", error)
        return None


def _settled(
    run: Run, deadline: Deadline, physical_id: str, *, doing: str, target_arn: str | None = None, bound: str = "the wait limit", then: str = ""
) -> ClaimedPhoneNumberSummaryTypeDef:
    """The number once the operation in progress on it has settled (CLAIMED or FAILED).

    Waiting first is what makes a rollback safe: a move or description change that an earlier
    request left IN_PROGRESS finishes before the number is compared with what is declared.
    """
    try:
        return wait_until_settled(run.client, deadline, physical_id, target_arn=target_arn)
    except StillInProgress as late:
        number = late.summary.get("PhoneNumber", physical_id)
        raise Failure(f"Number {number} ({physical_id}) was still IN_PROGRESS {doing} after {late.waited:.0f} s, {bound}.{then}") from None


def _applied(run: Run, deadline: Deadline, physical_id: str, *, doing: str, target_arn: str | None = None) -> ClaimedPhoneNumberSummaryTypeDef:
    """The number once our own change to it has settled; fails with Connect's message if the change FAILED."""
    summary = _settled(run, deadline, physical_id, doing=doing, target_arn=target_arn)
    if status_of(summary) == FAILED:
        message = summary.get("PhoneNumberStatus", {}).get("Message", "")
        raise Failure(f"{message} (update of {summary.get('PhoneNumber')} FAILED)")
    return summary


def _release_abandoned_replacements(run: Run, failed: contract.ClaimSpec, deadline: Deadline) -> None:
    """Release the numbers a failed replacement of this resource claimed but never reported.

    Why this design: the replacement claim carries this resource's marker in the pending state
    (set atomically by ClaimPhoneNumber itself, so even a crash right after the claim leaves it
    findable) until the handler answers SUCCESS. CloudFormation's rollback of the failed Update
    tells us the failed attempt's properties, so we list its target for numbers of this resource
    still pending, wait for each to settle, and release it. A number CloudFormation was told
    about, or one kept by RETAIN, is never pending, so it is never released here. The list is
    paid for only on this rollback (rules.is_rollback_of_replacement).
    """
    abandoned = _marked_numbers(run, failed, deadline, lambda marker: marker.pending and marker.resource in run.own)
    for summary in abandoned:
        _release_settled(run, deadline, summary, "claimed by a replacement that failed")


def _release_settled(run: Run, deadline: Deadline, summary: ClaimedPhoneNumberSummaryTypeDef, why: str) -> None:
    """Release a number CloudFormation was never told about, once its claim settles (a FAILED claim holds nothing)."""
    number_id, number = summary["PhoneNumberId"], summary.get("PhoneNumber")
    try:
        if status_of(wait_until_settled(run.client, deadline, number_id)) != FAILED:
            _release(run, deadline, number_id)
            log.info("released %s, %s", number, why)
    except StillInProgress:
        raise Failure(
            f"The number {number} ({summary.get('PhoneNumberArn')}), {why}, is still IN_PROGRESS, so the rollback cannot "
            "release it yet. Continue the rollback once it settles (or delete the stack again); it is released then."
        ) from None
    except ClientError as error:
        if not rules.is_already_gone(error):
            raise
        log.info("%s is already gone", number)  # released by an earlier delivery of this rollback


# --- Delete ---------------------------------------------------------------------------------


def _delete(run: Run) -> Outcome:
    """Release the number (after an operation in progress settles), within the wait limit.

    The wait limit matters here too: CloudFormation gives up at ServiceTimeout (the wait limit
    plus two minutes), so the answer must come before it, not at the Lambda deadline.
    """
    physical_id = run.event["PhysicalResourceId"]
    if physical_id.startswith(UNCLAIMED_PREFIX):
        return _release_unreported_create(run, physical_id)
    if not arns.is_phone_number_arn(physical_id):
        log.info("%s is not a phone number: nothing to release", physical_id)
        return Outcome(physical_id)
    props = run.event.get("ResourceProperties", {})
    try:
        summary, waited = _observe(run, physical_id, doing="before its release", then=" It was not released.")
        deadline = run.deadline(None if waited else contract.wait_timeout_or_default(props))
        kept = rules.keep_on_delete(summary, run.own, contract.retains_adopted(props))
        if kept is not None:
            return _give_back(run, deadline, summary, kept)
        _release(run, deadline, physical_id)
    except ClientError as error:
        if not rules.is_already_gone(error):
            raise
        log.info("%s is already gone", physical_id)
        return Outcome(physical_id)
    log.info("released %s (%s)", summary.get("PhoneNumber"), physical_id)
    return Outcome(physical_id)


def _give_back(run: Run, deadline: Deadline, summary: ClaimedPhoneNumberSummaryTypeDef, why: str) -> Outcome:
    """Keep a number a Delete must not release. If this resource adopted it, put it back as the account had it.

    The marker's origin says where it was and the flow it routed to: the number moves back there and gets
    that flow again (its description and tags stay as the stack left them), then the marker goes, so any
    stack may adopt it again. A failure here answers FAILED with the number kept and still marked, so the
    rollback's retry (or a delete of the stack) gives it back then.
    """
    arn = summary["PhoneNumberArn"]
    marker = rules.marker_of(summary)
    if marker is not None and marker.resource in run.own and not marker.unknown:
        origin = marker.origin_arn(arn) if marker.adopted else None
        if origin is not None:
            try:
                declared_flow = contract.parse_properties(run.event.get("ResourceProperties", {})).contact_flow_arn
            except validation.InvalidProperty:
                declared_flow = None
            tags = {k: v for k, v in summary.get("Tags", {}).items() if k != CLAIM_MARKER_TAG}
            back = contract.ClaimSpec(
                origin, description=summary.get("PhoneNumberDescription") or None, tags=tags, contact_flow_arn=marker.origin_flow_arn(arn)
            )
            try:
                _converge(run, deadline, arn, summary, back, declared_before=tags, flow_before=declared_flow, purpose="give-back")
            except ClientError as error:
                if not rules.is_already_gone(error):
                    raise Failure(
                        f"{_reason(run, error)} {summary.get('PhoneNumber')} ({arn}) is kept, still marked as this stack's adoption: "
                        f"giving it back to {origin} failed. Retry once that is fixed, or remove the marker "
                        f"({CLAIM_MARKER_TAG}) to keep it where it is."
                    ) from error
                # Its origin (the instance, or the flow) no longer exists: it stays where it is, the account's again.
                log.info("%s cannot go back to %s (%s): kept where it is", summary.get("PhoneNumber"), origin, rules.error_code(error))
        call(deadline, run.client.untag_resource, resourceArn=arn, tagKeys=[CLAIM_MARKER_TAG])
    log.info("kept %s (%s): %s", summary.get("PhoneNumber"), arn, why)
    return Outcome(run.event["PhysicalResourceId"])


def _release_unreported_create(run: Run, physical_id: str) -> Outcome:
    """The rollback's Delete of a Create that failed without naming a number: release what that request claimed.

    A Create answers under ``unclaimed-REQUEST`` when it fails before it knows its number: bad input, a
    FAILED claim, or a deadline (or a lost reply) while ClaimPhoneNumber was in flight. In the last case
    Connect may hold a number that CloudFormation was never told about. Every claim carries the marker
    RESOURCE/REQUEST, so the numbers of exactly that request are found on the target and released. An
    adopted number is never released this way (its marker says adopted: it was the account's before), but
    a number an ``AdoptExisting`` request claimed because the account did not hold it is. An adoption this
    request began and never answered (it died, or its retry came too late) is given back from its marker's
    origin (_give_back). This costs a list only on this rollback.
    """
    try:
        spec = contract.parse_properties(run.event.get("ResourceProperties", {}))
    except validation.InvalidProperty:
        log.info("%s: the properties were refused, so nothing was claimed", physical_id)
        return Outcome(physical_id)
    request = physical_id[len(UNCLAIMED_PREFIX) :]
    deadline = run.deadline()  # a rollback: waiting out the failed Create's claim is not this request's own work

    def claimed_here(marker: ClaimMarker) -> bool:
        return marker.resource in run.own and marker.request == request and not marker.adopted and not marker.unknown

    for summary in _marked_numbers(run, spec, deadline, claimed_here):
        _release_settled(run, deadline, summary, "claimed by a Create that failed before it could name it")
    if spec.adopt_existing and spec.phone_number is not None:
        # An adoption that died (or ran out of time) before it could answer or undo: its marker says where the number was.
        held = _held_in_account(run, deadline, spec.phone_number, spec.target_arn)
        marker = rules.marker_of(held) if held is not None else None
        if held is not None and marker is not None and marker.adopted and marker.resource in run.own and marker.request == request:
            _give_back(run, deadline, _settled(run, deadline, held["PhoneNumberArn"], doing="before its give-back"), "adopted by a Create that failed")
    return Outcome(physical_id)


def _release(run: Run, deadline: Deadline, number_id: str) -> None:
    """ReleasePhoneNumber, waiting out an operation still running on the number."""
    started = clock.monotonic()
    while True:
        try:
            call(deadline, run.client.release_phone_number, PhoneNumberId=number_id, ClientToken=run.token("release", number_id))
            return
        except ClientError as error:
            pause = rules.poll_interval(clock.monotonic() - started)
            if not rules.is_busy(error) or not deadline.allows(pause):
                raise
            clock.sleep(pause)


ROUTES: dict[str, Callable[[Run], Outcome]] = {"Create": _create, "Update": _update, "Delete": _delete}
