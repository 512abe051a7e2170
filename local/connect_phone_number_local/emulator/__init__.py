"""A local Amazon Connect phone-number emulator for tests and demos (no AWS account needed)."""

from .server import ConnectEmulator
from .service import LIMIT_MESSAGE, ConnectService, EmulatorConfig

__all__ = ["LIMIT_MESSAGE", "ConnectEmulator", "ConnectService", "EmulatorConfig"]
