"""The wrap-up extension code (*24) on real Asterisk: the agent hears it confirmed (RTP on their
feature-code call for as long as the confirmation lasts), the caller waiting meanwhile rings them
only once the extended wrap-up is over, not at the configured end, and an agent not in wrap-up
hears "not in service" instead."""

from __future__ import annotations

import asyncio
import itertools
import sys
import time
from datetime import datetime
from pathlib import Path

import aiohttp
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from phonesim import AriError

from app.telephony.prompts import SHIPPED_DIR

pytestmark = pytest.mark.e2e

SUPPORT = "4000"
AGENT = "1003"
IDLE_AGENT = "1004"  # logged off: not in wrap-up
WRAP_UP = 3.0  # *24 must reach the service within it (it takes tens of ms; room for a loaded machine)
CAP = 6.0  # service.max_wrap_up_extension: *24 (a 60 s step) is cut to this


def prompt_packets(name: str) -> int:
    """20 ms RTP packets of a shipped recording (8000 bytes of u-law a second)."""
    return (SHIPPED_DIR / "en" / f"{name}.ulaw").stat().st_size // 160


async def heard_until_hung_up(call, timeout: float = 10.0) -> list[tuple[float, int]]:
    """(time, RTP packets received since the call began) sampled every 0.1 s until the SUT hangs up."""
    await call.wait_answered()
    samples: list[tuple[float, int]] = []
    deadline = time.monotonic() + timeout
    while not call.hung_up:
        assert time.monotonic() < deadline, f"not hung up within {timeout}s; heard {samples[-3:]}"
        try:
            samples.append((time.monotonic(), int((await call.rtp_stats())["rxcount"])))
        except AriError as error:  # 404 once the SUT has hung up (its event may still be on the way)
            if error.status != 404:
                raise
        await asyncio.sleep(0.1)
    return samples


def longest_gap(samples: list[tuple[float, int]]) -> float:
    """The longest time between the first and the last packet over which no packet arrived."""
    growing = [t for (_, before), (t, n) in itertools.pairwise(samples) if n > before]
    return max((b - a for a, b in itertools.pairwise(growing)), default=0.0)


def assert_heard(samples: list[tuple[float, int]], prompt: str) -> None:
    """The whole prompt arrived as one stream: about as many packets as it lasts, without a gap.
    (Strict RTP drops a few first packets, and the last samples may miss the final ones.)"""
    expected, got = prompt_packets(prompt), samples[-1][1] if samples else 0
    assert expected - 15 <= got <= expected + 5, f"{prompt}: {got} RTP packets, the recording is {expected}"
    assert longest_gap(samples) < 0.5, f"{prompt}: a gap of {longest_gap(samples):.2f} s; {samples}"


def asterisk_time(event: dict) -> float:
    """An ARI event's timestamp ("2026-12-07T05:57:55.123+0000") as seconds since the epoch."""
    return datetime.strptime(event["timestamp"], "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


async def live_agent(holdfast, agent_id: str) -> dict:
    async with aiohttp.ClientSession() as http, http.get(f"{holdfast.http_url}/api/live") as resp:
        assert resp.status == 200
        body = await resp.json()
    return next(a for a in body["agents"] if a["id"] == agent_id)


async def test_star_24_extends_the_wrap_up_the_next_caller_rings_after_it(holdfast, phonesim):
    # support's wrap-up lengthened and the cap lowered, as an admin would: edit and reload
    text = holdfast.config_path.read_text()
    support = "    display_name: Support\n    ring_timeout: 6s\n    wrap_up: 1s\n"
    assert support in text and "service:\n" in text
    text = text.replace(support, support.replace("wrap_up: 1s", f"wrap_up: {WRAP_UP:g}s"))
    text = text.replace("service:\n", f"service:\n  max_wrap_up_extension: {CAP:g}s\n", 1)
    holdfast.config_path.write_text(text)
    assert holdfast.service.reload() is None
    holdfast.service.agent_action(AGENT, "ready")

    anna = await phonesim.call(SUPPORT, "+4520123601")
    first = await holdfast.wait_activity("arrived", caller="+4520123601")
    await phonesim.wait_incoming(f"agent:{AGENT}")
    await holdfast.wait_activity("connected", request_id=first.request_id)
    bo = await phonesim.call(SUPPORT, "+4520123602")  # waits: the only ready agent is talking
    second = await holdfast.wait_activity("arrived", caller="+4520123602")

    await anna.hangup()
    await holdfast.wait_activity("agent_state", agent_id=AGENT, state="wrap_up")
    configured_end = holdfast.engine.agents[AGENT].wrap_up_until
    assert configured_end is not None

    code = await phonesim.agent_dials(AGENT, "*24")
    extended = await holdfast.wait_activity("wrap_up_extended", agent_id=AGENT, timeout=WRAP_UP)
    assert extended.data["seconds"] == CAP  # one 60 s step, cut to the cap
    until = configured_end + CAP
    assert extended.data["until"] == pytest.approx(until, abs=0.001)
    row = await live_agent(holdfast, AGENT)
    assert (row["state"], row["wrap_up_until"]) == ("wrap_up", pytest.approx(until, abs=0.001))
    assert_heard(await heard_until_hung_up(code), "wrap_up_extended")
    assert holdfast.service.prompts_played[-1].endswith("wrap_up_extended")

    # Meanwhile an agent not in wrap-up dials the code: refused, and told so.
    refused = await phonesim.agent_dials(IDLE_AGENT, "*24")
    assert_heard(await heard_until_hung_up(refused), "not_in_service")
    assert holdfast.service.prompts_played[-1].endswith("not_in_service")
    assert holdfast.engine.agents[IDLE_AGENT].state == "logged_off"
    # The configured wrap-up is over by now (two prompts, 4.5 s, later), the extended one is not.
    assert holdfast.service.clock() > configured_end + 0.5
    rung = holdfast.activities.find("agent_ringing", request_id=second.request_id)
    assert not rung, f"rung {rung[0].at - configured_end:.2f} s after the configured end, before the extended one"
    row = await live_agent(holdfast, AGENT)
    assert (row["state"], row["wrap_up_until"]) == ("wrap_up", pytest.approx(until, abs=0.001))

    ring = await phonesim.wait_incoming(f"agent:{AGENT}", timeout=CAP + 5)
    ready = await holdfast.wait_activity("agent_state", agent_id=AGENT, state="ready", previous="wrap_up")
    ringing = await holdfast.wait_activity("agent_ringing", request_id=second.request_id)
    assert ready.at >= until and ringing.at >= until, (ready.at - until, ringing.at - until)
    # On the phone's side too: its call came after the extended end (Asterisk's clock, in ms).
    rang_at = asterisk_time(await ring.wait_event("StasisStart"))
    assert rang_at >= until - 0.01, f"the phone rang {until - rang_at:.2f} s before the extended end"
    await holdfast.wait_activity("connected", request_id=second.request_id)
    await bo.hangup()
    await holdfast.wait_activity("ended", request_id=second.request_id)
    await holdfast.assert_nothing_left_behind()
