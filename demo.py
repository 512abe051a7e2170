#!/usr/bin/env python3
"""`make demo`: the whole lifecycle of app.py's phone number, locally, with no AWS account.

It starts the local Connect emulator (Connect's real quotas: 2 requests/s, burst 5; claims
take 3 s), synthesizes app.py with the pinned CDK CLI, and deploys it with the local deploy:

1. deploy: the number goes IN_PROGRESS, then CLAIMED; the outputs show it;
2. a claim Connect fails: the deployment fails with Connect's message and rolls back;
3. a move of the number to a second instance (the same number, updated in place);
4. destroy: the number is released (the demo synthesizes with removal_policy=destroy).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from connect_phone_number.emulator import LIMIT_MESSAGE, ConnectEmulator, EmulatorConfig
from connect_phone_number.local_deploy.engine import DeployFailed, LocalCloudFormation
from connect_phone_number.local_deploy.template import load

ROOT = Path(__file__).resolve().parent
WORK = ROOT / ".demo"
STACK = "ConnectPhoneNumberDemo"
ACCOUNT = "123456789012"
REGION = "us-east-1"


def synth(name: str, **context: str) -> Path:
    """Synthesize app.py into .demo/NAME with the given context; cdk-nag runs inside the app."""
    out = WORK / name
    command = ["cdk", "synth", "--quiet", "--output", str(out)]
    for key, value in {"removal_policy": "destroy", **context}.items():
        command += ["--context", f"{key}={value}"]
    subprocess.run(command, cwd=ROOT, check=True)  # noqa: S603 - the pinned CDK CLI; no shell
    return out


def step(title: str) -> None:
    print(f"\n=== {title}", flush=True)


def main() -> int:
    started = time.monotonic()
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir()
    with ConnectEmulator(EmulatorConfig(account_id=ACCOUNT, region=REGION), state_file=WORK / "connect-state.json") as emulator:
        environment = {**os.environ, **emulator.client_environment()}
        cloudformation = LocalCloudFormation(WORK / "stacks", environment=environment)
        print(f"Connect emulator on {emulator.url}: claims take {emulator.service.config.claim_seconds:.0f} s, 2 requests/s per API, burst 5")

        step("1. Deploy: claim a US DID number and wait until Connect says CLAIMED")
        outputs = cloudformation.deploy(load(synth("claim"), STACK, region=REGION, account=ACCOUNT))
        number = outputs["PhoneNumber"]

        step("2. A claim Connect fails: ask for a toll-free number while the emulator fails such claims")
        emulator.service.fail_claims("+18", LIMIT_MESSAGE)
        try:
            cloudformation.deploy(load(synth("failing", phone_number_type="TOLL_FREE"), STACK, region=REGION, account=ACCOUNT))
        except DeployFailed as failure:
            print(f"The deployment failed, as it should: {failure}")
        else:
            print("The deployment should have failed", file=sys.stderr)
            return 1
        emulator.service.clear_faults()

        step("3. Move the number to a second instance (same number, updated in place)")
        moved = cloudformation.deploy(load(synth("moved", target="secondary"), STACK, region=REGION, account=ACCOUNT))
        if moved["PhoneNumber"] != number:
            print(f"The move changed the number: {number} became {moved['PhoneNumber']}", file=sys.stderr)
            return 1

        step("4. Destroy: removal_policy=destroy releases the number")
        cloudformation.destroy(STACK)
        held = [n for n in emulator.service.held() if not n["releasing"] and n["status"] != "FAILED"]
        print(f"Numbers still held in the emulator: {len(held)}; {number} is in its release cooldown.")
        checks = emulator.service.iam_summary()
        if checks["denied"] or checks["unchecked"] or not checks["allowed"]:
            print(f"IAM: {checks['unchecked']} calls ran without the role; refused: {checks['denials']}", file=sys.stderr)
            return 1
        print(f"IAM: every Connect call ran as the stack's own handler role, its synthesized policy enforced: {checks['allowed']} checks allowed, 0 denied.")

    print(f"\nDemo finished in {time.monotonic() - started:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
