"""Several Asterisk servers and a reload: which agents register on which server follows the file
at once (an agent added or moved is rung on or through their own server, and their phone's state
is read there); the connections wait for a restart. An agent moved during a call keeps that call
on the server its legs live on.

Server a has agent 1001, server b agent 1002 (tests/telephony/test_service_multi_asterisk.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from app.core import events as ev
from app.core.states import AgentState
from app.web.api import make_app
from tests.ari.fake_ari import FakeAri, endpoint_json
from tests.telephony.test_service_multi_asterisk import Two, build_two, two_server_config

AGENT_1003 = '  "1003":\n    password: "pw1003"\n    skills: [support, sales]\n'


@pytest.fixture
async def two(tmp_path: Path) -> AsyncIterator[Two]:
    async with FakeAri() as a, FakeAri() as b:
        t = build_two(a, b)
        t.service.config_path = tmp_path / "holdfast.yaml"
        t.service.config_path.write_text(two_server_config(a, b))
        await t.service.start()
        await t.eventually(lambda: len(t.service.servers.up()) == 2, "both servers reconciled")
        try:
            yield t
        finally:
            await asyncio.wait_for(t.service.stop(), 5.0)


def reload(two: Two, text: str) -> None:
    assert two.service.config_path is not None
    two.service.config_path.write_text(text)
    assert two.service.reload() is None


def reachability(two: Two, since: int) -> list[tuple[str, bool]]:
    return [(e.agent_id, e.reachable) for e in two.fed[since:] if isinstance(e, ev.AgentReachability)]


async def test_an_agent_added_by_a_reload_is_homed_on_the_server_listing_them(two: Two) -> None:
    text = two_server_config(two.a, two.b).replace('agents: ["1002"]', 'agents: ["1002", "1003"]')
    reload(two, text + AGENT_1003)
    assert "1003" in two.service.engine.agents
    assert two.service.servers.server_of_agent("1003") == "b"
    assert two.service.config.asterisk.servers[1].agents == ["1002", "1003"]

    # Their phone's state counts from b, their own server, and not from a.
    two.b.add_endpoint("PJSIP", "1003", "online")
    before = len(two.fed)
    await two.a.push_event("EndpointStateChange", endpoint=endpoint_json("PJSIP", "1003", "offline"))
    await two.b.push_event("EndpointStateChange", endpoint=endpoint_json("PJSIP", "1003", "offline"))
    await two.eventually(lambda: not two.service.engine.agents["1003"].reachable, "1003 unreachable")
    assert reachability(two, before) == [("1003", False)]
    await two.b.push_event("EndpointStateChange", endpoint=endpoint_json("PJSIP", "1003", "online"))
    await two.eventually(lambda: two.service.engine.agents["1003"].reachable, "1003 reachable again")

    # A caller on a: 1003 is rung from a through the trunk to b, not as a phone of a.
    await two.caller(two.a)
    assert two.service.agent_action("1003", "ready") == "agent_ready"
    await two.eventually(lambda: bool(two.originates(two.a)), "the agent leg originated on a")
    (ring,) = two.originates(two.a)
    assert ring.param("endpoint") == "PJSIP/1003@holdfast-peer-b"


async def test_an_agent_moved_during_a_call_keeps_the_call_on_its_server_and_is_rung_at_the_new_home(
    two: Two,
) -> None:
    # 1002 (on b) takes a caller on b: rung directly on b and bridged there.
    caller = await two.caller(two.b)
    assert two.service.agent_action("1002", "ready") == "agent_ready"
    await two.eventually(lambda: bool(two.originates(two.b)), "the agent leg originated on b")
    (ring,) = two.originates(two.b)
    assert ring.param("endpoint") == "PJSIP/1002"
    agent_channel = ring.param("channelId") or ""
    chan = two.b.channels[agent_channel]
    chan["state"] = "Up"
    await two.b.push_event("StasisStart", channel=chan, args=["agent", (ring.param("appArgs") or "").split(",")[1]])
    await two.eventually(lambda: two.service.engine.agents["1002"].state is AgentState.BUSY, "1002 busy")

    # The phone of 1002 now registers on a (the file moves it there), while the call goes on.
    text = two_server_config(two.a, two.b).replace('agents: ["1001"]', 'agents: ["1001", "1002"]')
    reload(two, text.replace('agents: ["1002"]', "agents: []"))
    assert two.service.servers.server_of_agent("1002") == "a"
    (agent_leg,) = [leg for leg in two.service.legs.live() if leg.role == "agent"]
    assert agent_leg.server == "b"  # the leg stays where its channel is
    assert two.service.healthy

    # The caller hangs up: the agent's channel is hung up on b, where it lives.
    await two.b.push_event("StasisEnd", channel=two.b.channels[caller])
    await two.eventually(lambda: bool(two.b.calls_to("DELETE", f"/channels/{agent_channel}")), "hung up on b")
    assert not two.a.calls_to("DELETE", f"/channels/{agent_channel}")
    await two.eventually(lambda: two.service.engine.agents["1002"].state is AgentState.WRAP_UP, "1002 wrapping up")
    two.clock.advance(11.0)
    two.service.feed(ev.Tick(two.clock()))
    assert two.service.engine.agents["1002"].state is AgentState.READY

    # Their phone's state counts from a now; the next caller on b rings them through the trunk to a.
    before = len(two.fed)
    await two.b.push_event("EndpointStateChange", endpoint=endpoint_json("PJSIP", "1002", "offline"))
    await asyncio.sleep(0.05)
    assert reachability(two, before) == []
    await two.caller(two.b, "+4520000009")
    await two.eventually(lambda: len(two.originates(two.b)) == 2, "the next agent leg originated on b")
    assert two.originates(two.b)[1].param("endpoint") == "PJSIP/1002@holdfast-peer-a"


async def test_an_agent_moved_to_a_server_that_is_down_is_unreachable(two: Two) -> None:
    two.service.resync_retries = (0.0, None)
    two.a.fail("GET", r"/channels", status=500, times=None)
    assert await two.a.drop_websockets() == 1
    await two.eventually(lambda: not two.service.servers.by_name["a"].up, "a down")
    assert two.service.engine.agents["1002"].reachable
    text = two_server_config(two.a, two.b).replace('agents: ["1001"]', 'agents: ["1001", "1002"]')
    reload(two, text.replace('agents: ["1002"]', "agents: []"))
    assert not two.service.engine.agents["1002"].reachable  # no phone of a can be reached now


async def test_a_reload_that_changes_the_servers_themselves_keeps_the_running_homes(two: Two) -> None:
    text = two_server_config(two.a, two.b).replace("- name: b", "- name: c")
    reload(two, text.replace('agents: ["1002"]', 'agents: ["1002", "1003"]') + AGENT_1003)
    assert two.service.servers.server_of_agent("1002") == "b"  # a renamed server needs a restart
    assert [s.name for s in two.service.config.asterisk.servers] == ["a", "b"]


async def test_post_reload_says_agent_lists_need_no_restart_and_connections_do(two: Two) -> None:
    client = TestClient(TestServer(make_app(two.service)))
    await client.start_server()
    try:
        assert two.service.config_path is not None
        text = two_server_config(two.a, two.b)
        two.service.config_path.write_text(text.replace('agents: ["1002"]', 'agents: ["1002", "1003"]') + AGENT_1003)
        resp = await client.post("/api/reload")
        assert await resp.json() == {"applied": True, "restart_needed": []}
        assert two.service.servers.server_of_agent("1003") == "b"

        moved = text.replace(str(two.b.base_url), "http://127.0.0.1:1/ari").replace("ari_user: holdfast", "ari_user: x")
        two.service.config_path.write_text(moved.replace('agents: ["1002"]', 'agents: ["1002", "1003"]') + AGENT_1003)
        resp = await client.post("/api/reload")
        assert await resp.json() == {"applied": True, "restart_needed": ["asterisk.ari_user", "asterisk.servers"]}
    finally:
        await client.close()
