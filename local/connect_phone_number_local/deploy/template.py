"""Reading a synthesized cloud assembly: stacks, resources, their dependencies, and intrinsic functions."""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

CUSTOM_TYPES = ("Custom::ConnectPhoneNumber",)
#: The CloudFormation resource for a claimed number (CDK's CfnPhoneNumber), which the local deploy plays against the emulator.
PHONE_NUMBER_TYPE = "AWS::Connect::PhoneNumber"
#: A nested stack (CDK's NestedStack): its template is a file asset of the assembly, played as a stack of its own.
NESTED_STACK_TYPE = "AWS::CloudFormation::Stack"
#: The intrinsic functions the Resolver computes. Anything else in a value it must compute fails the deploy before it starts.
SUPPORTED_FUNCTIONS = frozenset({"Ref", "Fn::GetAtt", "Fn::Join", "Fn::Select", "Fn::Split", "Fn::Sub", "Fn::ImportValue"})
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
        """Whether the local deploy really plays this resource (this library's custom resources, CfnPhoneNumber, nested stacks)."""
        return self.type in (*CUSTOM_TYPES, PHONE_NUMBER_TYPE, NESTED_STACK_TYPE)


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
    bound: bool = False  # whether the stack's env names its account (then --account does not choose it)
    imports: dict[str, str] = field(default_factory=dict)  # the exports Fn::ImportValue can read: name -> value
    assets: dict[str, str] = field(default_factory=dict)  # file assets (nested stack templates) by asset id

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
        found |= {f"Fn::ImportValue of {name!r}: no stack deployed here exports it" for name in self.imported() if name not in self.imports}
        for logical, resource in self.resources.items():
            if resource.type == NESTED_STACK_TYPE:
                try:
                    child = self.nested(resource)
                except ValueError as error:
                    found.add(str(error))
                    continue
                found |= {f"{logical}: {problem}" for problem in replace(child, imports=self.imports).unsupported()}
        return sorted(found)

    def imported(self) -> set[str]:
        """The export names the values the local deploy resolves import (Fn::ImportValue), where parameters alone name them."""
        values = [r.properties for r in self.resources.values() if r.emulated] + [o.get("Value") for o in self.outputs.values()]
        names: set[str] = set()
        for value in values:
            for key, argument in _walk(value):
                if key == "Fn::ImportValue":
                    with contextlib.suppress(KeyError, ValueError, TypeError, IndexError):
                        names.add(str(Resolver(self, {}, {}).resolve(argument)))
        return names

    def nested_template(self, resource: Resource) -> Path:
        """The template file of a nested stack: its ``aws:asset:path`` metadata, or the file asset its TemplateURL names."""
        path = resource.asset_path or next((p for asset_id, p in self.assets.items() if asset_id in json.dumps(resource.properties.get("TemplateURL"))), None)
        if path is None or not (self.assembly_dir / path).is_file():
            raise ValueError(
                f"{resource.logical_id}: a nested stack whose template is not in the assembly (TemplateURL {resource.properties.get('TemplateURL')!r})"
            )
        return (self.assembly_dir / path).resolve()

    def nested(self, resource: Resource, name: str | None = None) -> StackTemplate:
        """The nested stack ``resource`` stands for, in this stack's account and Region; ``name`` is its stack name."""
        child_name = name or f"{self.name}-{resource.logical_id}"
        return read(self.nested_template(resource), child_name, region=self.region, account=self.account, bound=self.bound)

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
    Raises ValueError, listing the assembly's stacks, when ``stack_name`` is needed and missing, or names none of them.
    """
    manifest = json.loads((assembly_dir / "manifest.json").read_text())
    stacks = {name: a for name, a in manifest["artifacts"].items() if a["type"] == "aws:cloudformation:stack"}
    names = {str(a.get("displayName", name)): name for name, a in stacks.items()}
    if stack_name is None:
        if len(stacks) != 1:
            raise ValueError(f"the assembly has {len(stacks)} stacks: name one with --stack ({', '.join(sorted(names)) or 'none'})")
        stack_name = next(iter(stacks))
    if stack_name not in stacks and stack_name not in names:
        raise ValueError(f"the assembly has no stack {stack_name} (it has: {', '.join(sorted(names)) or 'none'})")
    artifact = stacks.get(stack_name) or stacks[names[stack_name]]
    _, _, env = str(artifact.get("environment", "")).partition("aws://")
    bound_account, _, bound_region = env.partition("/")
    bound = bool(bound_account) and bound_account != "unknown-account"
    account = bound_account if bound else account
    region = bound_region if bound_region and bound_region != "unknown-region" else region
    template_file = assembly_dir / artifact["properties"]["templateFile"]
    return read(template_file, artifact.get("displayName", stack_name), region=region, account=account, bound=bound)


def read(template_file: Path, name: str, *, region: str, account: str, bound: bool = False) -> StackTemplate:
    """A stack from one template file of an assembly (the assembly's manifest, beside it, names the assets)."""
    assembly_dir = template_file.parent
    manifest = json.loads((assembly_dir / "manifest.json").read_text())
    template = json.loads(template_file.read_text())
    assets = _code_assets(assembly_dir, manifest)
    resources = {}
    for logical_id, body in template.get("Resources", {}).items():
        depends = body.get("DependsOn", [])
        properties = body.get("Properties", {})
        metadata = body.get("Metadata", {})
        code_asset = next((path for asset_id, path in assets.items() if asset_id in json.dumps(properties.get("Code"))), None)
        resources[logical_id] = Resource(
            logical_id=logical_id,
            type=body["Type"],
            properties=properties,
            depends_on=set([depends] if isinstance(depends, str) else depends) | references(properties),
            deletion_policy=body.get("DeletionPolicy", "Delete"),
            update_replace_policy=body.get("UpdateReplacePolicy", "Delete"),
            path=metadata.get("aws:cdk:path", logical_id),
            asset_path=metadata.get("aws:asset:path") if body["Type"] == NESTED_STACK_TYPE else code_asset,
            condition=body.get("Condition"),
        )
    stack_id = f"arn:aws:cloudformation:{region}:{account}:stack/{name}/{uuid.uuid5(_NAMESPACE, name)}"
    return StackTemplate(
        name,
        assembly_dir,
        resources,
        template.get("Outputs", {}),
        region,
        account,
        stack_id,
        template.get("Parameters", {}),
        bound=bound,
        assets=_file_assets(assembly_dir, manifest),
    )


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


def _file_assets(assembly_dir: Path, manifest: Mapping[str, Any]) -> dict[str, str]:
    """File assets (a nested stack's template is one) by asset id, relative to the assembly directory."""
    found: dict[str, str] = {}
    for artifact in manifest["artifacts"].values():
        if artifact["type"] == "cdk:asset-manifest":
            file = Path(artifact["properties"]["file"])
            for asset_id, asset in json.loads((assembly_dir / file).read_text()).get("files", {}).items():
                source = file.parent / asset["source"].get("path", "")
                if (assembly_dir / source).is_file():
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
            if key == "Fn::ImportValue":
                name = str(self.resolve(argument))
                if name not in self.stack.imports:
                    raise ValueError(f"Fn::ImportValue of {name!r}: no stack deployed here exports it")
                return self.stack.imports[name]
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
    if named in stack.resources:
        return placeholder(stack, stack.resources[named])[0]
    try:  # a parameter, an import, or an ARN built of them and pseudo parameters
        resolved = Resolver(stack, {}, {}).resolve(value)
    except (KeyError, ValueError, TypeError, IndexError):
        resolved = None
    if not isinstance(resolved, str) or not resolved.startswith("arn:"):
        raise ValueError(f"a contact flow's InstanceArn must be an ARN, a parameter or import that holds one, or name an instance of the stack, not {value!r}")
    return resolved
