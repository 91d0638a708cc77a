"""callback.mode: ticket through the service (FakeAri): the key press, and a hang-up after
`abandon_callback_after`, send a ticket to the webhook; the caller hears a confirmation; no call
is placed; the ticket is in the raw event log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.store.sqlite import SQLiteStore
from tests.ari.fake_ari import FakeAri
from tests.notify.receiver import Receiver, receiver_fixture  # noqa: F401 (the `receiver` fixture)
from tests.telephony.conftest import CALLER, START, Shell, config_text, fake_ari, make_shell

__all__ = ["fake_ari"]

SECRET = "ticket-secret"
QUEUES = """
  support:
    display_name: Support
    callback:
      mode: ticket
      allow_other_number: false
      abandon_callback_after: 30s
  sales:
    display_name: Sales
"""


@pytest.fixture
async def shell(fake_ari: FakeAri, receiver: Receiver, tmp_path: Path) -> AsyncIterator[Shell]:
    store = SQLiteStore(tmp_path / "holdfast.db")
    await store.open()
    extra = f"""
notifications:
  webhooks:
    desk: {{url: "{receiver.url}/tickets", secret: "{SECRET}"}}
  routes:
    "*": {{ticket: [desk]}}
"""
    s = await make_shell(fake_ari, config_text(fake_ari, queues=QUEUES, extra=extra), store=store)
    await s.start()
    try:
        yield s
    finally:
        await s.stop()
        await store.close()


async def test_a_key_press_makes_a_ticket_and_the_caller_hears_a_confirmation(shell: Shell, receiver: Receiver) -> None:
    shell.ready("1001", "1002")
    shell.service.agent_action("1001", "pause")
    shell.service.agent_action("1002", "pause")  # nobody to take the call: the caller waits
    caller = await shell.caller(CALLER)
    shell.clock.advance(12.0)
    await shell.push("ChannelDtmfReceived", channel=caller.channel, digit="1")
    play = await shell.fake.wait_for_call("POST", f"/channels/{caller.channel_id}/play")
    assert play.param("media") == shell.media("callback_confirmed_no_place")
    await receiver.wait(lambda: len(receiver.delivered) == 1, "the ticket")
    [got] = receiver.delivered.values()
    assert got.path == "/tickets" and got.signed_with(SECRET)
    body = got.json()
    assert body["event"] == "ticket" and body["subject"] == f"Missed call from {CALLER}"
    assert (body["number"], body["queue"], body["request_id"]) == (CALLER, "support", caller.request_id)
    assert body["data"]["trigger"] == "key" and body["data"]["waited"] == 12.0 and body["data"]["arrived_at"] == START
    store = shell.service.store
    assert store is not None
    kinds = [e.kind for e in await store.events(request_id=caller.request_id)]
    assert "ticket_created" in kinds and kinds[-1] == "ended"
    assert not shell.fake.calls_to("POST", r"/channels$")  # no originate of any kind


async def test_a_hang_up_after_abandon_callback_after_makes_a_ticket(shell: Shell, receiver: Receiver) -> None:
    shell.ready("1001", "1002")
    shell.service.agent_action("1001", "pause")
    shell.service.agent_action("1002", "pause")
    caller = await shell.caller(CALLER)
    shell.clock.advance(31.0)
    await shell.push("StasisEnd", channel=caller.channel)
    await receiver.wait(lambda: len(receiver.delivered) == 1, "the ticket")
    [got] = receiver.delivered.values()
    assert got.json()["data"]["trigger"] == "abandon" and got.json()["data"]["waited"] == 31.0
    ended = await shell.activities.wait("ended", request_id=caller.request_id)
    assert ended.data["outcome"] == "ticket"


async def test_the_api_cannot_queue_a_callback_in_a_ticket_queue(shell: Shell) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from app.web.api import make_app

    http = TestClient(TestServer(make_app(shell.service)))
    await http.start_server()
    try:
        answer = await http.post("/api/callbacks", json={"queue": "support", "number": CALLER, "priority": 0})
        assert answer.status == 409
        assert "callback.mode is ticket" in (await answer.json())["error"]
    finally:
        await http.close()
