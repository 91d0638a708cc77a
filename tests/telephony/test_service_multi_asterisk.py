"""Several Asterisk servers, one engine: the real service against two FakeAri servers.

Server a has agent 1001, server b agent 1002. What is checked: callers on either server join one
queue in the order they arrived (the service's clock), each command goes to its leg's server,
an agent registered elsewhere is rung from the caller's server through the peer trunk and bridged
there, and losing one server costs its calls and agents only.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from app.config import parse_config
from app.core import events as ev
from app.core.states import AgentState
from app.telephony.legs import channel_id_for_leg
from app.telephony.servers import ServerSet
from app.telephony.service import TelephonyService
from tests.ari.fake_ari import FakeAri, playback_json
from tests.telephony.conftest import CALLBACK_QUEUES, CALLER, DEFAULT_QUEUES, FakeClock


def two_server_config(a: FakeAri, b: FakeAri, queues: str = DEFAULT_QUEUES) -> str:
    agents = "\n".join(f'  "{x}":\n    password: "pw{x}"\n    skills: [support, sales]' for x in ("1001", "1002"))
    return f"""
asterisk:
  ari_user: holdfast
  ari_password: secret
  app: holdfast
  servers:
    - name: a
      ari_url: {a.base_url}
      agents: ["1001"]
    - name: b
      ari_url: {b.base_url}
      agents: ["1002"]
inbound:
  "4000": support
queues:{queues}
agents:
{agents}
"""


@dataclass
class Two:
    service: TelephonyService
    a: FakeAri
    b: FakeAri
    clock: FakeClock
    fed: list[ev.Event]

    async def eventually(self, predicate: Callable[[], bool], what: str, timeout: float = 3.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.005)

    async def caller(self, fake: FakeAri, number: str = CALLER) -> str:
        chan = fake.add_channel(caller_number=number, state="Ring")
        assert await fake.push_event("StasisStart", channel=chan, args=["inbound", "4000"]) == 1
        await self.eventually(lambda: chan["id"] in self.service.engine.requests, "the caller's request")
        return str(chan["id"])

    def originates(self, fake: FakeAri) -> list[Any]:
        return fake.calls_to("POST", r"/channels")


def build_two(a: FakeAri, b: FakeAri, queues: str = DEFAULT_QUEUES) -> Two:
    """The service on servers a and b (not started)."""
    a.system_name, b.system_name = "ast-a", "ast-b"
    a.add_endpoint("PJSIP", "1001", "online")
    b.add_endpoint("PJSIP", "1002", "online")
    config = parse_config(two_server_config(a, b, queues), env={})
    servers = ServerSet.from_config(config.asterisk.server_list(), config.asterisk.app)
    clock = FakeClock()
    service = TelephonyService(config, servers.first.ari, clock=clock, servers=servers)
    fed: list[ev.Event] = []
    feed = service.feed

    def spy(event: ev.Event) -> Any:
        fed.append(event)
        return feed(event)

    service.feed = spy  # type: ignore[method-assign]
    service.executor.feed = spy
    return Two(service, a, b, clock, fed)


@pytest.fixture
async def two() -> AsyncIterator[Two]:
    async with FakeAri() as a, FakeAri() as b:
        t = build_two(a, b)
        await t.service.start()
        await t.eventually(lambda: len(t.service.servers.up()) == 2, "both servers reconciled")
        try:
            yield t
        finally:
            await asyncio.wait_for(t.service.stop(), 5.0)


async def test_callers_on_both_servers_wait_in_one_queue_in_arrival_order(two: Two) -> None:
    on_b = await two.caller(two.b, "+4520000001")
    two.clock.advance(1.0)
    on_a = await two.caller(two.a, "+4520000002")
    waiting = [r.id for r in two.service.engine.waiting("support")]
    assert waiting == [on_b, on_a]
    # Each caller is held on their own server's holding bridge.
    await two.eventually(lambda: bool(two.b.calls_to("POST", r"/bridges/holdfast-hold-support/addChannel")), "hold b")
    await two.eventually(lambda: bool(two.a.calls_to("POST", r"/bridges/holdfast-hold-support/addChannel")), "hold a")
    assert two.b.calls_to("POST", r"/bridges/holdfast-hold-support/addChannel")[0].param("channel") == on_b
    assert two.a.calls_to("POST", r"/bridges/holdfast-hold-support/addChannel")[0].param("channel") == on_a

    # Agent 1001 (registered on a) takes the first caller, who waits on b: rung from b through the trunk.
    assert two.service.agent_action("1001", "ready") == "agent_ready"
    await two.eventually(lambda: bool(two.originates(two.b)), "the agent leg originated on b")
    (ring,) = two.originates(two.b)
    assert ring.param("endpoint") == "PJSIP/1001@holdfast-peer-a"
    assert not two.originates(two.a)

    # Answered: the call is bridged on b, the caller's server.
    chan = two.b.channels[ring.param("channelId") or ""]
    chan["state"] = "Up"
    leg_id = (ring.param("appArgs") or "").split(",")[1]
    await two.b.push_event("StasisStart", channel=chan, args=["agent", leg_id])
    await two.eventually(lambda: two.service.engine.agents["1001"].state is AgentState.BUSY, "the agent busy")
    bridge = f"/bridges/holdfast-call-{on_b}/addChannel"
    await two.eventually(lambda: bool(two.b.calls_to("POST", bridge)), "the call bridged on b")
    assert not two.a.calls_to("POST", bridge)


async def test_an_agent_on_the_callers_own_server_is_dialled_directly(two: Two) -> None:
    await two.caller(two.b)
    assert two.service.agent_action("1002", "ready") == "agent_ready"
    await two.eventually(lambda: bool(two.originates(two.b)), "the agent leg originated on b")
    assert [c.param("endpoint") for c in two.originates(two.b)] == ["PJSIP/1002"]


async def test_an_endpoint_event_counts_only_from_the_agents_own_server(two: Two) -> None:
    from tests.ari.fake_ari import endpoint_json

    before = len(two.fed)
    await two.a.push_event("EndpointStateChange", endpoint=endpoint_json("PJSIP", "1002", "offline"))
    await two.b.push_event("EndpointStateChange", endpoint=endpoint_json("PJSIP", "1001", "offline"))
    await two.a.push_event("EndpointStateChange", endpoint=endpoint_json("PJSIP", "1001", "offline"))
    await two.eventually(lambda: not two.service.engine.agents["1001"].reachable, "1001 unreachable")
    assert two.service.engine.agents["1002"].reachable
    fed = two.fed[before:]
    assert [e.agent_id for e in fed if isinstance(e, ev.AgentReachability) and not e.reachable] == ["1001"]


async def test_a_lost_server_costs_its_calls_and_agents_and_the_other_serves_on(two: Two) -> None:
    on_b = await two.caller(two.b)
    assert await two.b.drop_websockets() == 1
    await two.b.stop()  # and it does not come back
    await two.eventually(lambda: on_b not in two.service.engine.requests, "the caller on b reported lost")
    lost = [e for e in two.fed if isinstance(e, ev.LegLost)]
    assert [(e.leg_id, e.reason) for e in lost] == [(on_b, "asterisk_disconnected")]
    assert not two.service.engine.agents["1002"].reachable
    assert two.service.healthy and two.service.connected.is_set()
    registry = two.service.metrics.registry
    assert registry.get_sample_value("holdfast_asterisk_server_up", {"server": "b"}) == 0
    assert registry.get_sample_value("holdfast_asterisk_server_up", {"server": "a"}) == 1

    on_a = await two.caller(two.a, "+4520000003")
    assert two.service.agent_action("1001", "ready") == "agent_ready"
    await two.eventually(lambda: bool(two.originates(two.a)), "the agent leg on a")
    assert two.originates(two.a)[0].param("endpoint") == "PJSIP/1001"
    assert two.service.engine.requests[on_a].agent_id == "1001"


async def test_a_server_that_cannot_be_read_is_served_around_not_a_reason_to_stop(two: Two) -> None:
    two.service.resync_retries = (0.0, None)
    two.b.fail("GET", r"/channels", status=500, times=None)
    assert await two.b.drop_websockets() == 1
    await two.eventually(lambda: not two.service.servers.by_name["b"].up, "b down")
    await two.eventually(lambda: len(two.b.calls_to("GET", r"/channels")) >= 4, "b's resync tried again later", 5)
    assert two.service.healthy, two.service.fatal_reason
    assert not two.service.servers.by_name["b"].up
    two.b.clear_rules()
    await two.eventually(lambda: two.service.servers.by_name["b"].up, "b back once it can be read", 5)
    assert two.service.engine.agents["1002"].reachable


async def test_the_service_stops_when_no_server_can_be_read(two: Two) -> None:
    two.service.resync_retries = (0.0, None)
    for fake in (two.a, two.b):
        fake.fail("GET", r"/channels", status=500, times=None)
    assert await two.a.drop_websockets() == 1
    await two.eventually(lambda: not two.service.servers.by_name["a"].up, "a down")
    assert two.service.healthy  # b still serves
    assert await two.b.drop_websockets() == 1
    await two.eventually(lambda: two.service.fatal.is_set(), "the service stopping")
    assert two.service.fatal_reason == "resync_failed_stopping"


async def test_stopping_the_service_keeps_its_callers_for_the_next_start(two: Two) -> None:
    await two.caller(two.a)
    await two.caller(two.b, "+4520000004")
    await asyncio.wait_for(two.service.stop(), 5.0)
    assert not [e for e in two.fed if isinstance(e, ev.LegLost)]
    assert len(two.service.engine.requests) == 2


async def test_two_servers_with_one_systemname_stop_the_service_before_serving(two: Two) -> None:
    # Their channel ids (a caller's request id) could collide: refusing is the only safe answer.
    two.b.system_name = "ast-a"
    assert await two.b.drop_websockets() == 1
    await two.eventually(lambda: two.service.fatal.is_set(), "the service stopping")
    assert two.service.fatal_reason == "asterisk_system_names_clash"


async def test_after_a_restart_legs_are_found_on_their_server_and_lost_only_when_no_server_has_them() -> None:
    async with FakeAri() as a, FakeAri() as b:
        t = build_two(a, b)
        # As restored from the store: two callers on hold, their servers unknown to this process.
        b.add_channel("ch-on-b", caller_number=CALLER, state="Up")
        for channel in ("ch-on-b", "ch-gone"):
            t.service.engine.handle(ev.CallerArrived(t.clock(), channel, "support", CALLER))
        a.delay("GET", r"/channels", 0.3)  # a is read last
        await t.service.start()
        try:
            await t.eventually(lambda: t.service.servers.by_name["b"].up, "b reconciled")
            assert not [e for e in t.fed if isinstance(e, ev.LegLost)]  # a has not been read yet
            leg = t.service.legs.by_leg("ch-on-b")
            assert leg is not None and leg.server == "b" and leg.adopted
            await t.eventually(lambda: bool(b.calls_to("POST", r"/bridges/holdfast-hold-support/addChannel")), "held")
            await t.eventually(lambda: len(t.service.servers.up()) == 2, "a reconciled")
            assert [(e.leg_id, e.reason) for e in t.fed if isinstance(e, ev.LegLost)] == [
                ("ch-gone", "channel_vanished")
            ]
            assert len([e for e in t.fed if isinstance(e, ev.LegsReconciled)]) == 1
            assert "ch-on-b" in t.service.engine.requests and "ch-gone" not in t.service.engine.requests
            assert not a.calls_to("POST", r"/bridges/holdfast-hold-support/addChannel")
        finally:
            await asyncio.wait_for(t.service.stop(), 5.0)


async def test_after_a_restart_a_server_that_never_comes_back_loses_its_unfound_legs_after_the_grace() -> None:
    """Was: the restored caller no reached server had stayed a phantom in the queue for ever, and
    the start-up reconcile (LegsReconciled) never ended."""
    async with FakeAri() as a, FakeAri() as b:
        t = build_two(a, b)
        b.add_channel("ch-on-b", caller_number=CALLER, state="Up")
        for channel in ("ch-on-b", "ch-somewhere"):
            t.service.engine.handle(ev.CallerArrived(t.clock(), channel, "support", CALLER))
        a.fail("GET", r"/channels", status=500, times=None)  # a is never read
        t.service.unread_grace = 0.3
        t.service.resync_retries = (0.5, None)  # b is up by then: a is dropped and tried again later
        await t.service.start()
        try:
            await t.eventually(lambda: t.service.servers.by_name["b"].up, "b reconciled")
            assert not [e for e in t.fed if isinstance(e, ev.LegsReconciled)]
            await t.eventually(lambda: any(isinstance(e, ev.LegsReconciled) for e in t.fed), "the grace", 5.0)
            assert [(e.leg_id, e.reason) for e in t.fed if isinstance(e, ev.LegLost)] == [
                ("ch-somewhere", "asterisk_unreachable")
            ]
            assert "ch-somewhere" not in t.service.engine.requests and "ch-on-b" in t.service.engine.requests
            assert channel_id_for_leg("ch-somewhere") in t.service.servers.by_name["a"].lost_channels
            assert t.service.healthy
        finally:
            await asyncio.wait_for(t.service.stop(), 5.0)


async def test_recordings_are_found_and_deleted_on_the_server_that_has_them(two: Two) -> None:
    from app.ari import AriError, AriNotFound

    two.b.state.recordings["holdfast-r1"] = {"name": "holdfast-r1", "format": "wav", "file": b"RIFF..."}
    recordings = two.service.recordings
    assert (await recordings.stored("holdfast-r1")).format == "wav"
    assert b"".join([chunk async for chunk in recordings.stored_file("holdfast-r1")]) == b"RIFF..."
    await recordings.delete_stored("holdfast-r1")
    assert "holdfast-r1" not in two.b.state.recordings
    assert two.b.calls_to("DELETE", r"/recordings/stored/holdfast-r1")
    with pytest.raises(AriNotFound):
        await recordings.delete_stored("holdfast-r1")  # gone everywhere
    two.b.state.recordings["holdfast-r2"] = {"name": "holdfast-r2", "format": "wav", "file": b""}
    two.a.fail("GET", r"/recordings/stored/holdfast-r3", status=500, times=None)
    with pytest.raises(AriError) as refused:
        await recordings.delete_stored("holdfast-r3")  # a cannot say: not "gone"
    assert not isinstance(refused.value, AriNotFound)


async def test_a_callback_rings_the_agent_on_their_server_and_dials_the_customer_from_there() -> None:
    async with FakeAri() as a, FakeAri() as b:
        t = build_two(a, b, CALLBACK_QUEUES)
        await t.service.start()
        try:
            await t.eventually(lambda: len(t.service.servers.up()) == 2, "both servers reconciled")
            t.service.feed(ev.CallbackRequested(t.clock(), "cb-1", "support", CALLER))
            assert t.service.agent_action("1002", "ready") == "agent_ready"  # registered on b
            await t.eventually(lambda: bool(t.originates(b)), "the agent rung from b")
            (ring,) = t.originates(b)
            assert ring.param("endpoint") == "PJSIP/1002"
            chan = b.channels[ring.param("channelId") or ""]
            chan["state"] = "Up"
            leg_id = (ring.param("appArgs") or "").split(",")[1]
            await b.push_event("StasisStart", channel=chan, args=["agent", leg_id])
            play = f"/channels/{chan['id']}/play"
            await t.eventually(lambda: bool(b.calls_to("POST", play)), "the whisper on b")
            playback_id = b.calls_to("POST", play)[0].param("playbackId") or ""
            done = {**playback_json(playback_id, target_uri=f"channel:{chan['id']}"), "state": "done"}
            await b.push_event("PlaybackFinished", playback=done)
            await t.eventually(lambda: len(t.originates(b)) == 2, "the customer dialled from b")
            assert t.originates(b)[1].param("endpoint") == f"PJSIP/{CALLER}@trunk"
            assert not t.originates(a)
        finally:
            await asyncio.wait_for(t.service.stop(), 5.0)


async def test_agents_of_a_server_not_reached_yet_are_not_offered_calls() -> None:
    async with FakeAri() as a, FakeAri() as b:
        t = build_two(a, b)
        b.refuse_websocket()  # b down at start-up
        await t.service.start()
        try:
            await t.eventually(lambda: t.service.servers.by_name["a"].up, "a reconciled")
            assert not t.service.engine.agents["1002"].reachable
            assert t.service.engine.agents["1001"].reachable
            await t.caller(a)
            assert t.service.agent_action("1002", "ready") == "agent_ready"
            assert t.service.agent_action("1001", "ready") == "agent_ready"
            await t.eventually(lambda: bool(t.originates(a)), "an agent rung")
            assert [c.param("endpoint") for c in t.originates(a)] == ["PJSIP/1001"]  # not 1002 on b
            b.accept_websocket()
            await t.eventually(lambda: t.service.servers.by_name["b"].up, "b reconciled", 15)
            assert t.service.engine.agents["1002"].reachable
        finally:
            await asyncio.wait_for(t.service.stop(), 5.0)


async def test_healthz_names_each_server_up_or_down(two: Two) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from app.web.api import make_app

    client = TestClient(TestServer(make_app(two.service)))
    await client.start_server()
    try:
        await two.eventually(two.service.connected.is_set, "the last resync's end")  # servers are up before it
        resp = await client.get("/healthz")
        assert resp.status == 200 and (await resp.json())["servers"] == {"a": "up", "b": "up"}
        two.service.resync_retries = (0.0, None)
        two.b.fail("GET", r"/channels", status=500, times=None)
        assert await two.b.drop_websockets() == 1
        await two.eventually(lambda: not two.service.servers.by_name["b"].up, "b down")
        resp = await client.get("/healthz")
        assert resp.status == 200, await resp.text()  # a serves on
        assert (await resp.json())["servers"] == {"a": "up", "b": "down"}
    finally:
        await client.close()
