from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.config.durations import DurationError, format_duration, parse_duration
from tests.config.helpers import problems, with_value


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (0, 0.0),
        (30, 30.0),
        (12.5, 12.5),
        ("45", 45.0),
        ("2.5", 2.5),
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("1h 30m", 5400.0),
        ("72h", 259200.0),
        ("2d", 172800.0),
        ("1d2h3m4s", 93784.0),
        ("1.5h", 5400.0),
        (" 10S ", 10.0),
        ("0s", 0.0),
    ],
)
def test_parse(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "expected seconds or a duration"),
        ("abc", "expected seconds or a duration"),
        ("5x", "expected seconds or a duration"),
        ("1m1h", "largest first"),
        ("5m5m", "largest first"),
        ("1h30", "expected seconds or a duration"),
        ("-5", "must not be negative"),
        ("-5m", "must not be negative"),
        (-1, "must not be negative"),
        (True, "expected seconds or a duration"),
        (None, "expected seconds or a duration"),
        ([1], "expected seconds or a duration"),
        (math.inf, "expected seconds or a duration"),
        (math.nan, "expected seconds or a duration"),
    ],
)
def test_parse_rejects(value: object, reason: str) -> None:
    with pytest.raises(DurationError, match=reason):
        parse_duration(value)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (30, "30s"), (60, "1m"), (5400, "1h30m"), (259200, "3d"), (93784, "1d2h3m4s"), (1.5, "1.5s")],
)
def test_format(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@given(st.integers(min_value=0, max_value=10**8))
def test_round_trip_whole_seconds(n: int) -> None:
    assert parse_duration(format_duration(n)) == n


@given(st.floats(min_value=0, max_value=1e7, allow_nan=False, allow_infinity=False))
def test_round_trip_fractional_seconds(x: float) -> None:
    assert parse_duration(format_duration(x)) == x


@given(
    st.fixed_dictionaries(
        {},
        optional={u: st.integers(min_value=0, max_value=1000) for u in "dhms"},
    ),
    st.sampled_from(["", " "]),
)
def test_parse_sum_of_parts(parts: dict[str, int], sep: str) -> None:
    sizes = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    if not parts:
        return
    text = sep.join(f"{parts[u]}{u}" for u in "dhms" if u in parts)
    assert parse_duration(text) == sum(parts[u] * sizes[u] for u in parts)


@pytest.mark.parametrize(
    ("path", "value", "needle"),
    [
        ("queues.support.ring_timeout", "100000d", "allowed at most 10m"),
        ("queues.support.wrap_up", 1e29, "allowed at most 1h"),
        ("queues.support.wrap_up", "2d", "allowed at most 1h"),
        ("web.session_lifetime", "0.4s", "allowed 1m-30d"),
        ("web.session_lifetime", "90d", "allowed 1m-30d"),
    ],
)
def test_a_duration_only_a_typo_could_mean_is_refused_with_its_range(path: str, value: object, needle: str) -> None:
    """An agent's phone ringing for 270 years, or a log-in cookie of Max-Age 0 (no log-in sticks)."""
    assert any(p.startswith(path) and needle in p for p in problems(with_value(path, value))), problems(
        with_value(path, value)
    )
