"""The number records: finding them, settling their workflows, counting them against the quotas, and what search offers."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from . import iam
from .model import (
    _NUMBER_ARN,
    _TARGET,
    LIMIT_MESSAGE,
    EmulatorConfig,
    Number,
    _digits_prefix,
    _failed_claim,
    _heading_to,
    _holds,
    _region_of,
    _require_held,
)
from .wire import WireError, invalid


class NumberRecords:
    """The record book the operations work on. ConnectService sets these attributes and holds the lock."""

    config: EmulatorConfig
    clock: Callable[[], float]
    numbers: dict[str, Number]
    inventory: dict[str, tuple[str, str]]
    cooldown: dict[str, float]
    releases: list[float]
    claim_failures: list[tuple[str, str]]
    import_failures: list[tuple[str, str]]

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
