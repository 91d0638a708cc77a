"""The holding bridge's one music stream (app/telephony/executor.py, "Music on hold"): started by
the caller who finds no other caller of ours in the bridge, after that caller is in it; a failed
start is not a fault (each caller's own music plays)."""

from __future__ import annotations

from app.core.states import RequestState
from app.telephony.legs import Leg, LegRegistry
from tests.telephony.conftest import Shell

HOLD = "/bridges/holdfast-hold-support"


def hold_calls(shell: Shell) -> list[str]:
    """The holding bridge's addChannel (as "add <channel>") and music starts ("moh"), in order."""
    out = []
    for call in shell.fake.calls:
        if call.method == "POST" and call.path == HOLD + "/addChannel":
            out.append(f"add {call.param('channel')}")
        elif call.method == "POST" and call.path == HOLD + "/moh":
            out.append("moh")
    return out


async def test_music_starts_with_the_caller_who_finds_the_bridge_empty_and_only_then(shell: Shell) -> None:
    await shell.start()
    a = await shell.caller("+4520123401")
    await shell.fake.wait_for_call("POST", HOLD + "/moh")
    b = await shell.caller("+4520123402")
    await shell.fake.wait_for_call("POST", HOLD + "/addChannel", count=2)
    await shell.hangup_event(a.channel)  # b still waits: the stream goes on
    await shell.activities.wait("ended", request_id=a.request_id)
    c = await shell.caller("+4520123403")
    await shell.fake.wait_for_call("POST", HOLD + "/addChannel", count=3)
    await shell.settle()
    for gone in (b, c):  # the queue empties: Asterisk takes the announcer out with the last caller
        await shell.hangup_event(gone.channel)
        await shell.activities.wait("ended", request_id=gone.request_id)
    d = await shell.caller("+4520123404")
    await shell.fake.wait_for_call("POST", HOLD + "/moh", count=2)
    assert hold_calls(shell) == [
        f"add {a.channel_id}",
        "moh",  # after the caller is in: an announcer alone in the bridge would leave at once
        f"add {b.channel_id}",
        f"add {c.channel_id}",
        f"add {d.channel_id}",
        "moh",
    ]


async def test_a_music_start_that_fails_leaves_the_caller_waiting(shell: Shell) -> None:
    await shell.start()
    shell.fake.fail("POST", HOLD + "/moh", status=500, body={"error": "Allocation failed"})
    caller = await shell.caller()
    await shell.fake.wait_for_call("POST", HOLD + "/moh")
    await shell.settle()
    assert shell.engine.requests[caller.request_id].state is RequestState.WAITING
    assert shell.service.healthy
    assert caller.channel_id in shell.fake.bridges["holdfast-hold-support"]["channels"]


def test_only_live_legs_of_the_same_server_count_as_others_in_the_bridge() -> None:
    legs = LegRegistry()
    joining = legs.add(Leg("x", "x", "inbound", "x", bridge_id="hold", server="s1"))
    assert not legs.others_in_bridge(joining, "hold")
    legs.add(Leg("other-server", "o", "inbound", "o", bridge_id="hold", server="s2"))
    legs.add(Leg("elsewhere", "e", "inbound", "e", bridge_id="call", server="s1"))
    ended = legs.add(Leg("ended", "d", "inbound", "d", bridge_id="hold", server="s1"))
    ended.ended = True
    assert not legs.others_in_bridge(joining, "hold")
    legs.add(Leg("waiting", "w", "inbound", "w", bridge_id="hold", server="s1"))
    assert legs.others_in_bridge(joining, "hold")
