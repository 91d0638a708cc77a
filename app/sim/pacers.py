"""Baseline pacing policies for the outbound benchmark, run by the same dialler core as Holdfast's.

Progressive and fixed ratios need no pacer: they are power mode with `lines_per_agent` 1 or r
(r dials per ready agent, minus those still ringing). The VICIdial-like policy below is a
predictive pacer with VICIdial's adaptive dial level (AST_VDadapt, ADAPT_HARD_LIMIT):

- Calls wanted = ceil(dial level x agents counted) - active calls, where the agents counted are
  those ready or on a call (VICIdial's "available only tally" off; agents dispositioning are
  paused there, so wrap-up does not count) and the active calls are every call still ringing,
  answered and waiting, or talking.
- Every 15 s the dial level moves by the last minute's differential: the average of (agents
  waiting - answered calls waiting), as a share of the average agents, scaled by the intensity
  (0 here: the differential as is); kept within [1.0, max level 3.0].
- A drop (abandon) rate of the day over the limit (with more than 50 answered calls) sets the level
  to 1.0: the hard limit. A last minute with more than 20 calls and over 50 % dropped halves it.
"""

from __future__ import annotations

import math
from collections import deque

from app.core.pacing import PacingView

ADAPT_EVERY = 15.0


class VicidialPacer:
    def __init__(self, cap: float = 0.03, max_level: float = 3.0, intensity: float = 0.0) -> None:
        self.cap = cap
        self.max_level = max_level
        self.intensity = intensity
        self.level = 1.0
        self.calls = 0  # answered today (live)
        self.drops = 0
        self._samples: deque[tuple[float, float, float]] = deque()  # (t, differential, agents)
        self._last_sample = -math.inf
        self._last_adapt = 0.0
        self._minute: deque[tuple[float, bool]] = deque()  # (t, dropped) of the last minute's answers

    def over_cap(self, now: float) -> bool:
        return False  # VICIdial applies its own limit (the level), not Holdfast's rule

    def observe_end(self, now: float, outcome: str, after: float) -> None:
        del now, outcome, after

    def observe_live(self, now: float, abandoned: bool) -> None:
        self.calls += 1
        self.drops += int(abandoned)
        self._minute.append((now, abandoned))

    def observe_talk(self, seconds: float) -> None:
        del seconds

    def _adapt(self, now: float) -> None:
        while self._samples and self._samples[0][0] < now - 60.0:
            self._samples.popleft()
        while self._minute and self._minute[0][0] < now - 60.0:
            self._minute.popleft()
        if self._samples:
            diff = sum(s[1] for s in self._samples) / len(self._samples)
            agents = sum(s[2] for s in self._samples) / len(self._samples)
            if agents > 0:
                pct = 100.0 * diff / agents
                mul = self.intensity / 100.0
                pct = pct * abs(mul - 1) if pct < 0 else pct * (mul + 1)
                self.level = self.level * (pct / 100.0 + 1)
        self.level = max(1.0, min(self.max_level, self.level))
        one = len(self._minute)
        if one > 20 and sum(1 for _, d in self._minute if d) / one > 0.5:
            self.level /= 2
        if self.calls > 50 and self.drops / self.calls > self.cap:
            self.level = 1.0
        self.level = max(1.0, self.level)

    def dials(self, view: PacingView) -> int:
        now = view.now
        talking = len(view.talking)
        if now - self._last_sample >= 1.0:
            self._last_sample = now
            self._samples.append((now, float(view.ready - view.waiting), float(view.ready + talking)))
        if now - self._last_adapt >= ADAPT_EVERY:
            self._last_adapt = now
            self._adapt(now)
        active = len(view.in_flight) + view.waiting + talking
        return max(0, math.ceil(self.level * (view.ready + talking) - 1e-9) - active)
