"""The state of applying one plan: the run, what the request declares, the deadline, the number as it is now."""

from __future__ import annotations

from dataclasses import dataclass

from .connect_api import Deadline
from .desired import Desired
from .protocol import Failure, Run
from .steps import Acquire, Summary


class LeftToAnother(Failure):
    """Another adoption wrote its marker last: the number is left to it, and nothing is undone."""


@dataclass
class Work:
    """Applying one plan: the run, what the request declares, the deadline, and the number as it is now."""

    run: Run
    desired: Desired
    deadline: Deadline
    number: Summary | None = None
    acquired: Summary | None = None  # the number Acquire claimed, once CLAIMED
    acquiring: Acquire | None = None  # the Acquire step under way
    bound: str = "the wait limit"  # what the deadline is, as a Reason says it

    @property
    def arn(self) -> str:
        assert self.number is not None
        return str(self.number["PhoneNumberArn"])
