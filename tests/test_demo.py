"""`make demo` end to end: synth app.py with the pinned CDK CLI and run the whole lifecycle locally."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("cdk") is None, reason="needs the pinned CDK CLI on PATH (make puts node_modules/.bin there)")
def test_the_demo_runs_the_whole_lifecycle_and_exits_zero() -> None:
    # As a user runs `make demo`: with the CDK's own template validation, which the tests' synths turn off (conftest.py).
    environment = {key: value for key, value in os.environ.items() if key != "CDK_VALIDATION"}
    result = subprocess.run([sys.executable, "demo.py"], cwd=ROOT, capture_output=True, text=True, timeout=300, env=environment, check=False)

    out = result.stdout
    assert result.returncode == 0, out[-3000:] + result.stderr[-3000:]
    assert "CLAIMED after" in out
    assert "CREATE_COMPLETE in" in out
    assert "The deployment failed, as it should: " in out and "reached its limit of total claimed numbers" in out
    assert "UPDATE_ROLLBACK_COMPLETE" in out
    assert "moving +1" in out
    assert "/contact-flow/" in out.split("=== 2.")[0]
    assert "The move dropped Connect's flow association; it was repaired" in out
    assert "routes to no flow" in out and "restored it: +1" in out
    assert "DELETE_COMPLETE in" in out
    assert "Numbers still held in the emulator: 0" in out
    assert result.stderr == "", result.stderr
