"""A restart mid-call keeps the pause or log-out an agent asked for during that call.

The move is made when the call ends (app/core/agents.py); it is stored with the agent's state
(app/telephony/committer.py, step_of), so the service that comes back after a restart makes it
too: the agent who logged out and went home is not rung for the next caller.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from app.core.states import AgentState, RequestState
from app.store.sqlite import SQLiteStore
from tests.ari.fake_ari import FakeAri
from tests.telephony.conftest import FakeClock, Shell, config_text, make_shell

NEXT_CALLER = "+4530123456"


class Lives:
    """The service's lives on one fake Asterisk, one SQLite store and one clock: each restart is
    a new service on what the last one stored, while the calls go on in Asterisk."""

    def __init__(self, fake: FakeAri, store: SQLiteStore) -> None:
        self.fake, self.store, self.clock = fake, store, FakeClock()
        self.text = config_text(fake)
        self.current: Shell | None = None

    async def start(self) -> Shell:
        self.current = await make_shell(self.fake, self.text, clock=self.clock, store=self.store)
        await self.current.start()
        return self.current

    async def restart(self, after: float = 0.0) -> Shell:
        await self.stop()
        self.clock.advance(after)
        return await self.start()

    async def stop(self) -> None:
        if self.current is not None:
            current, self.current = self.current, None
            await current.stop()


@contextlib.asynccontextmanager
async def lives(fake: FakeAri, tmp: Path) -> AsyncIterator[Lives]:
    store = SQLiteStore(str(tmp / "holdfast.db"))
    await store.open()
    made = Lives(fake, store)
    try:
        yield made
    finally:
        await made.stop()
        await store.close()


async def test_an_agent_who_logged_out_during_a_call_is_logged_off_when_it_ends_after_a_restart(
    fake_ari: FakeAri, tmp_path: Path
) -> None:
    async with lives(fake_ari, tmp_path) as service:
        first = await service.start()
        caller, _ring = await first.connected_call()
        assert await first.service.agent_action_committed("1001", "logout") == "agent_logged_out"

        second = await service.restart()  # the call goes on in Asterisk
        assert second.agent_state("1001") is AgentState.BUSY  # back on its call
        await second.hangup_event(caller.channel)  # the call ends
        await second.eventually(lambda: second.agent_state("1001") is not AgentState.BUSY, "the call's end")
        second.tick(11.0)  # past the wrap-up (10 s)
        assert second.agent_state("1001") is AgentState.LOGGED_OFF
        rings = len(fake_ari.calls_to("POST", r"/channels"))
        nxt = await second.caller(NEXT_CALLER)
        second.tick(1.0)
        assert second.engine.requests[nxt.request_id].state is RequestState.WAITING
        assert second.service.committer is not None
        await second.service.committer.wait_committed()
        assert len(fake_ari.calls_to("POST", r"/channels")) == rings, "the agent who went home was rung"


async def test_an_agent_in_wrap_up_at_a_restart_is_in_wrap_up_after_it(fake_ari: FakeAri, tmp_path: Path) -> None:
    """Restored ready, an agent still writing the last call's notes was rung at once."""
    async with lives(fake_ari, tmp_path) as service:
        first = await service.start()
        caller, _ring = await first.connected_call()
        await first.hangup_event(caller.channel)  # the call ends: 1001 wraps up (10 s)
        await first.eventually(lambda: first.agent_state("1001") is AgentState.WRAP_UP, "the wrap-up")
        assert first.service.committer is not None
        await first.service.committer.wait_committed()

        second = await service.restart(after=4.0)
        assert second.agent_state("1001") is AgentState.WRAP_UP
        second.tick(7.0)  # past the 10 s
        assert second.agent_state("1001") is AgentState.READY


async def test_an_agents_own_call_taken_in_again_after_a_restart_still_keeps_them_unoffered(
    fake_ari: FakeAri, tmp_path: Path
) -> None:
    """The agent's own phone is in the queue (a test call) when the service restarts: the caller's
    leg is adopted again from Asterisk's channels, and the agent is still not rung for it."""
    async with lives(fake_ari, tmp_path) as service:
        first = await service.start()
        first.ready("1001")
        chan = fake_ari.add_channel(name="PJSIP/1001-0000003a", caller_number="1001", state="Up")
        await first.push("StasisStart", channel=chan, args=["inbound", "4000"])
        await first.activities.wait("agent_own_call", agent_id="1001", on_call=True)
        arrived = await first.activities.wait("arrived", caller="1001")
        assert first.service.committer is not None
        await first.service.committer.wait_committed()

        second = await service.restart()  # the call goes on in Asterisk
        assert second.engine.agents["1001"].own_call is True
        assert second.agent_state("1001") is AgentState.READY
        assert second.engine.requests[arrived.request_id].state is RequestState.WAITING
        rung = [c for c in fake_ari.calls_to("POST", r"/channels") if c.param("endpoint") == "PJSIP/1001"]
        assert not rung, "rung for their own call"
        await second.hangup_event(chan)  # their test call ends: offered calls again
        await second.activities.wait("agent_own_call", agent_id="1001", on_call=False)
