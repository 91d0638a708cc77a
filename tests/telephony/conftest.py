"""Shell tests: the real TelephonyService (engine, executor, ARI client) against FakeAri.

No Asterisk: the fake records every REST call the service makes and the test pushes the ARI
events Asterisk would send. The service's clock is a `FakeClock`, so engine deadlines only pass
when a test moves time on (`shell.tick(seconds)`). Tests wait on recorded calls, activities or
engine state with a timeout; no sleep is ever an assertion.

    async def test_something(shell: Shell) -> None:
        await shell.start()
        caller = await shell.caller("+4520123456")
        ...

`tests/web/test_api.py` imports `Shell`, `make_shell` and the fixtures from here.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from app.ari import AriClient
from app.config import HoldfastConfig, parse_config
from app.core import events as ev
from app.core.commands import PromptItem
from app.core.engine import Engine
from app.core.states import AgentState
from app.store import Store
from app.telephony.executor import call_bridge_id
from app.telephony.service import TelephonyService
from tests.activity_log import ActivityLog
from tests.ari.fake_ari import FakeAri, RecordedCall, endpoint_json, playback_json
from tests.ari.fixtures import fake_ari

__all__ = ["AGENTS", "ActivityLog", "FakeClock", "Shell", "config_text", "fake_ari", "make_shell", "shell"]

START = 1_767_261_600.0  # 2026-01-01 10:00 UTC, a Thursday
AGENTS = ("1001", "1002")
CALLER = "+4520123456"  # a Danish mobile number: eligible for callbacks by default rules


class FakeClock:
    """The service's clock: stands still until a test moves it."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


DEFAULT_QUEUES = """
  support:
    display_name: Support
    ring_timeout: 15s
    wrap_up: 10s
    callback:
      enabled: false
  sales:
    display_name: Sales
    ring_timeout: 15s
    wrap_up: 10s
    callback:
      enabled: false
"""


def config_text(fake: FakeAri, *, queues: str | None = None, extra: str = "") -> str:
    """A small config: queues support (4000) and sales (4001) without callbacks, agents 1001/1002."""
    agents = "\n".join(
        f'  "{a}":\n    name: Agent {a}\n    password: "pw{a}"\n    skills: [support, sales]' for a in AGENTS
    )
    queues = queues or DEFAULT_QUEUES
    return f"""
asterisk:
  ari_url: {fake.base_url}
  ari_user: {fake.username}
  ari_password: "{fake.password}"
  app: {fake.app_name}
inbound:
  "4000": support
  "4001": sales
queues:{queues}
agents:
{agents}
{extra}
"""


@dataclass
class Caller:
    channel: dict[str, Any]
    request_id: str

    @property
    def channel_id(self) -> str:
        return str(self.channel["id"])


@dataclass
class AgentCall:
    """An originate to an agent as the fake recorded it."""

    call: RecordedCall
    channel_id: str
    leg_id: str
    agent_id: str


class Shell:
    """The service under test, its fake Asterisk and helpers to drive both."""

    def __init__(
        self,
        fake: FakeAri,
        config: HoldfastConfig,
        clock: FakeClock,
        store: Store | None = None,
        ari_config: dict[str, Any] | None = None,
    ) -> None:
        self.fake = fake
        self.config = config
        self.clock = clock
        self.ari = AriClient(fake.config(**(ari_config or {})))
        self.service = TelephonyService(config, self.ari, clock=clock, store=store)
        # Looking up a channel after a lost originate answer: quick, the fake answers at once.
        self.service.executor.resolve_delays = (0.0, 0.05, 0.1)
        self.activities = ActivityLog(default_timeout=2.0)
        self.service.activity_listeners.append(self.activities)
        self.fed: list[ev.Event] = []
        original_feed = self.service.feed

        def spy(event: ev.Event) -> Any:
            self.fed.append(event)
            return original_feed(event)

        # The executor holds the bound method too (originate refusals are fed from there).
        self.service.feed = spy  # type: ignore[method-assign]
        self.service.executor.feed = spy
        self._started = False

    @property
    def engine(self) -> Engine:
        return self.service.engine

    def fed_of(self, kind: type[ev.Event], **match: object) -> list[ev.Event]:
        return [e for e in self.fed if isinstance(e, kind) and all(getattr(e, k) == v for k, v in match.items())]

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self, online: tuple[str, ...] = AGENTS) -> None:
        """Start with the given agents' endpoints registered; returns once resync has run."""
        for agent in AGENTS:
            self.fake.add_endpoint("PJSIP", agent, "online" if agent in online else "offline")
        await self.service.start()
        self._started = True
        await asyncio.wait_for(self.service.connected.wait(), 2.0)

    async def stop(self) -> None:
        if self._started:
            self._started = False
            # Let the timer loop take a pending wake-up first: cancelling it in that instant is
            # swallowed on Python 3.11 (see test_stop_right_after_an_event in test_service_lifecycle).
            await self.eventually(lambda: not self.service._wake.is_set(), "the timer loop to settle")
            await asyncio.wait_for(self.service.stop(), 5.0)
        else:
            await self.ari.close(drain_timeout=1.0)

    # -- driving -----------------------------------------------------------------------------

    def tick(self, seconds: float) -> None:
        """Move the clock on and deliver the engine's Tick."""
        self.service.feed(ev.Tick(self.clock.advance(seconds)))

    def ready(self, *agents: str) -> None:
        for agent in agents:
            assert self.service.agent_action(agent, "ready") == "agent_ready"

    async def eventually(self, predicate: Callable[[], bool], what: str, timeout: float = 2.0) -> None:
        """Wait (yielding to the loop) until `predicate()` holds; fails with `what` after timeout."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.005)

    async def reconnect(self) -> None:
        """Drop the events websocket and wait until the service has resynced on the new one (the
        resync itself, counted by the service, not a REST call it makes)."""
        resyncs = self.service.resyncs
        await self.fake.drop_websockets()
        await self.eventually(lambda: self.service.resyncs > resyncs, "the resync after the reconnect")

    async def settle(self, timeout: float = 2.0) -> None:
        """Wait until every ARI event received so far has been handled."""
        events = self.ari.events
        assert events is not None and self.ari.dispatcher is not None
        await self.eventually(lambda: events.events_received >= self.fake.events_sent, "events to arrive", timeout)
        assert await self.ari.dispatcher.drain(timeout), "events still being handled"

    async def push(self, event_type: str, **fields: Any) -> None:
        sent = await self.fake.push_event(event_type, **fields)
        assert sent == 1, f"{event_type} reached {sent} websockets"

    async def arrive(self, number: str = CALLER, args: tuple[str, ...] = ("inbound", "4000")) -> dict[str, Any]:
        chan = self.fake.add_channel(caller_number=number, state="Ring")
        await self.push("StasisStart", channel=chan, args=list(args))
        return chan

    async def caller(self, number: str = CALLER, args: tuple[str, ...] = ("inbound", "4000")) -> Caller:
        """An inbound caller who reaches the queue; returns once the engine has the request."""
        chan = await self.arrive(number, args)
        await self.eventually(lambda: self.service.legs.by_channel(chan["id"]) is not None, "the inbound leg")
        leg = self.service.legs.by_channel(chan["id"])
        assert leg is not None
        await self.eventually(lambda: leg.request_id in self.engine.requests, "the engine's request")
        return Caller(chan, leg.request_id)

    async def wait_originate(self, agent: str, count: int = 1) -> AgentCall:
        call = await self.fake.wait_for_call("POST", r"/channels", count=count)
        # calls_to("POST", "/channels") counts originates only (other POSTs have longer paths)
        calls = [c for c in self.fake.calls_to("POST", r"/channels") if c.param("endpoint") == f"PJSIP/{agent}"]
        assert calls, f"no originate to PJSIP/{agent}; got {call.query}"
        call = calls[-1]
        kind, leg_id = (call.param("appArgs") or "").split(",")
        assert kind == "agent"
        return AgentCall(call, call.param("channelId") or "", leg_id, agent)

    async def wait_first_originate(self, agent: str) -> AgentCall:
        """The agent's first ring (wait_originate gives the latest: an agent not counted as
        refusing a ring Asterisk never answered may be rung again by then)."""
        await self.wait_originate(agent)
        call = next(c for c in self.fake.calls_to("POST", r"/channels") if c.param("endpoint") == f"PJSIP/{agent}")
        kind, leg_id = (call.param("appArgs") or "").split(",")
        assert kind == "agent"
        return AgentCall(call, call.param("channelId") or "", leg_id, agent)

    async def answer(self, agent_call: AgentCall) -> None:
        """The agent picks up: StasisStart for the originated channel."""
        chan = self.fake.channels[agent_call.channel_id]
        chan["state"] = "Up"
        await self.push("StasisStart", channel=chan, args=["agent", agent_call.leg_id])

    async def connected_call(self) -> tuple[Caller, AgentCall]:
        """Agent 1001 readied, a caller (CALLER, support) rings 1001, who answers; returns
        (caller, agent's call) once the call is `connected` and both channels are in its bridge."""
        self.ready("1001")
        caller = await self.caller(CALLER)
        ring = await self.wait_originate("1001")
        await self.answer(ring)
        await self.activities.wait("connected", request_id=caller.request_id)
        bridge_id = call_bridge_id(caller.request_id)
        await self.fake.wait_for_call("POST", f"/bridges/{bridge_id}/addChannel")
        channels = set(self.fake.bridges.get(bridge_id, {}).get("channels", ()))
        assert channels == {caller.channel_id, ring.channel_id}, f"not bridged: {channels}"
        return caller, ring

    async def hangup_event(self, channel: dict[str, Any], kind: str = "ChannelHangupRequest", **fields: Any) -> None:
        self.fake.remove_channel(channel["id"])
        await self.push(kind, channel=channel, **fields)

    async def finish_playback(self, playback_id: str, channel_id: str) -> None:
        pb = self.fake.playbacks.get(playback_id) or playback_json(playback_id, target_uri=f"channel:{channel_id}")
        pb = {**pb, "state": "done"}
        await self.push("PlaybackFinished", playback=pb)

    async def endpoint_state(self, agent: str, state: str) -> None:
        self.fake.endpoints[f"PJSIP/{agent}"]["state"] = state
        await self.push("EndpointStateChange", endpoint=endpoint_json("PJSIP", agent, state))

    def media(self, *names: str) -> str:
        """The `media` query value the service sends for these prompt names (as the wire has it)."""
        return ",".join(uri for name in names for uri in self.service.executor.prompts.named(name))

    def media_items(self, *items: PromptItem) -> str:
        return ",".join(self.service.executor.prompts.media(tuple(items)))

    def agent_state(self, agent: str) -> AgentState:
        return self.engine.agents[agent].state

    def plays(self, channel_id: str) -> list[RecordedCall]:
        return self.fake.calls_to("POST", rf"/channels/{re.escape(channel_id)}/play")


async def make_shell(
    fake: FakeAri,
    text: str | None = None,
    clock: FakeClock | None = None,
    store: Store | None = None,
    ari_config: dict[str, Any] | None = None,
) -> Shell:
    """`ari_config` overrides the ARI client's settings (e.g. {"request_timeout": 0.3})."""
    config = parse_config(text if text is not None else config_text(fake), env={})
    return Shell(fake, config, clock or FakeClock(), store, ari_config)


@pytest.fixture
def shell_config(fake_ari: FakeAri) -> str:
    """The YAML the `shell` fixture is built from; override it in a module or parametrize it."""
    return config_text(fake_ari)


@pytest.fixture
async def shell(fake_ari: FakeAri, shell_config: str) -> AsyncIterator[Shell]:
    """A service built on the fake (not started: `await shell.start()`)."""
    s = await make_shell(fake_ari, shell_config)
    try:
        yield s
    finally:
        await s.stop()


# A support queue that offers callbacks (to this number only, 2 attempts), and a plain sales queue.
CALLBACK_QUEUES = """
  support:
    display_name: Support
    ring_timeout: 15s
    wrap_up: 10s
    callback:
      enabled: true
      key: 1
      allow_other_number: false
      max_attempts: 2
      sec_between_retries: 60s
      customer_ring_timeout: 20s
      caller_id: "+4570101010"
  sales:
    display_name: Sales
"""
