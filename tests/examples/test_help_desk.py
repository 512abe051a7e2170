"""examples/help_desk: synthesized under cdk-nag 2 as an Aspect, then its main number migrated from CfnPhoneNumber locally.

The number a customer dials stays held, by the same ARN, through every deploy (a failed one included) and the destroy.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import help_desk
import pytest

from connect_phone_number_handler.marker import CLAIM_MARKER_TAG
from connect_phone_number_local.deploy.engine import DeployFailed
from connect_phone_number_local.deploy.template import load
from connect_phone_number_local.emulator import ConnectEmulator
from support import ACCOUNT

pytestmark = pytest.mark.real_clock  # the local deploy's Lambda runs are processes of their own, on the real clock

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "help_desk"
NAG2 = ROOT / ".venv" / "cdk-nag-2"
STACK = "HelpDesk"
STAGES: dict[str, dict[str, str]] = {
    "cfn": {},
    "migrating": {"main_number_stage": "migrating"},
    "claimed": {"main_number_stage": "claimed", "main_number": "+12065550100"},
}


def synth_as_the_cli_does(outdir: Path, context: dict[str, Any]) -> list[dict[str, str]]:
    """Run the example's app.py as `cdk synth` runs it (CDK_OUTDIR, CDK_CONTEXT_JSON), with cdk-nag 2 first on the path.

    Returns cdk-nag 2's report of the stack (its NagReport CSV): a line per rule and resource, with its Compliance.
    """
    environment = {
        **os.environ,
        "CDK_OUTDIR": str(outdir),
        "CDK_CONTEXT_JSON": json.dumps(context),
        "PYTHONPATH": os.pathsep.join([str(NAG2), str(EXAMPLE), os.environ.get("PYTHONPATH", "")]),
    }
    result = subprocess.run([sys.executable, "app.py"], cwd=EXAMPLE, env=environment, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    with (outdir / f"AwsSolutions--{STACK}-NagReport.csv").open() as report:
        return list(csv.DictReader(report))


def test_every_stage_of_the_help_desk_passes_cdk_nag_2_applied_as_an_aspect(tmp_path: Path, cli_context: dict[str, Any]) -> None:
    if not (NAG2 / "cdk_nag").is_dir():
        pytest.fail(f"cdk-nag 2 is not installed in {NAG2}: run make setup")

    with ThreadPoolExecutor(max_workers=len(STAGES)) as pool:
        reports = dict(zip(STAGES, pool.map(lambda stage: synth_as_the_cli_does(tmp_path / stage, {**cli_context, **STAGES[stage]}), STAGES), strict=True))

    for stage, report in reports.items():
        assert [line for line in report if line["Compliance"] == "Non-Compliant"] == [], stage
        suppressed = [line["Exception Reason"] for line in report if line["Compliance"] == "Suppressed"]
        # This library's four wildcards, each with its reason; the app as it was (CfnPhoneNumber) has no handler.
        assert len(suppressed) == (0 if stage == "cfn" else 4), stage
        assert all(reason.startswith("[Resource::arn:") for reason in suppressed), stage
    template = json.loads((tmp_path / "migrating" / f"{STACK}.template.json").read_text())
    assert {r["Type"] for r in template["Resources"].values()} >= {"AWS::Connect::PhoneNumber", "Custom::ConnectPhoneNumber", "AWS::Connect::Queue"}


def held(emulator: ConnectEmulator) -> list[dict[str, Any]]:
    return [n for n in emulator.service.held() if not n["releasing"] and n["status"] != "FAILED"]


def test_the_help_desk_moves_its_main_number_to_claimed_phone_number_without_releasing_it(emulator: ConnectEmulator, local: Any, synth: Any) -> None:
    cloudformation, out = local

    def deploy(step: str, context: dict[str, str]) -> dict[str, str]:
        outputs: dict[str, str] = cloudformation.deploy(load(synth(help_desk.build, step, context), STACK, region="us-east-1", account=ACCOUNT))
        return outputs

    first = deploy("cfn", STAGES["cfn"])
    [original] = held(emulator)
    # The migration's first deploy fails inside the adoption (Connect refuses to route the number): it rolls back.
    emulator.service.fail_next(20, status=400, code="InvalidParameterException", operation="AssociatePhoneNumberContactFlow")
    with pytest.raises(DeployFailed, match="InvalidParameterException"):
        deploy("migrating-failed", STAGES["migrating"])
    [after_rollback] = held(emulator)
    emulator.service.clear_faults()
    migrating = deploy("migrating", STAGES["migrating"])
    [adopted] = held(emulator)
    claimed = deploy("claimed", {**STAGES["claimed"], "main_number": first["MainNumber"]})
    [after] = held(emulator)
    cloudformation.destroy(STACK)

    assert first == migrating == claimed
    assert after_rollback["arn"] == adopted["arn"] == after["arn"] == original["arn"]
    assert CLAIM_MARKER_TAG not in after_rollback["tags"] and after_rollback["contact_flow"] == ""  # given back as it was
    assert adopted["contact_flow"].startswith(adopted["target_arn"] + "/contact-flow/")  # ClaimedPhoneNumber routes it
    assert [n["arn"] for n in held(emulator)] == [original["arn"]]  # kept by RETAIN after the destroy too
    assert "ReleasePhoneNumber" not in emulator.service.calls
    assert "DELETE_SKIPPED       | AWS::Connect::PhoneNumber HelpDesk/MainNumber (Retain policy" in out.getvalue()


def test_the_naive_port_of_the_help_desk_is_refused_before_it_releases_the_number(emulator: ConnectEmulator, local: Any, synth: Any) -> None:
    """Skipping the migrating deploy: the CfnPhoneNumber would go under its Delete policy, releasing the number."""
    cloudformation, _ = local
    first = cloudformation.deploy(load(synth(help_desk.build, "cfn", STAGES["cfn"]), STACK, region="us-east-1", account=ACCOUNT))
    calls = dict(emulator.service.calls)

    with pytest.raises(DeployFailed, match=r"a port from CfnPhoneNumber that loses the published number.*migrate_from"):
        cloudformation.deploy(
            load(synth(help_desk.build, "claimed", {**STAGES["claimed"], "main_number": first["MainNumber"]}), STACK, region="us-east-1", account=ACCOUNT)
        )

    assert emulator.service.calls == calls
    assert [n["number"] for n in held(emulator)] == [first["MainNumber"]]
