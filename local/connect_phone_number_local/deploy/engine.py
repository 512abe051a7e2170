"""A local stand-in for CloudFormation, for this library's custom resources only.

It deploys a synthesized stack in dependency order (a level's resources concurrently), runs
each Custom::ConnectPhoneNumber through the real handler code from the asset directory in its
own process, and rolls back on failure. Other resource types are not emulated: they are
reported as skipped and get plausible placeholder ids and attributes.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

from . import iam
from .responses import ResponseServer, ResponseTimeout
from .template import Resolver, Resource, StackTemplate, placeholder

RUNNER = Path(__file__).resolve().parent / "lambda_runner.py"
# CloudFormation's default wait for a custom resource without ServiceTimeout.
DEFAULT_SERVICE_TIMEOUT_SECONDS = 3600
# Lambda runs an asynchronous event up to three times when a run fails (the first try and two retries).
LAMBDA_ASYNC_ATTEMPTS = 3
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
    logical_id: str = ""  # set when the state is kept under a key of its own (a replaced original): the resource's logical id


def require_local_endpoint(environment: Mapping[str, str]) -> str:
    """The Connect endpoint, which must be on loopback: the local deploy never talks to AWS."""
    endpoint = environment.get("AWS_ENDPOINT_URL_CONNECT") or environment.get("AWS_ENDPOINT_URL") or ""
    host = urllib.parse.urlsplit(endpoint).hostname or ""
    if host not in LOOPBACK_HOSTS:
        raise DeployFailed(
            "AWS_ENDPOINT_URL_CONNECT must point at a local Connect emulator on loopback "
            f"(got {endpoint or 'nothing'}); start one with: python -m connect_phone_number_local.emulator"
        )
    return endpoint


class LocalCloudFormation:
    """Deploys and destroys stacks locally, keeping each stack's state in ``state_dir``."""

    def __init__(self, state_dir: Path, *, environment: Mapping[str, str], out: TextIO | None = None, enforce_iam: bool = True) -> None:
        """``enforce_iam``: run each handler as its role, with the emulator enforcing the role's synthesized policies."""
        self.state_dir = state_dir
        self.enforce_iam = enforce_iam
        self._roles: dict[str, dict[str, iam.RoleIdentity]] = {}
        self._delete_failures: dict[str, str] = {}  # logical id -> why its last Delete failed
        self.endpoint = require_local_endpoint(environment)
        self.environment = dict(environment)
        self.out = out or sys.stdout
        self._print_lock = threading.Lock()
        self._started = time.monotonic()
        self._stack_ids: dict[str, str] = {}
        self._parameters: dict[str, dict[str, str]] = {}  # each stack's parameter values, as last deployed

    # --- public operations ---

    def deploy(self, stack: StackTemplate, *, parameters: Mapping[str, str] | None = None) -> dict[str, str]:
        """Create or update ``stack``; return its outputs. Raises DeployFailed after rolling back.

        ``parameters`` sets template parameters by name; the others keep the previous deploy's
        value, or take their Default. Whatever fails (the handler, or the local deploy itself),
        the operation rolls back, and the saved state keeps every resource still held.
        """
        self._started = time.monotonic()
        self._stack_ids[stack.name] = stack.stack_id
        old = self._load(stack.name)
        try:
            stack = stack.with_parameters(parameters or {}, self._parameters.get(stack.name, {}))
            problems = stack.unsupported()
            if problems:
                raise ValueError(f"the template uses what the local deploy cannot resolve: {'; '.join(problems)}")
            levels = stack.order()
        except ValueError as error:
            raise DeployFailed(f"{stack.name}: {error}. Nothing was deployed.") from None
        operation = "UPDATE" if old else "CREATE"
        self._say(f"{stack.name}: {operation.lower()} (local; Connect at {self.endpoint})")
        states: dict[str, ResourceState] = dict(old)
        # The new template's policies are in force from the start, and during its rollback (CloudFormation rolls
        # the custom resources back before the role's policy); the old ones again once the rollback is done.
        previous_roles = self._roles.get(stack.name, {})
        played = iam.emulated_account(self.endpoint)
        if played is not None and played != stack.account:
            raise DeployFailed(
                f"{stack.name}: the stack is in account {stack.account}, the emulator plays {played}: start it with "
                f"--account-id {stack.account} (or deploy with --account {played}). Nothing was deployed."
            )
        try:
            roles = iam.identities(stack, {k: v.physical_id for k, v in old.items()}, {k: v.attributes for k, v in old.items()}) if self.enforce_iam else {}
        except (KeyError, ValueError, TypeError) as error:
            raise DeployFailed(f"{stack.name}: the handler role's policy cannot be resolved locally ({error!r}); use --no-iam. Nothing was deployed.") from None
        # A function the new template drops still answers the clean-up's Deletes, under its old role (CloudFormation
        # deletes it, and its role, only after them).
        self._take_roles(stack.name, {**previous_roles, **roles})
        created: list[str] = []
        updated: list[tuple[str, ResourceState]] = []
        with ResponseServer() as responses:
            try:
                for level in levels:
                    self._apply_level(stack, level, old, states, created, updated, responses)
                outputs = self._outputs(stack, states)
            except BaseException as error:
                # First remember everything that may be held, so that nothing is forgotten even if the rollback is interrupted.
                previous = self._parameters.get(stack.name, {})
                self._save(stack.name, _everything(stack, states, updated), stack.parameter_values)
                if not isinstance(error, Exception):
                    raise
                failure = error if isinstance(error, _ResourceFailed) else _ResourceFailed(stack.name, _describe(error), None, {})
                self._say(f"{stack.name}: {operation}_FAILED: {failure.reason}")
                held = self._roll_back(stack, old, states, created, updated, failure, responses)
                if old:
                    self._take_roles(stack.name, previous_roles)
                self._save(stack.name, held, previous)
                raise DeployFailed(f"{failure.logical_id}: {failure.reason}") from None
            self._clean_up(stack, old, states, updated, responses)
        self._save(stack.name, states, stack.parameter_values)
        self._say(f"{stack.name}: {operation}_COMPLETE in {self._elapsed():.1f} s")
        if outputs:
            self._say("Outputs:")
            for key, value in outputs.items():
                self._say(f"{stack.name}.{key} = {value}")
        return outputs

    def destroy(self, stack_name: str) -> None:
        """Delete every resource of the stack, in reverse dependency order, honouring its DeletionPolicy.

        A resource whose delete fails stays in the state, with whatever depends on it, and the
        destroy fails: run it again to finish.
        """
        self._started = time.monotonic()
        states = self._load(stack_name)
        if not states:
            self._say(f"{stack_name}: not deployed here (no state in {self.state_dir}): nothing to delete")
            return
        self._say(f"{stack_name}: destroy (local)")
        if self.enforce_iam and not self._roles.get(stack_name):
            self._say(f"{stack_name}: IAM not enforced for this destroy: the saved state has no roles (deployed with --no-iam)")
        self._take_roles(stack_name, self._roles.get(stack_name, {}))
        with ResponseServer() as responses:
            remaining = self._delete_all(stack_name, list(states), states, responses, rollback=False)
        if remaining:
            self._save(stack_name, remaining, self._parameters.get(stack_name, {}))
            reasons = "".join(f"; {logical}: {self._delete_failures[logical]}" for logical in sorted(remaining) if logical in self._delete_failures)
            raise DeployFailed(f"{stack_name}: DELETE_FAILED; still there: {', '.join(sorted(remaining))}{reasons}")
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
            elif not isinstance(error, _ResourceFailed):
                # The local deploy itself broke before the handler ran (a value it could not resolve, say): nothing to undo here.
                self._event("UPDATE_FAILED" if logical in old else "CREATE_FAILED", _describe(error), stack.resources[logical])
                failures.append(_ResourceFailed(logical, _describe(error), None, {}))
            else:
                failures.append(error)
                if logical not in old and error.physical_id:
                    # A failed create still has a physical id: the rollback deletes it.
                    states[logical] = self._state_for(stack, stack.resources[logical], error.physical_id, error.properties, {})
                    created.append(logical)
                elif logical in old:
                    updated.append((logical, old[logical]))
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
    ) -> dict[str, ResourceState]:
        """Undo the operation. Returns what the stack still holds: the old state, plus whatever the rollback could not remove."""
        self._say(f"{stack.name}: ROLLBACK_IN_PROGRESS ({failure.logical_id} failed)")
        held = dict(old)
        failed = False
        for logical, before in reversed(updated):
            now = states.get(logical)
            if now is None or not now.emulated:
                continue
            replaced = now.physical_id != before.physical_id
            if replaced and not self._delete(stack.name, logical, now, states, responses, policy=now.deletion_policy, rollback=True):
                _set_aside(held, logical, now)  # the replacement this operation made could not be removed
                failed = True
            resource = stack.resources[logical]
            attempted = failure.properties if logical == failure.logical_id else now.properties
            self._event("UPDATE_IN_PROGRESS", "rollback to the previous properties", resource)
            response = self._run_handler(stack.name, logical, resource.type, "Update", before.properties, before, attempted, responses, states)
            self._event(*_outcome("UPDATE", response), resource)
            failed = failed or response["Status"] != "SUCCESS"
        remaining = self._delete_all(stack.name, created, states, responses, rollback=True)
        held.update(remaining)
        prefix = "UPDATE_" if old else ""
        self._say(f"{stack.name}: {prefix}ROLLBACK_{'FAILED' if failed or remaining else 'COMPLETE'}")
        return held

    def _clean_up(
        self,
        stack: StackTemplate,
        old: Mapping[str, ResourceState],
        states: dict[str, ResourceState],
        updated: list[tuple[str, ResourceState]],
        responses: ResponseServer,
    ) -> None:
        """After success: delete replaced originals and resources the template no longer has.

        ``states`` keeps whatever could not be deleted (an original under a key of its own), so the
        next deploy or destroy deletes it; the stack operation itself has succeeded, as in CloudFormation.
        """
        for logical, before in updated:
            if states[logical].physical_id == before.physical_id:
                continue
            # The template being deployed says what happens to the original: its policies are what this deploy applies.
            if not self._delete(stack.name, logical, before, states, responses, policy=stack.resources[logical].update_replace_policy):
                _set_aside(states, logical, before)
        gone = [k for k in old if k not in stack.resources]
        left = self._delete_all(stack.name, gone, states, responses, rollback=False)
        for logical in set(gone) - set(left):
            del states[logical]
        if left:
            self._say(f"{stack.name}: could not delete {', '.join(sorted(left))}; kept in the state for the next deploy or destroy")

    def _delete_all(
        self,
        stack_name: str,
        doomed: list[str],
        states: Mapping[str, ResourceState],
        responses: ResponseServer,
        *,
        rollback: bool,
    ) -> dict[str, ResourceState]:
        """Delete ``doomed`` (keys of ``states``) in reverse dependency order, each under its DeletionPolicy; return those still there.

        As CloudFormation does, a resource that something still there depends on is not deleted.
        """
        remaining = {k: states[k] for k in doomed}
        for logical in _reverse_order(remaining):
            if any(logical in remaining[other].depends_on for other in remaining if other != logical):
                continue
            if self._delete(stack_name, logical, remaining[logical], states, responses, policy=remaining[logical].deletion_policy, rollback=rollback):
                del remaining[logical]
        return remaining

    # --- one resource ---

    def _delete(
        self,
        stack_name: str,
        logical: str,
        state: ResourceState,
        states: Mapping[str, ResourceState],
        responses: ResponseServer,
        *,
        policy: str,
        rollback: bool = False,
    ) -> bool:
        """Delete one resource unless ``policy`` keeps it (see _keeps); returns whether it left the stack."""
        label = f"{state.type} {state.path or logical}"
        if state.emulated and _keeps(policy, rollback=rollback):
            self._line("DELETE_SKIPPED", label, f"{policy} policy: {state.physical_id} is kept")
            return True
        if not state.emulated:
            self._line("DELETE_COMPLETE", label, "not emulated")
            return True
        self._line("DELETE_IN_PROGRESS", label, state.physical_id)
        response = self._run_handler(stack_name, state.logical_id or logical, state.type, "Delete", state.properties, state, None, responses, states)
        status, detail = _outcome("DELETE", response)
        self._line(status, label, detail)
        if response["Status"] != "SUCCESS":
            self._delete_failures[logical] = detail
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
        """Invoke the handler behind ``properties['ServiceToken']`` in a new process and wait for its answer.

        Never raises: a handler that cannot be started is a FAILED answer, as in CloudFormation.
        """
        physical_id = current.physical_id if current else None
        try:
            function = _function_for(properties["ServiceToken"], states)
        except DeployFailed as error:
            return {"Status": "FAILED", "Reason": str(error), "PhysicalResourceId": physical_id}
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
        deadline = time.monotonic() + service_timeout
        region = self._stack_ids[stack_name].split(":")[3]  # the stack's Region, as its id says
        environment = self._lambda_environment(function, region, self._roles.get(stack_name, {}).get(str(function["name"])))
        for attempt in range(1, LAMBDA_ASYNC_ATTEMPTS + 1):
            response, exit_code = self._invoke_once(function, event, environment, logical, responses, deadline)
            if response is not None:
                return response
            if exit_code == 0 or time.monotonic() >= deadline:
                break
            if attempt < LAMBDA_ASYNC_ATTEMPTS:
                # CloudFormation invokes asynchronously, and Lambda retries an async event whose run failed.
                self._line("HANDLER_RETRY", f"{kind} {logical}", f"the handler failed (exit {exit_code}) before it answered; Lambda retries the event")
        reason = f"no response within the ServiceTimeout of {service_timeout:.0f} s"
        if time.monotonic() < deadline:
            reason = f"the handler ended without answering (exit {exit_code}); CloudFormation would wait out the ServiceTimeout of {service_timeout:.0f} s"
        return {"Status": "FAILED", "Reason": reason, "PhysicalResourceId": physical_id}

    def _invoke_once(
        self, function: Mapping[str, Any], event: Mapping[str, Any], environment: dict[str, str], logical: str, responses: ResponseServer, deadline: float
    ) -> tuple[dict[str, Any] | None, int | None]:
        """One Lambda run: the answer it delivered (or None), and its exit code (None if it outlived the deadline)."""
        process = subprocess.Popen(  # noqa: S603 - our runner and the synthesized asset; no shell
            [sys.executable, "-I", str(RUNNER), function["asset_dir"], function["handler"], str(function["timeout"])],
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            env=environment,
            text=True,
        )
        logs = threading.Thread(target=self._relay_logs, args=(process.stderr, logical), daemon=True)
        logs.start()
        killed_at = time.monotonic() + float(function["timeout"]) + 1  # Lambda stops a run at its timeout
        try:
            assert process.stdin is not None
            with contextlib.suppress(BrokenPipeError):  # a handler that died at once answers nothing
                process.stdin.write(json.dumps(event))
                process.stdin.close()
            while True:
                with contextlib.suppress(ResponseTimeout):
                    return responses.wait(event["RequestId"], timeout=max(0.01, min(0.25, deadline - time.monotonic()))), None
                if process.poll() is not None:
                    # The run ended: take an answer that raced the exit, or report how it ended.
                    with contextlib.suppress(ResponseTimeout):
                        return responses.wait(event["RequestId"], timeout=0.2), process.returncode
                    return None, process.returncode
                if time.monotonic() >= deadline:
                    return None, None
                if time.monotonic() >= killed_at:
                    process.kill()
        finally:
            if process.poll() is None:
                try:
                    process.wait(timeout=max(0.0, killed_at - time.monotonic()))
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            logs.join(timeout=5)

    def _lambda_environment(self, function: Mapping[str, Any], region: str, role: iam.RoleIdentity | None = None) -> dict[str, str]:
        """The handler's environment: the stack's Region, Connect on loopback, and the role's key (or any key without IAM)."""
        environment = {k: v for k, v in self.environment.items() if k not in ("AWS_PROFILE", "AWS_SESSION_TOKEN")}
        environment.update(
            {
                "AWS_REGION": region,
                "AWS_DEFAULT_REGION": region,
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
        self._parameters.pop(stack_name, None)
        if not path.exists():
            return {}
        saved = json.loads(path.read_text())
        self._stack_ids.setdefault(stack_name, saved["stack_id"])
        self._roles.setdefault(stack_name, iam.from_json(saved.get("roles", {})))
        self._parameters[stack_name] = dict(saved.get("parameters", {}))
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


def _keeps(policy: str, *, rollback: bool) -> bool:
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


def _set_aside(held: dict[str, ResourceState], logical: str, state: ResourceState, policy: str = "Delete") -> None:
    """Keep a physical resource that is no longer its logical resource (a replaced original, or a
    rolled-back replacement) under a key of its own, with the policy already decided for it.

    The next deploy (whose template lacks that key) or destroy then deletes it: nothing held is forgotten.
    """
    held[f"{logical} (replaced: {state.physical_id})"] = replace(state, logical_id=logical, deletion_policy=policy)


def _everything(stack: StackTemplate, states: Mapping[str, ResourceState], updated: list[tuple[str, ResourceState]]) -> dict[str, ResourceState]:
    """Every resource the stack may hold mid-operation: ``states``, plus the originals of replacements."""
    held = dict(states)
    for logical, before in updated:
        if states[logical].physical_id != before.physical_id:
            _set_aside(held, logical, before, stack.resources[logical].update_replace_policy)
    return held


def _describe(error: BaseException) -> str:
    """An exception as a Reason: the local deploy's own errors are reported like a handler's."""
    return f"{type(error).__name__}: {error}" if not isinstance(error, (_ResourceFailed, DeployFailed, ValueError)) else str(error)


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
