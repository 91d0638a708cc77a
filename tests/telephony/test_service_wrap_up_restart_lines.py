"""A wrap-up a restart ends is logged and stored like one that ends live.

An agent stored in wrap-up whose wrap-up ran out while the service was down comes back ready (or
paused, or logged off, if they asked for that during it); the restore used to make that change
with no `agent_state` line. The stored agent row then still said wrap-up (the next restart took it
from there), and the statistics, built on the event log, counted the agent in wrap-up until their
next change. Now the restore records the line a live wrap-up end records: at the wrap-up's end
when it ran out while down, at the restart when the move asked for is made then.
"""

from __future__ import annotations

from pathlib import Path

from app.core.states import AgentState
from app.store.records import AgentRecord
from app.store.sqlite import SQLiteStore
from app.store.stats import StatsQuery, statistics
from tests.ari.fake_ari import FakeAri
from tests.telephony.conftest import Shell
from tests.telephony.test_service_agent_move_restart import Lives, lives

WRAP_UP = 10.0  # the test config's support queue
Lines = list[tuple[float, dict[str, object]]]


async def wrapping_up(service: Lives, move: str | None = None) -> float:
    """A call of 1001's ends: 1001 wraps up (asking for `move` during it); returns its start."""
    first = await service.start()
    caller, _ring = await first.connected_call()
    await first.hangup_event(caller.channel)
    await first.eventually(lambda: first.agent_state("1001") is AgentState.WRAP_UP, "the wrap-up")
    if move is not None:
        assert await first.service.agent_action_committed("1001", move, "lunch") is not None
    assert first.service.committer is not None
    await first.service.committer.wait_committed()
    return first.engine.agents["1001"].state_since


async def stored_after_start(shell: Shell, store: SQLiteStore) -> tuple[AgentRecord, Lines]:
    """1001's stored row, and its agent_state lines, once what the start recorded is stored."""
    assert shell.service.committer is not None
    await shell.service.committer.wait_committed()
    record = next(a for a in await store.load_agents() if a.agent_id == "1001")
    lines = [(e.at, e.data) for e in await store.events(agent_id="1001", limit=1000) if e.kind == "agent_state"]
    return record, lines


async def test_a_wrap_up_that_ran_out_while_down_is_logged_at_its_end_and_stored(
    fake_ari: FakeAri, tmp_path: Path
) -> None:
    async with lives(fake_ari, tmp_path) as service:
        since = await wrapping_up(service)
        second = await service.restart(after=60.0)
        assert second.agent_state("1001") is AgentState.READY
        record, lines = await stored_after_start(second, service.store)
        assert record.state is AgentState.READY, "the store still says wrap-up"
        at, data = lines[-1]
        assert (data["state"], data["previous"]) == ("ready", "wrap_up")
        assert at == since + WRAP_UP  # when it ended, not when we came back: wrap-up is not over-counted
        assert record.since == at
        start, end = since - 100.0, service.clock.now + 100.0
        [row] = [
            r
            for r in await statistics(service.store, StatsQuery(start, end, "agent", end - start))
            if r["key"] == "1001"
        ]
        assert row["wrap_up_seconds"] == WRAP_UP  # (was the whole rest of the range)


async def test_a_pause_asked_for_in_a_wrap_up_that_ran_out_while_down_is_logged_and_stored(
    fake_ari: FakeAri, tmp_path: Path
) -> None:
    async with lives(fake_ari, tmp_path) as service:
        since = await wrapping_up(service, "pause")
        second = await service.restart(after=60.0)
        assert second.agent_state("1001") is AgentState.PAUSED
        record, lines = await stored_after_start(second, service.store)
        assert (record.state, record.pause_reason, record.after_call) == (AgentState.PAUSED, "lunch", None)
        at, data = lines[-1]
        assert data == {
            "state": "paused",
            "previous": "wrap_up",
            "reason": "lunch",
        }  # the line a live wrap-up end writes
        assert at == since + WRAP_UP


async def test_a_log_out_asked_for_in_a_running_wrap_up_made_at_the_restart_is_logged_then(
    fake_ari: FakeAri, tmp_path: Path
) -> None:
    async with lives(fake_ari, tmp_path) as service:
        await wrapping_up(service, "logout")
        second = await service.restart(after=4.0)  # 4 s into the 10 s wrap-up
        assert second.agent_state("1001") is AgentState.LOGGED_OFF
        record, lines = await stored_after_start(second, service.store)
        assert (record.state, record.after_call) == (AgentState.LOGGED_OFF, None)
        at, data = lines[-1]
        assert (data["state"], data["previous"]) == ("logged_off", "wrap_up")
        assert at == service.clock.now  # made at the restart: logged then


async def test_a_wrap_up_still_running_at_a_restart_records_nothing_new(fake_ari: FakeAri, tmp_path: Path) -> None:
    async with lives(fake_ari, tmp_path) as service:
        since = await wrapping_up(service)
        second = await service.restart(after=4.0)
        assert second.agent_state("1001") is AgentState.WRAP_UP
        record, lines = await stored_after_start(second, service.store)
        assert (record.state, record.since) == (AgentState.WRAP_UP, since)
        assert lines[-1][1]["state"] == "wrap_up"
