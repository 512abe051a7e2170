"""examples/support_lines: a pattern construct twice in a nested stack, on another stack's instance, and in a second env.

Synthesized in-process under cdk-nag 3 as a validation plugin (as its app.py does), then deployed locally: created,
grown by context, its numbers gated off (kept by RETAIN), and destroyed.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import support_lines

from connect_phone_number_local.deploy.engine import DeployFailed
from connect_phone_number_local.deploy.template import load
from connect_phone_number_local.emulator import ConnectEmulator
from support import ACCOUNT

pytestmark = pytest.mark.real_clock  # the local deploy's Lambda runs are processes of their own, on the real clock

STACKS = ("ContactCentre", "SupportLines", "SupportLinesEurope")


def held(emulator: ConnectEmulator) -> list[dict[str, Any]]:
    return [n for n in emulator.service.held() if not n["releasing"] and n["status"] != "FAILED"]


def test_the_support_lines_deploy_grow_are_gated_off_and_destroy_locally(emulator: ConnectEmulator, local: Any, synth: Any) -> None:
    cloudformation, out = local
    emulator.service.config.numbers_per_instance = 10  # Connect's default quota is 5 per instance: two teams of three lines need it raised

    def deploy_all(step: str, **context: str) -> dict[str, dict[str, str]]:
        assembly = synth(support_lines.main, step, {"eu_account": ACCOUNT, **context})
        return {name: cloudformation.deploy(load(assembly, name, region="us-east-1", account=ACCOUNT)) for name in STACKS}

    created = deploy_all("create", claim_phone_numbers="true")
    numbers = {n["number"]: n for n in held(emulator)}
    grown = deploy_all("grow", claim_phone_numbers="true", lines_per_team="3")
    after_growth = {n["number"] for n in held(emulator)}
    with pytest.raises(DeployFailed, match="its exports are in use"):
        cloudformation.destroy("ContactCentre")  # SupportLines imports the instance's ARN
    gated = deploy_all("gated", claim_phone_numbers="false")
    for name in reversed(STACKS):
        cloudformation.destroy(name)

    assert sorted(created["SupportLines"]) == ["SalesLine0", "SalesLine1", "SupportLine0", "SupportLine1"]
    assert sorted(created["SupportLinesEurope"]) == ["SupportLine0", "SupportLine1"]
    assert len(numbers) == 6 and {n["tags"]["team"] for n in numbers.values()} == {"sales", "support", "support-eu"}
    europe = [n for n in numbers.values() if n["tags"]["team"] == "support-eu"]
    assert all(n["number"].startswith("+44") and ":eu-west-2:" in n["arn"] for n in europe)
    us_instance = {n["target_arn"] for n in numbers.values() if n["tags"]["team"] != "support-eu"}
    assert len(us_instance) == 1 and next(iter(us_instance)).startswith(f"arn:aws:connect:us-east-1:{ACCOUNT}:instance/")  # through Fn::ImportValue
    assert set(created["SupportLines"].values()) | set(created["SupportLinesEurope"].values()) == set(numbers)
    assert len(grown["SupportLines"]) == 6 and set(numbers) <= after_growth and len(after_growth) == 9  # the same numbers, plus one per team
    assert gated["SupportLines"] == {} and gated["SupportLinesEurope"] == {}
    assert {n["number"] for n in held(emulator)} == after_growth  # RETAIN: gated off, then destroyed, every number is still held
    assert "ReleasePhoneNumber" not in emulator.service.calls
    assert re.search(r"^SupportLines-TeamsNestedStack\w+: CREATE_COMPLETE", out.getvalue(), re.MULTILINE)  # deployed as a stack of its own
