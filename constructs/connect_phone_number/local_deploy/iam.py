"""The stack's own IAM, enforced locally: each handler runs as its role, with the role's synthesized policies.

For every Lambda function of the template, the role it runs as (``Role: Fn::GetAtt [Role, Arn]``) and that
role's policies are read from the template: the role's inline ``Policies`` and every ``AWS::IAM::Policy`` or
``AWS::IAM::ManagedPolicy`` that names the role. Intrinsic functions are resolved as the deploy resolves them
(pseudo parameters, Ref, Fn::Join, Fn::GetAtt with placeholders for resources it does not emulate). The local
deploy registers each role with the emulator under an access key of its own and runs the handler with that key,
so every Connect call is authorized as AWS would authorize it.

(choice) AWS managed policies named in ``ManagedPolicyArns`` are not known locally and grant nothing here: the
emulator is never more lenient than AWS.
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


class IamSetupFailed(Exception):
    """The emulator could not be given the stack's roles."""


@dataclass(frozen=True)
class RoleIdentity:
    """What one function runs as: an access key the emulator knows, the principal, and the role's policies."""

    access_key_id: str
    principal: str
    policies: list[dict[str, Any]]

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
        documents = [resolver.resolve(p["PolicyDocument"]) for p in stack.resources[role].properties.get("Policies", [])]
        for other in stack.resources.values():
            if other.type in POLICY_TYPES and {"Ref": role} in other.properties.get("Roles", []):
                documents.append(resolver.resolve(other.properties["PolicyDocument"]))
        key = "ASIA" + uuid.uuid5(_NAMESPACE, f"{stack.stack_id}/{logical}").hex[:16].upper()
        found[logical] = RoleIdentity(key, f"arn:aws:sts::{stack.account}:assumed-role/{ids[role]}/{ids.get(logical, logical)}", documents)
    return found


def register(endpoint: str, roles: Mapping[str, RoleIdentity]) -> None:
    """Give the emulator each role's policies, keyed by its access key (POST /_emulator/identities)."""
    for role in roles.values():
        body = json.dumps({"access_key_id": role.access_key_id, "principal": role.principal, "policy": role.policies}).encode()
        request = urllib.request.Request(f"{endpoint.rstrip('/')}/_emulator/identities", data=body, method="POST")  # noqa: S310 - loopback only
        try:
            with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - as above
                pass
        except (urllib.error.URLError, OSError) as error:
            raise IamSetupFailed(
                f"the Connect emulator at {endpoint} did not take the stack's IAM roles ({error}); "
                "use this package's emulator, or turn enforcement off (--no-iam)"
            ) from error


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
