"""Issue 17, recording, on real Asterisk: a queue with `record_calls` records the agent-customer
bridge into the SUT's recording spool as holdfast-<request id>.wav. Each phone sends its own
tone (agent 440 Hz, customer 1400 Hz), so the file is checked to hold both sides all along, and
for a callback to start only at the bridge: its length is the bridged talk time, not the
whisper's and the customer's ringing besides.

Both queues announce the recording (`recording.announce: recording_notice`, replaced here by a
2 s tone of ANNOUNCE_HZ so it can be told apart): what a phone hears is recorded on the
simulator's side (ARI record on its channel) and must carry that tone; the bridge's recording
must not."""

from __future__ import annotations

import array
import asyncio
import io
import math
import sys
import time
import urllib.error
import wave
from pathlib import Path

import aiohttp
import pytest

from tests.e2e.test_callbacks import ANNA, CB1, arrive, take_callback
from tests.e2e.test_kill9_journeys import guarded, of, ready

pytestmark = pytest.mark.e2e

AGENT_HZ, CUSTOMER_HZ, ANNOUNCE_HZ = 440.0, 1400.0, 2000.0
ANNOUNCE_SECONDS = 2.0
TALK = 3.0  # seconds the two talk before the customer hangs up
WINDOW = 0.5  # seconds of audio judged at a time


@pytest.fixture
def holdfast_extra_config(monkeypatch: pytest.MonkeyPatch, sut_asterisk) -> str:
    """Queues cb1 (callbacks) and support (inbound) record their calls. The queues are written by
    conftest's holdfast_config_text, so it is wrapped for this module's tests."""
    # Asterisk records into <astspooldir>/recording but does not make that directory (its packages
    # do; the sandbox does not): without it the recording fails "No such file or directory".
    (Path(sut_asterisk.host_dir) / "spool" / "recording").mkdir(parents=True, exist_ok=True)
    conftest = next(
        m
        for m in list(sys.modules.values())
        if getattr(m, "__file__", None)
        and Path(m.__file__ or "").name == "conftest.py"
        and hasattr(m, "holdfast_config_text")
    )
    original = conftest.holdfast_config_text
    recorded = "\n    record_calls: true\n    recording: {format: wav, retention: 1d, announce: recording_notice}"

    def with_recording(*args: object, **kwargs: object) -> str:
        text: str = original(*args, **kwargs)
        for queue in ("cb1", "support"):
            assert f"\n  {queue}:" in text
            text = text.replace(f"\n  {queue}:", f"\n  {queue}:{recorded}", 1)
        return text

    monkeypatch.setattr(conftest, "holdfast_config_text", with_recording)
    write_tone(Path(sut_asterisk.host_dir) / "sounds" / "announce_tone.wav", ANNOUNCE_HZ, ANNOUNCE_SECONDS)
    return f"""
prompts:
  overrides:
    recording_notice: {sut_asterisk.dir}/sounds/announce_tone
"""


def write_tone(path: Path, hz: float, seconds: float, rate: int = 8000) -> None:
    """A pure tone as 16-bit 8 kHz mono WAV, which Asterisk plays as a prompt."""
    samples = array.array("h", (int(8000 * math.sin(2 * math.pi * hz * n / rate)) for n in range(int(seconds * rate))))
    if sys.byteorder != "little":
        samples.byteswap()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())


async def start_hearing(phonesim, call, name: str) -> None:
    """Record on the simulator's side what this phone receives (while it records, a playback sent to
    the channel waits: start the phone's own tone only after `stop_hearing`)."""
    await phonesim.ari.post(f"/channels/{call.id}/record", name=name, format="wav", ifExists="overwrite")


async def stop_hearing(phonesim, phonesim_asterisk, name: str) -> list[int]:
    await phonesim.ari.post(f"/recordings/live/{name}/stop")
    path = Path(phonesim_asterisk.host_dir) / "spool" / "recording" / f"{name}.wav"
    deadline = time.monotonic() + 5
    while True:  # the file is complete once the live recording is gone
        try:
            await phonesim.ari.get(f"/recordings/live/{name}")
        except Exception as error:  # phonesim's AriError (imported by conftest as a top-level module)
            if getattr(error, "status", None) != 404:  # 404: finished
                raise
            break
        assert time.monotonic() < deadline, f"recording {name} on the phone never finished"
        await asyncio.sleep(0.1)
    samples, rate = read_wav(path)
    assert rate == 8000
    return samples


def tone_seconds(samples: list[int], rate: int, hz: float) -> float:
    """How many seconds (in WINDOW steps) carry the `hz` tone as their main content."""
    size = int(WINDOW * rate)
    found = 0
    for i in range(0, len(samples) - size + 1, size):
        x = samples[i : i + size]
        rms = math.sqrt(sum(v * v for v in x) / len(x))
        if rms > 300 and amplitude(x, rate, hz) > 0.8 * rms:
            found += 1
    return found * WINDOW


def check_no_tone(samples: list[int], rate: int, hz: float) -> None:
    size = int(WINDOW * rate)
    for k, i in enumerate(range(0, len(samples) - size + 1, size)):
        x = samples[i : i + size]
        rms = math.sqrt(sum(v * v for v in x) / len(x)) or 1.0
        assert amplitude(x, rate, hz) < 0.15 * rms, (
            f"the announcement's {hz:.0f} Hz is in the recording at {k * WINDOW:.1f} s"
        )


async def play_tone(phonesim, call, hz: float) -> None:
    """The simulated phone sends a continuous tone to the SUT (a raw tone string for ARI's tone:)."""
    await phonesim.ari.post(f"/channels/{call.id}/play", media=f"tone:{int(hz)}")


async def finished_recording(holdfast, name: str, timeout: float = 10.0) -> Path:
    """The recording's file once Asterisk has finished it (no longer a live recording)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            holdfast.sut.ari_get(f"/recordings/live/{name}")
        except urllib.error.HTTPError as error:
            if error.code == 404:
                break
            raise
        assert time.monotonic() < deadline, f"recording {name} never finished"
        await asyncio.sleep(0.1)
    path = Path(holdfast.sut.host_dir) / "spool" / "recording" / f"{name}.wav"
    assert path.is_file(), f"no recording at {path}"
    return path


def read_wav(path: Path) -> tuple[list[int], int]:
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth()) == (1, 2)
        samples = array.array("h", w.readframes(w.getnframes()))
        if sys.byteorder != "little":
            samples.byteswap()
        return list(samples), w.getframerate()


def amplitude(x: list[int], rate: int, hz: float) -> float:
    """The amplitude of the `hz` component of x (a single-bin DFT)."""
    step = 2 * math.pi * hz / rate
    re = sum(v * math.cos(step * n) for n, v in enumerate(x))
    im = sum(v * math.sin(step * n) for n, v in enumerate(x))
    return 2 * math.hypot(re, im) / len(x)


def check_both_sides_all_along(samples: list[int], rate: int) -> None:
    """Every half second (but the first and last, which may be cut) is loud and carries both tones."""
    size = int(WINDOW * rate)
    windows = [samples[i : i + size] for i in range(size, len(samples) - 2 * size + 1, size)]
    assert len(windows) >= 3, f"only {len(samples) / rate:.2f} s recorded"
    for k, x in enumerate(windows, start=1):
        rms = math.sqrt(sum(v * v for v in x) / len(x))
        agent, customer = amplitude(x, rate, AGENT_HZ), amplitude(x, rate, CUSTOMER_HZ)
        where = f"at {k * WINDOW:.1f} s: rms {rms:.0f}, agent {agent:.0f}, customer {customer:.0f}"
        assert rms > 300, f"silent {where}"
        assert agent > 0.3 * rms and customer > 0.3 * rms, f"a side missing {where}"


async def test_a_recorded_callback_holds_both_sides_and_none_of_the_whisper(holdfast, phonesim, phonesim_asterisk):
    phonesim.set_behaviour("agent:1001", "manual")
    phonesim.set_behaviour(f"customer:{ANNA}", "manual")
    rid = await take_callback(holdfast, phonesim, CB1, ANNA)
    holdfast.service.agent_action("1001", "ready")
    agent = await phonesim.wait_incoming("agent:1001")
    await agent.answer(moh=False)
    await play_tone(phonesim, agent, AGENT_HZ)  # the agent's side, during the whisper as well
    answered = await holdfast.wait_activity("agent_answered", request_id=rid)
    customer = await phonesim.wait_incoming(f"customer:{ANNA}", timeout=20)
    await customer.answer(moh=False)
    await start_hearing(phonesim, customer, f"heard-{rid}")  # what Anna hears before the bridge
    started = await holdfast.wait_activity("recording_started", request_id=rid)
    heard = await stop_hearing(phonesim, phonesim_asterisk, f"heard-{rid}")
    await play_tone(phonesim, customer, CUSTOMER_HZ)
    # the queue's retention goes with the line: kept by it should the queue be removed later
    retention = holdfast.service.config.queues[started.queue].recording.retention
    assert started.data == {"name": f"holdfast-{rid}", "format": "wav", "retention": retention}
    announced = holdfast.activities.find("recording_announced", request_id=rid)
    assert announced and announced[0].at <= started.at  # bridged (recorded) once it was heard
    assert tone_seconds(heard, 8000, ANNOUNCE_HZ) >= ANNOUNCE_SECONDS - 2 * WINDOW, "Anna did not hear the announcement"
    answered_at = holdfast.activities.find("attempt_outcome", request_id=rid)[-1].at
    assert started.at - answered_at >= ANNOUNCE_SECONDS - 0.5  # the announcement came first
    connected = holdfast.activities.find("connected", request_id=rid)
    assert connected and connected[0].at <= started.at  # never before the bridge
    await asyncio.sleep(TALK)  # the call goes on: this is the talk recorded, not a wait for an outcome
    await customer.hangup()
    ended = await holdfast.wait_activity("ended", request_id=rid)

    samples, rate = read_wav(await finished_recording(holdfast, f"holdfast-{rid}"))
    length, talk, before = len(samples) / rate, ended.at - started.at, started.at - answered.at
    assert before > 1.5  # the whisper and the customer's ringing: what must not be in the file
    assert talk - 1.0 < length < talk + 1.0, f"{length:.2f} s recorded for {talk:.2f} s of talk ({before:.2f} s before)"
    check_both_sides_all_along(samples, rate)
    check_no_tone(samples, rate, ANNOUNCE_HZ)  # the announcement was heard, not recorded
    await holdfast.assert_nothing_left_behind()


async def test_a_recorded_queues_caller_hears_the_announcement_on_arrival(holdfast, phonesim, phonesim_asterisk):
    call = await phonesim.call("4000", "+4520123498")
    arrived = await holdfast.wait_activity("arrived", caller="+4520123498")
    await call.wait_answered()
    await start_hearing(phonesim, call, f"heard-{arrived.request_id}")
    deadline = time.monotonic() + ANNOUNCE_SECONDS + 5
    while not any("announce_tone" in media for media in holdfast.service.prompts_played):  # played to its end
        assert time.monotonic() < deadline, "the announcement was not played"
        await asyncio.sleep(0.05)
    heard = await stop_hearing(phonesim, phonesim_asterisk, f"heard-{arrived.request_id}")
    assert tone_seconds(heard, 8000, ANNOUNCE_HZ) >= ANNOUNCE_SECONDS - 3 * WINDOW, "the caller did not hear it"
    await call.hangup()


async def test_a_recorded_inbound_call_holds_both_sides(holdfast, phonesim):
    phonesim.set_behaviour("agent:1002", "manual")
    call, rid = await arrive(holdfast, phonesim, "4000", "+4520123499")
    await play_tone(phonesim, call, CUSTOMER_HZ)
    holdfast.service.agent_action("1002", "ready")
    agent = await phonesim.wait_incoming("agent:1002")
    await agent.answer(moh=False)
    await play_tone(phonesim, agent, AGENT_HZ)
    started = await holdfast.wait_activity("recording_started", request_id=rid)
    await asyncio.sleep(TALK)  # the talk recorded
    await call.hangup()
    ended = await holdfast.wait_activity("ended", request_id=rid)

    samples, rate = read_wav(await finished_recording(holdfast, f"holdfast-{rid}"))
    talk = ended.at - started.at
    assert talk - 1.0 < len(samples) / rate < talk + 1.0
    check_both_sides_all_along(samples, rate)
    await check_served_by_the_api(holdfast, rid, samples)
    await holdfast.assert_nothing_left_behind()


async def check_served_by_the_api(holdfast, rid: str, samples: list[int]) -> None:
    """The API lists the real recording with its request and streams the very file Asterisk made."""
    await holdfast.service.wait_committed()  # the recording_started activity is in the event log
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{holdfast.http_url}/api/requests/{rid}/recordings") as resp:
            assert resp.status == 200, await resp.text()
            [row] = (await resp.json())["recordings"]
        assert (row["name"], row["format"], row["queue"], row["stored"]) == (f"holdfast-{rid}", "wav", "support", True)
        async with http.get(f"{holdfast.http_url}/api/recordings/holdfast-{rid}") as resp:
            assert resp.status == 200, await resp.text()
            body = await resp.read()
    with wave.open(io.BytesIO(body), "rb") as w:
        served = array.array("h", w.readframes(w.getnframes()))
    if sys.byteorder != "little":
        served.byteswap()
    assert len(served) > 0 and list(served) == samples


async def sut_ari(sut, method: str, path: str) -> int:
    """A request to the SUT's ARI as the test (not the service) makes it; returns the status."""
    auth = {"Authorization": aiohttp.encode_basic_auth(*sut.ari_auth)}
    async with aiohttp.ClientSession(headers=auth) as http, http.request(method, sut.ari_url + path) as resp:
        return resp.status


async def test_a_call_killed_before_its_recording_started_is_recorded_after_the_restart(
    holdfast_extra_config, service_process, phonesim, sut_asterisk
):
    """kill -9 between bridging a recorded call and starting its recording: the restarted service
    finds the call bridged with nothing recording it (call_recorded_again) and records it from then
    on, added to the file, both sides audible. The state is made by stopping the live recording
    from outside, then killing the service."""
    service = service_process
    phonesim.set_behaviour("agent:1002", "manual")
    caller = "+4520123498"
    call = await phonesim.call("4000", caller)
    events = await service.wait_events(
        lambda ev: any(e.kind == "arrived" and e.data.get("caller") == caller for e in ev), "caller arrived"
    )
    rid = next(e.request_id for e in events if e.kind == "arrived" and e.data.get("caller") == caller)
    await guarded(service, call.wait_answered(), "caller answered", 10)
    await play_tone(phonesim, call, CUSTOMER_HZ)
    await ready(service, "1002")
    agent = await guarded(service, phonesim.wait_incoming("agent:1002"), "agent rung", 20)
    await agent.answer(moh=False)
    await play_tone(phonesim, agent, AGENT_HZ)
    await service.wait_events(lambda ev: of(ev, "recording_started", rid), "recording started")
    name = f"holdfast-{rid}"
    assert await sut_ari(sut_asterisk, "POST", f"/recordings/live/{name}/stop") == 204
    await wait_not_live(sut_asterisk, name)
    path = Path(sut_asterisk.host_dir) / "spool" / "recording" / f"{name}.wav"
    recorded_before = len(read_wav(path)[0])  # a file is read once finished, never while recorded into
    service.kill9()
    await service.start()

    await service.wait_events(lambda ev: of(ev, "call_recorded_again", rid), "recorded again after the restart")
    events = await service.wait_events(lambda ev: len(of(ev, "recording_started", rid)) == 2, "recording restarted")
    assert of(events, "recording_started", rid)[-1].data["name"] == name
    assert await sut_ari(sut_asterisk, "GET", f"/recordings/live/{name}") == 200  # recording now
    assert not of(events, "call_bridged_again", rid)  # it was bridged all along
    await guarded(service, call.wait_audio_flowing(), "the caller hears the agent", 10)
    await asyncio.sleep(TALK)  # the call goes on: this is the talk recorded, not a wait for an outcome
    await call.hangup()
    await service.wait_events(lambda ev: of(ev, "ended", rid), "call ended")

    await wait_not_live(sut_asterisk, name)
    samples, rate = read_wav(path)
    after = samples[recorded_before:]
    assert len(after) / rate > TALK - 0.5, f"{len(after) / rate:.2f} s recorded after the restart"
    check_both_sides_all_along(after, rate)
    status, health = await service.api("GET", "/healthz")
    assert status == 200, health


async def wait_not_live(sut, name: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while await sut_ari(sut, "GET", f"/recordings/live/{name}") != 404:
        assert time.monotonic() < deadline, f"recording {name} still live"
        await asyncio.sleep(0.1)
