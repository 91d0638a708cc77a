"""Asterisk goes away and comes back: the service reconnects, resyncs and serves the next call."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from conftest import wait_agents_registered

pytestmark = pytest.mark.e2e


async def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not {what} within {timeout}s")
        await asyncio.sleep(0.1)


async def test_asterisk_restart_while_idle_then_next_call_is_served(holdfast, phonesim, sut_asterisk, test_agents):
    ari = holdfast.service.ari
    assert ari.metrics()["reconnects"] == 0
    await asyncio.to_thread(sut_asterisk.restart)
    await wait_until(lambda: ari.metrics()["reconnects"] >= 1, 30, "reconnected")
    await wait_until(holdfast.service.connected.is_set, 30, "resynced")
    await asyncio.to_thread(wait_agents_registered, sut_asterisk, [a.username for a in test_agents], 30)
    async with aiohttp.ClientSession() as http, http.get(f"{holdfast.http_url}/healthz") as resp:
        assert resp.status == 200

    holdfast.service.agent_action("1001", "ready")
    caller = await phonesim.call("4000", "+4520123456")
    agent = await phonesim.wait_incoming("agent:1001", timeout=20)
    await holdfast.wait_activity("connected", agent_id="1001")
    await caller.wait_audio_flowing()
    await agent.wait_audio_flowing()
    await caller.hangup()
    await holdfast.wait_activity("ended", outcome="served")
    await holdfast.assert_nothing_left_behind()
