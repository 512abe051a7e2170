"""Runs one handler invocation in its own process, as Lambda would.

``python -m connect_phone_number_local.deploy.lambda_runner ASSET_DIR MODULE.FUNCTION TIMEOUT``
reads the event as JSON on stdin. The asset directory is the only code on the import path
that the handler sees first, and the context's remaining time runs down from TIMEOUT.
"""

from __future__ import annotations

import importlib
import json
import logging
import sys
import time
from collections.abc import Callable


class Context:
    """The parts of Lambda's context object a handler may use; its remaining time really runs down.

    ``monotonic`` is the clock it runs down on: the real one here; tests give the clock their handler reads.
    """

    def __init__(self, timeout: float, function_name: str = "local", *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._end = monotonic() + timeout
        self.function_name = function_name
        self.memory_limit_in_mb = 256
        self.aws_request_id = "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._end - self._monotonic()) * 1000))


def main() -> None:
    asset_dir, entry, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
    sys.path.insert(0, asset_dir)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    module_name, function_name = entry.rsplit(".", 1)
    function = getattr(importlib.import_module(module_name), function_name)
    event = json.loads(sys.stdin.read())
    function(event, Context(timeout, function_name))


if __name__ == "__main__":
    main()
