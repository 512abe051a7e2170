"""Users' stacks pass cdk-nag 2 (an Aspect, what most projects pin) and cdk-nag 3 (a validation plugin), with no suppression of theirs.

The library depends on neither: it acknowledges its wildcards with CDK's Validations (read by 3) and writes the
``cdk_nag`` metadata 2 reads. cdk-nag 2 cannot share the venv with 3, so ``make setup`` installs it apart
(requirements-cdk-nag2.txt) and its tests synthesize in a subprocess with it first on PYTHONPATH (tests/nag_shapes.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import nag_shapes
import pytest

ROOT = Path(__file__).resolve().parents[2]
NAG2 = ROOT / ".venv" / "cdk-nag-2"
SCRIPT = Path(nag_shapes.__file__)
#: The wildcards each handler's policy has (permissions.py), as cdk-nag renders them in an env-agnostic stack.
WILDCARDS = ("phone-number/*", "instance/*", "traffic-distribution-group/*", "instance/*/contact-flow/*")


def under_cdk_nag_2(*args: str) -> dict[str, Any]:
    """nag_shapes.py's findings, synthesized in a subprocess that imports cdk-nag 2."""
    if not (NAG2 / "cdk_nag").is_dir():
        pytest.fail(f"cdk-nag 2 is not installed in {NAG2}: run make setup")
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(NAG2), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=environment, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    found: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    assert found["nag2"], "the subprocess imported cdk-nag 3, not 2"
    return found


def test_users_stacks_pass_cdk_nag_2_applied_as_an_aspect() -> None:
    found = under_cdk_nag_2()

    assert found["error"] == [] and found["warning"] == []
    assert found["overflow"] >= 1  # the many-targets stack did get an overflow managed policy, and it passed too


def test_without_the_librarys_metadata_cdk_nag_2_fails_on_exactly_its_four_wildcards() -> None:
    """The control: the same synth without the cdk_nag metadata reports the handler's four wildcards, and nothing else."""
    found = under_cdk_nag_2("--without-nag2-metadata")

    pseudo = "arn:<AWS::Partition>:connect:<AWS::Region>:<AWS::AccountId>:"
    policy = "/Agnostic/cdk-connect-phone-number.Handler/Role/DefaultPolicy/Resource"
    assert sorted(found["error"]) == sorted(f"AwsSolutions-IAM5[Resource::{pseudo}{wildcard}] at {policy}" for wildcard in WILDCARDS)


def test_users_stacks_pass_cdk_nag_3_as_a_validation_plugin() -> None:
    """The many-targets shape is left out here: tests/constructs/test_permissions.py covers the policy's growth."""
    app = cdk.App(outdir=tempfile.mkdtemp(prefix="nag3-"))
    nag_shapes.build(app, many_targets=False)

    found = nag_shapes.findings(app)

    assert not nag_shapes.is_nag2()
    assert found["error"] == []
