from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.config.schema import parse_day
from app.core.settings import OpeningHours, TimeRange

from .helpers import problems, valid, with_value

H = 3600


@pytest.mark.parametrize(
    ("spec", "ranges"),
    [
        ("closed", ()),
        ("Closed", ()),
        (None, ()),
        ([], ()),
        (["closed"], ()),
        ("08:00-16:00", (TimeRange(8 * H, 16 * H),)),
        ("8:30-9:15", (TimeRange(8 * H + 1800, 9 * H + 900),)),
        ("00:00-24:00", (TimeRange(0, 86400),)),
        (["08:00-12:00", "13:00-16:00"], (TimeRange(8 * H, 12 * H), TimeRange(13 * H, 16 * H))),
        ("08:00-12:00, 12:00-16:00", (TimeRange(8 * H, 12 * H), TimeRange(12 * H, 16 * H))),
    ],
)
def test_parse_day(spec: object, ranges: tuple[TimeRange, ...]) -> None:
    assert parse_day(spec) == ranges


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("8-16", 'expected "HH:MM-HH:MM" ranges, "closed" or a list of them'),
        ("open", 'expected "HH:MM-HH:MM" ranges'),
        (8, 'expected "HH:MM-HH:MM" ranges'),
        ({"from": "08:00"}, 'expected "HH:MM-HH:MM" ranges'),
        (["08:00-12:00", 5], 'expected "HH:MM-HH:MM" ranges'),
        ("16:00-08:00", "a range must end after it starts"),
        ("08:00-08:00", "a range must end after it starts"),
        ("08:00-25:00", "not a time of day"),
        ("08:60-09:00", "not a time of day"),
        ("24:00-24:00", "not a time of day"),
        (["08:00-12:00", "11:00-16:00"], "must not overlap"),
        (["13:00-16:00", "08:00-12:00"], "must be in order"),
        (["closed", "08:00-12:00"], '"closed" cannot be mixed'),
    ],
)
def test_day_errors(spec: object, reason: str) -> None:
    found = problems(with_value("queues.support.hours", {"mon": spec}))
    assert len(found) == 1
    assert found[0].startswith("queues.support.hours.mon is ")
    assert reason in found[0]


def test_brief_example_message() -> None:
    (msg,) = problems(with_value("queues.support.hours", {"mon": "8-16"}))
    assert msg == 'queues.support.hours.mon is "8-16"; expected "HH:MM-HH:MM" ranges, "closed" or a list of them'


def test_hours_build_opening_hours() -> None:
    hours = {
        "timezone": "Europe/Copenhagen",
        "mon": "08:00-16:00",
        "fri": ["08:00-12:00", "13:00-15:00"],
        "sun": "closed",
        "exceptions": {"2026-12-25": "closed", "2026-12-24": "08:00-12:00"},
    }
    q = valid(with_value("queues.support.hours", hours)).core().queue("support")
    assert q.hours == OpeningHours(
        timezone="Europe/Copenhagen",
        weekly=(
            (TimeRange(8 * H, 16 * H),),
            (),
            (),
            (),
            (TimeRange(8 * H, 12 * H), TimeRange(13 * H, 15 * H)),
            (),
            (),
        ),
        exceptions=(("2026-12-24", (TimeRange(8 * H, 12 * H),)), ("2026-12-25", ())),
    )


def test_no_hours_means_always_open_and_default_timezone() -> None:
    core = valid(with_value("queues.support.hours", {"mon": "09:00-10:00"})).core()
    assert core.queue("sales").hours is None
    assert core.queue("support").hours is not None
    assert core.queue("support").hours.timezone == "UTC"


@pytest.mark.parametrize(
    ("hours", "needle"),
    [
        ({"timezone": "Europe/Copenhagn"}, 'queues.support.hours.timezone is "Europe/Copenhagn"; expected an IANA'),
        ({"timezone": "Europe/Copenhagn"}, "did you mean Europe/Copenhagen?"),
        ({"timezone": "../etc"}, "expected an IANA time zone name"),
        ({"exceptions": {"2026-13-01": "closed"}}, 'queues.support.hours.exceptions: the key "2026-13-01"'),
        ({"exceptions": {"24/12": "closed"}}, 'expected a date "YYYY-MM-DD"'),
        ({"exceptions": {"2026-12-24": "8-12"}}, 'queues.support.hours.exceptions.2026-12-24 is "8-12"'),
        ({"monday": "08:00-16:00"}, "queues.support.hours.monday is not a known key; did you mean mon?"),
    ],
)
def test_hours_errors(hours: dict[str, object], needle: str) -> None:
    found = problems(with_value("queues.support.hours", hours))
    assert any(needle in p for p in found), found


@given(st.lists(st.integers(min_value=0, max_value=24 * 60), min_size=2, max_size=10, unique=True))
def test_ordered_ranges_round_trip(minutes: list[int]) -> None:
    points = sorted(minutes)
    if len(points) % 2:
        points = points[:-1]
    pairs = list(zip(points[::2], points[1::2], strict=True))
    text = [f"{a // 60:02d}:{a % 60:02d}-{b // 60:02d}:{b % 60:02d}" for a, b in pairs]
    assert parse_day(text) == tuple(TimeRange(a * 60, b * 60) for a, b in pairs)
    assert parse_day(", ".join(text)) == parse_day(text)
