"""The stack's own IAM, enforced locally: each handler runs as its role, with the role's synthesized policies.

For every Lambda function of the template, the role it runs as (``Role: Fn::GetAtt [Role, Arn]``) and that
role's policies are read from the template: the role's inline ``Policies``, the template's managed policies in its
``ManagedPolicyArns``, every ``AWS::IAM::Policy``, ``AWS::IAM::ManagedPolicy`` or ``AWS::IAM::RolePolicy`` that names
the role, and its ``PermissionsBoundary``. Intrinsic functions are resolved as the deploy resolves them
(pseudo parameters, Ref, Fn::Join, Fn::GetAtt with placeholders for resources it does not emulate). The local
deploy registers each role with the emulator under an access key of its own and runs the handler with that key,
so every Connect call is authorized as AWS would authorize it.

(choice) Policies that live outside the template (AWS managed policies, a boundary given by ARN) are not known
locally: a managed policy grants nothing, and a boundary allows nothing, so the emulator is never more lenient
than AWS. ``--no-iam`` turns enforcement off.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from .template import Resolver, StackTemplate, placeholder

_NAMESPACE = uuid.UUID("5d0c7d1e-3b57-4c1a-9f55-0f1a2a6c4e21")
POLICY_TYPES = ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
#: (choice) Stands for a boundary the template does not define: it allows nothing.
UNKNOWN_BOUNDARY: dict[str, Any] = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}


class IamSetupFailed(Exception):
    """The emulator could not be given the stack's roles."""


@dataclass(frozen=True)
class RoleIdentity:
    """What one function runs as: an access key the emulator knows, the principal, and the role's policies."""

    access_key_id: str
    principal: str
    policies: list[dict[str, Any]]
    boundary: list[dict[str, Any]] | None = None

    @property
    def statement_count(self) -> int:
        return sum(len(p.get("Statement", [])) for p in self.policies)


def identities(stack: StackTemplate, physical_ids: Mapping[str, str], attributes: Mapping[str, Mapping[str, str]]) -> dict[str, RoleIdentity]:
    """Each Lambda function's identity (keyed by the function's logical id), from the template as it will be deployed.

    ``physical_ids`` and ``attributes`` are what the deploy knows already; resources it has not run yet get the
    same placeholders the deploy would give them.
    """
    ids, attrs = dict(physical_ids), {k: dict(v) for k, v in attributes.items()}
    for logical, resource in stack.resources.items():
        if logical not in ids and not resource.emulated:
            ids[logical], attrs[logical] = placeholder(stack, resource)
    resolver = Resolver(stack, ids, attrs)
    found: dict[str, RoleIdentity] = {}
    for logical, resource in stack.resources.items():
        role = _role_of(resource.properties) if resource.type == "AWS::Lambda::Function" else None
        if role is None or role not in stack.resources:
            continue
        properties = stack.resources[role].properties
        documents = [resolver.resolve(p["PolicyDocument"]) for p in properties.get("Policies", [])]
        attached = [_template_policy(stack, arn) for arn in properties.get("ManagedPolicyArns", [])]
        for other_id, other in stack.resources.items():
            names_role = {"Ref": role} in other.properties.get("Roles", []) or other.properties.get("RoleName") == {"Ref": role}
            if (other.type in POLICY_TYPES and names_role) or (other.type == "AWS::IAM::RolePolicy" and names_role) or other_id in attached:
                documents.append(resolver.resolve(other.properties["PolicyDocument"]))
        boundary = None
        if "PermissionsBoundary" in properties:
            defined = _template_policy(stack, properties["PermissionsBoundary"])
            boundary = [resolver.resolve(stack.resources[defined].properties["PolicyDocument"]) if defined else UNKNOWN_BOUNDARY]
        key = "ASIA" + uuid.uuid5(_NAMESPACE, f"{stack.stack_id}/{logical}").hex[:16].upper()
        found[logical] = RoleIdentity(key, f"arn:aws:sts::{stack.account}:assumed-role/{ids[role]}/{ids.get(logical, logical)}", documents, boundary)
    return found


def _template_policy(stack: StackTemplate, arn: Any) -> str | None:
    """The logical id of the template's AWS::IAM::ManagedPolicy that ``arn`` refers to (``Ref``), if any."""
    if isinstance(arn, Mapping) and isinstance(arn.get("Ref"), str):
        target = stack.resources.get(arn["Ref"])
        if target is not None and target.type == "AWS::IAM::ManagedPolicy":
            return str(arn["Ref"])
    return None


def register(endpoint: str, roles: Mapping[str, RoleIdentity]) -> None:
    """Give the emulator each role's policies, keyed by its access key (POST /_emulator/identities)."""
    for role in roles.values():
        document = {"access_key_id": role.access_key_id, "principal": role.principal, "policy": role.policies, "boundary": role.boundary}
        body = json.dumps(document).encode()
        request = urllib.request.Request(f"{endpoint.rstrip('/')}/_emulator/identities", data=body, method="POST")  # noqa: S310 - loopback only
        try:
            with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - as above
                pass
        except (urllib.error.URLError, OSError) as error:
            raise IamSetupFailed(
                f"the Connect emulator at {endpoint} did not take the stack's IAM roles ({error}); "
                "use this package's emulator, or turn enforcement off (--no-iam)"
            ) from error


def emulated_account(endpoint: str) -> str | None:
    """The account the emulator plays (GET /_emulator/state), or None if it does not say."""
    try:
        with urllib.request.urlopen(f"{endpoint.rstrip('/')}/_emulator/state", timeout=10) as reply:  # noqa: S310 - loopback only
            account = json.load(reply).get("account_id")
    except (urllib.error.URLError, OSError, ValueError):
        return None
    return str(account) if account else None


def to_json(roles: Mapping[str, RoleIdentity]) -> dict[str, Any]:
    """For the deploy's state file: the roles in force, so that a later destroy runs under them too."""
    return {logical: asdict(role) for logical, role in roles.items()}


def from_json(saved: Mapping[str, Any]) -> dict[str, RoleIdentity]:
    """The inverse of to_json."""
    return {logical: RoleIdentity(**role) for logical, role in saved.items()}


def _role_of(properties: Mapping[str, Any]) -> str | None:
    role = properties.get("Role")
    if isinstance(role, Mapping) and "Fn::GetAtt" in role:
        target = role["Fn::GetAtt"]
        return str(target[0] if isinstance(target, list) else str(target).split(".")[0])
    return None
