"""The service is stopped after it stored a callback's customer dial but before that dial reached
Asterisk (here: the customer's channel is simply not there at the next start), while the agent
who heard the whisper is still on the line hearing ringback. The next service keeps the agent's
call and dials the customer again once it has matched its legs to Asterisk's channels: the agent
is not hung up and rung again for the same callback, and the lost dial is not counted."""

from __future__ import annotations

from pathlib import Path

from app.store.sqlite import SQLiteStore
from tests.ari.fake_ari import FakeAri
from tests.telephony.conftest import CALLBACK_QUEUES, CALLER, config_text, make_shell
from tests.telephony.test_service_callback import _promised, _whispered


async def test_a_dial_lost_in_a_restart_is_placed_again_and_the_agent_keeps_the_line(
    fake_ari: FakeAri, tmp_path: Path
) -> None:
    store = SQLiteStore(str(tmp_path / "holdfast.db"))
    await store.open()
    text = config_text(fake_ari, queues=CALLBACK_QUEUES)
    try:
        first = await make_shell(fake_ari, text, store=store)
        await first.start()
        caller = await _promised(first)
        ring, customer_channel = await _whispered(first, caller)
        await first.service.wait_committed()
        await first.stop()
        fake_ari.remove_channel(customer_channel)  # the originate never reached Asterisk
        dials_before = len(fake_ari.calls_to("POST", r"/channels"))

        second = await make_shell(fake_ari, text, store=store)
        try:
            await second.start()
            again = await second.fake.wait_for_call("POST", r"/channels", count=dials_before + 1)
            assert again.param("endpoint") == f"PJSIP/{CALLER}@trunk"
            assert again.param("channelId") != customer_channel
            interrupted = await second.activities.wait("interrupted", request_id=caller.request_id)
            assert interrupted.data["dial_again"] is True
            assert not fake_ari.calls_to("DELETE", f"/channels/{ring.channel_id}")  # the agent kept
            agent_rings = [c for c in fake_ari.calls_to("POST", r"/channels") if c.param("endpoint") == "PJSIP/1001"]
            assert len(agent_rings) == 1  # rung once, in the first life
            req = second.engine.requests[caller.request_id]
            assert req.agent_leg == ring.leg_id and req.counted_attempts == 1
            assert [a.outcome.value if a.outcome else None for a in req.attempts] == ["interrupted", None]
        finally:
            await second.stop()
    finally:
        await store.close()
