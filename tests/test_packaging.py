"""The distribution ships the handler asset inside the package, where the construct looks for it."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_wheel_carries_the_lambda_asset_and_the_iam_table_and_no_constructs_package(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", str(ROOT), "--wheel-dir", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    [wheel] = tmp_path.glob("cdk_connect_phone_number-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())

    assert {f"connect_phone_number/runtime/{m}.py" for m in ("handler", "contract", "rules", "waiting", "connect_api", "cfn_response")} <= names
    assert "connect_phone_number/emulator/iam_reference.json" in names, "the emulator's IAM table"
    assert not any(n.startswith("constructs/") for n in names), "a 'constructs' package would shadow the constructs library"
