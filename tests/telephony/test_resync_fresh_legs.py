"""A leg placed while a resync runs is newer than the channel list that resync read.

Start-up feeds the agents' reachability before it reconciles, and the engine dispatches at once;
the resync goes on meanwhile (it hangs up finished calls it found, re-creates bridges...). Its
clean-up of legs whose channel has gone must judge only the legs that existed when the channels
were read: forgetting the fresh one refused the agent's answer as an unknown call ("not in
service") and paused them as not responding at the ring timeout.
"""

from __future__ import annotations

from pathlib import Path

from app.core.commands import PromptItem
from app.core.states import AgentState
from app.store.sqlite import SQLiteStore
from tests.ari.fake_ari import FakeAri, RecordedCall, channel_json
from tests.telephony.conftest import CALLBACK_QUEUES, CALLER, config_text, make_shell
from tests.telephony.test_service_callback import _promised


async def test_an_agent_rung_during_the_start_up_resync_is_not_forgotten(fake_ari: FakeAri, tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "holdfast.db"))
    await store.open()
    text = config_text(fake_ari, queues=CALLBACK_QUEUES)
    try:
        first = await make_shell(fake_ari, text, store=store)
        await first.start(online=())
        first.ready("1001")
        await _promised(first)
        await first.stop()

        # Left over from before the restart: an answered call in our app the service had finished
        # with. The resync hangs it up, and Asterisk answers that DELETE only once the agent's
        # originate (made by the same resync's dispatch) has reached it.
        leftover = channel_json(state="Up")
        fake_ari.channels[leftover["id"]] = leftover

        async def slow_hangup(call: RecordedCall) -> None:
            if call.method == "DELETE" and call.path == f"/channels/{leftover['id']}":
                await fake_ari.wait_for_call("POST", r"/channels")

        fake_ari.on_request.append(slow_hangup)

        second = await make_shell(fake_ari, text, store=store)
        try:
            await second.start()
            ring = await second.wait_originate("1001")
            assert second.fake.calls_to("DELETE", f"/channels/{leftover['id']}")[-1].status == 204
            leg = second.service.legs.by_leg(ring.leg_id)
            assert leg is not None and not leg.ended, "the fresh agent leg was forgotten by the resync"

            await second.answer(ring)  # the agent hears whom they call back, not "not in service"
            whisper = await second.fake.wait_for_call("POST", f"/channels/{ring.channel_id}/play")
            assert whisper.param("media") == second.media_items(
                PromptItem("callback_whisper"), PromptItem("number", CALLER)
            )
            assert second.agent_state("1001") is AgentState.BUSY
        finally:
            await second.stop()
    finally:
        await store.close()
