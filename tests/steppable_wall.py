"""A wall clock a test can step, for the service's SteadyClock (the machine's own clock is shared
with both Asterisks and everything else here, so tests step the service's view of it only)."""

from __future__ import annotations

import time


class SteppableWall:
    """The real wall clock, with a step a test can put in."""

    def __init__(self) -> None:
        self.step = 0.0

    def __call__(self) -> float:
        return time.time() + self.step
