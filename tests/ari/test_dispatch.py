"""Per-lane ordering, cross-lane concurrency, handler failure isolation, drain."""

from __future__ import annotations

import asyncio
import random

import structlog
from hypothesis import given, settings
from hypothesis import strategies as st

from app.ari import AriEvent, ChannelDtmfReceived, Dispatcher, parse_event
from tests.ari.fake_ari import channel_json, event_json


def dtmf(channel_id: str, digit: str) -> ChannelDtmfReceived:
    data = event_json("ChannelDtmfReceived", digit=digit, duration_ms=100, channel=channel_json(channel_id))
    event = parse_event(data)
    assert isinstance(event, ChannelDtmfReceived)
    return event


async def run_interleaved(plan: list[tuple[int, int]], seed: int) -> dict[str, list[str]]:
    """Submit digits for several channels interleaved; handlers yield a random number of times."""
    rng = random.Random(seed)
    seen: dict[str, list[str]] = {}

    async def handler(event: AriEvent) -> None:
        assert isinstance(event, ChannelDtmfReceived)
        for _ in range(rng.randint(0, 3)):
            await asyncio.sleep(0)
        seen.setdefault(event.channel_id, []).append(event.digit)

    dispatcher = Dispatcher(handler)
    for chan, digit in plan:
        dispatcher.submit(dtmf(f"c{chan}", str(digit)))
        if rng.random() < 0.3:
            await asyncio.sleep(0)
    assert await dispatcher.drain(timeout=5)
    await dispatcher.close()
    return seen


@settings(max_examples=60, deadline=None)
@given(
    plan=st.lists(st.tuples(st.integers(0, 4), st.integers(0, 9)), max_size=60),
    seed=st.integers(0, 2**16),
)
def test_per_channel_order_is_preserved(plan: list[tuple[int, int]], seed: int) -> None:
    seen = asyncio.run(run_interleaved(plan, seed))
    expected: dict[str, list[str]] = {}
    for chan, digit in plan:
        expected.setdefault(f"c{chan}", []).append(str(digit))
    assert seen == expected


async def test_channels_are_handled_concurrently() -> None:
    """A handler blocked on channel A does not hold up channel B."""
    release_a = asyncio.Event()
    b_done = asyncio.Event()

    async def handler(event: AriEvent) -> None:
        assert isinstance(event, ChannelDtmfReceived)
        if event.channel_id == "A":
            await release_a.wait()
        else:
            b_done.set()

    dispatcher = Dispatcher(handler)
    dispatcher.submit(dtmf("A", "1"))
    dispatcher.submit(dtmf("B", "2"))
    await asyncio.wait_for(b_done.wait(), 1)
    assert dispatcher.pending == 1 and dispatcher.active_lanes == 1
    release_a.set()
    assert await dispatcher.drain(1)
    assert dispatcher.active_lanes == 0 and dispatcher.delivered == 2


async def test_handler_exception_is_logged_and_isolated() -> None:
    handled: list[str] = []

    async def handler(event: AriEvent) -> None:
        assert isinstance(event, ChannelDtmfReceived)
        if event.digit == "9":
            raise RuntimeError("boom")
        handled.append(f"{event.channel_id}:{event.digit}")

    dispatcher = Dispatcher(handler)
    with structlog.testing.capture_logs() as logs:
        for chan, digit in [("A", "1"), ("A", "9"), ("B", "1"), ("A", "2"), ("B", "9"), ("B", "2")]:
            dispatcher.submit(dtmf(chan, digit))
        assert await dispatcher.drain(1)
    assert sorted(handled) == ["A:1", "A:2", "B:1", "B:2"]
    assert dispatcher.handler_errors == 2
    failures = [e for e in logs if e["event"] == "ari_event_handler_failed"]
    assert len(failures) == 2
    assert {f["channel_id"] for f in failures} == {"A", "B"}
    assert all(f["event_type"] == "ChannelDtmfReceived" and f["log_level"] == "error" for f in failures)
    assert all(f.get("exc_info") for f in failures)
    await dispatcher.close()


async def test_close_drains_then_cancels_stragglers() -> None:
    finished: list[str] = []
    never = asyncio.Event()

    async def handler(event: AriEvent) -> None:
        assert isinstance(event, ChannelDtmfReceived)
        if event.channel_id == "stuck":
            await never.wait()
        await asyncio.sleep(0)
        finished.append(event.channel_id)

    dispatcher = Dispatcher(handler)
    dispatcher.submit(dtmf("quick", "1"))
    dispatcher.submit(dtmf("stuck", "1"))
    await dispatcher.close(timeout=0.2)
    assert finished == ["quick"]
    assert dispatcher.active_lanes == 0
    dispatcher.submit(dtmf("late", "1"))  # ignored (logged) after close
    assert dispatcher.pending == 0


async def collect(events: list[AriEvent]) -> list[AriEvent]:
    handled: list[AriEvent] = []

    async def handler(event: AriEvent) -> None:
        handled.append(event)

    dispatcher = Dispatcher(handler)
    for event in events:
        dispatcher.submit(event)
    assert await dispatcher.drain(timeout=5)
    await dispatcher.close()
    return handled


async def test_an_exact_copy_of_an_event_is_handled_once() -> None:
    """Asterisk sends each event of an agent's channel twice (channel and endpoint subscription)."""
    key = event_json("ChannelDtmfReceived", digit="1", duration_ms=100, channel=channel_json("c1"))
    start = event_json("StasisStart", args=["inbound", "4000"], channel=channel_json("c1"))
    hangup = event_json("ChannelHangupRequest", cause=16, channel=channel_json("c1"))
    sent = [start, start, key, key, hangup, hangup]
    handled = await collect([parse_event(dict(data)) for data in sent])
    assert [e.type for e in handled] == ["StasisStart", "ChannelDtmfReceived", "ChannelHangupRequest"]


async def test_the_same_key_pressed_again_is_handled_again() -> None:
    first, second = dtmf("c1", "1"), dtmf("c1", "1")  # a millisecond or more apart
    other_channel = parse_event({**first.raw, "channel": channel_json("c2")})
    handled = await collect([first, second, other_channel])
    assert len(handled) == 3


async def test_copies_are_recognised_only_among_recent_events() -> None:
    dispatcher = Dispatcher(lambda event: asyncio.sleep(0))
    dispatcher.duplicates.size = 3
    first = dtmf("c1", "1")
    assert not dispatcher.duplicates.is_copy(first)
    assert dispatcher.duplicates.is_copy(parse_event(dict(first.raw)))
    for digit in "234":
        assert not dispatcher.duplicates.is_copy(dtmf("c1", digit))
    assert not dispatcher.duplicates.is_copy(parse_event(dict(first.raw)))  # forgotten: too old
    await dispatcher.close()


async def test_different_events_of_one_object_in_the_same_millisecond_are_all_handled() -> None:
    """Copies are told apart by content, not by (object, type, timestamp) alone: two variables set
    on one channel within a millisecond are two events, each sent twice (two subscriptions)."""
    at = "2026-01-01T10:00:00.123+0000"
    first = event_json("ChannelVarset", variable="A", value="1", channel=channel_json("c1"), timestamp=at)
    second = event_json("ChannelVarset", variable="B", value="2", channel=channel_json("c1"), timestamp=at)
    handled = await collect([parse_event(dict(d)) for d in (first, second, first, second)])
    assert [e.raw["variable"] for e in handled] == ["A", "B"]
