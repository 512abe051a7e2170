"""Custom::ConnectPhoneNumber handler: claims, updates and releases one Connect phone number.

Lambda entry point: ``handler.on_event``. The function speaks CloudFormation's custom-resource
protocol itself and waits for Connect's asynchronous status within its own run: every path,
including bad input, an exception and the deadline, ends in exactly one response.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

import contract
import rules
from cfn_response import Responder
from connect_api import RESPONSE_RESERVE_SECONDS, Deadline, LambdaContext, call, make_client
from waiting import FAILED, IN_PROGRESS, StillInProgress, describe, status_of, wait_until_settled

log = logging.getLogger(__name__)
logging.getLogger().setLevel(logging.INFO)
# botocore's INFO lines (credential and endpoint discovery) would bury the decisions logged here.
logging.getLogger("botocore").setLevel(logging.WARNING)

SUCCESS = "SUCCESS"
# A failed claim must not hand CloudFormation a number's ARN: its rollback would release it.
UNCLAIMED_PREFIX = "unclaimed-"
EARLIER_CLAIM_RECHECK_SECONDS = 3.0


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
class Run:
    """One invocation: the event, Lambda's context, the client, and what has been claimed so far."""

    event: Mapping[str, Any]
    context: LambdaContext
    client: Any
    # The physical id to report if the run fails from here on.
    physical_id: str

    def token(self, *purpose: str) -> str:
        """A ClientToken that every delivery of this request derives alike."""
        return contract.deterministic_token(self.event["StackId"], self.event["LogicalResourceId"], self.event["RequestId"], *purpose)


def on_event(event: Mapping[str, Any], context: LambdaContext) -> None:
    """Lambda entry point."""
    responder = Responder(event)
    run = Run(event, context, client=None, physical_id=event.get("PhysicalResourceId") or "")
    log.info("%s %s (%s)", event.get("RequestType"), event.get("LogicalResourceId"), event.get("PhysicalResourceId", "new"))

    if not run.physical_id:
        run.physical_id = UNCLAIMED_PREFIX + run.token()

    def out_of_time() -> None:
        responder.send(
            "FAILED",
            physical_id=run.physical_id,
            reason=f"The handler ran out of Lambda run time before Connect answered ({run.physical_id}).",
        )

    # A backstop for a call that hangs: the deadline-aware paths below answer well before it.
    watchdog = threading.Timer(max(0.0, context.get_remaining_time_in_millis() / 1000 - RESPONSE_RESERVE_SECONDS / 2), out_of_time)
    watchdog.daemon = True
    watchdog.start()
    try:
        route = ROUTES.get(event.get("RequestType", ""))
        if route is None:
            raise Failure(f"Unknown RequestType {event.get('RequestType')!r}")
        run.client = make_client()
        outcome = route(run)
        responder.send(SUCCESS, physical_id=outcome.physical_id, data=outcome.data)
    except Failure as failure:
        responder.send("FAILED", physical_id=failure.physical_id or run.physical_id, reason=failure.reason)
    except contract.InvalidProperty as error:
        responder.send("FAILED", physical_id=run.physical_id, reason=f"Invalid property {error}. Nothing was claimed or changed.")
    except ClientError as error:
        operation = error.operation_name
        message = error.response.get("Error", {}).get("Message", "")
        responder.send("FAILED", physical_id=run.physical_id, reason=f"{message} ({operation}: {rules.error_code(error)})")
    except Exception as error:
        log.exception("unexpected error")
        responder.send("FAILED", physical_id=run.physical_id, reason=f"{type(error).__name__}: {error}")
    finally:
        watchdog.cancel()


# --- Create ---------------------------------------------------------------------------------


def _create(run: Run) -> Outcome:
    spec = contract.parse_properties(run.event["ResourceProperties"])
    return _claim(run, spec, Deadline(run.context, spec.wait_timeout_seconds))


def _claim(run: Run, spec: contract.ClaimSpec, deadline: Deadline) -> Outcome:
    """Claim a number for ``spec``, wait for CLAIMED, and return it as the outcome.

    A failed replacement (an Update) reports the old number's physical id, so CloudFormation
    keeps it. A failed Create reports the new number's ARN only while the claim may still
    complete, so that the rollback can release it; otherwise an id that is no number's.
    """
    replacing = contract.is_phone_number_arn(run.physical_id)
    number, claimed = _claim_one(run, spec, deadline)
    arn, number_id = claimed["PhoneNumberArn"], claimed["PhoneNumberId"]
    if not replacing:
        run.physical_id = arn
    try:
        summary = wait_until_settled(run.client, deadline, number_id)
    except StillInProgress as late:
        raise Failure(
            f"Number {number} ({arn}) was still IN_PROGRESS after {late.waited:.0f} s, the wait limit. "
            "Connect may still complete the claim: the rollback releases it where the removal policy allows; "
            "otherwise release it or adopt it by its number.",
            physical_id=run.physical_id,
        ) from None
    if status_of(summary) == FAILED:
        message = summary.get("PhoneNumberStatus", {}).get("Message", "")
        raise Failure(
            f"{message} (claim of {number} on {spec.target_arn} FAILED; no number is held)",
            physical_id=run.physical_id if replacing else UNCLAIMED_PREFIX + run.token(),
        )
    return Outcome(arn, _attributes(summary))


def _claim_one(run: Run, spec: contract.ClaimSpec, deadline: Deadline) -> tuple[str, dict[str, str]]:
    """ClaimPhoneNumber on one candidate, replacing candidates taken since the search.

    The ClientToken and the marker tag derive from the request, so a repeated delivery
    either replays the same claim or, if it picked another candidate, is told the token was
    used and finds the earlier number by its marker.
    """
    marker = run.token()
    tags = {**spec.tags, contract.CLAIM_MARKER_TAG: marker}
    candidates = _candidates(run, spec, deadline)
    number = next(candidates, None)
    taken: list[str] = []
    while number is not None:
        params: dict[str, Any] = {
            "TargetArn": spec.target_arn,
            "PhoneNumber": number,
            "Tags": tags,
            "ClientToken": run.token("claim"),
        }
        if spec.description:
            params["PhoneNumberDescription"] = spec.description
        try:
            claimed = call(deadline, run.client.claim_phone_number, **params)
        except ClientError as error:
            if rules.is_token_reused(error):
                return _earlier_claim(run, spec, deadline, marker)
            if rules.is_number_taken(error) and spec.phone_number is None and len(taken) + 1 < rules.MAX_CLAIM_CANDIDATES:
                log.info("%s was taken since the search; trying another candidate", number)
                taken.append(number)
                number = next(candidates, None)
                continue
            raise
        log.info("claim of %s accepted as %s", number, claimed["PhoneNumberArn"])
        return number, {"PhoneNumberArn": claimed["PhoneNumberArn"], "PhoneNumberId": claimed["PhoneNumberId"]}
    searched = f"CountryCode={spec.country_code} Type={spec.phone_number_type} Prefix={spec.prefix or '-'}"
    raise Failure(f"No available number to claim for {searched} on {spec.target_arn} ({len(taken)} candidates were taken).")


def _candidates(run: Run, spec: contract.ClaimSpec, deadline: Deadline) -> Iterator[str]:
    """The exact number, or searched numbers in random order so that parallel claims rarely collide."""
    if spec.phone_number is not None:
        yield spec.phone_number
        return
    params: dict[str, Any] = {
        "TargetArn": spec.target_arn,
        "PhoneNumberCountryCode": spec.country_code,
        "PhoneNumberType": spec.phone_number_type,
        "MaxResults": 10,
    }
    if spec.prefix:
        params["PhoneNumberPrefix"] = spec.prefix
    seen: set[str] = set()
    for _ in range(2):  # a second search refills the list after a run of taken numbers
        found = [n["PhoneNumber"] for n in call(deadline, run.client.search_available_phone_numbers, **params).get("AvailableNumbersList", [])]
        fresh = [n for n in found if n not in seen]
        random.SystemRandom().shuffle(fresh)
        seen.update(fresh)
        yield from fresh


def _earlier_claim(run: Run, spec: contract.ClaimSpec, deadline: Deadline, marker: str) -> tuple[str, dict[str, str]]:
    """The number an earlier delivery of this request claimed; never a second one.

    Whether Connect lists a number while its claim is still IN_PROGRESS is not documented, so
    the search is repeated until the deadline. If the number never shows, the request fails:
    claiming with a fresh token could hold two numbers.
    """
    while True:
        earlier = _find_earlier_claim(run, spec, deadline, marker)
        if earlier is not None:
            return earlier
        if not deadline.allows(EARLIER_CLAIM_RECHECK_SECONDS):
            raise Failure(
                "An earlier delivery of this request used its ClientToken, but no number carrying its marker "
                f"({contract.CLAIM_MARKER_TAG}={marker}) is on {spec.target_arn}. Nothing more was claimed, "
                "so that no number is held twice; deploy again."
            )
        time.sleep(EARLIER_CLAIM_RECHECK_SECONDS)


def _find_earlier_claim(run: Run, spec: contract.ClaimSpec, deadline: Deadline, marker: str) -> tuple[str, dict[str, str]] | None:
    """The number an earlier delivery of this request claimed, found by its marker tag.

    This costs a list and one Describe per number on the target, and runs only when Connect
    says the request's token was used already.
    """
    params: dict[str, Any] = {"TargetArn": spec.target_arn, "MaxResults": 1000}
    if spec.country_code:
        params["PhoneNumberCountryCodes"] = [spec.country_code]
    if spec.phone_number_type:
        params["PhoneNumberTypes"] = [spec.phone_number_type]
    while True:
        page = call(deadline, run.client.list_phone_numbers_v2, **params)
        for listed in page.get("ListPhoneNumbersSummaryList", []):
            summary = describe(run.client, deadline, listed["PhoneNumberId"])
            if summary.get("Tags", {}).get(contract.CLAIM_MARKER_TAG) == marker:
                log.info("an earlier delivery of this request claimed %s", summary.get("PhoneNumber"))
                return str(summary["PhoneNumber"]), {"PhoneNumberArn": summary["PhoneNumberArn"], "PhoneNumberId": summary["PhoneNumberId"]}
        if not page.get("NextToken"):
            log.info("no number carries this request's marker")
            return None
        params["NextToken"] = page["NextToken"]


def _attributes(summary: Mapping[str, Any]) -> dict[str, str]:
    return {
        contract.ATTR_PHONE_NUMBER: summary["PhoneNumber"],
        contract.ATTR_PHONE_NUMBER_ARN: summary["PhoneNumberArn"],
        contract.ATTR_PHONE_NUMBER_ID: summary["PhoneNumberId"],
    }


# --- Update ---------------------------------------------------------------------------------


def _update(run: Run) -> Outcome:
    new = contract.parse_properties(run.event["ResourceProperties"])
    old = _old_spec(run.event)
    physical_id = run.event["PhysicalResourceId"]
    deadline = Deadline(run.context, new.wait_timeout_seconds)
    if not contract.is_phone_number_arn(physical_id):
        log.info("the resource holds no number yet (%s); claiming one", physical_id)
        return _claim(run, new, deadline)
    current = describe(run.client, deadline, physical_id)
    if (old is None or rules.requires_replacement(old, new)) and not rules.already_satisfies(current, new):
        log.info("what number is wanted changed: claiming a replacement for %s", current.get("PhoneNumber"))
        return _claim(run, new, deadline)

    if current.get("TargetArn") != new.target_arn:
        log.info("moving %s to %s", current.get("PhoneNumber"), new.target_arn)
        call(deadline, run.client.update_phone_number, PhoneNumberId=physical_id, TargetArn=new.target_arn, ClientToken=run.token("move"))
        current = _settled_or_fail(run, deadline, physical_id, target_arn=new.target_arn)

    if (current.get("PhoneNumberDescription") or "") != (new.description or ""):
        call(
            deadline,
            run.client.update_phone_number_metadata,
            PhoneNumberId=physical_id,
            PhoneNumberDescription=new.description or "",
            ClientToken=run.token("metadata"),
        )
        current = _settled_or_fail(run, deadline, physical_id)

    declared_before = old.tags if old is not None else {k: v for k, v in current.get("Tags", {}).items() if k != contract.CLAIM_MARKER_TAG}
    to_set, to_remove = rules.tag_diff(declared_before, new.tags)
    if to_remove:
        call(deadline, run.client.untag_resource, resourceArn=physical_id, tagKeys=to_remove)
    if to_set:
        call(deadline, run.client.tag_resource, resourceArn=physical_id, tags=to_set)
    if to_set or to_remove:
        log.info("tags of %s: set %s, removed %s", current.get("PhoneNumber"), sorted(to_set), to_remove)
    return Outcome(physical_id, _attributes(current))


def _old_spec(event: Mapping[str, Any]) -> contract.ClaimSpec | None:
    """The previous properties, or None if they no longer parse (then the number is replaced)."""
    try:
        return contract.parse_properties(event.get("OldResourceProperties", {}))
    except contract.InvalidProperty as error:
        log.info("old properties do not parse (%s)", error)
        return None


def _settled_or_fail(run: Run, deadline: Deadline, physical_id: str, *, target_arn: str | None = None) -> dict[str, Any]:
    try:
        summary = wait_until_settled(run.client, deadline, physical_id, target_arn=target_arn)
    except StillInProgress as late:
        number = late.summary.get("PhoneNumber", physical_id)
        raise Failure(f"Number {number} ({physical_id}) was still IN_PROGRESS after {late.waited:.0f} s.") from None
    if status_of(summary) == FAILED:
        message = summary.get("PhoneNumberStatus", {}).get("Message", "")
        raise Failure(f"{message} (update of {summary.get('PhoneNumber')} FAILED)")
    return summary


# --- Delete ---------------------------------------------------------------------------------


def _delete(run: Run) -> Outcome:
    physical_id = run.event["PhysicalResourceId"]
    if not contract.is_phone_number_arn(physical_id):
        log.info("%s is not a phone number: nothing to release", physical_id)
        return Outcome(physical_id)
    deadline = Deadline(run.context)
    try:
        summary = describe(run.client, deadline, physical_id)
        if status_of(summary) == IN_PROGRESS:
            summary = wait_until_settled(run.client, deadline, physical_id)
        _release(run, deadline, physical_id)
    except ClientError as error:
        if not rules.is_already_gone(error):
            raise
        log.info("%s is already gone", physical_id)
        return Outcome(physical_id)
    except StillInProgress as late:
        raise Failure(f"Number {late.summary.get('PhoneNumber', physical_id)} ({physical_id}) stayed IN_PROGRESS; it was not released.") from None
    log.info("released %s (%s)", summary.get("PhoneNumber"), physical_id)
    return Outcome(physical_id)


def _release(run: Run, deadline: Deadline, physical_id: str) -> None:
    """ReleasePhoneNumber, waiting out an operation still running on the number."""
    started = time.monotonic()
    while True:
        try:
            call(deadline, run.client.release_phone_number, PhoneNumberId=physical_id, ClientToken=run.token("release"))
            return
        except ClientError as error:
            pause = rules.poll_interval(time.monotonic() - started)
            if not rules.is_busy(error) or not deadline.allows(pause):
                raise
            time.sleep(pause)


ROUTES: dict[str, Callable[[Run], Outcome]] = {"Create": _create, "Update": _update, "Delete": _delete}
