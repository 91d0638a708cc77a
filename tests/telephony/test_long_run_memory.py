"""The hundredth call on the shell's side: the service, after many calls of every ending, holds no
more than it did after the first forty.

The e2e tests name what must be empty once calls end (legs, call bridges, pending hang-ups, the
engine's requests). This counts everything the service object reaches instead (tests/object_graph),
so a per-call leftover in a place nobody thought to name shows too: a lane's worker kept per
channel, an endpoint map entry per leg, a cached row per request. A fast shell test (the fake ARI
plays Asterisk, with the events real Asterisk sends for each ending); the real-Asterisk e2e tests
run the same endings and check the named places.
"""

from __future__ import annotations

from typing import Any

from app.core.states import AgentState
from app.telephony.executor import call_bridge_id
from tests.object_graph import service_footprint
from tests.telephony.conftest import Caller, Shell
from tests.telephony.test_service_store import failing_store, stored_shell  # noqa: F401 (fixtures)

WRAP_UP = 10.0  # the shell's queues' wrap-up


async def _ended(shell: Shell, channel: dict[str, Any], hung_up_first: bool = False) -> None:
    """What Asterisk sends when a channel of ours goes: the hang-up request (from the side that
    hung up), the end of its Stasis and its destruction."""
    shell.fake.remove_channel(channel["id"])
    if hung_up_first:
        await shell.push("ChannelHangupRequest", channel=channel, cause=16)
    await shell.push("StasisEnd", channel=channel)
    await shell.push("ChannelDestroyed", channel=channel, cause=16, cause_txt="Normal Clearing")


async def _hung_up_by_service(shell: Shell, channel_id: str) -> None:
    """Waits for the service's hang-up of `channel_id`, then ends it as Asterisk would."""
    channel = dict(shell.fake.channels[channel_id])
    await shell.fake.wait_for_call("DELETE", f"/channels/{channel_id}")
    await _ended(shell, channel)


async def _agent_ready_again(shell: Shell) -> None:
    await shell.settle()
    if shell.agent_state("1001") is AgentState.WRAP_UP:
        shell.tick(WRAP_UP + 1)
    await shell.eventually(lambda: shell.agent_state("1001") is AgentState.READY, "agent 1001 ready again")


async def one_call(shell: Shell, n: int) -> None:
    """Call n, ended one of four ways in turn: the agent hangs up, the caller hangs up, the caller
    gives up while the agent's phone rings, the agent lets it ring out (paused, made ready again,
    rung again, answers)."""
    rung = len(shell.fake.calls_to("POST", r"/channels"))
    caller: Caller = await shell.caller(f"+452012{n:04d}")
    ring = await shell.wait_originate("1001", count=rung + 1)
    kind = n % 4
    if kind == 2:  # the caller gives up while the agent rings: the ring is hung up
        await _ended(shell, dict(caller.channel), hung_up_first=True)
        await _hung_up_by_service(shell, ring.channel_id)
    else:
        if kind == 3:  # rings out: the agent is paused and the leg hung up; ready again, rung again
            shell.tick(15)
            await _hung_up_by_service(shell, ring.channel_id)
            await shell.eventually(lambda: shell.agent_state("1001") is AgentState.PAUSED, "agent 1001 paused")
            shell.ready("1001")
            ring = await shell.wait_originate("1001", count=rung + 2)
        await shell.answer(ring)
        await shell.activities.wait("connected", request_id=caller.request_id)
        bridge_id = call_bridge_id(caller.request_id)
        both = {caller.channel_id, ring.channel_id}
        await shell.eventually(
            lambda: set(shell.fake.bridges.get(bridge_id, {}).get("channels", ())) == both, "the call bridged"
        )
        if kind == 1:  # the caller hangs up; the service hangs up the agent
            await _ended(shell, dict(caller.channel), hung_up_first=True)
            await _hung_up_by_service(shell, ring.channel_id)
        else:  # the agent hangs up; the service hangs up the caller
            await _ended(shell, dict(shell.fake.channels[ring.channel_id]), hung_up_first=True)
            await _hung_up_by_service(shell, caller.channel_id)
    await shell.activities.wait("ended", request_id=caller.request_id)
    await _agent_ready_again(shell)


async def calls(shell: Shell, first: int, count: int) -> tuple[int, int]:
    """Runs calls first..first+count-1 and returns what the service holds once they are over."""
    for n in range(first, first + count):
        await one_call(shell, n)
    await shell.settle()
    # Every leg's lane ends with its last command: none is kept waiting for more.
    await shell.eventually(lambda: not shell.service.executor._workers, "every lane to end by itself")
    assert shell.service.committer is not None
    await shell.service.committer.wait_committed()
    assert not shell.engine.requests and not shell.service.executor.call_bridges
    return service_footprint(shell.service, shell.activities)


async def test_a_hundred_and_sixty_calls_leave_the_service_no_bigger_than_forty(stored_shell: Shell) -> None:  # noqa: F811
    shell = stored_shell
    shell.ready("1001")
    rounds = [await calls(shell, first, 40) for first in (0, 40, 80, 120)]
    assert len(shell.activities.find("ended")) == 160
    assert len(shell.activities.find("ended", outcome="abandoned")) == 40  # a quarter gave up while ringing
    assert len(shell.activities.find("agent_paused")) == 40  # a quarter rang out
    # Anything kept per call grows by 40 elements or more per round, 120 over the last three; a
    # tally keyed by call by 40 keys a round. A kind first seen late adds a key or two.
    assert max(h for h, _ in rounds[1:]) <= rounds[0][0] + 10, rounds
    assert max(t for _, t in rounds[1:]) <= rounds[0][1] + 3, rounds
    duplicates = shell.service.ari.dispatcher.duplicates
    assert duplicates is not None
    assert len(duplicates._recent) == duplicates.size  # filled by now, and no further
