"""Fixtures: a fresh Connect emulator and a ResponseURL receiver per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connect_phone_number_local.deploy.responses import ResponseServer
from connect_phone_number_local.emulator import ConnectEmulator

pytest_plugins = ["connect_phone_number_local.testing"]


@pytest.fixture
def emulator(connect_emulator: ConnectEmulator) -> ConnectEmulator:
    """A fresh emulator, with boto3 pointed at it: the fixture the package ships for its users."""
    return connect_emulator


@pytest.fixture
def responses() -> Iterator[ResponseServer]:
    with ResponseServer() as server:
        yield server
