#!/usr/bin/env python3
"""`make demo`: the whole lifecycle of app.py's phone number, locally, with no AWS account.

It starts the local Connect emulator (Connect's real quotas: 2 requests/s, burst 5; claims
take 3 s), synthesizes app.py with the pinned CDK CLI, and deploys it with the local deploy:

1. deploy: the number goes IN_PROGRESS, then CLAIMED, and is routed to the stack's contact flow;
2. a claim Connect fails: the deployment fails with Connect's message and rolls back;
3. a move of the number to a second instance (the same number, updated in place): Connect drops
   the flow association on a move, and the handler associates the second instance's flow;
4. drift: an administrator unroutes the number by hand; the next update routes it again;
5. destroy: the number is released (the demo synthesizes with removal_policy=destroy).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3

from connect_phone_number_local.deploy.engine import DeployFailed, LocalCloudFormation
from connect_phone_number_local.deploy.template import load
from connect_phone_number_local.emulator import LIMIT_MESSAGE, ConnectEmulator, EmulatorConfig

ROOT = Path(__file__).resolve().parent
WORK = ROOT / ".demo"
STACK = "ConnectPhoneNumberDemo"
ACCOUNT = "123456789012"
REGION = "us-east-1"
#: The app's context for each step's template.
SYNTHS: dict[str, dict[str, str]] = {
    "claim": {},
    "failing": {"phone_number_type": "TOLL_FREE"},
    "moved": {"target": "secondary"},
    "drift": {"target": "secondary", "description": "Routed again"},
}
ADMIN_KEY = "AKIADEMOADMINISTRATOR"
ADMIN_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "connect:*", "Resource": "*"}]}


def synth(name: str, **context: str) -> Path:
    """Synthesize app.py into .demo/NAME with the given context; cdk-nag runs inside the app."""
    out = WORK / name
    command = ["cdk", "synth", "--quiet", "--output", str(out)]
    for key, value in {"removal_policy": "destroy", **context}.items():
        command += ["--context", f"{key}={value}"]
    subprocess.run(command, cwd=ROOT, check=True)  # noqa: S603 - the pinned CDK CLI; no shell
    return out


def flow_of(emulator: ConnectEmulator, number: str) -> str:
    """The contact flow the emulator routes ``number`` to ("" for none)."""
    flows = [n["contact_flow"] for n in emulator.service.holding() if n["number"] == number]
    return flows[0] if flows else ""


def admin_removes_flow(emulator: ConnectEmulator, record: dict[str, Any]) -> None:
    """DisassociatePhoneNumberContactFlow as an administrator would call it, signed with an identity of its own."""
    emulator.service.add_identity(ADMIN_KEY, f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/console", ADMIN_POLICY)
    client = boto3.client("connect", endpoint_url=emulator.url, region_name=REGION, aws_access_key_id=ADMIN_KEY, aws_secret_access_key="x")  # noqa: S106 - the emulator's
    client.disassociate_phone_number_contact_flow(PhoneNumberId=record["arn"], InstanceId=record["instance_id"])


def step(title: str) -> None:
    print(f"\n=== {title}", flush=True)


def main() -> int:
    started = time.monotonic()
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir()
    # The synths are independent: they run while earlier steps wait for Connect, which keeps the demo short.
    pool = ThreadPoolExecutor(max_workers=2)
    assemblies = {name: pool.submit(synth, name, **context) for name, context in SYNTHS.items()}
    with pool, ConnectEmulator(EmulatorConfig(account_id=ACCOUNT, region=REGION), state_file=WORK / "connect-state.json") as emulator:
        environment = {**os.environ, **emulator.client_environment()}
        cloudformation = LocalCloudFormation(WORK / "stacks", environment=environment)
        print(f"Connect emulator on {emulator.url}: claims take {emulator.service.config.claim_seconds:.0f} s, 2 requests/s per API, burst 5")

        step("1. Deploy: claim a US DID number and wait until Connect says CLAIMED")
        outputs = cloudformation.deploy(load(assemblies["claim"].result(), STACK, region=REGION, account=ACCOUNT))
        number = outputs["PhoneNumber"]
        print(f"Connect routes {number} to the contact flow {flow_of(emulator, number)}")

        step("2. A claim Connect fails: ask for a toll-free number while the emulator fails such claims")
        emulator.service.fail_claims("+18", LIMIT_MESSAGE)
        try:
            cloudformation.deploy(load(assemblies["failing"].result(), STACK, region=REGION, account=ACCOUNT))
        except DeployFailed as failure:
            print(f"The deployment failed, as it should: {failure}")
        else:
            print("The deployment should have failed", file=sys.stderr)
            return 1
        emulator.service.clear_faults()

        step("3. Move the number to a second instance (same number, updated in place)")
        moved = cloudformation.deploy(load(assemblies["moved"].result(), STACK, region=REGION, account=ACCOUNT))
        if moved["PhoneNumber"] != number:
            print(f"The move changed the number: {number} became {moved['PhoneNumber']}", file=sys.stderr)
            return 1
        [record] = [n for n in emulator.service.held() if n["number"] == number]
        if not flow_of(emulator, number).startswith(record["target_arn"] + "/contact-flow/"):
            print(f"After the move {number} routes to {flow_of(emulator, number)!r}, not a flow of {record['target_arn']}", file=sys.stderr)
            return 1
        print(f"The move dropped Connect's flow association; it was repaired: {number} routes to {flow_of(emulator, number)}")

        step("4. Drift: an administrator removes the number's flow by hand; the next update restores it")
        admin_removes_flow(emulator, record)
        print(f"After the administrator's change {number} routes to {flow_of(emulator, number) or 'no flow'}")
        cloudformation.deploy(load(assemblies["drift"].result(), STACK, region=REGION, account=ACCOUNT))
        if not flow_of(emulator, number):
            print(f"The update did not restore the flow of {number}", file=sys.stderr)
            return 1
        print(f"The update read the association (ListFlowAssociations) and restored it: {number} routes to {flow_of(emulator, number)}")

        step("5. Destroy: removal_policy=destroy releases the number")
        cloudformation.destroy(STACK)
        held = [n for n in emulator.service.held() if not n["releasing"] and n["status"] != "FAILED"]
        print(f"Numbers still held in the emulator: {len(held)}; {number} is in its release cooldown.")
        checks = emulator.service.iam_summary()
        if checks["denied"] or checks["unchecked"] or not checks["allowed"]:
            print(f"IAM: {checks['unchecked']} calls ran without the role; refused: {checks['denials']}", file=sys.stderr)
            return 1
        print(
            "IAM: every handler call ran as the stack's own handler role, its synthesized policy enforced: "
            f"{checks['allowed']} checks allowed (the administrator's call in step 4 among them), 0 denied."
        )

    print(f"\nDemo finished in {time.monotonic() - started:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
