"""Recording (issue 17), the executor's side: the call bridge is recorded only after both legs
were added to it, named holdfast-<request id>; a refused recording is logged as an activity and
leaves the call alone."""

from __future__ import annotations

from app.core.commands import BridgeLegs, Hangup
from app.telephony.legs import Leg
from tests.telephony.conftest import Shell


async def bridged(shell: Shell, record: bool) -> str:
    await shell.start()
    caller = await shell.caller()
    agent_channel = shell.fake.add_channel(name="PJSIP/1001-00000001")
    agent = shell.service.legs.add(Leg("agent-1", agent_channel["id"], "agent", caller.request_id, answered=True))
    shell.service.executor.submit(
        [BridgeLegs(caller.request_id, caller.request_id, agent.leg_id, record=record, record_format="gsm")]
    )
    return caller.request_id


async def test_the_bridge_is_recorded_after_both_legs_are_in_it_and_a_refusal_is_logged(shell: Shell) -> None:
    shell.fake.fail("POST", r"/bridges/[^/]+/record", status=500, message="No such file or directory")
    rid = await bridged(shell, record=True)
    record = await shell.fake.wait_for_call("POST", rf"/bridges/holdfast-call-{rid}/record")
    added = shell.fake.calls_to("POST", rf"/bridges/holdfast-call-{rid}/addChannel")
    assert added and shell.fake.calls.index(added[0]) < shell.fake.calls.index(record)
    assert (record.param("name"), record.param("format")) == (f"holdfast-{rid}", "gsm")
    failed = await shell.activities.wait("recording_failed", request_id=rid)
    assert failed.data["name"] == f"holdfast-{rid}" and "500" in failed.data["error"]
    assert not shell.fake.calls_to("DELETE", r"/channels/[^/]+")  # the call goes on unrecorded


async def test_no_recording_unless_asked(shell: Shell) -> None:
    rid = await bridged(shell, record=False)
    await shell.fake.wait_for_call("POST", rf"/bridges/holdfast-call-{rid}/addChannel")
    # a later command in the same lane (the customer's leg) is done only after the bridging's all
    shell.service.executor.submit([Hangup(rid)])
    await shell.fake.wait_for_call("DELETE", r"/channels/[^/]+")
    assert not shell.fake.calls_to("POST", r"/bridges/[^/]+/record")


async def test_a_recording_asterisk_fails_after_it_started_is_said_and_logged(shell: Shell) -> None:
    """Asterisk accepted the recording, then could not go on (a full disk): the call goes on, and
    the missing recording is an error in the log and a `recording_failed` line in the event log."""
    rid = await bridged(shell, record=True)
    await shell.activities.wait("recording_started", request_id=rid)
    recording = {"name": f"holdfast-{rid}", "format": "gsm", "state": "failed", "cause": "disk full"}
    await shell.push("RecordingFailed", recording={**recording, "target_uri": f"bridge:holdfast-call-{rid}"})
    failed = await shell.activities.wait("recording_failed", request_id=rid)
    assert failed.data == {"name": f"holdfast-{rid}", "format": "gsm", "error": "disk full"}
    assert failed.queue == "support"
    await shell.push("RecordingFailed", recording={**recording, "name": "someone-elses"})  # not a call of ours
    await shell.settle()
    assert len(shell.activities.find("recording_failed")) == 1
    assert not shell.fake.calls_to("DELETE", r"/channels/[^/]+")
