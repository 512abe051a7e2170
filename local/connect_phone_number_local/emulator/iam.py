"""IAM for the emulator: each request is authorized as AWS would, against the caller's identity policy.

Which resource types an action is authorized against comes from ``iam_reference.json``, generated from the AWS
Service Authorization Reference (``scripts/generate_iam_reference.py``); nothing here lists them by hand. This
module derives, for one request, the ARN of each resource type the action lists (the target, the number, the
literal ``phone-number/*`` of the wildcard type, ...) and evaluates the identity policy against every one of
them, and against the action's dependent actions where their resource is named in the request.

Evaluation follows IAM's identity-policy logic: an explicit Deny wins, then any Allow, otherwise an implicit
deny; with a permissions boundary, the boundary must allow the request too. Actions match case-insensitively,
resources case-sensitively, both with ``*`` and ``?`` wildcards; in a resource ARN a wildcard does not match
across the colons of the first five segments, and ``${*}``, ``${?}`` and ``${$}`` stand for the literal
characters. A statement without an Action or a Resource is refused, as IAM refuses it.
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


#: (choice, likely) Tag on create: a request that carries Tags is also authorized as TagResource on the number it
#: creates, as Connect documents for its other create calls; the reference lists wildcard-phone-number among
#: TagResource's resource types, and aws:RequestTag among the claim's condition keys.
TAG_ON_CREATE = frozenset({"connect:ClaimPhoneNumber", "connect:ImportPhoneNumber"})

Policies = tuple[Mapping[str, Any], ...]


@dataclass(frozen=True)
class Identity:
    """A caller: the principal AWS would name in a denial, its identity policies, and its permissions boundary."""

    principal: str
    policies: Policies
    boundary: Policies | None = None

    @classmethod
    def from_policy(
        cls, principal: str, policy: Mapping[str, Any] | Iterable[Mapping[str, Any]], boundary: Mapping[str, Any] | Iterable[Mapping[str, Any]] | None = None
    ) -> Identity:
        """An identity from one policy document or a list of them (and a boundary, likewise)."""
        return cls(principal, _documents(policy), None if boundary is None else _documents(boundary))


def _documents(policy: Mapping[str, Any] | Iterable[Mapping[str, Any]]) -> Policies:
    documents = (policy,) if isinstance(policy, Mapping) else tuple(policy)
    for document in documents:
        _statements(document)  # refuse a malformed policy now, not on the first request
    return documents


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
            if not entry["required"] and entry["type"].startswith("wildcard-"):
                continue  # an optional wildcard type (Tag/Untag list one) stands for calls that name no resource
            derive = DERIVE.get(f"{service}:{entry['type']}")
            if derive is not None:
                found.extend((name, arn) for arn in derive(context) if (name, arn) not in found)
    if action in TAG_ON_CREATE and context.params.get("Tags"):
        found.append(("connect:TagResource", context.arn("connect", "phone-number/*")))
    return found


def authorize(identity: Identity, action: str, context: RequestContext) -> list[tuple[str, str]]:
    """Raise AccessDeniedException, as AWS words it, unless the identity may do ``action`` on each resource."""
    decided = checks(action, context)
    for name, arn in decided:
        layers = [("an identity-based policy", identity.policies)] + ([("a permissions boundary", identity.boundary)] if identity.boundary is not None else [])
        for kind, policies in layers:
            verdict = evaluate(policies, name, arn)
            if verdict != "Allow":
                why = f"with an explicit deny in {kind}" if verdict == "Deny" else f"because no {kind.split(' ', 1)[1]} allows the {name} action"
                raise WireError(403, "AccessDeniedException", f"User: {identity.principal} is not authorized to perform: {name} on resource: {arn} {why}")
    return decided


def evaluate(policies: Iterable[Mapping[str, Any]], action: str, resource: str) -> str:
    """``Deny`` (explicit), ``Allow``, or ``Implicit`` (no statement allows it)."""
    allowed = False
    for policy in policies:
        for statement in _statements(policy):
            # (choice) An Allow's resource wildcards stay within their ARN segment, as IAM documents; a Deny's match
            # across segments too: where the two readings differ, the emulator takes the stricter one.
            segmented = statement.get("Effect") == "Allow"
            if not (_matches_any(statement, "Action", action, case=False) and _matches_any(statement, "Resource", resource, case=True, arn=segmented)):
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
    for statement in statements:
        for key in ("Action", "Resource"):
            if (key in statement) == (f"Not{key}" in statement):
                raise ValueError(f"MalformedPolicyDocument: each statement needs exactly one of {key} and Not{key}")
    return statements


def _matches_any(statement: Mapping[str, Any], key: str, value: str, *, case: bool, arn: bool = False) -> bool:
    """Action/NotAction or Resource/NotResource against one value; ``arn``: wildcards stay within a segment."""
    if key in statement:
        return any(_glob(pattern, value, case, arn) for pattern in _as_list(statement[key]))
    return not any(_glob(pattern, value, case, arn) for pattern in _as_list(statement[f"Not{key}"]))


def _as_list(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


_ESCAPES = {"${*}": "*", "${?}": "?", "${$}": "$"}


@cache
def _compiled(pattern: str, case: bool, arn: bool) -> re.Pattern[str]:
    """A policy pattern as a regex. In an ARN, the first five segments' wildcards stay within their segment."""
    regex, segment = [], 0
    for piece in re.split(r"(\$\{[*?$]\}|[*?:])", pattern):
        if piece in _ESCAPES:
            regex.append(re.escape(_ESCAPES[piece]))
        elif piece in ("*", "?"):
            within = "[^:]" if arn and segment < 5 and pattern != "*" else "."
            regex.append(within + ("*" if piece == "*" else ""))
        else:
            segment += piece == ":"
            regex.append(re.escape(piece))
    return re.compile("^" + "".join(regex) + "$", 0 if case else re.IGNORECASE)


def _glob(pattern: str, value: str, case: bool, arn: bool) -> bool:
    return bool(_compiled(pattern, case, arn).match(value))
