"""A local stand-in for CloudFormation, for this library's custom resources only.

It deploys a synthesized stack in dependency order (a level's resources concurrently), runs
each Custom::ConnectPhoneNumber through the real handler code from the asset directory in its
own process, and rolls back on failure. Other resource types are not emulated: they are
reported as skipped and get plausible placeholder ids and attributes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

from . import iam
from .responses import ResponseServer, ResponseTimeout
from .template import Resolver, Resource, StackTemplate, placeholder

RUNNER = Path(__file__).resolve().parent / "lambda_runner.py"
# CloudFormation's default wait for a custom resource without ServiceTimeout.
DEFAULT_SERVICE_TIMEOUT_SECONDS = 3600
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


class DeployFailed(Exception):
    """The stack operation failed (and was rolled back)."""


class _ResourceFailed(Exception):
    def __init__(self, logical_id: str, reason: str, physical_id: str | None, properties: dict[str, Any]) -> None:
        super().__init__(f"{logical_id}: {reason}")
        self.logical_id = logical_id
        self.reason = reason
        self.physical_id = physical_id
        self.properties = properties  # what the failed request asked for


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


def require_local_endpoint(environment: Mapping[str, str]) -> str:
    """The Connect endpoint, which must be on loopback: the local deploy never talks to AWS."""
    endpoint = environment.get("AWS_ENDPOINT_URL_CONNECT") or environment.get("AWS_ENDPOINT_URL") or ""
    host = urllib.parse.urlsplit(endpoint).hostname or ""
    if host not in LOOPBACK_HOSTS:
        raise DeployFailed(
            "AWS_ENDPOINT_URL_CONNECT must point at a local Connect emulator on loopback "
            f"(got {endpoint or 'nothing'}); start one with: python -m connect_phone_number.emulator"
        )
    return endpoint


class LocalCloudFormation:
    """Deploys and destroys stacks locally, keeping each stack's state in ``state_dir``."""

    def __init__(self, state_dir: Path, *, environment: Mapping[str, str], out: TextIO | None = None, enforce_iam: bool = True) -> None:
        """``enforce_iam``: run each handler as its role, with the emulator enforcing the role's synthesized policies."""
        self.state_dir = state_dir
        self.enforce_iam = enforce_iam
        self._roles: dict[str, dict[str, iam.RoleIdentity]] = {}
        self.endpoint = require_local_endpoint(environment)
        self.environment = dict(environment)
        self.out = out or sys.stdout
        self._print_lock = threading.Lock()
        self._started = time.monotonic()
        self._stack_ids: dict[str, str] = {}

    # --- public operations ---

    def deploy(self, stack: StackTemplate) -> dict[str, str]:
        """Create or update ``stack``; return its outputs. Raises DeployFailed after rolling back."""
        self._started = time.monotonic()
        self._stack_ids[stack.name] = stack.stack_id
        old = self._load(stack.name)
        operation = "UPDATE" if old else "CREATE"
        self._say(f"{stack.name}: {operation.lower()} (local; Connect at {self.endpoint})")
        states: dict[str, ResourceState] = dict(old)
        # The new template's policies are in force from the start, and during its rollback (CloudFormation rolls
        # the custom resources back before the role's policy); the old ones again once the rollback is done.
        previous_roles = self._roles.get(stack.name, {})
        self._take_roles(stack.name, iam.identities(stack, {k: v.physical_id for k, v in old.items()}, {k: v.attributes for k, v in old.items()}))
        created: list[str] = []
        updated: list[tuple[str, ResourceState]] = []
        with ResponseServer() as responses:
            try:
                for level in stack.order():
                    self._apply_level(stack, level, old, states, created, updated, responses)
            except _ResourceFailed as failure:
                self._say(f"{stack.name}: {operation}_FAILED: {failure.reason}")
                self._roll_back(stack, old, states, created, updated, failure, responses)
                if old:
                    self._take_roles(stack.name, previous_roles)
                self._save(stack.name, old)
                raise DeployFailed(f"{failure.logical_id}: {failure.reason}") from None
            self._clean_up(stack, old, states, updated, responses)
        for logical in set(states) - set(stack.resources):
            del states[logical]
        self._save(stack.name, states)
        outputs = self._outputs(stack, states)
        self._say(f"{stack.name}: {operation}_COMPLETE in {self._elapsed():.1f} s")
        if outputs:
            self._say("Outputs:")
            for key, value in outputs.items():
                self._say(f"{stack.name}.{key} = {value}")
        return outputs

    def destroy(self, stack_name: str) -> None:
        """Delete every resource of the stack, in reverse dependency order, honouring DeletionPolicy Retain."""
        self._started = time.monotonic()
        states = self._load(stack_name)
        self._say(f"{stack_name}: destroy (local)")
        self._take_roles(stack_name, self._roles.get(stack_name, {}))
        remaining = dict(states)
        with ResponseServer() as responses:
            for logical in _reverse_order(states):
                if any(logical in remaining[other].depends_on for other in remaining if other != logical):
                    continue  # something that depends on it failed to delete: keep it, as CloudFormation does
                if self._delete(stack_name, logical, states[logical], states, responses, policy=states[logical].deletion_policy):
                    del remaining[logical]
        if remaining:
            self._save(stack_name, remaining)
            raise DeployFailed(f"{stack_name}: DELETE_FAILED; still there: {', '.join(sorted(remaining))}")
        self._state_file(stack_name).unlink(missing_ok=True)
        self._say(f"{stack_name}: DELETE_COMPLETE in {self._elapsed():.1f} s")

    def _take_roles(self, stack_name: str, roles: dict[str, iam.RoleIdentity]) -> None:
        """Make ``roles`` the policies in force for the stack's handlers, as CloudFormation would have them."""
        if not self.enforce_iam:
            self._say(f"{stack_name}: IAM not enforced (--no-iam): handlers may call anything")
            return
        try:
            iam.register(self.endpoint, roles)
        except iam.IamSetupFailed as error:
            raise DeployFailed(str(error)) from None
        self._roles[stack_name] = roles
        for logical, role in sorted(roles.items()):
            self._say(f"{stack_name}: IAM enforced: {logical} runs as {role.principal.split('/')[-2]} ({role.statement_count} statements)")

    # --- the phases ---

    def _apply_level(
        self,
        stack: StackTemplate,
        level: list[str],
        old: Mapping[str, ResourceState],
        states: dict[str, ResourceState],
        created: list[str],
        updated: list[tuple[str, ResourceState]],
        responses: ResponseServer,
    ) -> None:
        snapshot = dict(states)
        with ThreadPoolExecutor(max_workers=max(1, len(level))) as pool:
            futures = {logical: pool.submit(self._apply, stack, stack.resources[logical], old.get(logical), snapshot, responses) for logical in level}
        failures = []
        for logical, future in futures.items():
            error = future.exception()
            if error is None:
                state, change = future.result()
                states[logical] = state
                if change == "CREATE":
                    created.append(logical)
                elif change == "UPDATE":
                    updated.append((logical, old[logical]))
            elif isinstance(error, _ResourceFailed):
                failures.append(error)
                if logical not in old and error.physical_id:
                    # A failed create still has a physical id: the rollback deletes it.
                    states[logical] = self._state_for(stack, stack.resources[logical], error.physical_id, error.properties, {})
                    created.append(logical)
                elif logical in old:
                    updated.append((logical, old[logical]))
            else:
                raise error
        if failures:
            raise failures[0]

    def _apply(
        self, stack: StackTemplate, resource: Resource, before: ResourceState | None, states: Mapping[str, ResourceState], responses: ResponseServer
    ) -> tuple[ResourceState, str]:
        """Create or update one resource; returns its new state and CREATE, UPDATE or NONE."""
        if not resource.emulated:
            if before is not None:
                return before, "NONE"
            physical_id, attributes = placeholder(stack, resource)
            self._event("CREATE_COMPLETE", "not emulated: placeholder values", resource)
            return self._state_for(stack, resource, physical_id, {}, attributes), "CREATE"
        properties = _resolver(stack, states).resolve(resource.properties)
        if before is not None and before.properties == properties:
            return before, "NONE"
        request = "Create" if before is None else "Update"
        self._event(f"{request.upper()}_IN_PROGRESS", "", resource)
        old_properties = before.properties if before else None
        response = self._run_handler(stack.name, resource.logical_id, resource.type, request, properties, before, old_properties, responses, states)
        if response["Status"] != "SUCCESS":
            self._event(f"{request.upper()}_FAILED", response.get("Reason", ""), resource)
            raise _ResourceFailed(resource.logical_id, response.get("Reason", "no reason given"), response.get("PhysicalResourceId"), properties)
        self._event(f"{request.upper()}_COMPLETE", response["PhysicalResourceId"], resource)
        state = self._state_for(stack, resource, response["PhysicalResourceId"], properties, response.get("Data", {}))
        return state, request.upper()

    def _roll_back(
        self,
        stack: StackTemplate,
        old: Mapping[str, ResourceState],
        states: dict[str, ResourceState],
        created: list[str],
        updated: list[tuple[str, ResourceState]],
        failure: _ResourceFailed,
        responses: ResponseServer,
    ) -> None:
        self._say(f"{stack.name}: ROLLBACK_IN_PROGRESS ({failure.logical_id} failed)")
        for logical, before in reversed(updated):
            now = states.get(logical)
            if now is None or not now.emulated:
                continue
            if now.physical_id != before.physical_id:
                # The update replaced the resource: remove the replacement, keep the original.
                self._delete(stack.name, logical, now, states, responses, policy=now.update_replace_policy)
            resource = stack.resources[logical]
            attempted = failure.properties if logical == failure.logical_id else now.properties
            self._event("UPDATE_IN_PROGRESS", "rollback to the previous properties", resource)
            response = self._run_handler(stack.name, logical, resource.type, "Update", before.properties, before, attempted, responses, states)
            self._event(*_outcome("UPDATE", response), resource)
        for logical in reversed(created):
            state = states[logical]
            self._delete(stack.name, logical, state, states, responses, policy=state.deletion_policy)
        self._say(f"{stack.name}: {'UPDATE_' if old else ''}ROLLBACK_COMPLETE")

    def _clean_up(
        self,
        stack: StackTemplate,
        old: Mapping[str, ResourceState],
        states: dict[str, ResourceState],
        updated: list[tuple[str, ResourceState]],
        responses: ResponseServer,
    ) -> None:
        """After success: delete replaced originals and resources the template no longer has."""
        for logical, before in updated:
            if states[logical].physical_id != before.physical_id:
                self._delete(stack.name, logical, before, states, responses, policy=before.update_replace_policy)
        gone = {k: v for k, v in old.items() if k not in stack.resources}
        for logical in _reverse_order(gone):
            self._delete(stack.name, logical, gone[logical], states, responses, policy=gone[logical].deletion_policy)

    # --- one resource ---

    def _delete(
        self, stack_name: str, logical: str, state: ResourceState, states: Mapping[str, ResourceState], responses: ResponseServer, *, policy: str
    ) -> bool:
        """Delete one resource unless its policy keeps it; returns whether it left the stack."""
        label = f"{state.type} {state.path or logical}"
        if policy in ("Retain", "RetainExceptOnCreate") and state.emulated:
            self._line("DELETE_SKIPPED", label, f"{policy} policy: {state.physical_id} is kept")
            return True
        if not state.emulated:
            self._line("DELETE_COMPLETE", label, "not emulated")
            return True
        self._line("DELETE_IN_PROGRESS", label, state.physical_id)
        response = self._run_handler(stack_name, logical, state.type, "Delete", state.properties, state, None, responses, states)
        status, detail = _outcome("DELETE", response)
        self._line(status, label, detail)
        return bool(response["Status"] == "SUCCESS")

    def _run_handler(
        self,
        stack_name: str,
        logical: str,
        kind: str,
        request: str,
        properties: dict[str, Any],
        current: ResourceState | None,
        old_properties: dict[str, Any] | None,
        responses: ResponseServer,
        states: Mapping[str, ResourceState],
    ) -> dict[str, Any]:
        """Invoke the handler behind ``properties['ServiceToken']`` in a new process and wait for its answer."""
        function = _function_for(properties["ServiceToken"], states)
        physical_id = current.physical_id if current else None
        request_id = str(uuid.uuid4())
        event: dict[str, Any] = {
            "RequestType": request,
            "ServiceToken": properties["ServiceToken"],
            "ResponseURL": responses.url_for(request_id),
            "StackId": self._stack_ids[stack_name],
            "RequestId": request_id,
            "LogicalResourceId": logical,
            "ResourceType": kind,
            "ResourceProperties": properties,
        }
        if physical_id is not None:
            event["PhysicalResourceId"] = physical_id
        if old_properties is not None:
            event["OldResourceProperties"] = old_properties
        service_timeout = float(properties.get("ServiceTimeout", DEFAULT_SERVICE_TIMEOUT_SECONDS))
        process = subprocess.Popen(  # noqa: S603 - our runner and the synthesized asset; no shell
            [sys.executable, "-I", str(RUNNER), function["asset_dir"], function["handler"], str(function["timeout"])],
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            env=self._lambda_environment(function, self._roles.get(stack_name, {}).get(str(function["name"]))),
            text=True,
        )
        logs = threading.Thread(target=self._relay_logs, args=(process.stderr, logical), daemon=True)
        logs.start()
        assert process.stdin is not None
        process.stdin.write(json.dumps(event))
        process.stdin.close()
        try:
            return responses.wait(request_id, timeout=service_timeout)
        except ResponseTimeout:
            return {"Status": "FAILED", "Reason": f"no response within the ServiceTimeout of {service_timeout:.0f} s", "PhysicalResourceId": physical_id}
        finally:
            try:
                process.wait(timeout=float(function["timeout"]))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            logs.join(timeout=5)

    def _lambda_environment(self, function: Mapping[str, Any], role: iam.RoleIdentity | None = None) -> dict[str, str]:
        environment = {k: v for k, v in self.environment.items() if k not in ("AWS_PROFILE", "AWS_SESSION_TOKEN")}
        environment.update(
            {
                "AWS_ENDPOINT_URL_CONNECT": self.endpoint,
                # The role's own key: the emulator enforces its policies (without IAM, any key will do).
                "AWS_ACCESS_KEY_ID": role.access_key_id if role else "local",
                "AWS_SECRET_ACCESS_KEY": "local",
                "AWS_LAMBDA_FUNCTION_NAME": str(function["name"]),
                "AWS_LAMBDA_FUNCTION_TIMEOUT": str(function["timeout"]),
            }
        )
        return environment

    def _relay_logs(self, stream: TextIO | None, logical: str) -> None:
        if stream is None:
            return
        for line in stream:
            text = line.rstrip()
            if text:
                self._say(f"{'':>8} │ {logical}: {text}")

    # --- bookkeeping ---

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

    def _outputs(self, stack: StackTemplate, states: Mapping[str, ResourceState]) -> dict[str, str]:
        resolver = _resolver(stack, states)
        return {key: str(resolver.resolve(body["Value"])) for key, body in stack.outputs.items()}

    def _state_file(self, stack_name: str) -> Path:
        return self.state_dir / f"{stack_name}.state.json"

    def _load(self, stack_name: str) -> dict[str, ResourceState]:
        path = self._state_file(stack_name)
        if not path.exists():
            return {}
        saved = json.loads(path.read_text())
        self._stack_ids.setdefault(stack_name, saved["stack_id"])
        self._roles.setdefault(stack_name, iam.from_json(saved.get("roles", {})))
        return {k: ResourceState(**v) for k, v in saved["resources"].items()}

    def _save(self, stack_name: str, states: Mapping[str, ResourceState]) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if not states:
            self._state_file(stack_name).unlink(missing_ok=True)
            return
        saved = {
            "stack_id": self._stack_ids[stack_name],
            "resources": {k: asdict(v) for k, v in states.items()},
            "roles": iam.to_json(self._roles.get(stack_name, {})),
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


def _function_for(service_token: str, states: Mapping[str, ResourceState]) -> dict[str, Any]:
    """The handler function (asset, entry point, timeout) behind a ServiceToken ARN."""
    for logical, state in states.items():
        if state.attributes.get("Arn") == service_token and "_asset_dir" in state.attributes:
            return {
                "name": logical,
                "asset_dir": state.attributes["_asset_dir"],
                "handler": state.attributes["_handler"],
                "timeout": state.attributes["_timeout"],
            }
    raise DeployFailed(f"no Lambda function with a code asset for ServiceToken {service_token}")


def _reverse_order(states: Mapping[str, ResourceState]) -> list[str]:
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


def _resolver(stack: StackTemplate, states: Mapping[str, ResourceState]) -> Resolver:
    return Resolver(stack, {k: v.physical_id for k, v in states.items()}, {k: v.attributes for k, v in states.items()})


def _outcome(operation: str, response: Mapping[str, Any]) -> tuple[str, str]:
    """The status line for a handler's answer: COMPLETE, or FAILED with its reason."""
    if response["Status"] == "SUCCESS":
        return f"{operation}_COMPLETE", ""
    return f"{operation}_FAILED", str(response.get("Reason", ""))
