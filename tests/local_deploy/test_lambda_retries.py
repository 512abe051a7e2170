"""The local deploy invokes a handler as Lambda runs CloudFormation's asynchronous events: a failed run is retried."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest

from connect_phone_number_local.deploy.engine import LAMBDA_ASYNC_ATTEMPTS, LocalCloudFormation, ResourceState
from connect_phone_number_local.deploy.responses import ResponseServer

# The local deploy runs each Lambda invocation in a process of its own, on the real clock (see conftest.py).
pytestmark = pytest.mark.real_clock

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


def run_flaky(tmp_path: Path, crashes: int) -> tuple[dict[str, Any], int, str]:
    asset = tmp_path / "asset"
    asset.mkdir()
    (asset / "flaky.py").write_text(FLAKY_HANDLER)
    runs = tmp_path / "runs"
    out = io.StringIO()
    environment = {**os.environ, "RUNS_FILE": str(runs), "CRASHES": str(crashes)}
    cloudformation = LocalCloudFormation(tmp_path / "state", environment=environment, out=out, enforce_iam=False)
    cloudformation._stack_ids["S"] = "arn:aws:cloudformation:us-east-1:123456789012:stack/S/1"
    function = ResourceState(
        "AWS::Lambda::Function", "flaky", attributes={"Arn": FUNCTION_ARN, "_asset_dir": str(asset), "_handler": "flaky.on_event", "_timeout": "30"}
    )
    with ResponseServer() as responses:
        response = cloudformation._run_handler(
            "S", "Thing", "Custom::Thing", "Create", {"ServiceToken": FUNCTION_ARN, "ServiceTimeout": "60"}, None, None, responses, {"Fn": function}
        )
    return response, int(runs.read_text()), out.getvalue()


@pytest.mark.usefixtures("emulator")  # the local deploy needs a loopback Connect endpoint
def test_a_run_that_crashes_before_answering_is_retried_as_lambda_retries_async_events(tmp_path: Path) -> None:
    response, runs, out = run_flaky(tmp_path, crashes=2)

    assert response["Status"] == "SUCCESS"
    assert response["PhysicalResourceId"] == "answered-on-run-3"
    assert runs == LAMBDA_ASYNC_ATTEMPTS
    assert out.count("HANDLER_RETRY") == 2


@pytest.mark.usefixtures("emulator")
def test_after_the_last_retry_the_request_fails_saying_the_handler_never_answered(tmp_path: Path) -> None:
    response, runs, _ = run_flaky(tmp_path, crashes=LAMBDA_ASYNC_ATTEMPTS)

    assert response["Status"] == "FAILED"
    assert "ended without answering (exit 3)" in response["Reason"]
    assert runs == LAMBDA_ASYNC_ATTEMPTS
