"""Fixtures: a fresh Connect emulator and a ResponseURL receiver per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connect_phone_number.emulator import ConnectEmulator
from connect_phone_number.local_deploy.responses import ResponseServer
from support import fast_config


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[ConnectEmulator]:
    """A fresh emulator, with boto3 pointed at it through the standard endpoint variables."""
    with ConnectEmulator(fast_config()) as running:
        for key, value in running.client_environment().items():
            monkeypatch.setenv(key, value)
        yield running


@pytest.fixture
def responses() -> Iterator[ResponseServer]:
    with ResponseServer() as server:
        yield server
