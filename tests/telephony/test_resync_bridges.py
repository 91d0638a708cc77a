"""Call bridges at a resync: one no live leg holds is destroyed, one holding a call is kept (and
still destroyed when that call ends), and nobody else's bridge is touched."""

from __future__ import annotations

from app.core.states import AgentState
from app.telephony.executor import call_bridge_id, call_bridge_request
from tests.ari.fake_ari import bridge_json
from tests.telephony.conftest import Shell


async def test_a_call_bridge_left_by_an_earlier_run_is_destroyed_at_start(shell: Shell) -> None:
    """A call that ended while the service was stopped (or an orphan hung up at start) left its
    bridge on Asterisk; nothing else would ever destroy it."""
    left = call_bridge_id("gone-request")
    shell.fake.bridges[left] = bridge_json(left, name=left)
    shell.fake.bridges["someone-elses"] = bridge_json("someone-elses", name="not ours")
    await shell.start()
    await shell.fake.wait_for_call("DELETE", f"/bridges/{left}$")
    assert left not in shell.fake.bridges
    assert "someone-elses" in shell.fake.bridges  # not ours: left alone
    assert "holdfast-hold-support" in shell.fake.bridges
    assert shell.service.healthy


async def test_a_call_bridge_holding_a_call_is_kept_and_destroyed_when_the_call_ends(shell: Shell) -> None:
    await shell.start()
    caller, ring = await shell.connected_call()
    bridge_id = call_bridge_id(caller.request_id)
    # as after a restart of the service: the bridge is not known as ours, its call is
    del shell.service.executor.call_bridges[bridge_id]
    for leg in shell.service.legs.all():
        leg.bridge_id = None

    await shell.reconnect()
    assert bridge_id in shell.fake.bridges and not shell.fake.calls_to("DELETE", f"/bridges/{bridge_id}$")
    assert {leg.leg_id for leg in shell.service.executor.call_bridges[bridge_id]} == {caller.request_id, ring.leg_id}

    await shell.hangup_event(caller.channel, "ChannelHangupRequest", cause=16)
    await shell.activities.wait("ended", request_id=caller.request_id)
    await shell.fake.wait_for_call("DELETE", f"/bridges/{bridge_id}$")
    assert bridge_id not in shell.fake.bridges
    assert shell.agent_state("1001") is AgentState.WRAP_UP


def test_a_call_bridge_names_its_request_and_no_other_bridge_does() -> None:
    assert call_bridge_request(call_bridge_id("r-1")) == "r-1"
    assert call_bridge_request("holdfast-hold-support") is None
    assert call_bridge_request("someone-elses") is None
