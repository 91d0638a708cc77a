"""A restart with a callback due and its agent reachable: the agent is rung once, not twice.

Start-up feeds the agents' reachability before it reconciles the legs it expects with the channels
Asterisk has (so nobody is rung before their phone registered). The engine dispatches at once, so
a leg it makes in that instant is newer than the channel list read before: reconciling it against
that list would take it for a vanished channel, put the callback back and ring the agent again.
"""

from __future__ import annotations

from pathlib import Path

from app.store.sqlite import SQLiteStore
from tests.ari.fake_ari import FakeAri
from tests.telephony.conftest import CALLBACK_QUEUES, config_text, make_shell
from tests.telephony.test_service_callback import _promised


async def test_a_callback_due_at_start_up_rings_its_agent_once(fake_ari: FakeAri, tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "holdfast.db"))
    await store.open()
    text = config_text(fake_ari, queues=CALLBACK_QUEUES)
    try:
        first = await make_shell(fake_ari, text, store=store)
        await first.start(online=())  # 1001 is ready but its phone is not registered: nobody is rung
        first.ready("1001")
        caller = await _promised(first)
        assert not [c for c in fake_ari.calls_to("POST", r"/channels") if c.param("endpoint") == "PJSIP/1001"]
        await first.stop()

        second = await make_shell(fake_ari, text, store=store)
        try:
            await second.start()  # now 1001's phone is registered: the callback goes to it
            ring = await second.wait_originate("1001")
            # The call goes on: the agent answers and hears the whisper (by then a second ring of
            # the same start-up step would have been sent as well).
            await second.answer(ring)
            await second.fake.wait_for_call("POST", f"/channels/{ring.channel_id}/play")
            rings = [c for c in fake_ari.calls_to("POST", r"/channels") if c.param("endpoint") == "PJSIP/1001"]
            assert len(rings) == 1, [c.param("channelId") for c in rings]
            interrupted = [a for a in second.activities.items if a.kind == "interrupted"]
            assert not interrupted, "the fresh agent leg was taken for a vanished one"
            req = second.engine.requests[caller.request_id]
            assert req.agent_leg == ring.leg_id
        finally:
            await second.stop()
    finally:
        await store.close()
