"""Running a resource's provider: this library's handler as a Lambda run, CfnPhoneNumber against the emulator, a nested stack."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from . import connect_resources, iam, warm
from .responses import ResponseServer, ResponseTimeout
from .state import DeployFailed, Ledger, ResourceState
from .template import NESTED_STACK_TYPE, PHONE_NUMBER_TYPE, StackTemplate, read

RUNNER = Path(__file__).resolve().parent / "lambda_runner.py"
# CloudFormation's default wait for a custom resource without ServiceTimeout.
DEFAULT_SERVICE_TIMEOUT_SECONDS = 3600
# Lambda runs an asynchronous event up to three times when a run fails (the first try and two retries).
LAMBDA_ASYNC_ATTEMPTS = 3


class Provisioning(Ledger):
    """Each resource type's provider, answering as a custom resource answers CloudFormation: Status, PhysicalResourceId, Data, Reason."""

    def deploy(self, stack: StackTemplate, *, parameters: Mapping[str, str] | None = None) -> dict[str, str]:
        raise NotImplementedError  # LocalCloudFormation's

    def destroy(self, stack_name: str) -> None:
        raise NotImplementedError  # LocalCloudFormation's

    def _provide(
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
        template_file: Path | None = None,
    ) -> dict[str, Any]:
        """Create, update or delete one played resource. Never raises: a provider that breaks is a FAILED answer."""
        if kind == NESTED_STACK_TYPE:
            return self._play_nested(stack_name, logical, request, properties, current, template_file)
        if kind == PHONE_NUMBER_TYPE:
            region = self._stack_ids[stack_name].split(":")[3]
            # A new token each time: the same template deployed again after a destroy must claim again, not replay the old claim.
            return connect_resources.provide(request, properties, current, endpoint=self.endpoint, region=region, token=str(uuid.uuid4()))
        return self._run_handler(stack_name, logical, kind, request, properties, current, old_properties, responses, states)

    def _play_nested(
        self, parent: str, logical: str, request: str, properties: Mapping[str, Any], current: ResourceState | None, template_file: Path | None
    ) -> dict[str, Any]:
        """A nested stack as CloudFormation plays it: a stack of its own, deployed with the parent's Parameters, or destroyed."""
        child = nested_stack_name(parent, logical)
        physical_id = current.physical_id if current else None
        started = self._started
        try:
            if request == "Delete":
                self.destroy(child)
                return {"Status": "SUCCESS", "PhysicalResourceId": physical_id}
            file = template_file or (Path(current.attributes["_template"]) if current and "_template" in current.attributes else None)
            if file is None or not file.is_file():
                return {"Status": "FAILED", "Reason": f"the nested stack's template {file} is gone", "PhysicalResourceId": physical_id}
            region, account = self._stack_ids[parent].split(":")[3:5]
            template = read(file, child, region=region, account=account)
            outputs = self.deploy(template, parameters={k: _parameter(v) for k, v in dict(properties.get("Parameters", {})).items()})
        except DeployFailed as error:
            return {"Status": "FAILED", "Reason": f"nested stack {child}: {error}", "PhysicalResourceId": physical_id}
        finally:
            self._started = started
        data = {f"Outputs.{key}": value for key, value in outputs.items()}
        return {"Status": "SUCCESS", "PhysicalResourceId": template.stack_id, "Data": {**data, "_template": str(file)}}

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
        argv = [str(RUNNER), function["asset_dir"], function["handler"], str(function["timeout"])]
        runtime = warm.runtime()
        process: subprocess.Popen[str] | warm.WarmRun
        if runtime is not None:  # forked from the warm runtime (tests): the event goes with the request
            process = runtime.run(argv, environment, json.dumps(event))
        else:
            process = subprocess.Popen(  # noqa: S603 - our runner and the synthesized asset; no shell
                [sys.executable, "-I", *argv], stdin=subprocess.PIPE, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=environment, text=True
            )
        logs = threading.Thread(target=self._relay_logs, args=(process.stderr, logical), daemon=True)
        logs.start()
        killed_at = time.monotonic() + float(function["timeout"]) + 1  # Lambda stops a run at its timeout
        try:
            if isinstance(process, subprocess.Popen):
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


def nested_stack_name(parent: str, logical: str) -> str:
    """The stack name a nested stack is deployed under here (CloudFormation adds a random suffix; this one is stable)."""
    return f"{parent}-{logical}"


def _parameter(value: Any) -> str:
    """A nested stack's Parameters value as CloudFormation passes it: a string (a list joined by commas)."""
    return ",".join(str(v) for v in value) if isinstance(value, list) else str(value)


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
