"""What a waiting caller hears, measured on the wire: RTP packets received by the simulator's phone.

Issue 12 (1): once a queue's holding bridge had emptied, later callers heard the prompts and no
RTP at all between them (the bridge's music announcer had left with the last caller).
Each caller has their own music (role holding_participant); a prompt suspends it, so a caller
never receives two streams at once.
"""

from __future__ import annotations

import asyncio
import time

import pytest

pytestmark = pytest.mark.e2e

QUEUE = "4003"  # queue "cb1": a callback offer 1 s after arrival, then nothing for 60 s; no agents
HOLD_BRIDGE = "holdfast-hold-cb1"


async def rtp_samples(calls, seconds: float, every: float = 0.25) -> dict[str, list[tuple[float, int]]]:
    """(time, received RTP packets) for each call, sampled every `every` seconds for `seconds`."""
    samples: dict[str, list[tuple[float, int]]] = {c.id: [] for c in calls}
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for call in calls:
            stats = await call.rtp_stats()
            samples[call.id].append((time.monotonic(), int(stats["rxcount"])))
        await asyncio.sleep(every)
    return samples


def longest_silence(samples: list[tuple[float, int]], min_packets: int = 3) -> float:
    """The longest stretch of time over which fewer than `min_packets` RTP packets arrived."""
    longest = 0.0
    start = 0
    for i in range(1, len(samples)):
        # Move the start of the quiet stretch up to the last sample the count grew over.
        while samples[i][1] - samples[start][1] >= min_packets:
            start += 1
        if start < i:
            longest = max(longest, samples[i][0] - samples[start][0])
    return longest


def fastest_second(samples: list[tuple[float, int]]) -> float:
    """The most packets received over any stretch of about a second (two streams at once, e.g. a
    prompt over the music, would show as about 100)."""
    best = 0.0
    for i in range(len(samples)):
        for j in range(i + 1, len(samples)):
            if samples[j][0] - samples[i][0] >= 1.0:
                best = max(best, (samples[j][1] - samples[i][1]) / (samples[j][0] - samples[i][0]))
                break
    return best


def hold_bridge_channels(holdfast) -> list[str]:
    return list(holdfast.sut.ari_get(f"/bridges/{HOLD_BRIDGE}")["channels"])


async def wait_bridge_empty(holdfast, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while channels := hold_bridge_channels(holdfast):
        assert time.monotonic() < deadline, f"holding bridge still has {channels}"
        await asyncio.sleep(0.1)


def test_fastest_second_finds_a_doubled_stream() -> None:
    one = [(t * 0.25, t * 12.5) for t in range(20)]
    assert fastest_second(one) == pytest.approx(50.0)
    doubled = [*one, (5.0, 237.5 + 25), (5.25, 237.5 + 50), (5.5, 237.5 + 75), (5.75, 237.5 + 100), (6.0, 237.5 + 125)]
    assert fastest_second(doubled) == pytest.approx(100.0)


def test_longest_silence_measures_stretches_without_packets() -> None:
    flowing = [(t * 0.25, t * 12) for t in range(20)]
    assert longest_silence(flowing) == 0.0
    gap = [(0.0, 0), (0.25, 12), (0.5, 12), (0.75, 13), (1.0, 13), (1.25, 13), (1.5, 25)]
    assert longest_silence(gap) == pytest.approx(1.0)


async def test_callers_after_the_holding_bridge_emptied_hear_audio_all_the_time(holdfast, phonesim):
    first = await phonesim.call(QUEUE, "+4520123471")
    await holdfast.wait_activity("arrived", caller="+4520123471")
    await first.wait_answered()
    await first.hangup()  # the last caller leaves: the bridge is empty (and its announcer went)
    await holdfast.wait_activity("ended", outcome="abandoned")
    await wait_bridge_empty(holdfast)

    async def listen(number: str) -> list[tuple[float, int]]:
        """Call in and sample what the caller receives from its arrival for 16 s: the callback
        offer (1 s after arrival) and the hold before and after it."""
        call = await phonesim.call(QUEUE, number)
        await call.wait_answered()
        arrived = await holdfast.wait_activity("arrived", caller=number)
        assert not holdfast.activities.find("offered", request_id=arrived.request_id)
        samples = (await rtp_samples([call], 16.0))[call.id]
        assert holdfast.activities.find("offered", request_id=arrived.request_id)  # a prompt in the window
        await call.hangup()
        return samples

    second = asyncio.create_task(listen("+4520123472"))
    await holdfast.wait_activity("arrived", caller="+4520123472")
    third = await listen("+4520123473")
    for number, series in (("+4520123472", await second), ("+4520123473", third)):
        silence = longest_silence(series)
        assert silence <= 1.0, f"{number}: no RTP for {silence:.2f} s; samples {series}"
        assert series[-1][1] - series[0][1] > 16 * 50 * 0.7  # ~50 packets/s nearly all the time
        assert fastest_second(series) <= 65, f"{number}: two streams at once (the offer over the music?)"
