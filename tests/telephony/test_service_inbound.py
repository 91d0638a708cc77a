"""Inbound calls through the shell: StasisStart → answer, holding bridge, refusal, DTMF, prompts."""

from __future__ import annotations

import pytest

from app.core import events as ev
from app.core.states import RequestState
from tests.ari.fake_ari import FakeAri
from tests.telephony.conftest import CALLER, Shell, config_text, make_shell

CALLBACK_QUEUES = """
  support:
    display_name: Support
    callback:
      enabled: true
      key: 1
      allow_other_number: true
  sales:
    display_name: Sales
"""

CLOSED_QUEUES = """
  support:
    display_name: Support
    hours:
      timezone: UTC
      thu: "00:00-08:00"
  sales:
    display_name: Sales
"""


async def test_start_creates_holding_bridges(shell: Shell) -> None:
    await shell.start()
    for queue in ("support", "sales"):
        call = await shell.fake.wait_for_call("POST", f"/bridges/holdfast-hold-{queue}")
        assert call.param("type") == "holding"
        assert shell.fake.bridges[f"holdfast-hold-{queue}"]["bridge_type"] == "holding"
    # No bridge music: its announcer leaves when the bridge empties (issue 12); callers have their own.
    assert not shell.fake.calls_to("POST", r"/bridges/.*/moh")


async def test_inbound_call_is_answered_and_put_on_hold(shell: Shell) -> None:
    await shell.start()
    caller = await shell.caller(CALLER, ("inbound", "4000"))
    cid = caller.channel_id

    await shell.fake.wait_for_call("POST", f"/channels/{cid}/answer")
    add = await shell.fake.wait_for_call("POST", r"/bridges/holdfast-hold-support/addChannel")
    assert add.param("channel") == cid
    assert add.param("role") == "holding_participant"  # Asterisk plays it music whenever no prompt does
    assert cid in shell.fake.bridges["holdfast-hold-support"]["channels"]
    assert shell.fake.channels[cid]["state"] == "Up"

    req = shell.engine.requests[caller.request_id]
    assert req.queue == "support"
    assert req.caller_number == CALLER
    assert req.state is RequestState.WAITING
    assert shell.engine.position(caller.request_id) == 1
    arrived = await shell.activities.wait("arrived", request_id=caller.request_id)
    assert arrived.data["position"] == 1
    # the answer comes before the caller joins the holding bridge
    paths = [c.path for c in shell.fake.calls if cid in c.path or c.param("channel") == cid]
    assert paths.index(f"/channels/{cid}/answer") < paths.index("/bridges/holdfast-hold-support/addChannel")


async def test_a_caller_the_dialplan_answered_is_not_answered_again(shell: Shell) -> None:
    """The shipped dialplan answers before Stasis (asterisk-conf/extensions.conf): the caller is
    queued and put on hold like any other, without a second answer request."""
    await shell.start()
    chan = shell.fake.add_channel(caller_number=CALLER, state="Up")
    await shell.push("StasisStart", channel=chan, args=["inbound", "4000"])
    add = await shell.fake.wait_for_call("POST", r"/bridges/holdfast-hold-support/addChannel")
    assert add.param("channel") == chan["id"]
    assert shell.engine.requests[chan["id"]].state is RequestState.WAITING
    # A second caller, still ringing (a dialplan without Answer), is answered by the service.
    ringing = await shell.caller("+4520000009", ("inbound", "4000"))
    await shell.fake.wait_for_call("POST", f"/channels/{ringing.channel_id}/answer")
    await shell.settle()
    assert not shell.fake.calls_to("POST", f"/channels/{chan['id']}/answer")


async def test_second_dialled_number_goes_to_its_queue(shell: Shell) -> None:
    await shell.start()
    caller = await shell.caller(CALLER, ("inbound", "4001"))
    add = await shell.fake.wait_for_call("POST", r"/bridges/holdfast-hold-sales/addChannel")
    assert add.param("channel") == caller.channel_id
    assert shell.engine.requests[caller.request_id].queue == "sales"


async def test_queue_name_as_only_arg(shell: Shell) -> None:
    await shell.start()
    caller = await shell.caller(CALLER, ("sales",))
    await shell.fake.wait_for_call("POST", f"/channels/{caller.channel_id}/answer")
    add = await shell.fake.wait_for_call("POST", r"/bridges/holdfast-hold-sales/addChannel")
    assert add.param("channel") == caller.channel_id
    assert shell.engine.requests[caller.request_id].queue == "sales"


async def test_withheld_number_reaches_engine_as_none(shell: Shell) -> None:
    await shell.start()
    caller = await shell.caller("", ("inbound", "4000"))
    assert shell.engine.requests[caller.request_id].caller_number is None


async def _refused(shell: Shell, args: list[str]) -> str:
    chan = shell.fake.add_channel(caller_number=CALLER, state="Ring")
    await shell.push("StasisStart", channel=chan, args=args)
    cid = chan["id"]
    await shell.fake.wait_for_call("POST", f"/channels/{cid}/answer")
    play = await shell.fake.wait_for_call("POST", f"/channels/{cid}/play")
    assert play.param("media") == shell.media("not_in_service")
    assert not shell.engine.requests, "a refused call must not become a request"
    leg = shell.service.legs.by_channel(cid)
    assert leg is None or leg.role == "oneshot", "only kept to hang up when the prompt ends"
    return cid


@pytest.mark.parametrize("args", [["inbound", "9999"], ["inbound"], ["nosuchqueue"], []], ids=str)
async def test_call_without_queue_is_answered_and_told(shell: Shell, args: list[str]) -> None:
    await shell.start()
    await _refused(shell, args)


async def test_unknown_number_is_hung_up(shell: Shell) -> None:
    await shell.start()
    cid = await _refused(shell, ["inbound", "9999"])
    play = shell.plays(cid)[0]
    # Whether the hang-up follows the end of the prompt or a fixed delay, it comes.
    await shell.finish_playback(play.param("playbackId") or "", cid)
    hangup = await shell.fake.wait_for_call("DELETE", f"/channels/{cid}", timeout=4.5)
    assert hangup.status == 204


async def test_unknown_number_hangs_up_when_prompt_ends(shell: Shell) -> None:
    await shell.start()
    cid = await _refused(shell, ["inbound", "9999"])
    play = shell.plays(cid)[0]
    await shell.finish_playback(play.param("playbackId") or "", cid)
    await shell.fake.wait_for_call("DELETE", f"/channels/{cid}", timeout=1.0)


async def test_dtmf_reaches_engine_menu(fake_ari: FakeAri) -> None:
    shell = await make_shell(fake_ari, config_text(fake_ari, queues=CALLBACK_QUEUES))
    try:
        await shell.start()
        caller = await shell.caller(CALLER)
        await shell.fake.wait_for_call("POST", r"/bridges/holdfast-hold-support/addChannel")
        await shell.push("ChannelDtmfReceived", channel=caller.channel, digit="1", duration_ms=120)
        await shell.activities.wait("callback_key", request_id=caller.request_id)
        req = shell.engine.requests[caller.request_id]
        assert req.menu is not None and req.menu.step == "choose"
        assert shell.fed_of(ev.DtmfReceived, request_id=caller.request_id, digit="1")
        play = await shell.fake.wait_for_call("POST", f"/channels/{caller.channel_id}/play")
        assert play.param("media") == shell.media("callback_choose_number")
        assert play.param("lang") == "en"

        # "2": enter another number; the digits build up in the menu
        await shell.push("ChannelDtmfReceived", channel=caller.channel, digit="2")
        await shell.eventually(lambda: req.menu is not None and req.menu.step == "enter", "the enter step")
        for digit in "2012":
            await shell.push("ChannelDtmfReceived", channel=caller.channel, digit=digit)
        await shell.eventually(lambda: req.menu is not None and req.menu.digits == "2012", "digits in the menu")
    finally:
        await shell.stop()


async def test_dtmf_from_unknown_channel_is_ignored(shell: Shell) -> None:
    await shell.start()
    caller = await shell.caller(CALLER)
    stranger = shell.fake.add_channel()
    await shell.push("ChannelDtmfReceived", channel=stranger, digit="1")
    await shell.push("ChannelDtmfReceived", channel=caller.channel, digit="5")
    await shell.eventually(lambda: bool(shell.fed_of(ev.DtmfReceived)), "the caller's digit")
    assert [e.digit for e in shell.fed_of(ev.DtmfReceived)] == ["5"]  # type: ignore[attr-defined]


async def test_closed_queue_prompt_then_hangup_after_playback(fake_ari: FakeAri) -> None:
    shell = await make_shell(fake_ari, config_text(fake_ari, queues=CLOSED_QUEUES))
    try:
        await shell.start()
        chan = await shell.arrive(CALLER, ("inbound", "4000"))
        cid = chan["id"]
        await shell.fake.wait_for_call("POST", f"/channels/{cid}/answer")
        play = await shell.fake.wait_for_call("POST", f"/channels/{cid}/play")
        assert play.param("media") == shell.media("closed")
        ended = await shell.activities.wait("ended", outcome="closed")
        assert ended.queue == "support"
        assert not shell.fake.calls_to("DELETE", f"/channels/{cid}"), "hung up before the prompt ended"
        assert not shell.fake.calls_to("POST", r"/bridges/.*/addChannel")

        playback_id = play.param("playbackId") or ""
        await shell.finish_playback(playback_id, cid)
        hangup = await shell.fake.wait_for_call("DELETE", f"/channels/{cid}")
        assert hangup.status == 204
        assert playback_id not in shell.service.legs.playbacks
    finally:
        await shell.stop()


async def test_a_closing_message_asterisk_refuses_to_play_still_ends_the_call(fake_ari: FakeAri) -> None:
    """The closed message cannot be played (a sound file gone, Asterisk refusing): the caller must
    not be left in silence in our app for ever; the call is hung up as it would be after the
    message."""
    shell = await make_shell(fake_ari, config_text(fake_ari, queues=CLOSED_QUEUES))
    try:
        await shell.start()
        shell.fake.fail("POST", r"/channels/.*/play", status=500, message="no such sound (test)", times=None)
        chan = await shell.arrive(CALLER, ("inbound", "4000"))
        cid = chan["id"]
        hangup = await shell.fake.wait_for_call("DELETE", f"/channels/{cid}")
        assert hangup.status == 204
        ended = await shell.activities.wait("ended", outcome="closed")
        assert ended.queue == "support"
        assert not shell.service.legs.playbacks and shell.service.healthy
    finally:
        await shell.stop()


async def test_playback_finished_for_unknown_playback_is_ignored(shell: Shell) -> None:
    await shell.start()
    caller = await shell.caller(CALLER)
    await shell.finish_playback("not-ours", caller.channel_id)
    # a later event on the same channel is handled after it: the first one is done by then
    await shell.push("ChannelDtmfReceived", channel=caller.channel, digit="7")
    await shell.eventually(lambda: bool(shell.fed_of(ev.DtmfReceived)), "the digit after the playback event")
    assert not shell.fake.calls_to("DELETE", r"/channels/.*")


NEVER_OPEN_QUEUES = """
  support:
    display_name: Support
    hours:
      timezone: UTC
      exceptions:
        "2025-12-20": closed
  sales:
    display_name: Sales
"""


async def test_queue_with_no_opening_hours_is_closed(fake_ari: FakeAri) -> None:
    shell = await make_shell(fake_ari, config_text(fake_ari, queues=NEVER_OPEN_QUEUES))
    try:
        await shell.start()
        await shell.arrive(CALLER, ("inbound", "4000"))
        ended = await shell.activities.wait("ended", timeout=1.0)
        assert ended.data["outcome"] == "closed"
    finally:
        await shell.stop()
