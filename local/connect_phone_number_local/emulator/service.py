"""The emulated Connect phone-number service: numbers, their asynchronous status, and the quotas.

Behaviour follows shared/reference/connect-phone-number-api.md. Where the reference says the
real behaviour is unknown, the choice made here is marked "(choice)".
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import iam
from .wire import WireError, invalid

LIMIT_MESSAGE = "The target has reached its limit of total claimed numbers."  # (choice) the real text is not published
_CLAIM_TOKEN = re.compile(r"^[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}$")
_TARGET = re.compile(r"^arn:(aws[a-z-]*):connect:([a-z0-9-]+):(\d{12}):(instance|traffic-distribution-group)/([A-Za-z0-9-]+)$")
_NUMBER_ARN = re.compile(r"^arn:aws[a-z-]*:connect:[a-z0-9-]+:\d{12}:phone-number/([A-Za-z0-9-]+)$")
_DAY = 86400.0
# ListPhoneNumbers (v1) predates these types and reports them as TOLL_FREE or DID (its doc).
# (choice) Which of the two SHARED becomes is not documented: DID.
_V1_TYPES = {"UIFN": "TOLL_FREE", "THIRD_PARTY_TF": "TOLL_FREE", "SHARED": "DID", "THIRD_PARTY_DID": "DID"}


@dataclass
class EmulatorConfig:
    """How the emulated service behaves. Defaults are Connect's published defaults."""

    account_id: str = "123456789012"
    region: str = "us-east-1"
    claim_seconds: float = 3.0
    update_seconds: float = 1.0
    release_seconds: float = 0.5
    rate_per_second: float = 2.0
    burst: int = 5
    throttle_code: str = "TooManyRequestsException"
    numbers_per_instance: int = 5
    release_cooldown_seconds: float = 180 * _DAY
    churn_window_seconds: float = 180 * _DAY
    churn_percent: int = 200
    token_window_seconds: float = _DAY
    failed_claim_seconds: float = _DAY
    inventory_per_kind: int = 40
    # (choice) Instances are not emulated; any well-formed target in this account is accepted.
    known_targets: list[str] | None = None
    # An IAM identity policy for callers without an identity of their own (see add_identity). None: no IAM.
    identity_policy: dict[str, Any] | None = None


@dataclass
class Number:
    """A claimed (or claiming, moving, releasing, failed) phone number."""

    id: str
    arn: str
    number: str
    country: str
    type: str
    target_arn: str
    instance_id: str
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    status: str = "IN_PROGRESS"
    message: str = ""
    # What the IN_PROGRESS workflow turns into, and when.
    settle_at: float = 0.0
    settle_status: str = "CLAIMED"
    settle_message: str = ""
    # The target a move or metadata change settles on; empty while only a claim has run, which
    # is how a failed claim (holds nothing) is told from a failed move (still held).
    settle_target: str = ""
    releasing: bool = False
    source_arn: str = ""
    contact_flow: str = ""


def default_inventory(per_kind: int) -> list[tuple[str, str, str]]:
    """Searchable numbers as (number, country, type): fictional ranges, the same on every run."""
    ranges = [
        ("US", "DID", "+1206555"),
        ("US", "TOLL_FREE", "+1800555"),
        ("US", "TOLL_FREE", "+1888555"),
        ("GB", "DID", "+44207946"),
        ("GB", "TOLL_FREE", "+44800496"),
        ("DE", "DID", "+4930901820"),
        ("AU", "DID", "+6125550"),
    ]
    return [(f"{prefix}{i + 100:04d}", country, kind) for country, kind, prefix in ranges for i in range(per_kind)]


class TokenBucket:
    """Connect's per-API throttle: a sustained rate with a burst."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float]) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens = float(burst)
        self.stamp = clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class ConnectService:
    """The service's state and operations. Thread-safe; every public operation takes the lock."""

    def __init__(self, config: EmulatorConfig | None = None, *, clock: Callable[[], float] = time.time, state_file: Path | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.clock = clock
        self.state_file = state_file
        self.lock = threading.RLock()
        self.numbers: dict[str, Number] = {}
        self.inventory = {n: (c, t) for n, c, t in default_inventory(self.config.inventory_per_kind)}
        self.cooldown: dict[str, float] = {}  # number -> when it may be claimed again
        self.releases: list[float] = []  # release times, for the churn quota
        self.tokens: dict[str, tuple[str, Any, float]] = {}  # op/token -> (fingerprint, response, time)
        self.buckets: dict[str, TokenBucket] = {}
        self.claim_failures: list[tuple[str, str]] = []  # (match, message): exact number, prefix, or "*"
        self.import_failures: list[tuple[str, str]] = []  # (match, message): source ARN, prefix, or "*"
        self.injected: list[tuple[int, str, str]] = []  # the next calls' errors: (status, code, operation or "*")
        self.calls: dict[str, int] = {}  # requests per operation, throttled ones included
        self.throttled: dict[str, int] = {}  # requests per operation answered 429 by the token bucket
        self.identities: dict[str, iam.Identity] = {}  # access key id -> identity whose policy is enforced
        self.authorized: list[tuple[str, str, str]] = []  # (principal, action, resource) of every allowed check
        self.denied: list[str] = []  # AccessDeniedException messages
        self.unchecked = 0  # requests no identity policy applied to
        if state_file is not None and state_file.exists():
            self._load(state_file)

    # --- fault injection and inspection (Python API; also over HTTP under /_emulator) ---

    def fail_claims(self, match: str = "*", message: str = LIMIT_MESSAGE) -> None:
        """Make claims end FAILED with ``message``: ``match`` is an exact number, a prefix, or "*"."""
        with self.lock:
            self.claim_failures.append((match, message))
            self._save()

    def clear_faults(self) -> None:
        """Remove every injected claim failure and pending error."""
        with self.lock:
            self.claim_failures.clear()
            self.import_failures.clear()
            self.injected.clear()
            self._save()

    def fail_next(self, count: int, *, status: int = 429, code: str | None = None, operation: str = "*") -> None:
        """Answer the next ``count`` calls (of ``operation``, or any) with an error."""
        with self.lock:
            self.injected.extend([(status, code or self.config.throttle_code, operation)] * count)

    def add_identity(
        self, access_key_id: str, principal: str, policy: dict[str, Any] | list[dict[str, Any]], boundary: dict[str, Any] | list[dict[str, Any]] | None = None
    ) -> None:
        """Enforce ``policy`` (an IAM policy document, or a list of them), within ``boundary`` if given, on requests signed with ``access_key_id``."""
        with self.lock:
            self.identities[access_key_id] = iam.Identity.from_policy(principal, policy, boundary)

    def iam_summary(self) -> dict[str, Any]:
        """Whether IAM is enforced, and how many checks were allowed and denied."""
        with self.lock:
            enforced = bool(self.identities) or self.config.identity_policy is not None
            return {
                "enforced": enforced,
                "allowed": len(self.authorized),
                "denied": len(self.denied),
                "unchecked": self.unchecked,
                "denials": list(self.denied[-5:]),
            }

    def available(self, country: str, kind: str, *, account: str | None = None) -> list[str]:
        """Numbers that search would offer now, to this emulator's account or to ``account`` (another customer)."""
        with self.lock:
            return self._available(country, kind, None, account or self.config.account_id)

    def fail_imports(self, match: str = "*", message: str = LIMIT_MESSAGE) -> None:
        """Make imports end FAILED with ``message``: ``match`` is a source ARN, a prefix of one, or "*"."""
        with self.lock:
            self.import_failures.append((match, message))
            self._save()

    def held(self) -> list[dict[str, Any]]:
        """A snapshot of every number record (failed claims and releases included), for tests and the demo."""
        with self.lock:
            now = self.clock()
            return [asdict(self._advance(n, now)) for n in list(self.numbers.values()) if n.id in self.numbers]

    def holding(self) -> list[dict[str, Any]]:
        """A snapshot of the records that hold their number: what the account is billed for."""
        with self.lock:
            return [asdict(n) for n in self._held(self.clock())]

    # --- the request path ---

    def handle(self, operation: str, params: dict[str, Any], region: str | None, access_key_id: str | None = None) -> Any:
        """Run one operation: IAM, throttle, injected faults, idempotency, then the operation itself."""
        with self.lock:
            region = region or self.config.region
            self.calls[operation] = self.calls.get(operation, 0) + 1
            self._authorize(operation, params, region, access_key_id)
            # Connect throttles per account, Region and API.
            bucket = self.buckets.setdefault(f"{region}/{operation}", TokenBucket(self.config.rate_per_second, self.config.burst, time.monotonic))
            if not bucket.take():
                self.throttled[operation] = self.throttled.get(operation, 0) + 1
                raise WireError(429, self.config.throttle_code, "Rate exceeded")
            for i, (status, code, only) in enumerate(self.injected):
                if only in ("*", operation):
                    del self.injected[i]
                    raise WireError(status, code, "Injected fault")
            token = params.get("ClientToken")
            key = f"{operation}/{token}"
            fingerprint = json.dumps({k: v for k, v in params.items() if k != "ClientToken"}, sort_keys=True)
            now = self.clock()
            if token is not None and key in self.tokens and now - self.tokens[key][2] < self.config.token_window_seconds:
                stored_fingerprint, response, _ = self.tokens[key]
                if stored_fingerprint != fingerprint:
                    raise WireError(409, "IdempotencyException", "An entity already exists with the same client token and different parameters.")
                return copy.deepcopy(response)
            response = getattr(self, "_" + _snake(operation))(params, region, now)
            if token is not None:  # (choice) only accepted requests use up a token
                self.tokens[key] = (fingerprint, copy.deepcopy(response), now)
            self._save()
            return response

    def _authorize(self, operation: str, params: dict[str, Any], region: str, access_key_id: str | None) -> None:
        """AccessDeniedException unless the caller's identity policy allows the request (no policy: no IAM)."""
        identity = self.identities.get(access_key_id or "")
        if identity is None and self.config.identity_policy is not None:
            identity = iam.Identity.from_policy(
                f"arn:aws:sts::{self.config.account_id}:assumed-role/emulator/{access_key_id or 'anonymous'}", self.config.identity_policy
            )
        if identity is None:
            self.unchecked += 1
            return
        number = self.numbers.get(str(params.get("PhoneNumberId", "")).rsplit("/", 1)[-1])
        context = iam.RequestContext(region, self.config.account_id, params, current_target=number.target_arn if number else None)
        try:
            allowed = iam.authorize(identity, f"connect:{operation}", context)
        except WireError as denial:
            self.denied.append(denial.message)
            raise
        self.authorized.extend((identity.principal, action, arn) for action, arn in allowed)

    # --- operations ---

    def _claim_phone_number(self, p: dict[str, Any], region: str, now: float) -> dict[str, Any]:
        if "ClientToken" in p and not _CLAIM_TOKEN.match(p["ClientToken"]):
            raise invalid("ClientToken must be a lowercase UUID")
        target = self._target(p, region)
        number = p["PhoneNumber"]
        if self._churn_blocked(now):
            # (choice) the real code and text are not published
            raise WireError(400, "InvalidRequestException", "Allowed limit exceeded: too many phone numbers were claimed and released in the last 180 days.")
        existing = self._by_number(number, now)
        if existing is not None and _failed_claim(existing):
            del self.numbers[existing.id]  # a failed claim may be retried
        elif existing is not None or number not in self.inventory or self.cooldown.get(number, 0) > now:
            raise invalid(f"Phone number not available: {number}")
        country, kind = self.inventory[number]
        record = self._new_number(number, country, kind, target, region, p)
        record.settle_at = now + self.config.claim_seconds
        record.settle_status, record.settle_message = self._claim_outcome(number, target, now)
        self.numbers[record.id] = record
        return {"PhoneNumberId": record.id, "PhoneNumberArn": record.arn}

    def _import_phone_number(self, p: dict[str, Any], region: str, now: float) -> dict[str, Any]:
        target = self._target({"InstanceId": p["InstanceId"]}, region)
        digest = int(hashlib.sha256(p["SourcePhoneNumberArn"].encode()).hexdigest(), 16)
        number = f"+1206666{digest % 10000:04d}"
        existing = self._by_number(number, now)
        if existing is not None and _failed_claim(existing):
            del self.numbers[existing.id]  # a failed import may be retried
        elif existing is not None:
            raise invalid(f"Phone number already imported: {number}")
        record = self._new_number(number, "US", "DID", target, region, p)
        record.source_arn = p["SourcePhoneNumberArn"]
        record.settle_at = now + self.config.claim_seconds
        record.settle_status, record.settle_message = self._import_outcome(record.source_arn, target, now)
        self.numbers[record.id] = record
        return {"PhoneNumberId": record.id, "PhoneNumberArn": record.arn}

    def _describe_phone_number(self, p: dict[str, Any], region: str, now: float) -> dict[str, Any]:
        n = self._find(p["PhoneNumberId"], region, now)
        summary: dict[str, Any] = {
            "PhoneNumberId": n.id,
            "PhoneNumberArn": n.arn,
            "PhoneNumber": n.number,
            "PhoneNumberCountryCode": n.country,
            "PhoneNumberType": n.type,
            "PhoneNumberDescription": n.description,
            "TargetArn": n.target_arn,
            "InstanceId": n.instance_id,
            "Tags": dict(n.tags),
            "PhoneNumberStatus": {"Status": n.status, **({"Message": n.message} if n.message else {})},
        }
        if n.source_arn:
            summary["SourcePhoneNumberArn"] = n.source_arn
        return {"ClaimedPhoneNumberSummary": summary}

    def _release_phone_number(self, p: dict[str, Any], region: str, now: float) -> dict[str, Any]:
        n = self._find(p["PhoneNumberId"], region, now)
        _require_idle(n)
        if _failed_claim(n):
            # A failed claim holds nothing, but its number goes back to the inventory only when its day ends.
            del self.numbers[n.id]
            self.cooldown[n.number] = max(self.cooldown.get(n.number, 0), n.settle_at + self.config.failed_claim_seconds)
            return {}
        n.status, n.message, n.releasing = "IN_PROGRESS", "", True
        n.settle_at = now + self.config.release_seconds
        self.releases.append(now)
        self.cooldown[n.number] = now + self.config.release_cooldown_seconds
        return {}

    def _update_phone_number(self, p: dict[str, Any], region: str, now: float) -> dict[str, Any]:
        n = self._find(p["PhoneNumberId"], region, now)
        target = self._target(p, region)
        _require_idle(n)
        _require_held(n)
        full = ":instance/" in target and self._count_on(target, now, excluding=n.id) >= self.config.numbers_per_instance
        n.status, n.message = "IN_PROGRESS", ""
        n.settle_at = now + self.config.update_seconds
        n.settle_status, n.settle_message = ("FAILED", LIMIT_MESSAGE) if full else ("CLAIMED", "")
        n.settle_target = target
        return {"PhoneNumberId": n.id, "PhoneNumberArn": n.arn}

    def _update_phone_number_metadata(self, p: dict[str, Any], region: str, now: float) -> dict[str, Any]:
        n = self._find(p["PhoneNumberId"], region, now)
        _require_idle(n)
        _require_held(n)
        if "PhoneNumberDescription" in p:
            n.description = p["PhoneNumberDescription"]
        n.status, n.message = "IN_PROGRESS", ""
        n.settle_at = now + self.config.update_seconds
        n.settle_status, n.settle_message, n.settle_target = "CLAIMED", "", n.target_arn
        return {}

    def _search_available_phone_numbers(self, p: dict[str, Any], region: str, now: float) -> dict[str, Any]:
        self._target(p, region)  # a target in this account, so the search is this account's
        found = self._available(p["PhoneNumberCountryCode"], p["PhoneNumberType"], p.get("PhoneNumberPrefix"), self.config.account_id)
        page, token = _page(found, p.get("MaxResults", 10), p.get("NextToken"))
        result: dict[str, Any] = {
            "AvailableNumbersList": [
                {"PhoneNumber": n, "PhoneNumberCountryCode": p["PhoneNumberCountryCode"], "PhoneNumberType": p["PhoneNumberType"]} for n in page
            ]
        }
        if token:
            result["NextToken"] = token
        return result

    def _list_phone_numbers_v2(self, p: dict[str, Any], region: str, now: float) -> dict[str, Any]:
        target = self._target(p, region) if ("TargetArn" in p or "InstanceId" in p) else None
        prefix = _digits_prefix(p.get("PhoneNumberPrefix"))
        listed = [
            n
            for n in self._held(now, region)
            if (not target or n.target_arn == target)
            and (not p.get("PhoneNumberCountryCodes") or n.country in p["PhoneNumberCountryCodes"])
            and (not p.get("PhoneNumberTypes") or n.type in p["PhoneNumberTypes"])
            and (not prefix or n.number.startswith(prefix))
        ]
        page, token = _page(listed, p.get("MaxResults", 100), p.get("NextToken"))
        result: dict[str, Any] = {
            "ListPhoneNumbersSummaryList": [
                {
                    "PhoneNumberId": n.id,
                    "PhoneNumberArn": n.arn,
                    "PhoneNumber": n.number,
                    "PhoneNumberCountryCode": n.country,
                    "PhoneNumberType": n.type,
                    "TargetArn": n.target_arn,
                    "InstanceId": n.instance_id,
                    "PhoneNumberDescription": n.description,
                    **({"SourcePhoneNumberArn": n.source_arn} if n.source_arn else {}),
                }
                for n in page
            ]
        }
        if token:
            result["NextToken"] = token
        return result

    def _list_phone_numbers(self, p: dict[str, Any], region: str, now: float) -> dict[str, Any]:
        """v1: one instance's numbers, with the legacy instance-scoped ARN and only the types v1 knows."""
        instance = self._target({"InstanceId": p["InstanceId"]}, region)
        summaries = [
            {
                "Id": n.id,
                "Arn": f"{instance}/phone-number/{n.id}",
                "PhoneNumber": n.number,
                "PhoneNumberType": _V1_TYPES.get(n.type, n.type),
                "PhoneNumberCountryCode": n.country,
            }
            for n in self._held(now, region)
            if n.target_arn == instance
        ]
        # (choice) The type filter applies to the type v1 reports, the only one its caller sees.
        listed = [
            s
            for s in summaries
            if (not p.get("PhoneNumberTypes") or s["PhoneNumberType"] in p["PhoneNumberTypes"])
            and (not p.get("PhoneNumberCountryCodes") or s["PhoneNumberCountryCode"] in p["PhoneNumberCountryCodes"])
        ]
        page, token = _page(listed, p.get("MaxResults", 100), p.get("NextToken"))
        return {"PhoneNumberSummaryList": page, **({"NextToken": token} if token else {})}

    def _associate_phone_number_contact_flow(self, p: dict[str, Any], region: str, now: float) -> dict[str, Any]:
        n = self._flow_number(p, region, now)
        flow = p["ContactFlowId"]
        # (choice) Associating a number that has a flow replaces it (reference section 14 leaves this open).
        n.contact_flow = flow if flow.startswith("arn:") else f"{self._target({'InstanceId': p['InstanceId']}, region)}/contact-flow/{flow}"
        return {}

    def _disassociate_phone_number_contact_flow(self, p: dict[str, Any], region: str, now: float) -> dict[str, Any]:
        self._flow_number(p, region, now).contact_flow = ""
        return {}

    def _list_flow_associations(self, p: dict[str, Any], region: str, now: float) -> dict[str, Any]:
        """The numbers routed to a flow of one instance: ResourceId is the number's ARN, FlowId the flow's (reference section 14)."""
        instance = self._target({"InstanceId": p["InstanceId"]}, region)
        if p.get("ResourceType", "VOICE_PHONE_NUMBER") != "VOICE_PHONE_NUMBER":
            return {"FlowAssociationSummaryList": []}  # only voice numbers are emulated
        listed = [
            {"ResourceId": n.arn, "FlowId": n.contact_flow, "ResourceType": "VOICE_PHONE_NUMBER"}
            for n in self._held(now)
            if n.contact_flow.startswith(instance + "/contact-flow/")
        ]
        page, token = _page(listed, p.get("MaxResults", 100), p.get("NextToken"))
        return {"FlowAssociationSummaryList": page, **({"NextToken": token} if token else {})}

    def _tag_resource(self, p: dict[str, Any], region: str, now: float) -> dict[str, Any]:
        n = self._tagged(p["resourceArn"], region, now)
        merged = {**n.tags, **p["tags"]}
        if len(merged) > 50:
            raise invalid("A resource can have at most 50 tags.")
        n.tags = merged
        return {}

    def _untag_resource(self, p: dict[str, Any], region: str, now: float) -> dict[str, Any]:
        n = self._tagged(p["resourceArn"], region, now)
        for key in p["tagKeys"]:
            n.tags.pop(key, None)
        return {}

    def _list_tags_for_resource(self, p: dict[str, Any], region: str, now: float) -> dict[str, Any]:
        return {"tags": dict(self._tagged(p["resourceArn"], region, now).tags)}

    # --- helpers ---

    def _target(self, p: dict[str, Any], region: str) -> str:
        """The target ARN from TargetArn or InstanceId (exactly one is required)."""
        if p.get("TargetArn") and p.get("InstanceId"):
            raise invalid("Specify either TargetArn or InstanceId, not both.")
        if p.get("InstanceId"):
            target = f"arn:aws:connect:{region}:{self.config.account_id}:instance/{p['InstanceId']}"
        elif p.get("TargetArn"):
            target = p["TargetArn"]
        else:
            raise invalid("TargetArn or InstanceId is required.")
        parts = _TARGET.match(target)
        if parts is None:
            raise invalid(f"Invalid TargetArn: {target}")
        if parts.group(1) != iam.PARTITION or parts.group(3) != self.config.account_id or parts.group(2) != region:
            raise WireError(404, "ResourceNotFoundException", f"Target not found: {target}")
        if self.config.known_targets is not None and target not in self.config.known_targets:
            raise WireError(404, "ResourceNotFoundException", f"Target not found: {target}")
        return target

    def _new_number(self, number: str, country: str, kind: str, target: str, region: str, p: dict[str, Any]) -> Number:
        number_id = str(uuid.uuid4())
        return Number(
            id=number_id,
            arn=f"arn:aws:connect:{region}:{self.config.account_id}:phone-number/{number_id}",
            number=number,
            country=country,
            type=kind,
            target_arn=target,
            instance_id=target.rsplit("/", 1)[1] if ":instance/" in target else "",
            description=p.get("PhoneNumberDescription", ""),
            tags=dict(p.get("Tags", {})),
        )

    def _claim_outcome(self, number: str, target: str, now: float) -> tuple[str, str]:
        for pattern, message in self.claim_failures:
            if pattern == "*" or number.startswith(pattern):
                return "FAILED", message
        if ":instance/" in target and self._count_on(target, now) >= self.config.numbers_per_instance:
            return "FAILED", LIMIT_MESSAGE
        return "CLAIMED", ""

    def _import_outcome(self, source_arn: str, target: str, now: float) -> tuple[str, str]:
        """An import settles like a claim: an injected failure, or the instance's quota, ends it FAILED."""
        for pattern, message in self.import_failures:
            if pattern == "*" or source_arn.startswith(pattern):
                return "FAILED", message
        return ("FAILED", LIMIT_MESSAGE) if self._count_on(target, now) >= self.config.numbers_per_instance else ("CLAIMED", "")

    def _count_on(self, target: str, now: float, excluding: str = "") -> int:
        """Numbers counted against ``target``'s quota: those held on it, and those moving to it.

        (choice) A move in flight counts on both targets, so two moves (or a move and a claim)
        at once cannot take a target over its quota.
        """
        return sum(1 for n in self._held(now) if n.id != excluding and target in (n.target_arn, _heading_to(n)))

    def _held(self, now: float, region: str | None = None) -> list[Number]:
        """The records that hold their number (in ``region``, if given), settled up to ``now``, by number."""
        return [
            n
            for n in sorted(self.numbers.values(), key=lambda r: r.number)
            if self._advance(n, now).id in self.numbers and _holds(n) and (region is None or _region_of(n.arn) == region)
        ]

    def _churn_blocked(self, now: float) -> bool:
        """(choice) Claims stop once releases in the window reach churn_percent of the quota."""
        recent = [t for t in self.releases if now - t < self.config.churn_window_seconds]
        return len(recent) * 100 >= self.config.churn_percent * self.config.numbers_per_instance

    def _advance(self, n: Number, now: float) -> Number:
        """Settle an IN_PROGRESS workflow whose time has come."""
        if n.status == "IN_PROGRESS" and now >= n.settle_at:
            if n.releasing:
                self.numbers.pop(n.id, None)
                return n
            n.status, n.message = n.settle_status, n.settle_message
            if n.settle_status == "CLAIMED" and n.settle_target:
                if n.settle_target != n.target_arn:
                    n.contact_flow = ""  # a move does not carry the flow to the new target (reference section 14)
                n.target_arn = n.settle_target
                n.instance_id = n.settle_target.rsplit("/", 1)[1] if ":instance/" in n.settle_target else ""
        if _failed_claim(n) and now - n.settle_at > self.config.failed_claim_seconds:
            self.numbers.pop(n.id, None)
        return n

    def _find(self, number_id: str, region: str, now: float) -> Number:
        """A number by id or ARN, in the request's Region; ResourceNotFoundException otherwise."""
        arn = _NUMBER_ARN.match(number_id)
        n = self.numbers.get(arn.group(1) if arn else number_id)
        if n is not None:
            self._advance(n, now)
        # A number lives in one account and Region: an id asked for from another Region, or an
        # ARN naming another Region or account, finds nothing.
        if n is None or n.id not in self.numbers or _region_of(n.arn) != region or (arn is not None and number_id != n.arn):
            raise WireError(404, "ResourceNotFoundException", f"Phone number not found: {number_id}")
        return n

    def _flow_number(self, p: dict[str, Any], region: str, now: float) -> Number:
        """The number a flow call names, which must be held on the call's instance.

        (choice) A traffic distribution group's number must be named by its full ARN: the reference says calls from
        the group's alternate Region need it, and this emulator serves one Region per number, so it asks it always.
        It does not know which instance owns a group, so any instance of the account is accepted for one.
        """
        n = self._find(p["PhoneNumberId"], region, now)
        _require_held(n)
        on_group = ":traffic-distribution-group/" in n.target_arn
        if on_group and p["PhoneNumberId"] != n.arn:
            raise WireError(404, "ResourceNotFoundException", f"Phone number not found: {p['PhoneNumberId']} (a group's number needs its ARN)")
        if not on_group and n.instance_id != p["InstanceId"]:
            raise WireError(404, "ResourceNotFoundException", "The phone number is not claimed to this instance.")
        return n

    def _tagged(self, resource_arn: str, region: str, now: float) -> Number:
        if _NUMBER_ARN.match(resource_arn) is None:
            raise WireError(404, "ResourceNotFoundException", f"Resource not found: {resource_arn}")
        return self._find(resource_arn, region, now)

    def _by_number(self, number: str, now: float) -> Number | None:
        for n in list(self.numbers.values()):
            self._advance(n, now)
            if n.id in self.numbers and n.number == number:
                return n
        return None

    def _available(self, country: str, kind: str, prefix: str | None, account: str) -> list[str]:
        """What search offers ``account``: the inventory, less numbers held, cooling down, or reserved for another account.

        A claim that ended FAILED keeps its number out of every other account's search for a day
        (failed_claim_seconds). (choice) The claiming account's own search still offers it in that
        day: Connect's page says the claimant may retry it, and a redelivered claim finds its
        earlier, FAILED claim this way (its candidates come from search) and answers at once.
        """
        now = self.clock()
        taken = {
            n.number
            for n in list(self.numbers.values())
            if self._advance(n, now).id in self.numbers and not (_failed_claim(n) and n.arn.split(":")[4] == account)
        }
        digits = _digits_prefix(prefix)
        return [
            n
            for n, (c, t) in sorted(self.inventory.items())
            if c == country and t == kind and n not in taken and self.cooldown.get(n, 0) <= now and (not digits or n.startswith(digits))
        ]

    # --- persistence, for multi-step demos ---

    def _save(self) -> None:
        if self.state_file is None:
            return
        state = {
            "numbers": [asdict(n) for n in self.numbers.values()],
            "cooldown": self.cooldown,
            "releases": self.releases,
            "tokens": {k: list(v) for k, v in self.tokens.items()},
            "claim_failures": self.claim_failures,
            "import_failures": self.import_failures,
        }
        temporary = self.state_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(state))
        temporary.replace(self.state_file)

    def _load(self, path: Path) -> None:
        state = json.loads(path.read_text())
        self.numbers = {n["id"]: Number(**n) for n in state["numbers"]}
        self.cooldown = state["cooldown"]
        self.releases = state["releases"]
        self.tokens = {k: (v[0], v[1], v[2]) for k, v in state["tokens"].items()}
        self.claim_failures = [(m, s) for m, s in state["claim_failures"]]
        self.import_failures = [(m, s) for m, s in state.get("import_failures", [])]


def _failed_claim(n: Number) -> bool:
    """A claim (or import) that ended FAILED: it holds nothing, and may be claimed again for a day."""
    return n.status == "FAILED" and not n.settle_target


def _holds(n: Number) -> bool:
    """Whether a record holds its number: claiming, claimed, moving, or after a failed move or change."""
    return not n.releasing and not _failed_claim(n)


def _require_held(n: Number) -> None:
    """(choice) A failed claim holds nothing, so it cannot be moved or changed: not found."""
    if _failed_claim(n):
        raise WireError(404, "ResourceNotFoundException", f"The phone number is not claimed: its claim FAILED ({n.id}).")


def _heading_to(n: Number) -> str:
    """The target a workflow in progress settles on (a claim's is its target already)."""
    return (n.settle_target or n.target_arn) if n.status == "IN_PROGRESS" else n.target_arn


def _region_of(arn: str) -> str:
    return arn.split(":")[3]


def _require_idle(n: Number) -> None:
    """ResourceInUseException while a claim, move, metadata change or release is under way."""
    if n.status == "IN_PROGRESS":
        raise WireError(409, "ResourceInUseException", "An operation is in progress on this phone number.", ResourceType="PHONE_NUMBER", ResourceId=n.id)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _digits_prefix(prefix: str | None) -> str:
    if not prefix:
        return ""
    return prefix if prefix.startswith("+") else "+" + prefix


def _page(items: list[Any], size: int, token: str | None) -> tuple[list[Any], str | None]:
    """One page and the token of the next. (choice) A token this emulator did not issue is invalid."""
    if token is not None and not (token.isascii() and token.isdigit()):
        raise invalid("Invalid NextToken.")
    start = int(token or 0)
    end = start + size
    return items[start:end], (str(end) if end < len(items) else None)
