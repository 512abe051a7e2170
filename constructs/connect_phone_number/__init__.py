"""AWS CDK constructs for Amazon Connect phone numbers, managed as code.

``from connect_phone_number import ClaimedPhoneNumber, IPhoneNumber``

The construct is imported on first use, not with the package: importing aws_cdk starts Node (jsii).
The local tools (emulator, local deploy, pytest fixture) are ``connect_phone_number_local``, a sibling
distribution (``pip install 'cdk-connect-phone-number[local]'``); their old names here still import
them, with a DeprecationWarning, for one release (``_moved``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import _moved

_moved.install()

if TYPE_CHECKING:
    from .phone_number import ClaimedPhoneNumber, IPhoneNumber

__all__ = ["ClaimedPhoneNumber", "IPhoneNumber"]


def __getattr__(name: str) -> Any:
    """Import the construct module when one of its names is first asked for (PEP 562)."""
    if name in __all__:
        return getattr(importlib.import_module(".phone_number", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
