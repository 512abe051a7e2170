"""Reading a synthesized cloud assembly: stacks, resources, their dependencies, and intrinsic functions."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CUSTOM_TYPES = ("Custom::ConnectPhoneNumber",)
_NAMESPACE = uuid.UUID("0b1c6f52-8d8e-4f7b-9b1e-7f3f5c0e2a10")


@dataclass
class Resource:
    """One resource of a template."""

    logical_id: str
    type: str
    properties: dict[str, Any]
    depends_on: set[str]
    deletion_policy: str = "Delete"
    update_replace_policy: str = "Delete"
    path: str = ""
    asset_path: str | None = None

    @property
    def emulated(self) -> bool:
        """Whether the local deploy really runs this resource (this library's custom resources)."""
        return self.type in CUSTOM_TYPES


@dataclass
class StackTemplate:
    """A stack from the assembly: its resources, outputs, and where its assets are."""

    name: str
    assembly_dir: Path
    resources: dict[str, Resource]
    outputs: dict[str, Any]
    region: str
    account: str
    stack_id: str = field(default="")

    def order(self) -> list[list[str]]:
        """Logical ids in dependency levels: each level depends only on earlier ones."""
        remaining = {k: set(r.depends_on) & set(self.resources) for k, r in self.resources.items()}
        levels: list[list[str]] = []
        done: set[str] = set()
        while remaining:
            ready = sorted(k for k, deps in remaining.items() if deps <= done)
            if not ready:
                raise ValueError(f"circular dependency among {sorted(remaining)}")
            levels.append(ready)
            done.update(ready)
            for k in ready:
                del remaining[k]
        return levels


def load(assembly_dir: Path, stack_name: str | None = None, *, region: str, account: str) -> StackTemplate:
    """Read one stack (the only one, or ``stack_name``) from a cloud assembly directory."""
    manifest = json.loads((assembly_dir / "manifest.json").read_text())
    stacks = {name: a for name, a in manifest["artifacts"].items() if a["type"] == "aws:cloudformation:stack"}
    if stack_name is None:
        if len(stacks) != 1:
            raise ValueError(f"the assembly has stacks {sorted(stacks)}: name one")
        stack_name = next(iter(stacks))
    artifact = stacks[stack_name]
    template = json.loads((assembly_dir / artifact["properties"]["templateFile"]).read_text())
    name = artifact.get("displayName", stack_name)
    resources = {}
    for logical_id, body in template.get("Resources", {}).items():
        depends = body.get("DependsOn", [])
        metadata = body.get("Metadata", {})
        resources[logical_id] = Resource(
            logical_id=logical_id,
            type=body["Type"],
            properties=body.get("Properties", {}),
            depends_on=set([depends] if isinstance(depends, str) else depends) | references(body.get("Properties", {})),
            deletion_policy=body.get("DeletionPolicy", "Delete"),
            update_replace_policy=body.get("UpdateReplacePolicy", "Delete"),
            path=metadata.get("aws:cdk:path", logical_id),
            asset_path=metadata.get("aws:asset:path"),
        )
    stack_id = f"arn:aws:cloudformation:{region}:{account}:stack/{name}/{uuid.uuid5(_NAMESPACE, name)}"
    return StackTemplate(name, assembly_dir, resources, template.get("Outputs", {}), region, account, stack_id)


def references(value: Any) -> set[str]:
    """Logical ids a property value refers to (Ref, Fn::GetAtt, Fn::Sub)."""
    found: set[str] = set()
    if isinstance(value, dict):
        if "Ref" in value and not str(value["Ref"]).startswith("AWS::"):
            found.add(value["Ref"])
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            found.add(target[0] if isinstance(target, list) else target.split(".")[0])
        if "Fn::Sub" in value:
            text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
            found.update(m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", text) if not m.startswith("AWS::"))
        for item in value.values():
            found |= references(item)
    elif isinstance(value, list):
        for item in value:
            found |= references(item)
    return found


class Resolver:
    """Resolves intrinsic functions against the values known so far."""

    def __init__(self, stack: StackTemplate, physical_ids: Mapping[str, str], attributes: Mapping[str, Mapping[str, str]]) -> None:
        self.stack = stack
        self.physical_ids = physical_ids
        self.attributes = attributes
        self.pseudo = {
            "AWS::Region": stack.region,
            "AWS::AccountId": stack.account,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": stack.name,
            "AWS::StackId": stack.stack_id,
        }

    def resolve(self, value: Any) -> Any:
        """The value with every intrinsic function replaced by what it stands for."""
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return self.pseudo.get(argument) or self.physical_ids[argument]
            if key == "Fn::GetAtt":
                logical, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
                return self.attribute(logical, attribute)
            if key == "Fn::Join":
                separator, items = argument
                return separator.join(str(self.resolve(i)) for i in items)
            if key == "Fn::Select":
                index, items = argument
                return self.resolve(items)[int(index)]
            if key == "Fn::Split":
                separator, text = argument
                return str(self.resolve(text)).split(separator)
            if key == "Fn::Sub":
                return self._sub(argument)
        return {k: self.resolve(v) for k, v in value.items()}

    def attribute(self, logical: str, attribute: str) -> str:
        """Fn::GetAtt. A resource that is not run here gets a placeholder for any attribute."""
        known = self.attributes[logical]
        if attribute in known:
            return known[attribute]
        if self.stack.resources[logical].emulated:
            raise ValueError(f"{logical} returned no attribute {attribute!r}")
        return f"{self.physical_ids[logical]}.{attribute}"

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else (argument[0], self.resolve(argument[1]))

        def replace(found: re.Match[str]) -> str:
            name = found.group(1)
            if name in variables:
                return str(variables[name])
            if name in self.pseudo:
                return self.pseudo[name]
            if "." in name:
                return str(self.attribute(*name.split(".", 1)))
            return self.physical_ids[name]

        return re.sub(r"\$\{([^}!]+)\}", replace, text)


def placeholder(stack: StackTemplate, resource: Resource) -> tuple[str, dict[str, str]]:
    """A plausible physical id and attributes for a resource type the local deploy does not run."""
    token = uuid.uuid5(_NAMESPACE, f"{stack.name}/{resource.logical_id}")
    region, account = stack.region, stack.account
    if resource.type == "AWS::Connect::Instance":
        arn = f"arn:aws:connect:{region}:{account}:instance/{token}"
        return arn, {"Arn": arn, "Id": str(token)}
    name = f"{stack.name}-{resource.logical_id}-{token.hex[:8]}"
    if resource.type == "AWS::Lambda::Function":
        arn = f"arn:aws:lambda:{region}:{account}:function:{name}"
        return name, {"Arn": arn}
    if resource.type == "AWS::IAM::Role":
        return name, {"Arn": f"arn:aws:iam::{account}:role/{name}", "RoleId": token.hex.upper()[:21]}
    if resource.type == "AWS::Logs::LogGroup":
        return name, {"Arn": f"arn:aws:logs:{region}:{account}:log-group:{name}:*"}
    return name, {"Arn": f"arn:aws:placeholder:{region}:{account}:{resource.type.lower().replace('::', '-')}/{name}"}
