"""What the local deploy remembers of each stack (its state file), and CloudFormation's rules on it: policies and order."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

from . import iam
from .template import Resolver, Resource, StackTemplate


class DeployFailed(Exception):
    """The stack operation failed (and was rolled back)."""


@dataclass
class ResourceState:
    """What the local deploy remembers of a deployed resource."""

    type: str
    physical_id: str
    properties: dict[str, Any] = field(default_factory=dict)
    attributes: dict[str, str] = field(default_factory=dict)
    deletion_policy: str = "Delete"
    update_replace_policy: str = "Delete"
    depends_on: list[str] = field(default_factory=list)
    path: str = ""
    emulated: bool = False
    logical_id: str = ""  # set when the state is kept under a key of its own (a replaced original): the resource's logical id


class Ledger:
    """The deploy's books: each stack's state file (resources, parameters, roles, exports) and its progress lines.

    LocalCloudFormation sets the attributes in its __init__.
    """

    state_dir: Path
    endpoint: str
    environment: dict[str, str]
    enforce_iam: bool
    out: TextIO
    _print_lock: threading.Lock
    _started: float
    _stack_ids: dict[str, str]
    _roles: dict[str, dict[str, iam.RoleIdentity]]
    _parameters: dict[str, dict[str, str]]
    _exports: dict[str, dict[str, str]]  # each stack's exports (name -> value), as last deployed
    _imports: dict[str, list[str]]  # the export names each stack imports, as last deployed
    _delete_failures: dict[str, str]

    def _state_for(self, stack: StackTemplate, resource: Resource, physical_id: str, properties: dict[str, Any], attributes: dict[str, str]) -> ResourceState:
        extra: dict[str, str] = {}
        if resource.type == "AWS::Lambda::Function" and resource.asset_path:
            extra = {
                "_asset_dir": str((stack.assembly_dir / resource.asset_path).resolve()),
                "_handler": str(resource.properties.get("Handler", "index.handler")),
                "_timeout": str(resource.properties.get("Timeout", 3)),
            }
        return ResourceState(
            type=resource.type,
            physical_id=physical_id,
            properties=properties,
            attributes={**attributes, **extra},
            deletion_policy=resource.deletion_policy,
            update_replace_policy=resource.update_replace_policy,
            depends_on=sorted(resource.depends_on),
            path=resource.path,
            emulated=resource.emulated,
        )

    def _outputs(self, stack: StackTemplate, states: Mapping[str, ResourceState]) -> tuple[dict[str, str], dict[str, str]]:
        """The stack's outputs by key, and its exports by name."""
        resolver = resolver_for(stack, states)
        outputs = {key: str(resolver.resolve(body["Value"])) for key, body in stack.outputs.items()}
        exports = {str(resolver.resolve(body["Export"]["Name"])): outputs[key] for key, body in stack.outputs.items() if "Export" in body}
        return outputs, exports

    def _exports_of_others(self, stack_name: str) -> dict[str, tuple[str, str]]:
        """Every export the other stacks deployed here hold: name -> (value, exporting stack)."""
        found: dict[str, tuple[str, str]] = {}
        for path in sorted(self.state_dir.glob("*.state.json")) if self.state_dir.is_dir() else []:
            name = path.name.removesuffix(".state.json")
            if name != stack_name:
                found.update({export: (value, name) for export, value in json.loads(path.read_text()).get("exports", {}).items()})
        return found

    def _importers_of(self, stack_name: str, exports: Mapping[str, str]) -> dict[str, list[str]]:
        """The other stacks deployed here that import one of ``exports``: stack -> the names it imports."""
        found: dict[str, list[str]] = {}
        for path in sorted(self.state_dir.glob("*.state.json")) if self.state_dir.is_dir() else []:
            name = path.name.removesuffix(".state.json")
            used = sorted(set(json.loads(path.read_text()).get("imports", [])) & set(exports))
            if name != stack_name and used:
                found[name] = used
        return found

    def _peek(self, stack_name: str) -> dict[str, ResourceState]:
        """The stack's saved resources (empty if none), read without touching what _load remembers."""
        path = self._state_file(stack_name)
        return {k: ResourceState(**v) for k, v in json.loads(path.read_text())["resources"].items()} if path.exists() else {}

    def _saved_names(self) -> list[str]:
        """Every stack with a state here (nested stacks included, as ``<parent>-<logical id>``)."""
        return sorted(p.name.removesuffix(".state.json") for p in self.state_dir.glob("*.state.json")) if self.state_dir.is_dir() else []

    def _state_file(self, stack_name: str) -> Path:
        return self.state_dir / f"{stack_name}.state.json"

    def _load(self, stack_name: str) -> dict[str, ResourceState]:
        path = self._state_file(stack_name)
        self._parameters.pop(stack_name, None)
        if not path.exists():
            return {}
        saved = json.loads(path.read_text())
        self._stack_ids.setdefault(stack_name, saved["stack_id"])
        self._roles.setdefault(stack_name, iam.from_json(saved.get("roles", {})))
        self._parameters[stack_name] = dict(saved.get("parameters", {}))
        self._exports[stack_name] = dict(saved.get("exports", {}))
        self._imports[stack_name] = list(saved.get("imports", []))
        return {k: ResourceState(**v) for k, v in saved["resources"].items()}

    def _save(self, stack_name: str, states: Mapping[str, ResourceState], parameters: Mapping[str, str]) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._parameters[stack_name] = dict(parameters)
        if not states:
            self._state_file(stack_name).unlink(missing_ok=True)
            return
        saved = {
            "stack_id": self._stack_ids[stack_name],
            "parameters": dict(parameters),
            "resources": {k: asdict(v) for k, v in states.items()},
            "roles": iam.to_json(self._roles.get(stack_name, {})),
            "exports": self._exports.get(stack_name, {}),
            "imports": self._imports.get(stack_name, []),
        }
        self._state_file(stack_name).write_text(json.dumps(saved, indent=1))

    def _elapsed(self) -> float:
        return time.monotonic() - self._started

    def _event(self, status: str, detail: str, resource: Resource) -> None:
        self._line(status, f"{resource.type} {resource.path}", detail)

    def _line(self, status: str, label: str, detail: str = "") -> None:
        self._say(f"{self._elapsed():7.1f}s | {status:<20} | {label}" + (f" ({detail})" if detail else ""))

    def _say(self, text: str) -> None:
        with self._print_lock:
            print(text, file=self.out, flush=True)


def keeps(policy: str, *, rollback: bool) -> bool:
    """CloudFormation's rule: whether a DeletionPolicy or UpdateReplacePolicy keeps a resource that leaves the stack.

    Retain keeps it always, even in the rollback of the operation that created it.
    RetainExceptOnCreate keeps it, except in that rollback (``rollback``), where it is deleted.
    Anything else (Delete; Snapshot, which a custom resource cannot take) deletes it.
    Which policy applies: UpdateReplacePolicy for the original after a replacement; DeletionPolicy
    on stack delete, for a resource removed from the template, and for anything a rolled-back
    operation created (a new resource, or a replacement's new physical resource; AWS documents no
    other rule for the latter, and RetainExceptOnCreate's purpose is that a rollback leaves nothing behind).
    """
    return policy == "Retain" or (policy == "RetainExceptOnCreate" and not rollback)


def set_aside(held: dict[str, ResourceState], logical: str, state: ResourceState, policy: str = "Delete") -> None:
    """Keep a physical resource that is no longer its logical resource (a replaced original, or a
    rolled-back replacement) under a key of its own, with the policy already decided for it.

    The next deploy (whose template lacks that key) or destroy then deletes it: nothing held is forgotten.
    """
    held[f"{logical} (replaced: {state.physical_id})"] = replace(state, logical_id=logical, deletion_policy=policy)


def everything(stack: StackTemplate, states: Mapping[str, ResourceState], updated: list[tuple[str, ResourceState]]) -> dict[str, ResourceState]:
    """Every resource the stack may hold mid-operation: ``states``, plus the originals of replacements."""
    held = dict(states)
    for logical, before in updated:
        if states[logical].physical_id != before.physical_id:
            set_aside(held, logical, before, stack.resources[logical].update_replace_policy)
    return held


def reverse_order(states: Mapping[str, ResourceState]) -> list[str]:
    """Logical ids so that each comes before whatever it depends on."""
    ordered: list[str] = []
    visiting: set[str] = set()

    def visit(logical: str, visit_next: Callable[[str], None]) -> None:
        if logical in ordered or logical in visiting or logical not in states:
            return
        visiting.add(logical)
        for dependency in states[logical].depends_on:
            visit_next(dependency)
        ordered.append(logical)

    def visit_all(logical: str) -> None:
        visit(logical, visit_all)

    for logical in sorted(states):
        visit_all(logical)
    return list(reversed(ordered))


def resolver_for(stack: StackTemplate, states: Mapping[str, ResourceState]) -> Resolver:
    """A Resolver over what the deploy knows of ``states``: their physical ids and attributes."""
    return Resolver(stack, {k: v.physical_id for k, v in states.items()}, {k: v.attributes for k, v in states.items()})


def outcome(operation: str, response: Mapping[str, Any]) -> tuple[str, str]:
    """The status line for a handler's answer: COMPLETE, or FAILED with its reason."""
    if response["Status"] == "SUCCESS":
        return f"{operation}_COMPLETE", ""
    return f"{operation}_FAILED", str(response.get("Reason", ""))
