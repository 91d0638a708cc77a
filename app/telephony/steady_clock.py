"""The service's clock: the wall clock's time, at the pace of elapsed time, never stepping back.

Every engine deadline (a ring timeout, a wrap-up's end, a callback's quarantine, its 72 h expiry)
is a wall-clock time, because it is stored and must mean the same after a restart. Read straight
from the wall clock, a step back (NTP correcting a clock that ran ahead, a VM restored from a
snapshot, an operator's `date -s`) would hold every timer back by the step: agents left in wrap-up,
ring timeouts that never fire, a queue frozen without a single error.

So after a step back this clock keeps counting elapsed time, at 90 % of its pace, until the wall
clock has caught up with it (an hour's step: ten hours; a timer meanwhile fires at most 11 % late).
A step forward (a suspended machine resumed, a wall clock that was behind) is followed at once:
the deadlines in between fall due now, early perhaps, but none waits.

At a start the clock begins no earlier than the latest time on the stored state, so a step back
while the service was down (or a restart while it was catching up) is caught up the same way.

While it runs ahead, the engine is told by how much (`lead_to_tell`, events.ClockAhead), so that
calling hours hold by the true clock as well: a contact is never dialled before their hours.

Cross-node agreements (the instance lock, the leadership lease) keep the plain wall clock: a
standby compares our lease with its own wall clock, not with ours.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import structlog

log = structlog.get_logger("holdfast.clock")

CATCH_UP = 0.10  # share of elapsed time given back while the wall clock is behind us
STEP = 1.0  # seconds: a jump of the wall clock against elapsed time worth a log line
TELL_FALL = 60.0  # seconds: the least fall of the lead worth telling the engine (and the most it lags)


class SteadyClock:
    """Callable: seconds since the epoch. `wall` and `elapsed` are for tests."""

    def __init__(
        self,
        wall: Callable[[], float] = time.time,
        elapsed: Callable[[], float] = time.monotonic,
        catch_up: float = CATCH_UP,
    ) -> None:
        self._wall = wall
        self._elapsed = elapsed
        self._pace_behind = 1.0 - catch_up
        self._now = wall()
        self._at = elapsed()
        self.ahead = 0.0  # seconds this clock is ahead of the wall clock (after a step back)

    def __call__(self) -> float:
        wall, at = self._wall(), self._elapsed()
        passed = max(0.0, at - self._at)
        self._at = at
        paced = self._now + passed
        if wall >= paced:
            if wall - paced > STEP:
                log.warning(
                    "wall_clock_stepped_forward",
                    seconds=round(wall - paced, 3),
                    detail="following it: deadlines in between fall due now",
                )
            now = wall
        else:
            if paced - wall > self.ahead + STEP:
                log.warning(
                    "wall_clock_stepped_back",
                    seconds=round(paced - wall - self.ahead, 3),
                    ahead=round(paced - wall, 3),
                    detail=f"keeping elapsed time at {self._pace_behind:.0%} pace until the wall clock catches up",
                )
            now = max(wall, self._now + passed * self._pace_behind)
        if self.ahead > STEP and now == wall:
            log.info("wall_clock_caught_up")
        self.ahead = now - wall
        self._now = now
        return now

    def not_before(self, stamped: float) -> None:
        """Never run behind a time already stamped on what is stored: at a start after a step back
        (the service stopped meanwhile, or restarted while catching up), the stored deadlines are on
        the old time, so start from it and catch up as after any step back."""
        now = self()
        if stamped > now + STEP:
            log.warning(
                "wall_clock_behind_the_store",
                seconds=round(stamped - now, 3),
                detail=f"starting from the stored time at {self._pace_behind:.0%} pace till the wall clock catches up",
            )
            self._now = stamped
            self.ahead = stamped - self._wall()


def lead_to_tell(ahead: float, told: float) -> float | None:
    """What to tell the engine of the clock's lead over the wall clock now, `told` being what it
    holds (None: nothing new). Whole seconds, rounded up, under STEP taken as none. A rise is told
    at once; a fall by TELL_FALL or to none, so the engine's figure is never below the true lead
    nor more than TELL_FALL above it: queue hours, read on the wall clock through it, open and
    close at most that late. Catching up an hour (at a tenth of real time) is sixty events."""
    lead = float(math.ceil(ahead)) if ahead > STEP else 0.0
    if lead > told or (lead == 0.0 < told):
        return lead
    if told - lead >= TELL_FALL:
        return lead
    return None
