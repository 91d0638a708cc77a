from __future__ import annotations

import random

import pytest

from app.ari import Backoff


def test_grows_exponentially_with_jitter_and_caps() -> None:
    backoff = Backoff(initial=0.5, maximum=10.0, rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(12)]
    ceilings = [min(10.0, 0.5 * 2**i) for i in range(12)]
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert ceiling / 2 <= delay <= ceiling
    assert max(delays) <= 10.0
    assert len(set(delays)) == len(delays)  # jittered


def test_reset_starts_over() -> None:
    backoff = Backoff(initial=1.0, maximum=8.0, rng=random.Random(1))
    for _ in range(10):
        backoff.next_delay()
    assert backoff.ceiling() == 8.0
    backoff.reset()
    assert backoff.ceiling() == 1.0 and backoff.next_delay() <= 1.0


def test_exponent_stops_growing_once_capped() -> None:
    backoff = Backoff(initial=0.5, maximum=10.0)
    for _ in range(10_000):
        backoff.next_delay()
    assert backoff.attempt < 10


@pytest.mark.parametrize("args", [(0, 1), (2, 1), (-1, 5)])
def test_rejects_nonsense(args: tuple[float, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(*args)
