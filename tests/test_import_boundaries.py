"""The rooms and the doors between them: what each part of the project may import.

- The handler (the Lambda asset) imports the standard library, boto3 and botocore only: that is all the
  Lambda Python runtime gives it. Type-only imports (under ``if TYPE_CHECKING:``) do not run there.
- The construct never imports the local tools (the emulator, the local deploy): they are an extra that users
  of the construct do not install. The old import paths reach them only when asked for (``_moved``).
- The handler never imports the construct or aws_cdk, and the construct reaches the handler by its one name.

Read from the source (every import statement, wherever it is), and checked in a fresh process (what importing
the construct really loads).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HANDLER = ROOT / "lambda" / "connect_phone_number_handler"
CONSTRUCT = ROOT / "constructs" / "connect_phone_number"
LAMBDA_RUNTIME_LIBRARIES = {"boto3", "botocore"}


def imports(path: Path) -> Iterator[tuple[str, int, bool]]:
    """(top-level module, line, whether only for type checkers) of every absolute import in ``path``."""
    tree = ast.parse(path.read_text(), str(path))
    type_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            type_only.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split(".")[0], node.lineno, id(node) in type_only
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0], node.lineno, id(node) in type_only


@pytest.mark.parametrize("path", sorted(HANDLER.glob("*.py")), ids=lambda p: p.name)
def test_the_handler_imports_only_the_standard_library_and_boto3(path: Path) -> None:
    allowed = set(sys.stdlib_module_names) | LAMBDA_RUNTIME_LIBRARIES
    outside = [f"{module} (line {line})" for module, line, type_only in imports(path) if module not in allowed and not type_only]

    assert not outside, f"{path.name} imports what the Lambda runtime does not have: {outside}"


@pytest.mark.parametrize("path", sorted(CONSTRUCT.rglob("*.py")), ids=lambda p: p.name)
def test_the_construct_never_imports_the_local_tools(path: Path) -> None:
    local = [f"line {line}" for module, line, _ in imports(path) if module == "connect_phone_number_local"]

    assert not local, f"{path.name} imports connect_phone_number_local: {local}"


def test_importing_and_using_the_construct_loads_no_local_tool_and_one_handler_module_per_name() -> None:
    probe = """
import json, sys
import aws_cdk as cdk
from connect_phone_number import ClaimedPhoneNumber
stack = cdk.Stack(cdk.App(), "Probe")
ClaimedPhoneNumber(stack, "Number", target_arn="arn:aws:connect:us-east-1:123456789012:instance/aaaaaaaa-1111-2222-3333-444444444444",
                   country_code="US", phone_number_type="DID")
files = [getattr(m, "__file__", None) for m in list(sys.modules.values())]
print(json.dumps({"local": sorted(n for n in sys.modules if n.startswith("connect_phone_number_local")),
                  "handler_files": [f for f in files if f and "connect_phone_number_handler" in f]}))
"""
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=False)

    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(result.stdout.splitlines()[-1])
    assert loaded["local"] == []
    assert len(loaded["handler_files"]) == len(set(loaded["handler_files"])), "a handler file loaded under two module names"
