"""A restart mid-call keeps the pause or log-out an agent asked for during that call.

The move is made when the call ends (app/core/agents.py); it is stored with the agent's state
(app/telephony/committer.py, step_of), so the service that comes back after a restart makes it
too: the agent who logged out and went home is not rung for the next caller.
"""

from __future__ import annotations

from pathlib import Path

from app.core.states import AgentState, RequestState
from app.store.sqlite import SQLiteStore
from tests.ari.fake_ari import FakeAri
from tests.telephony.conftest import FakeClock, config_text, make_shell

NEXT_CALLER = "+4530123456"


async def test_an_agent_who_logged_out_during_a_call_is_logged_off_when_it_ends_after_a_restart(
    fake_ari: FakeAri, tmp_path: Path
) -> None:
    store = SQLiteStore(str(tmp_path / "holdfast.db"))
    await store.open()
    clock = FakeClock()
    text = config_text(fake_ari)
    try:
        first = await make_shell(fake_ari, text, clock=clock, store=store)
        await first.start()
        caller, _ring = await first.connected_call()
        assert await first.service.agent_action_committed("1001", "logout") == "agent_logged_out"
        await first.stop()  # the service restarts; the call goes on in Asterisk

        second = await make_shell(fake_ari, text, clock=clock, store=store)
        try:
            await second.start()
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
        finally:
            await second.stop()
    finally:
        await store.close()


async def test_an_agent_in_wrap_up_at_a_restart_is_in_wrap_up_after_it(fake_ari: FakeAri, tmp_path: Path) -> None:
    """Restored ready, an agent still writing the last call's notes was rung at once."""
    store = SQLiteStore(str(tmp_path / "holdfast.db"))
    await store.open()
    clock = FakeClock()
    text = config_text(fake_ari)
    try:
        first = await make_shell(fake_ari, text, clock=clock, store=store)
        await first.start()
        caller, _ring = await first.connected_call()
        await first.hangup_event(caller.channel)  # the call ends: 1001 wraps up (10 s)
        await first.eventually(lambda: first.agent_state("1001") is AgentState.WRAP_UP, "the wrap-up")
        assert first.service.committer is not None
        await first.service.committer.wait_committed()
        await first.stop()

        clock.advance(4.0)
        second = await make_shell(fake_ari, text, clock=clock, store=store)
        try:
            await second.start()
            assert second.agent_state("1001") is AgentState.WRAP_UP
            second.tick(7.0)  # past the 10 s
            assert second.agent_state("1001") is AgentState.READY
        finally:
            await second.stop()
    finally:
        await store.close()
