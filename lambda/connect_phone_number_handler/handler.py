"""Custom::ConnectPhoneNumber handler: claims, updates and releases one Connect phone number.

Lambda entry point: ``index.on_event`` (this function). The handler speaks CloudFormation's custom-resource
protocol itself (protocol.py) and runs every request through one path (reconcile.py): what the request
declares, what Connect holds (observe.py), the steps between them (plan.py, pure), applied in order
(steps.py), waiting for Connect's asynchronous status within its own run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from . import protocol, reconcile
from .connect_api import LambdaContext

logging.getLogger().setLevel(logging.INFO)
# botocore's INFO lines (credential and endpoint discovery) would bury the decisions logged here.
logging.getLogger("botocore").setLevel(logging.WARNING)


def on_event(event: Mapping[str, Any], context: LambdaContext) -> None:
    """Lambda entry point: one CloudFormation request, one answer (protocol.serve), by one path (reconcile.run)."""
    protocol.serve(event, context, reconcile.run)
