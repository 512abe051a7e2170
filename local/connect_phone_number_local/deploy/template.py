"""Reading a synthesized cloud assembly: stacks, resources, their dependencies, and intrinsic functions."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

CUSTOM_TYPES = ("Custom::ConnectPhoneNumber",)
#: The intrinsic functions the Resolver computes. Anything else in a value it must compute fails the deploy before it starts.
SUPPORTED_FUNCTIONS = frozenset({"Ref", "Fn::GetAtt", "Fn::Join", "Fn::Select", "Fn::Split", "Fn::Sub"})
_LIST_PARAMETER = re.compile(r"^(CommaDelimitedList|List<.+>)$")
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
    condition: str | None = None

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
    parameters: dict[str, Any] = field(default_factory=dict)  # the template's Parameters section
    parameter_values: dict[str, str] = field(default_factory=dict)  # set by with_parameters

    def with_parameters(self, given: Mapping[str, str], previous: Mapping[str, str]) -> StackTemplate:
        """This stack with a value for every parameter, as `cdk deploy` chooses them.

        A value given wins, then the value of the previous deploy, then the parameter's Default.
        Raises ValueError, naming the parameters, for a value given to a parameter the template
        lacks, a parameter left without a value, or a value its constraints refuse. Parameter Store
        types are not looked up: the value (for CDK's BootstrapVersion, the parameter's name) is used as it is.
        """
        unknown = sorted(set(given) - set(self.parameters))
        if unknown:
            raise ValueError(f"the template has no parameter {', '.join(unknown)} (it has: {', '.join(sorted(self.parameters)) or 'none'})")
        values = {name: given.get(name, previous.get(name, spec.get("Default"))) for name, spec in self.parameters.items()}
        missing = sorted(name for name, value in values.items() if value is None)
        if missing:
            raise ValueError(f"parameter {', '.join(missing)} has no value and no Default: pass --parameters NAME=VALUE")
        for name, value in values.items():
            _check_parameter(name, self.parameters[name], str(value))
        return replace(self, parameter_values={name: str(value) for name, value in values.items()})

    def unsupported(self) -> list[str]:
        """What the local deploy could not compute in the values it resolves (this library's resources and the outputs).

        Checked before anything runs, so that such a template fails before a number is claimed.
        """
        known = set(self.resources) | set(self.parameters)
        values = [r.properties for r in self.resources.values() if r.emulated] + [o.get("Value") for o in self.outputs.values()]
        found = {f"{name} (not supported locally)" for value in values for name in _functions(value) - SUPPORTED_FUNCTIONS}
        found |= {f"Ref {name} (not supported locally)" for value in values for name in _refs(value) if name.startswith("AWS::") and name not in PSEUDO}
        found |= {f"{name} (no such resource or parameter)" for value in values for name in references(value) - known}
        found |= {f"Condition on {logical} (not supported locally)" for logical, r in self.resources.items() if r.emulated and r.condition}
        return sorted(found)

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
    """Read one stack (the only one, or ``stack_name``) from a cloud assembly directory.

    ``region`` and ``account`` are where an environment-agnostic stack is played; a stack whose ``env`` names
    them is played in its own, as ``cdk deploy`` would deploy it (its ARNs, IAM included, name that env).
    """
    manifest = json.loads((assembly_dir / "manifest.json").read_text())
    stacks = {name: a for name, a in manifest["artifacts"].items() if a["type"] == "aws:cloudformation:stack"}
    if stack_name is None:
        if len(stacks) != 1:
            raise ValueError(f"the assembly has stacks {sorted(stacks)}: name one")
        stack_name = next(iter(stacks))
    artifact = stacks[stack_name]
    _, _, bound = str(artifact.get("environment", "")).partition("aws://")
    bound_account, _, bound_region = bound.partition("/")
    account = bound_account if bound_account and bound_account != "unknown-account" else account
    region = bound_region if bound_region and bound_region != "unknown-region" else region
    template = json.loads((assembly_dir / artifact["properties"]["templateFile"]).read_text())
    name = artifact.get("displayName", stack_name)
    assets = _code_assets(assembly_dir, manifest)
    resources = {}
    for logical_id, body in template.get("Resources", {}).items():
        depends = body.get("DependsOn", [])
        properties = body.get("Properties", {})
        resources[logical_id] = Resource(
            logical_id=logical_id,
            type=body["Type"],
            properties=properties,
            depends_on=set([depends] if isinstance(depends, str) else depends) | references(properties),
            deletion_policy=body.get("DeletionPolicy", "Delete"),
            update_replace_policy=body.get("UpdateReplacePolicy", "Delete"),
            path=body.get("Metadata", {}).get("aws:cdk:path", logical_id),
            asset_path=next((path for asset_id, path in assets.items() if asset_id in json.dumps(properties.get("Code"))), None),
            condition=body.get("Condition"),
        )
    stack_id = f"arn:aws:cloudformation:{region}:{account}:stack/{name}/{uuid.uuid5(_NAMESPACE, name)}"
    return StackTemplate(name, assembly_dir, resources, template.get("Outputs", {}), region, account, stack_id, template.get("Parameters", {}))


def _code_assets(assembly_dir: Path, manifest: Mapping[str, Any]) -> dict[str, str]:
    """Directory assets by asset id, from the assembly's asset manifests (``*.assets.json``).

    The manifests are written by any synth, with or without the CDK CLI (unlike ``aws:asset:path``
    metadata, which only the CLI asks for). A function's Code names its asset by the asset id,
    in the S3 object key it is published under. Paths are relative to the assembly directory.
    """
    found: dict[str, str] = {}
    for artifact in manifest["artifacts"].values():
        if artifact["type"] != "cdk:asset-manifest":
            continue
        file = Path(artifact["properties"]["file"])
        for asset_id, asset in json.loads((assembly_dir / file).read_text()).get("files", {}).items():
            source = file.parent / asset["source"].get("path", "")
            if (assembly_dir / source).is_dir():
                found[asset_id] = str(source)
    return found


def _check_parameter(name: str, spec: Mapping[str, Any], value: str) -> None:
    """CloudFormation's checks of a parameter value that matter here: AllowedValues, AllowedPattern, and Number."""
    kind = spec.get("Type", "String")
    items = value.split(",") if _LIST_PARAMETER.match(kind) else [value]
    for item in items:
        if "AllowedValues" in spec and item not in [str(v) for v in spec["AllowedValues"]]:
            raise ValueError(f"parameter {name}: {item!r} is not one of {spec['AllowedValues']}")
        if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], item):
            raise ValueError(f"parameter {name}: {item!r} does not match {spec['AllowedPattern']}")
        if kind in ("Number", "List<Number>"):
            try:
                float(item)
            except ValueError:
                raise ValueError(f"parameter {name}: {item!r} is not a number") from None


def _walk(value: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, argument) of every one-key mapping in ``value``: the shape of an intrinsic function."""
    if isinstance(value, dict):
        if len(value) == 1:
            yield next(iter(value.items()))
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def _functions(value: Any) -> set[str]:
    return {key for key, _ in _walk(value) if key == "Ref" or key.startswith("Fn::") or key == "Condition"}


def _refs(value: Any) -> set[str]:
    return {str(argument) for key, argument in _walk(value) if key == "Ref"}


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
            text, variables = (value["Fn::Sub"], {}) if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"]
            found.update(m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", text) if not m.startswith("AWS::") and m not in variables)
        for item in value.values():
            found |= references(item)
    elif isinstance(value, list):
        for item in value:
            found |= references(item)
    return found


PSEUDO = ("AWS::Region", "AWS::AccountId", "AWS::Partition", "AWS::URLSuffix", "AWS::StackName", "AWS::StackId")


class Resolver:
    """Resolves intrinsic functions against the parameter values and the resources known so far."""

    def __init__(self, stack: StackTemplate, physical_ids: Mapping[str, str], attributes: Mapping[str, Mapping[str, str]]) -> None:
        self.stack = stack
        self.physical_ids = physical_ids
        self.attributes = attributes
        pseudo = (stack.region, stack.account, "aws", "amazonaws.com", stack.name, stack.stack_id)
        self.pseudo = dict(zip(PSEUDO, pseudo, strict=True))

    def ref(self, name: str) -> Any:
        """Ref: a pseudo parameter, a parameter (a list for list types), or a resource's physical id."""
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.stack.parameter_values:
            value = self.stack.parameter_values[name]
            return value.split(",") if _LIST_PARAMETER.match(self.stack.parameters[name].get("Type", "")) else value
        return self.physical_ids[name]

    def resolve(self, value: Any) -> Any:
        """The value with every intrinsic function replaced by what it stands for."""
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return self.ref(argument)
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
            value = self.ref(name)
            return ",".join(value) if isinstance(value, list) else str(value)

        return re.sub(r"\$\{([^}!]+)\}", replace, text)


def placeholder(stack: StackTemplate, resource: Resource) -> tuple[str, dict[str, str]]:
    """A plausible physical id and attributes for a resource type the local deploy does not run."""
    token = uuid.uuid5(_NAMESPACE, f"{stack.name}/{resource.logical_id}")
    region, account = stack.region, stack.account
    if resource.type == "AWS::Connect::Instance":
        arn = f"arn:aws:connect:{region}:{account}:instance/{token}"
        return arn, {"Arn": arn, "Id": str(token)}
    if resource.type == "AWS::Connect::ContactFlow":
        # A flow's ARN extends its instance's, which the handler checks: its Ref and ContactFlowArn are that ARN.
        arn = f"{_instance_of_flow(stack, resource.properties.get('InstanceArn'))}/contact-flow/{token}"
        return arn, {"ContactFlowArn": arn}
    name = f"{stack.name}-{resource.logical_id}-{token.hex[:8]}"
    if resource.type == "AWS::Lambda::Function":
        arn = f"arn:aws:lambda:{region}:{account}:function:{name}"
        return name, {"Arn": arn}
    if resource.type == "AWS::IAM::Role":
        return name, {"Arn": f"arn:aws:iam::{account}:role/{name}", "RoleId": token.hex.upper()[:21]}
    if resource.type == "AWS::Logs::LogGroup":
        return name, {"Arn": f"arn:aws:logs:{region}:{account}:log-group:{name}:*"}
    return name, {"Arn": f"arn:aws:placeholder:{region}:{account}:{resource.type.lower().replace('::', '-')}/{name}"}


def _instance_of_flow(stack: StackTemplate, value: Any) -> str:
    """A flow's InstanceArn: as written, or the placeholder ARN of the stack's own instance it names (Fn::GetAtt or Ref)."""
    if isinstance(value, str):
        return value
    named = value.get("Ref") or value.get("Fn::GetAtt", [""])[0] if isinstance(value, dict) else ""
    if named not in stack.resources:
        raise ValueError(f"a contact flow's InstanceArn must be an ARN or name an instance of the stack, not {value!r}")
    return placeholder(stack, stack.resources[named])[0]
