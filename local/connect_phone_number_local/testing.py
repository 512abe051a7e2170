"""A pytest fixture for testing your own stacks' phone numbers against the local emulator.

In your conftest.py::

    pytest_plugins = ["connect_phone_number_local.testing"]

    def test_my_handler_claims(connect_emulator):
        ...  # boto3 Connect clients created now talk to the emulator

The fixture starts a fresh emulator per test with short workflow times and no throttling, and
points boto3 at it through the standard AWS_ENDPOINT_URL_CONNECT setting, with dummy
credentials. Change ``connect_emulator.service.config`` for Connect's real timings and quotas.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .emulator import ConnectEmulator, EmulatorConfig


def fast_config(**overrides: Any) -> EmulatorConfig:
    """Settings for tests: workflows settle in a fraction of a second and nothing is throttled."""
    settings: dict[str, Any] = {"claim_seconds": 0.2, "update_seconds": 0.1, "release_seconds": 0.05, "rate_per_second": 1000.0, "burst": 1000}
    return EmulatorConfig(**{**settings, **overrides})


@pytest.fixture
def connect_emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[ConnectEmulator]:
    """A running emulator, with boto3's Connect endpoint and credentials pointed at it."""
    with ConnectEmulator(fast_config()) as emulator:
        for key, value in emulator.client_environment().items():
            monkeypatch.setenv(key, value)
        yield emulator
