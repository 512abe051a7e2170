"""The Connect operations the emulator serves, one method each (``_`` + the operation's snake-case name)."""

from __future__ import annotations

import hashlib
from typing import Any

from .model import (
    _CLAIM_TOKEN,
    _V1_TYPES,
    LIMIT_MESSAGE,
    _digits_prefix,
    _failed_claim,
    _page,
    _require_held,
    _require_idle,
)
from .records import NumberRecords
from .wire import WireError, invalid


class PhoneNumberOperations(NumberRecords):
    """Each method takes the request's parameters, its Region and the time, and returns the response document."""

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
