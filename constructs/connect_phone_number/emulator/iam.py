"""IAM for the emulator: each request is authorized as AWS would, against the caller's identity policy.

Which resource types an action is authorized against comes from ``iam_reference.json``, generated from the AWS
Service Authorization Reference (``scripts/generate_iam_reference.py``); nothing here lists them by hand. This
module derives, for one request, the ARN of each resource type the action lists (the target, the number, the
literal ``phone-number/*`` of the wildcard type, ...) and evaluates the identity policy against every one of
them, and against the action's dependent actions where their resource is named in the request.

Evaluation follows IAM's identity-policy logic: an explicit Deny wins, then any Allow, otherwise an implicit
deny. Actions match case-insensitively, resources case-sensitively, both with ``*`` and ``?`` wildcards.
(choice) Conditions are not evaluated: an Allow with a Condition never applies and a Deny with one always does,
so the emulator is never more lenient than AWS.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from .wire import WireError

REFERENCE_FILE = Path(__file__).resolve().parent / "iam_reference.json"
PARTITION = "aws"  # (choice) the emulator is one account in the commercial partition


@cache
def reference() -> dict[str, Any]:
    """The generated table: action -> resource types (with required flags) and dependent actions."""
    return dict(json.loads(REFERENCE_FILE.read_text()))


@dataclass(frozen=True)
class Identity:
    """A caller: the principal AWS would name in a denial, and its identity policies (IAM policy documents)."""

    principal: str
    policies: tuple[Mapping[str, Any], ...]

    @classmethod
    def from_policy(cls, principal: str, policy: Mapping[str, Any] | Iterable[Mapping[str, Any]]) -> Identity:
        """An identity from one policy document or a list of them."""
        documents = (policy,) if isinstance(policy, Mapping) else tuple(policy)
        for document in documents:
            _statements(document)  # refuse a malformed policy now, not on the first request
        return cls(principal, documents)


@dataclass(frozen=True)
class RequestContext:
    """What an ARN is derived from: the request's Region, the account, and the number's present target if any."""

    region: str
    account: str
    params: Mapping[str, Any]
    current_target: str | None = None

    def arn(self, service: str, resource: str) -> str:
        return f"arn:{PARTITION}:{service}:{self.region}:{self.account}:{resource}"


def _targets(context: RequestContext, kind: str) -> list[str]:
    """Targets of one kind named by the request, and (for a move) the number's present target.

    (choice) Which target UpdatePhoneNumber checks on a move is not published: both are checked.
    """
    named = []
    if context.params.get("InstanceId") and kind == "instance":
        named.append(context.arn("connect", f"instance/{context.params['InstanceId']}"))
    for target in (context.params.get("TargetArn"), context.current_target):
        if isinstance(target, str) and f":{kind}/" in target and target not in named:
            named.append(target)
    return named


def _number(context: RequestContext) -> list[str]:
    value = context.params.get("PhoneNumberId") or context.params.get("resourceArn")
    if not isinstance(value, str) or not value:
        return []
    return [value if value.startswith("arn:") else context.arn("connect", f"phone-number/{value}")]


def _contact_flow(context: RequestContext) -> list[str]:
    flow, instance = context.params.get("ContactFlowId"), context.params.get("InstanceId")
    if not flow:
        return []
    return [flow if str(flow).startswith("arn:") else context.arn("connect", f"instance/{instance}/contact-flow/{flow}")]


def _legacy_numbers(context: RequestContext) -> list[str]:
    instance = context.params.get("InstanceId")
    return [context.arn("connect", f"instance/{instance}/phone-number/*")] if instance else []


#: How a request names a resource of each type. A type the request does not name is not checked.
DERIVE: dict[str, Callable[[RequestContext], list[str]]] = {
    "connect:instance": lambda c: _targets(c, "instance"),
    "connect:traffic-distribution-group": lambda c: _targets(c, "traffic-distribution-group"),
    "connect:phone-number": _number,
    "connect:wildcard-phone-number": lambda c: [c.arn("connect", "phone-number/*")],
    "connect:wildcard-legacy-phone-number": _legacy_numbers,
    "connect:contact-flow": _contact_flow,
    "sms-voice:PhoneNumber": lambda c: [str(c.params["SourcePhoneNumberArn"])] if c.params.get("SourcePhoneNumberArn") else [],
}


def checks(action: str, context: RequestContext) -> list[tuple[str, str]]:
    """Every (action, resource ARN) the request is authorized against: the action's, then its dependents'."""
    table = reference()["actions"]
    found: list[tuple[str, str]] = []
    for name in [action, *table[action]["dependent_actions"]]:
        if name not in table:
            continue  # (choice) dependents of other services the emulator does not know (WhatsApp) are not checked
        service = name.split(":")[0]
        for entry in table[name]["resource_types"]:
            derive = DERIVE.get(f"{service}:{entry['type']}")
            if derive is not None:
                found.extend((name, arn) for arn in derive(context) if (name, arn) not in found)
    return found


def authorize(identity: Identity, action: str, context: RequestContext) -> list[tuple[str, str]]:
    """Raise AccessDeniedException, as AWS words it, unless the identity may do ``action`` on each resource."""
    decided = checks(action, context)
    for name, arn in decided:
        verdict = evaluate(identity.policies, name, arn)
        if verdict != "Allow":
            why = "with an explicit deny in an identity-based policy" if verdict == "Deny" else f"because no identity-based policy allows the {name} action"
            raise WireError(403, "AccessDeniedException", f"User: {identity.principal} is not authorized to perform: {name} on resource: {arn} {why}")
    return decided


def evaluate(policies: Iterable[Mapping[str, Any]], action: str, resource: str) -> str:
    """``Deny`` (explicit), ``Allow``, or ``Implicit`` (no statement allows it)."""
    allowed = False
    for policy in policies:
        for statement in _statements(policy):
            if not (_matches_any(statement, "Action", action, case=False) and _matches_any(statement, "Resource", resource, case=True)):
                continue
            if statement.get("Effect") == "Deny":
                return "Deny"
            if statement.get("Effect") == "Allow" and "Condition" not in statement:
                allowed = True
    return "Allow" if allowed else "Implicit"


def _statements(policy: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    raw = policy.get("Statement")
    statements = [raw] if isinstance(raw, Mapping) else raw
    if not isinstance(statements, list) or not all(isinstance(s, Mapping) and s.get("Effect") in ("Allow", "Deny") for s in statements):
        raise ValueError("an identity policy needs a Statement list whose entries have Effect Allow or Deny")
    return statements


def _matches_any(statement: Mapping[str, Any], key: str, value: str, *, case: bool) -> bool:
    """Action/NotAction or Resource/NotResource against one value."""
    if key in statement:
        return any(_glob(pattern, value, case) for pattern in _as_list(statement[key]))
    if f"Not{key}" in statement:
        return not any(_glob(pattern, value, case) for pattern in _as_list(statement[f"Not{key}"]))
    return False


def _as_list(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


@cache
def _compiled(pattern: str, case: bool) -> re.Pattern[str]:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{regex}$", 0 if case else re.IGNORECASE)


def _glob(pattern: str, value: str, case: bool) -> bool:
    return bool(_compiled(pattern, case).match(value))
