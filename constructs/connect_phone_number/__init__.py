"""AWS CDK constructs for Amazon Connect phone numbers, managed as code.

``from connect_phone_number import ClaimedPhoneNumber``

The construct is imported on first use, not with the package: importing aws_cdk starts Node
(jsii), which the emulator, the pytest fixture and the local deploy do not need.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .phone_number import ClaimedPhoneNumber

__all__ = ["ClaimedPhoneNumber"]


def __getattr__(name: str) -> Any:
    """Import the construct when it is first asked for (PEP 562)."""
    if name == "ClaimedPhoneNumber":
        return importlib.import_module(".phone_number", __name__).ClaimedPhoneNumber
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
