"""The local deploy invokes a handler as Lambda runs CloudFormation's asynchronous events: a failed run is retried.

Each test runs both ways the local deploy starts a Lambda run: a new ``python -I`` (what its users get) and a
fork of the warm runtime (deploy/warm.py, what the other tests use to save a CPU second per run).
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connect_phone_number_local.deploy import warm
from connect_phone_number_local.deploy.engine import LAMBDA_ASYNC_ATTEMPTS, LocalCloudFormation, ResourceState
from connect_phone_number_local.deploy.responses import ResponseServer

# The local deploy runs each Lambda invocation in a process of its own, on the real clock (see conftest.py).
pytestmark = pytest.mark.real_clock


@pytest.fixture(params=["cold", "warm"])
def lambda_runs(request: pytest.FixtureRequest) -> Iterator[str]:
    """How the local deploy starts each Lambda run: a new process (cold), or forked from the warm runtime."""
    if request.param == "warm":
        yield "warm"
        return
    warm.disable()
    try:
        yield "cold"
    finally:
        warm.enable()


FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:flaky"

# A handler that crashes on its first CRASHES runs (before answering), then answers SUCCESS.
FLAKY_HANDLER = """
import json, os, sys, urllib.request
from pathlib import Path

def on_event(event, context):
    runs = Path(os.environ["RUNS_FILE"])
    count = int(runs.read_text()) + 1 if runs.exists() else 1
    runs.write_text(str(count))
    if count <= int(os.environ["CRASHES"]):
        sys.exit(3)
    body = {"Status": "SUCCESS", "PhysicalResourceId": "answered-on-run-%d" % count, "StackId": event["StackId"],
            "RequestId": event["RequestId"], "LogicalResourceId": event["LogicalResourceId"], "Data": {}}
    request = urllib.request.Request(event["ResponseURL"], data=json.dumps(body).encode(), method="PUT", headers={"Content-Type": ""})
    urllib.request.urlopen(request, timeout=5).close()
"""


# A handler that writes down what its process looks like, then answers SUCCESS.
INTROSPECTING_HANDLER = """
import json, os, sys, urllib.request

def on_event(event, context):
    seen = {"argv": sys.argv[1:], "path": sys.path, "environment": dict(os.environ), "isolated": sys.flags.isolated,
            "stdin": sys.stdin.read(), "time_left": context.get_remaining_time_in_millis() > 0, "name": context.function_name}
    with open(os.environ["SEEN_FILE"], "w") as seen_file:
        json.dump(seen, seen_file)
    print("a line for the deploy's output", file=sys.stderr)
    body = {"Status": "SUCCESS", "PhysicalResourceId": "seen", "StackId": event["StackId"], "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"], "Data": {}}
    request = urllib.request.Request(event["ResponseURL"], data=json.dumps(body).encode(), method="PUT", headers={"Content-Type": ""})
    urllib.request.urlopen(request, timeout=5).close()
"""


def run_handler(tmp_path: Path, source: str, **environment: str) -> tuple[dict[str, Any], str]:
    """Create a Custom::Thing whose handler is ``source`` (module ``handler``), as the local deploy would: the answer and the deploy's output."""
    asset = tmp_path / "asset"
    asset.mkdir()
    (asset / "handler.py").write_text(source)
    out = io.StringIO()
    cloudformation = LocalCloudFormation(tmp_path / "state", environment={**os.environ, **environment}, out=out, enforce_iam=False)
    cloudformation._stack_ids["S"] = "arn:aws:cloudformation:us-east-1:123456789012:stack/S/1"
    function = ResourceState(
        "AWS::Lambda::Function", "flaky", attributes={"Arn": FUNCTION_ARN, "_asset_dir": str(asset), "_handler": "handler.on_event", "_timeout": "30"}
    )
    with ResponseServer() as responses:
        response = cloudformation._run_handler(
            "S", "Thing", "Custom::Thing", "Create", {"ServiceToken": FUNCTION_ARN, "ServiceTimeout": "60"}, None, None, responses, {"Fn": function}
        )
    return response, out.getvalue()


def run_flaky(tmp_path: Path, crashes: int) -> tuple[dict[str, Any], int, str]:
    runs = tmp_path / "runs"
    response, out = run_handler(tmp_path, FLAKY_HANDLER, RUNS_FILE=str(runs), CRASHES=str(crashes))
    return response, int(runs.read_text()), out


@pytest.mark.usefixtures("emulator", "lambda_runs")  # the local deploy needs a loopback Connect endpoint
def test_a_run_that_crashes_before_answering_is_retried_as_lambda_retries_async_events(tmp_path: Path) -> None:
    response, runs, out = run_flaky(tmp_path, crashes=2)

    assert response["Status"] == "SUCCESS"
    assert response["PhysicalResourceId"] == "answered-on-run-3"
    assert runs == LAMBDA_ASYNC_ATTEMPTS
    assert out.count("HANDLER_RETRY") == 2


@pytest.mark.usefixtures("emulator", "lambda_runs")
def test_after_the_last_retry_the_request_fails_saying_the_handler_never_answered(tmp_path: Path) -> None:
    response, runs, _ = run_flaky(tmp_path, crashes=LAMBDA_ASYNC_ATTEMPTS)

    assert response["Status"] == "FAILED"
    assert "ended without answering (exit 3)" in response["Reason"]
    assert runs == LAMBDA_ASYNC_ATTEMPTS


@pytest.mark.usefixtures("emulator", "lambda_runs")
def test_a_run_sees_its_asset_first_its_environment_and_its_time_and_its_log_lines_reach_the_output(tmp_path: Path) -> None:
    seen_file = tmp_path / "seen.json"

    response, out = run_handler(tmp_path, INTROSPECTING_HANDLER, SEEN_FILE=str(seen_file))

    assert response["Status"] == "SUCCESS", response
    seen = json.loads(seen_file.read_text())
    assert seen["argv"] == [str(tmp_path / "asset"), "handler.on_event", "30"]
    assert seen["path"][0] == str(tmp_path / "asset")
    assert seen["isolated"] == 1
    assert seen["environment"]["SEEN_FILE"] == str(seen_file)
    assert seen["environment"]["AWS_LAMBDA_FUNCTION_NAME"] == "Fn"
    assert seen["stdin"] == "", "the runner read the event before the handler ran"
    assert seen["time_left"]
    assert seen["name"] == "on_event"
    assert "a line for the deploy's output" in out


@pytest.mark.usefixtures("emulator")
def test_a_warm_run_sees_the_same_process_as_a_cold_one(tmp_path: Path) -> None:
    seen: dict[str, Any] = {}
    try:
        for mode in ("warm", "cold"):
            if mode == "cold":
                warm.disable()
            (tmp_path / mode).mkdir()
            response, _ = run_handler(tmp_path / mode, INTROSPECTING_HANDLER, SEEN_FILE=str(tmp_path / mode / "seen.json"))
            assert response["Status"] == "SUCCESS", response
            seen[mode] = json.loads((tmp_path / mode / "seen.json").read_text())
            seen[mode]["environment"].pop("SEEN_FILE")
            seen[mode]["path"][0] = seen[mode]["argv"][0] = "ASSET"
    finally:
        warm.enable()

    assert seen["warm"] == seen["cold"]
