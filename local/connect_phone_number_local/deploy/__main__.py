"""Command line: deploy or destroy a synthesized stack against a local Connect emulator.

export AWS_ENDPOINT_URL_CONNECT=http://127.0.0.1:4599   # python -m connect_phone_number_local.emulator
npx cdk synth
python -m connect_phone_number_local.deploy deploy --parameters Owner=care   # [STACK:]NAME=VALUE, as cdk deploy
python -m connect_phone_number_local.deploy destroy --stack ConnectPhoneNumberDemo
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .engine import DeployFailed, LocalCloudFormation
from .template import load

DEFAULT_ACCOUNT = "123456789012"


def main(argv: list[str] | None = None) -> int:
    """Run one command; the exit status is 1 when the stack operation failed."""
    parser = argparse.ArgumentParser(prog="cdk-local-deploy", description="Play CloudFormation locally for Custom::ConnectPhoneNumber resources.")
    parser.add_argument("command", choices=["deploy", "destroy"])
    parser.add_argument("--app", type=Path, default=Path("cdk.out"), help="the synthesized cloud assembly (default: cdk.out)")
    parser.add_argument("--stack", help="the stack to deploy or destroy (default: the assembly's only stack)")
    parser.add_argument("--state-dir", type=Path, default=Path(".cdk-local"), help="where deployed stacks are remembered")
    parser.add_argument("--account", default=DEFAULT_ACCOUNT, help="the account id placeholder ARNs use (the emulator's)")
    parser.add_argument("--no-iam", action="store_true", help="do not enforce the handler roles' synthesized IAM policies")
    parser.add_argument(
        "--parameters",
        action="append",
        default=[],
        metavar="[STACK:]NAME=VALUE",
        help="a template parameter's value (repeatable); others keep the previous deploy's value, or their Default",
    )
    args = parser.parse_args(argv)
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    try:
        environment = {**os.environ, "AWS_REGION": region, "AWS_DEFAULT_REGION": region}
        cloudformation = LocalCloudFormation(args.state_dir, environment=environment, enforce_iam=not args.no_iam)
        if args.command == "deploy":
            stack = load(args.app, args.stack, region=region, account=args.account)
            cloudformation.deploy(stack, parameters=_parameters(args.parameters, stack.name, parser))
        else:
            name = args.stack or load(args.app, None, region=region, account=args.account).name
            cloudformation.destroy(name)
    except (DeployFailed, ValueError) as failure:  # ValueError: the assembly has no such stack, or several and none named
        print(f"failed: {failure}", file=sys.stderr)
        return 1
    return 0


def _parameters(items: list[str], stack_name: str, parser: argparse.ArgumentParser) -> dict[str, str]:
    """``--parameters`` values for ``stack_name``: those without a stack, and those naming it."""
    values: dict[str, str] = {}
    for item in items:
        name, equals, value = item.partition("=")
        if not equals or not name:
            parser.error(f"--parameters {item!r}: expected [STACK:]NAME=VALUE")
        stack, _, name = name.rpartition(":")
        if stack in ("", stack_name):
            values[name] = value
    return values


if __name__ == "__main__":
    sys.exit(main())
