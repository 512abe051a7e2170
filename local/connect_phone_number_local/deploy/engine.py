"""A local stand-in for CloudFormation: deploys and destroys synthesized stacks against the Connect emulator.

It deploys a stack in dependency order (a level's resources concurrently) and rolls back on
failure. It plays this library's Custom::ConnectPhoneNumber through the real handler code from
the asset directory (each run a process of its own), AWS::Connect::PhoneNumber (CfnPhoneNumber)
against the emulator, and nested stacks as stacks of their own (providers.py). Other resource
types are not emulated: they are reported as such and get plausible placeholder ids and attributes.
Parameters (defaults and given values) and Fn::ImportValue of the exports of stacks deployed here
are resolved; what cannot be played is refused before anything runs.
"""

from __future__ import annotations

import sys
import threading
import time
import urllib.parse
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from . import guards, iam
from .providers import LAMBDA_ASYNC_ATTEMPTS, Provisioning
from .responses import ResponseServer
from .state import DeployFailed, ResourceState, everything, keeps, outcome, resolver_for, reverse_order, set_aside
from .template import NESTED_STACK_TYPE, Resource, StackTemplate, placeholder

__all__ = ["LAMBDA_ASYNC_ATTEMPTS", "DeployFailed", "LocalCloudFormation", "ResourceState", "require_local_endpoint"]
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
#: Physical ids the handler answers under when a create failed before it knew its number: they name no number.
UNCLAIMED_PREFIX = "unclaimed-"


class _ResourceFailed(Exception):
    def __init__(self, logical_id: str, reason: str, physical_id: str | None, properties: dict[str, Any]) -> None:
        super().__init__(f"{logical_id}: {reason}")
        self.logical_id = logical_id
        self.reason = reason
        self.physical_id = physical_id
        self.properties = properties  # what the failed request asked for


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


class LocalCloudFormation(Provisioning):
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
        self._exports: dict[str, dict[str, str]] = {}
        self._imports: dict[str, list[str]] = {}

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
        self._refuse_another_account(stack.name, stack.account, hint="" if stack.bound else " (or deploy with --account {played})", done="deployed")
        try:
            imports = {name: value for name, (value, _) in self._exports_of_others(stack.name).items()}
            stack = replace(stack.with_parameters(parameters or {}, self._parameters.get(stack.name, {})), imports=imports)
            problems = stack.unsupported()
            if problems:
                raise ValueError(f"the template uses what the local deploy cannot resolve: {'; '.join(problems)}")
            levels = stack.order()
        except ValueError as error:
            raise DeployFailed(f"{stack.name}: {error}. Nothing was deployed.") from None
        refusals = guards.deploy_refusals(stack, self._peek, self._saved_names)
        if refusals:
            raise DeployFailed(f"{stack.name}: {'; '.join(refusals)}. Nothing was deployed.")
        operation = "UPDATE" if old else "CREATE"
        self._say(f"{stack.name}: {operation.lower()} (local; Connect at {self.endpoint})")
        states: dict[str, ResourceState] = dict(old)
        # The new template's policies are in force from the start, and during its rollback (CloudFormation rolls
        # the custom resources back before the role's policy); the old ones again once the rollback is done.
        previous_roles = self._roles.get(stack.name, {})
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
                outputs, exports = self._outputs(stack, states)
            except BaseException as error:
                # First remember everything that may be held, so that nothing is forgotten even if the rollback is interrupted.
                previous = self._parameters.get(stack.name, {})
                self._save(stack.name, everything(stack, states, updated), stack.parameter_values)
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
        self._exports[stack.name], self._imports[stack.name] = exports, sorted(stack.imported())
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
        account = self._stack_ids[stack_name].split(":")[4]
        self._refuse_another_account(stack_name, account, hint=" (the account it was deployed in)", done="deleted")
        importers = self._importers_of(stack_name, self._exports.get(stack_name, {}))
        if importers:
            users = "; ".join(f"{name} imports {', '.join(names)}" for name, names in sorted(importers.items()))
            raise DeployFailed(f"{stack_name}: its exports are in use ({users}): destroy those stacks first. Nothing was deleted.")
        refusals = guards.destroy_refusals(stack_name, self._peek, self._saved_names)
        if refusals:
            raise DeployFailed(f"{stack_name}: {'; '.join(refusals)}. Nothing was deleted.")
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

    def _refuse_another_account(self, stack_name: str, account: str, *, hint: str, done: str) -> None:
        """DeployFailed, before anything runs, when the emulator plays another account than the stack's.

        Its numbers would not be found there: a destroy would take them for already gone and forget them.
        """
        played = iam.emulated_account(self.endpoint)
        if played is not None and played != account:
            raise DeployFailed(
                f"{stack_name}: the stack is in account {account}, the emulator plays {played}: start the emulator with "
                f"--account-id {account}{hint.format(played=played)}. Nothing was {done}."
            )

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
            if before is not None and placeholder(stack, resource)[0] == before.physical_id:
                return self._with_policies(before, resource), "NONE"
            if before is not None:  # a contact flow now on another instance (a parameter's new value, say) has another ARN
                physical_id, attributes = placeholder(stack, resource)
                self._event("UPDATE_COMPLETE", "not emulated: new placeholder values", resource)
                return self._state_for(stack, resource, physical_id, {}, attributes), "NONE"
            physical_id, attributes = placeholder(stack, resource)
            self._event("CREATE_COMPLETE", "not emulated: placeholder values", resource)
            return self._state_for(stack, resource, physical_id, {}, attributes), "CREATE"
        properties = resolver_for(stack, states).resolve(resource.properties)
        if before is not None and before.properties == properties:
            return self._with_policies(before, resource), "NONE"
        request = "Create" if before is None else "Update"
        self._event(f"{request.upper()}_IN_PROGRESS", "", resource)
        old_properties = before.properties if before else None
        template_file = stack.nested_template(resource) if resource.type == NESTED_STACK_TYPE else None
        response = self._provide(stack.name, resource.logical_id, resource.type, request, properties, before, old_properties, responses, states, template_file)
        if response["Status"] != "SUCCESS":
            self._event(f"{request.upper()}_FAILED", response.get("Reason", ""), resource)
            raise _ResourceFailed(resource.logical_id, response.get("Reason", "no reason given"), response.get("PhysicalResourceId"), properties)
        self._event(f"{request.upper()}_COMPLETE", response["PhysicalResourceId"], resource)
        state = self._state_for(stack, resource, response["PhysicalResourceId"], properties, response.get("Data", {}))
        return state, request.upper()

    def _with_policies(self, before: ResourceState, resource: Resource) -> ResourceState:
        """An unchanged resource under the template's current policies: a later delete follows them, as in CloudFormation."""
        now = replace(before, deletion_policy=resource.deletion_policy, update_replace_policy=resource.update_replace_policy, path=resource.path)
        if (now.deletion_policy, now.update_replace_policy) != (before.deletion_policy, before.update_replace_policy):
            change = f"DeletionPolicy {before.deletion_policy} -> {now.deletion_policy}"
            change += f", UpdateReplacePolicy {before.update_replace_policy} -> {now.update_replace_policy}"
            self._event("UPDATE_COMPLETE", f"policies only: {change}", resource)
        return now

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
                set_aside(held, logical, now)  # the replacement this operation made could not be removed
                failed = True
            resource = stack.resources[logical]
            attempted = failure.properties if logical == failure.logical_id else now.properties
            self._event("UPDATE_IN_PROGRESS", "rollback to the previous properties", resource)
            response = self._provide(stack.name, logical, resource.type, "Update", before.properties, before, attempted, responses, states)
            self._event(*outcome("UPDATE", response), resource)
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
                set_aside(states, logical, before)
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
        for logical in reverse_order(remaining):
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
        """Delete one resource unless ``policy`` keeps it (see keeps); returns whether it left the stack."""
        label = f"{state.type} {state.path or logical}"
        if state.emulated and keeps(policy, rollback=rollback):
            if state.physical_id.startswith(UNCLAIMED_PREFIX):
                # The handler answers a create that failed before it knew its number under such an id.
                self._line("DELETE_SKIPPED", label, f"{policy} policy, but nothing to keep: no number was claimed ({state.physical_id})")
            else:
                self._line("DELETE_SKIPPED", label, f"{policy} policy: {state.physical_id} is kept")
            return True
        if not state.emulated:
            self._line("DELETE_COMPLETE", label, "not emulated")
            return True
        self._line("DELETE_IN_PROGRESS", label, state.physical_id)
        response = self._provide(stack_name, state.logical_id or logical, state.type, "Delete", state.properties, state, None, responses, states)
        status, detail = outcome("DELETE", response)
        self._line(status, label, detail)
        if response["Status"] != "SUCCESS":
            self._delete_failures[logical] = detail
        return bool(response["Status"] == "SUCCESS")


def _describe(error: BaseException) -> str:
    """An exception as a Reason: the local deploy's own errors are reported like a handler's."""
    return f"{type(error).__name__}: {error}" if not isinstance(error, (_ResourceFailed, DeployFailed, ValueError)) else str(error)
