"""Command line: ``python -m connect_phone_number_local.emulator --port 4566``."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
from pathlib import Path

from .server import ConnectEmulator
from .service import LIMIT_MESSAGE, EmulatorConfig


def main(argv: list[str] | None = None) -> None:
    """Run the emulator in the foreground until interrupted."""
    parser = argparse.ArgumentParser(prog="connect-emulator", description="A local Amazon Connect phone-number API on loopback.")
    parser.add_argument("--port", type=int, default=4599)
    parser.add_argument("--account-id", default=EmulatorConfig.account_id, help="the one account the emulator plays")
    parser.add_argument("--state-file", type=Path, help="keep state in this file across runs")
    parser.add_argument("--claim-seconds", type=float, default=EmulatorConfig.claim_seconds, help="IN_PROGRESS time of a claim")
    parser.add_argument("--rate", type=float, default=EmulatorConfig.rate_per_second, help="requests per second per API")
    parser.add_argument("--burst", type=int, default=EmulatorConfig.burst)
    parser.add_argument("--throttle-code", default=EmulatorConfig.throttle_code)
    parser.add_argument("--numbers-per-instance", type=int, default=EmulatorConfig.numbers_per_instance)
    parser.add_argument("--identity-policy", type=Path, help="an IAM policy document (JSON) enforced on every caller")
    parser.add_argument("--fail-claims", metavar="MATCH", help=f"claims of numbers starting with MATCH ('*' for all) end FAILED: {LIMIT_MESSAGE}")
    args = parser.parse_args(argv)
    config = EmulatorConfig(
        account_id=args.account_id,
        claim_seconds=args.claim_seconds,
        rate_per_second=args.rate,
        burst=args.burst,
        throttle_code=args.throttle_code,
        numbers_per_instance=args.numbers_per_instance,
        identity_policy=json.loads(args.identity_policy.read_text()) if args.identity_policy else None,
    )
    emulator = ConnectEmulator(config, port=args.port, state_file=args.state_file)
    if args.fail_claims:
        emulator.service.fail_claims(args.fail_claims)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.info("Connect emulator on %s (export AWS_ENDPOINT_URL_CONNECT=%s)", emulator.url, emulator.url)
    with contextlib.suppress(KeyboardInterrupt):
        emulator.serve_forever()


if __name__ == "__main__":
    main()
