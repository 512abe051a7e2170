"""Fixtures: a fresh Connect emulator and a ResponseURL receiver per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connect_phone_number.emulator import ConnectEmulator
from connect_phone_number.local_deploy.responses import ResponseServer

pytest_plugins = ["connect_phone_number.testing"]


@pytest.fixture
def emulator(connect_emulator: ConnectEmulator) -> ConnectEmulator:
    """A fresh emulator, with boto3 pointed at it: the fixture the package ships for its users."""
    return connect_emulator


@pytest.fixture
def responses() -> Iterator[ResponseServer]:
    with ResponseServer() as server:
        yield server
