"""mypy checks every use of aws-cdk-lib that the project makes, though it skips the service modules nobody imports."""

from __future__ import annotations

import ast
import re
import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: `cdk.aws_connect.CfnContactFlow`: a service module reached through the root module's attributes.
ATTRIBUTE_USE = re.compile(r"\b(?:cdk|aws_cdk)\.((?:aws_|assertions)[a-z0-9_]*)\b")


def followed_cdk_modules() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]["overrides"]
    return {module for override in config if override.get("follow_imports") == "normal" for module in override["module"]}


def imported_cdk_modules() -> set[str]:
    tracked = subprocess.run(["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    modules: set[str] = set()
    for name in tracked:
        source = (ROOT / name).read_text()
        modules.update(f"aws_cdk.{submodule}" for submodule in ATTRIBUTE_USE.findall(source))
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                modules.update(alias.name for alias in node.names if alias.name.split(".")[0] == "aws_cdk")
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "aws_cdk":
                modules.add(node.module)
                # `from aws_cdk import aws_iam as iam` imports a module; `from aws_cdk import Stack` a name.
                modules.update(f"{node.module}.{alias.name}" for alias in node.names if alias.name[0].islower() and alias.name != "*")
    return modules


def test_mypy_follows_every_aws_cdk_module_the_project_imports() -> None:
    imported = imported_cdk_modules()

    assert {"aws_cdk", "aws_cdk.aws_iam", "aws_cdk.aws_lambda"} <= imported
    assert imported <= followed_cdk_modules(), "add these to the followed aws_cdk modules in pyproject.toml"


def test_the_other_aws_cdk_modules_are_skipped_so_a_cold_mypy_run_stays_short() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]["overrides"]

    assert any(override["module"] == ["aws_cdk.*"] and override["follow_imports"] == "skip" for override in config)
