"""The service is killed after it stored a call as `connected` but before Asterisk had both
channels in the call bridge (seen on real Asterisk in the kill -9 fault test: the bridge was made,
the channels not yet added). At the next start both legs are taken in again: they are bridged
again, into the bridge left empty (never destroyed as left over) or a new one, and recorded if the
queue records calls. A call found bridged is only taken back, not bridged a second time; one found
bridged with nothing recording it (killed between the bridging and the recording) is recorded from
then on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from app.core.states import AgentState
from app.store.sqlite import SQLiteStore
from app.telephony.executor import call_bridge_id
from tests.ari.fake_ari import FakeAri
from tests.telephony.conftest import AgentCall, Caller, Shell, config_text, make_shell

RECORDED = """
  support:
    display_name: Support
    ring_timeout: 15s
    wrap_up: 10s
    record_calls: true
    callback:
      enabled: false
  sales:
    display_name: Sales
    callback:
      enabled: false
"""
HOLDING = "holdfast-hold-support"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    s = SQLiteStore(str(tmp_path / "holdfast.db"))
    await s.open()
    yield s
    await s.close()


async def _connected_then_stopped(fake_ari: FakeAri, text: str, store: SQLiteStore) -> tuple[Caller, AgentCall]:
    first = await make_shell(fake_ari, text, store=store)
    await first.start()
    caller, ring = await first.connected_call()
    await first.service.wait_committed()  # `connected` is stored
    await first.stop()
    return caller, ring


@asynccontextmanager
async def restarted(
    fake_ari: FakeAri, text: str, store: SQLiteStore, resync_retries: tuple[float | None, ...] | None = None
) -> AsyncIterator[Shell]:
    """The service started again on the same store: the restart under test. `start` returns once
    its resync (the call bridges' tidy included) has run."""
    second = await make_shell(fake_ari, text, store=store)
    if resync_retries is not None:
        second.service.resync_retries = resync_retries
    try:
        await second.start()
        yield second
    finally:
        await second.stop()


def _as_before_the_bridging(fake_ari: FakeAri, caller: Caller, ring: AgentCall, bridge_made: bool) -> None:
    """Asterisk as the killed service left it: the caller still on hold, the agent in no bridge,
    and the call bridge empty (made) or not there at all."""
    bridge_id = call_bridge_id(caller.request_id)
    if bridge_made:
        fake_ari.bridges[bridge_id]["channels"] = []
    else:
        del fake_ari.bridges[bridge_id]
    fake_ari.bridges[HOLDING]["channels"].append(caller.channel_id)
    fake_ari.state.recordings.clear()
    fake_ari.state.live_recordings.clear()


@pytest.mark.parametrize("bridge_made", [True, False], ids=["bridge-made-empty", "bridge-not-made"])
async def test_a_connected_call_found_unbridged_at_restart_is_bridged_again(
    fake_ari: FakeAri, store: SQLiteStore, bridge_made: bool
) -> None:
    text = config_text(fake_ari, queues=RECORDED)
    caller, ring = await _connected_then_stopped(fake_ari, text, store)
    _as_before_the_bridging(fake_ari, caller, ring, bridge_made)
    bridge_id = call_bridge_id(caller.request_id)
    adds_before = len(fake_ari.calls_to("POST", f"/bridges/{bridge_id}/addChannel"))

    async with restarted(fake_ari, text, store) as second:
        again = await second.activities.wait("call_bridged_again", request_id=caller.request_id)
        assert again.agent_id == "1001"
        await second.fake.wait_for_call("POST", f"/bridges/{bridge_id}/addChannel", count=adds_before + 1)
        assert set(fake_ari.bridges[bridge_id]["channels"]) == {caller.channel_id, ring.channel_id}
        assert caller.channel_id not in fake_ari.bridges[HOLDING]["channels"]  # off hold, into the call
        assert not fake_ari.calls_to("DELETE", f"/bridges/{bridge_id}$")  # never destroyed as left over
        await second.activities.wait("recording_started", request_id=caller.request_id)
        assert not fake_ari.calls_to("DELETE", f"/channels/{caller.channel_id}")
        assert not fake_ari.calls_to("DELETE", f"/channels/{ring.channel_id}")
        assert second.agent_state("1001") is AgentState.BUSY

        # The call goes on as any other: its end destroys the bridge and frees the agent.
        await second.hangup_event(caller.channel, "ChannelHangupRequest", cause=16)
        await second.activities.wait("ended", request_id=caller.request_id)
        await second.fake.wait_for_call("DELETE", f"/bridges/{bridge_id}$")
        assert bridge_id not in fake_ari.bridges
        assert second.agent_state("1001") is AgentState.WRAP_UP
        assert second.service.healthy


async def test_a_connected_call_found_bridged_at_restart_is_taken_back_not_bridged_again(
    fake_ari: FakeAri, store: SQLiteStore
) -> None:
    text = config_text(fake_ari, queues=RECORDED)
    caller, ring = await _connected_then_stopped(fake_ari, text, store)
    bridge_id = call_bridge_id(caller.request_id)
    adds_before = len(fake_ari.calls_to("POST", f"/bridges/{bridge_id}/addChannel"))
    records_before = len(fake_ari.calls_to("POST", f"/bridges/{bridge_id}/record"))

    async with restarted(fake_ari, text, store) as second:  # the resync (and the bridges' tidy) has run
        await second.service.executor.drain()  # and what it gave the executor has been done
        assert {leg.leg_id for leg in second.service.executor.call_bridges[bridge_id]} == {
            caller.request_id,
            ring.leg_id,
        }
        assert len(fake_ari.calls_to("POST", f"/bridges/{bridge_id}/addChannel")) == adds_before
        assert len(fake_ari.calls_to("POST", f"/bridges/{bridge_id}/record")) == records_before == 1
        assert not second.activities.find("call_bridged_again")
        assert set(fake_ari.bridges[bridge_id]["channels"]) == {caller.channel_id, ring.channel_id}


async def test_a_refused_read_of_the_bridges_is_tried_again_while_a_call_may_be_unbridged(
    fake_ari: FakeAri, store: SQLiteStore
) -> None:
    text = config_text(fake_ari, queues=RECORDED)
    caller, ring = await _connected_then_stopped(fake_ari, text, store)
    _as_before_the_bridging(fake_ari, caller, ring, bridge_made=True)
    fake_ari.fail("GET", r"/bridges$", status=500, times=2)
    reads_before = len(fake_ari.calls_to("GET", r"/bridges$"))

    async with restarted(fake_ari, text, store, resync_retries=(0.01, 0.01, None)) as second:
        await second.activities.wait("call_bridged_again", request_id=caller.request_id)
        assert len(fake_ari.calls_to("GET", r"/bridges$")) == reads_before + 3  # two refused, then read
        await second.fake.wait_for_call("POST", f"/bridges/{call_bridge_id(caller.request_id)}/addChannel", count=2)
        assert set(fake_ari.bridges[call_bridge_id(caller.request_id)]["channels"]) == {
            caller.channel_id,
            ring.channel_id,
        }


async def test_a_connected_call_found_bridged_but_unrecorded_at_restart_is_recorded_from_then_on(
    fake_ari: FakeAri, store: SQLiteStore
) -> None:
    text = config_text(fake_ari, queues=RECORDED)
    caller, _ring = await _connected_then_stopped(fake_ari, text, store)
    bridge_id = call_bridge_id(caller.request_id)
    name = f"holdfast-{caller.request_id}"
    del fake_ari.state.live_recordings[name]  # as killed before the recording started ...
    del fake_ari.state.recordings[name]  # ... so no file either
    adds_before = len(fake_ari.calls_to("POST", f"/bridges/{bridge_id}/addChannel"))

    async with restarted(fake_ari, text, store) as second:
        again = await second.activities.wait("call_recorded_again", request_id=caller.request_id)
        assert again.agent_id == "1001"
        started = await second.activities.wait("recording_started", request_id=caller.request_id)
        assert started.data["name"] == name and started.queue == "support"
        record = fake_ari.calls_to("POST", f"/bridges/{bridge_id}/record")[-1]
        assert (record.query["name"], record.query["ifExists"]) == (name, "append")  # never lose what was
        assert fake_ari.state.live_recordings[name] == bridge_id
        assert len(fake_ari.calls_to("POST", f"/bridges/{bridge_id}/addChannel")) == adds_before  # bridged already
        assert not second.activities.find("call_bridged_again")
        assert second.agent_state("1001") is AgentState.BUSY


async def test_a_call_its_queue_does_not_record_is_not_looked_for_among_live_recordings(
    fake_ari: FakeAri, store: SQLiteStore
) -> None:
    text = config_text(fake_ari)  # no queue records calls
    caller, _ring = await _connected_then_stopped(fake_ari, text, store)
    async with restarted(fake_ari, text, store) as second:
        await second.service.executor.drain()
        assert call_bridge_id(caller.request_id) in second.service.executor.call_bridges  # taken back
        assert not fake_ari.calls_to("GET", r"/recordings/live/.*")
        assert not second.activities.find("call_recorded_again")
