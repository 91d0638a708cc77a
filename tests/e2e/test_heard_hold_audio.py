"""What a waiting caller hears, measured on the wire: RTP packets received by the simulator's phone.

Issue 12 (1): once a queue's holding bridge had emptied, later callers heard the prompts and no
RTP at all between them (the bridge's music announcer had left with the last caller).
Issue 13: waiting callers share the bridge's one music stream (its announcer channel), and each
caller's own music takes over whenever that stream is gone.
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


def announcers(holdfast) -> list[str]:
    """The holding bridge's music channels (Announcer/ARI_MOH-...;2). ARI lists neither them nor
    their bridge membership, so the SUT's CLI is read: `core show channels concise` lines are
    name!context!exten!priority!state!app!data!caller!...!bridge id!unique id."""
    found = []
    for line in holdfast.sut.cli("core show channels concise").splitlines():
        fields = line.split("!")
        if fields[0].startswith("Announcer/") and len(fields) > 2 and fields[-2] == HOLD_BRIDGE:
            found.append(fields[0])
    return found


async def wait_announcers(holdfast, count: int, timeout: float = 10.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while len(found := announcers(holdfast)) != count:
        assert time.monotonic() < deadline, f"announcers in the holding bridge: {found}, not {count}"
        await asyncio.sleep(0.1)
    return found


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


async def test_waiting_callers_share_one_music_stream_and_keep_music_when_it_goes(holdfast, phonesim):
    await wait_bridge_empty(holdfast)  # no caller of an earlier test: the first join starts the music
    numbers = ["+4520123481", "+4520123482", "+4520123483"]
    calls = []
    for number in numbers:
        call = await phonesim.call(QUEUE, number)
        await call.wait_answered()
        await holdfast.wait_activity("arrived", caller=number)
        calls.append(call)
    (announcer,) = await wait_announcers(holdfast, 1)  # one stream, started by the first caller only

    shared = await rtp_samples(calls, 3.0)
    assert announcers(holdfast) == [announcer], "the music channel must stay (not taken for a caller)"
    for number, call in zip(numbers, calls, strict=True):
        series = shared[call.id]
        assert longest_silence(series) <= 1.0, f"{number}: silence in the shared stream; {series}"
        assert series[-1][1] - series[0][1] > 3 * 50 * 0.7, f"{number}: {series}"
        assert fastest_second(series) <= 65, f"{number}: two streams at once; {series}"

    holdfast.sut.cli(f"channel request hangup {announcer}")  # the stream goes (as when its removal races a new start)
    await wait_announcers(holdfast, 0)
    alone = await rtp_samples(calls, 4.0)
    for number, call in zip(numbers, calls, strict=True):
        series = alone[call.id]
        silence = longest_silence(series)
        assert silence <= 1.0, f"{number}: no RTP for {silence:.2f} s after the shared stream went; {series}"
        assert series[-1][1] - series[0][1] > 4 * 50 * 0.7, f"{number}: {series}"
    assert len(holdfast.engine.waiting("cb1")) == 3, "every caller still waiting, in place"
    assert holdfast.service.healthy
    for call in calls:
        await call.hangup()
