"""Reconnect delays: exponential, capped, with jitter.

Jitter matters when Asterisk restarts: every service instance (and every test) would otherwise
retry in lock-step. We use "equal jitter" (half fixed, half random) so a delay never collapses to
~0 and hammers a server that is refusing us.
"""

from __future__ import annotations

import random


class Backoff:
    def __init__(
        self,
        initial: float = 0.5,
        maximum: float = 10.0,
        factor: float = 2.0,
        rng: random.Random | None = None,
    ) -> None:
        if initial <= 0 or maximum < initial or factor < 1:
            raise ValueError(f"bad backoff: initial={initial} maximum={maximum} factor={factor}")
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self._rng = rng or random.Random()
        self.attempt = 0

    def ceiling(self) -> float:
        """The un-jittered delay for the current attempt."""
        return min(self.maximum, self.initial * self.factor**self.attempt)

    def next_delay(self) -> float:
        ceiling = self.ceiling()
        # Stop growing the exponent once capped so it cannot overflow on a long outage.
        if ceiling < self.maximum:
            self.attempt += 1
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    def reset(self) -> None:
        self.attempt = 0
