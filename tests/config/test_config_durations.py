from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.config.durations import DurationError, format_duration, parse_duration


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
