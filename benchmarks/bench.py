#!/usr/bin/env python3
"""Benchmarks (`make bench`): figures, not pass/fail tests. Runs the real handler against the emulator
with Connect's real quotas (2 requests/s per API, burst 5, TooManyRequestsException).

1. Detection latency: a claim that takes 3 s. From the moment DescribePhoneNumber would first
   say CLAIMED (the emulator's settle time) to the moment the SUCCESS response reaches the
   ResponseURL, and the Describe calls spent.
2. Scale under the quota: N numbers in one stack claimed at once (each its own invocation, as
   CloudFormation does), all sharing the account's 2 requests/s: total time, throttles ridden
   out, and whether any number was claimed twice.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "lambda"), str(ROOT / "local")]

from connect_phone_number_handler import handler  # noqa: E402 - the asset root goes on sys.path first, as in Lambda
from connect_phone_number_local.deploy.lambda_runner import Context  # noqa: E402
from connect_phone_number_local.deploy.responses import ResponseServer  # noqa: E402
from connect_phone_number_local.emulator import ConnectEmulator, EmulatorConfig  # noqa: E402

INSTANCE = "arn:aws:connect:us-east-1:123456789012:instance/aaaaaaaa-1111-2222-3333-444444444444"
CLAIM_SECONDS = 3.0


def event(responses: ResponseServer, logical_id: str) -> dict[str, Any]:
    request_id = str(uuid.uuid4())
    return {
        "RequestType": "Create",
        "ResponseURL": responses.url_for(request_id),
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/Bench/1",
        "RequestId": request_id,
        "LogicalResourceId": logical_id,
        "ResourceType": "Custom::ConnectPhoneNumber",
        "ResourceProperties": {"ServiceToken": "x", "TargetArn": INSTANCE, "CountryCode": "US", "Type": "TOLL_FREE"},
    }


def start_emulator(claim_seconds: float = CLAIM_SECONDS) -> ConnectEmulator:
    config = EmulatorConfig(claim_seconds=claim_seconds, numbers_per_instance=1000, inventory_per_kind=200)
    emulator = ConnectEmulator(config).start()
    os.environ.update(emulator.client_environment())
    return emulator


def detection_latency(trials: int, *, phase_spread: float) -> None:
    """Claims of 3 s plus a random share of one poll interval, so polls meet the settle time at every phase."""
    rng = random.Random(20261128)
    latencies, describes = [], []
    for _ in range(trials):
        emulator = start_emulator(CLAIM_SECONDS + rng.uniform(0, phase_spread))
        with ResponseServer() as responses:
            claim = event(responses, "Number")
            handler.on_event(claim, Context(900))
            responses.wait(claim["RequestId"], timeout=60)
            sent_at = responses.raw(claim["RequestId"])["received_at"]
        [record] = emulator.service.held()
        latencies.append(sent_at - record["settle_at"])
        describes.append(emulator.service.calls["DescribePhoneNumber"])
        emulator.stop()
    latencies.sort()
    label = f"{CLAIM_SECONDS:.0f} s" if not phase_spread else f"{CLAIM_SECONDS:.0f} to {CLAIM_SECONDS + phase_spread:.1f} s (every phase)"
    print(f"Detection latency, claims taking {label}, {trials} trials (Connect quotas: 2 rps, burst 5):")
    print(f"  median {statistics.median(latencies):.2f} s, p90 {latencies[int(0.9 * (trials - 1))]:.2f} s, max {latencies[-1]:.2f} s")
    print(f"  DescribePhoneNumber calls: median {statistics.median(describes):.0f}, max {max(describes)}")


def competitors() -> None:
    print("For comparison, modelled from their documented poll intervals for the same 3 s claim:")
    print("  AWS::Connect::PhoneNumber: sleeps 2 s, then polls every 30 s -> detected at ~32 s, latency ~29 s, FAILED message dropped")
    print("  CDK Provider framework waiter: polls every 5 s -> detected at ~5 s, latency ~2 s, plus 14 extra resources per stack")


def scale(counts: list[int]) -> None:
    print("\nScale under the quota: N numbers claimed at once, one invocation each, 2 rps per API shared:")
    print(f"  {'N':>3} | {'all CLAIMED':>11} | {'distinct':>8} | {'held':>4} | {'429s ridden out':>15} | Describe calls")
    for count in counts:
        emulator = start_emulator()
        with ResponseServer() as responses:
            events = [event(responses, f"Number{i}") for i in range(count)]
            started = time.monotonic()
            threads = [threading.Thread(target=handler.on_event, args=(e, Context(900))) for e in events]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.monotonic() - started
            answers = [responses.wait(e["RequestId"], timeout=60) for e in events]
        ok = sum(a["Status"] == "SUCCESS" for a in answers)
        distinct = len({a["Data"].get("PhoneNumber") for a in answers if a["Status"] == "SUCCESS"})
        held = len([n for n in emulator.service.held() if n["status"] == "CLAIMED"])
        throttles = sum(emulator.service.throttled.values())
        print(
            f"  {count:>3} | {elapsed:>9.1f} s | {distinct:>8} | {held:>4} | {throttles:>15} | {emulator.service.calls.get('DescribePhoneNumber', 0)}"
            + ("" if ok == count else f"   ({count - ok} FAILED: {[a['Reason'] for a in answers if a['Status'] != 'SUCCESS'][:1]})")
        )
        emulator.stop()


def main() -> None:
    import logging

    logging.disable(logging.CRITICAL)  # the handler's decision lines would drown the figures
    trials = int(os.environ.get("BENCH_TRIALS", "15"))
    detection_latency(trials, phase_spread=0.5)
    detection_latency(max(3, trials // 3), phase_spread=0.0)
    competitors()
    scale([1, 5, 10, 20])


if __name__ == "__main__":
    main()
