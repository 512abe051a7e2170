"""The Connect client is typed (mypy-boto3-connect): a misspelt operation or parameter fails mypy, not a deployment."""

from __future__ import annotations

from pathlib import Path

import pytest
from mypy import api

ROOT = Path(__file__).resolve().parents[2]

CALLS = """
from connect_phone_number_handler.connect_api import Deadline, call, make_client
from support import FakeContext

client = make_client()
deadline = Deadline(FakeContext(1))
call(deadline, client.{operation}, {arguments})
"""


def mypy_errors(tmp_path: Path, operation: str, arguments: str) -> str:
    source = tmp_path / "calls.py"
    source.write_text(CALLS.format(operation=operation, arguments=arguments))
    stdout, _, _ = api.run(["--config-file", str(ROOT / "pyproject.toml"), "--cache-dir", str(ROOT / ".mypy_cache"), str(source)])
    return stdout


def test_a_correct_call_passes(tmp_path: Path) -> None:
    assert "Success" in mypy_errors(tmp_path, "release_phone_number", 'PhoneNumberId="x", ClientToken="y"')


@pytest.mark.parametrize(
    ("operation", "arguments", "error"),
    [
        ("release_phone_numbr", 'PhoneNumberId="x"', "has no attribute"),
        ("release_phone_number", 'PhoneNumberID="x"', "Unexpected keyword argument"),
        ("release_phone_number", "PhoneNumberId=3", "incompatible type"),
        ("claim_phone_number", 'TargetArn="x"', "Missing named argument"),
    ],
)
def test_a_misspelt_operation_or_parameter_fails_mypy(tmp_path: Path, operation: str, arguments: str, error: str) -> None:
    assert error in mypy_errors(tmp_path, operation, arguments)
