"""Notifications on real Asterisk (issue 17): a caller still queued after closing time gets the
SMS (through a local SMS-gateway stand-in) and staff a signed webhook; in ticket mode the key
press and a hang-up after `abandon_callback_after` send a ticket and place no call."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import Holdfast, holdfast_config_text

from app.config import load_config
from app.sandbox import AgentEndpoint, AsteriskInstance, free_tcp_port
from app.telephony.steady_clock import SteadyClock
from tests.activity_log import ActivityLog
from tests.notify.receiver import Receiver, receiver_fixture  # noqa: F401 (the `receiver` fixture)
from tests.steppable_wall import SteppableWall

pytestmark = pytest.mark.e2e

CLOSING, TICKET = "4010", "4011"
ANNA = "+4520123456"
SECRET = "e2e-hook-secret"


# Hours are whole minutes: the service's wall clock is put ahead so that a minute ends soon after it
# starts (tests/steppable_wall.py), rather than waiting up to a minute and more of the real one.
CLOSES_AFTER = 12.0  # seconds of the service's wall clock from the fixture's start to nclose's closing
WALL = SteppableWall()


def closing_time() -> tuple[str, str, float]:
    """The day and hours of the queue that closes CLOSES_AFTER seconds from now on the service's wall
    clock (stepped ahead to a minute's end), and when: ("YYYY-MM-DD", "00:00-HH:MM", epoch)."""
    now = time.time()
    end = datetime.fromtimestamp(now, UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    if (end.hour, end.minute) == (0, 0):  # "00:00-00:00" is no hours: the next minute then
        end += timedelta(minutes=1)
    WALL.step = end.timestamp() - CLOSES_AFTER - now
    return f"{end:%Y-%m-%d}", f"00:00-{end:%H:%M}", end.timestamp()


def queues_yaml(day: str, hours: str) -> str:
    return f"""  nclose:
    display_name: Evening line
    max_wait_after_close: 1s
    hours:
      timezone: UTC
      exceptions:
        "{day}": "{hours}"
    callback:
      enabled: false
  ntix:
    display_name: Tickets
    callback:
      mode: ticket
      allow_other_number: false
      min_wait_before_offer: 1s
      offer_threshold: 0s
      abandon_callback_after: 2s
"""


def notifications_yaml(receiver: Receiver) -> str:
    return f"""
notifications:
  retry: {{first_delay: 1s, max_delay: 2s, expire_after: 1h}}
  webhooks:
    desk: {{url: "{receiver.url}/hooks", secret: "{SECRET}", timeout: 5s}}
  sms:
    url: "{receiver.url}/sms"
    body: '{{"to": "%to%", "text": "%message%", "ref": "%id%"}}'
  templates:
    en:
      closed: "%queue_name% closed at %time%; please call again tomorrow."
  routes:
    nclose: {{closed: [sms, desk]}}
    ntix: {{ticket: [desk]}}
"""


@pytest.fixture
async def notify_holdfast(
    sut_asterisk: AsteriskInstance,
    phonesim_asterisk: AsteriskInstance,
    test_agents: list[AgentEndpoint],
    receiver: Receiver,
    tmp_path: Path,
) -> AsyncIterator[tuple[Holdfast, float]]:
    """As conftest's `holdfast`, with two more queues: nclose (closing within a minute) and ntix (tickets)."""
    from aiohttp import web

    from app.devrun import prompts_for
    from app.runner import build_service, open_store
    from app.web.api import make_app

    day, hours, closes_at = closing_time()
    http_port = free_tcp_port()
    text = holdfast_config_text(sut_asterisk, test_agents, http_port, notifications_yaml(receiver), tmp_path)
    text = text.replace("inbound:\n", f'inbound:\n  "{CLOSING}": nclose\n  "{TICKET}": ntix\n', 1)
    text = text.replace("queues:\n", "queues:\n" + queues_yaml(day, hours), 1)
    path = tmp_path / "holdfast.yaml"
    path.write_text(text)
    config = load_config(path)
    store = await open_store(config)
    service = build_service(config, prompts_for(config, sut_asterisk), store, path, clock=SteadyClock(WALL))
    log = ActivityLog()
    service.activity_listeners.append(log)
    await service.start()
    runner = web.AppRunner(make_app(service))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", http_port).start()
    try:
        await asyncio.wait_for(service.connected.wait(), 15)
        yield Holdfast(service, f"http://127.0.0.1:{http_port}", sut_asterisk, log, store, path), closes_at
    finally:
        await runner.cleanup()
        await service.stop()
        await store.close()


async def arrive(holdfast: Holdfast, phonesim, number: str, caller: str):  # type: ignore[no-untyped-def]
    before = len(holdfast.activities.find("arrived"))
    call = await phonesim.call(number, caller)
    arrived = await holdfast.activities.wait("arrived", count=before + 1)
    await call.wait_answered()
    return call, arrived.request_id


async def test_a_caller_still_queued_after_closing_gets_the_sms(notify_holdfast, phonesim, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    holdfast, closes_at = notify_holdfast
    call, request_id = await arrive(holdfast, phonesim, CLOSING, ANNA)
    wait = closes_at + 1.0 - holdfast.service.clock()
    ended = await holdfast.wait_activity("ended", timeout=wait + 15.0, request_id=request_id, outcome="closed")
    assert ended.at >= closes_at + 1.0 - 0.5  # not before closing + max_wait_after_close
    await call.wait_hangup(timeout=15)  # the closed prompt, then the service hangs up
    await receiver.wait(lambda: len(receiver.delivered) == 2, "the SMS and the webhook", 15.0)
    by_path = {r.path: r for r in receiver.delivered.values()}
    sms = by_path["/sms"].json()
    closed_at = datetime.fromtimestamp(closes_at, UTC).strftime("%H:%M")
    assert sms["to"] == ANNA and sms["text"] == f"Evening line closed at {closed_at}; please call again tomorrow."
    assert sms["ref"] == by_path["/sms"].key
    hook = by_path["/hooks"]
    assert hook.signed_with(SECRET)
    assert hook.json()["event"] == "closed" and hook.json()["request_id"] == request_id
    rows = await holdfast.store.notifications(state="delivered")  # type: ignore[attr-defined]
    assert {r.id for r in rows} == set(receiver.delivered)


async def test_ticket_mode_key_press(notify_holdfast, phonesim, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    holdfast, _ = notify_holdfast
    call, request_id = await arrive(holdfast, phonesim, TICKET, ANNA)
    await call.send_dtmf("1")
    ticket = await holdfast.wait_activity("ticket_created", request_id=request_id)
    assert ticket.data["trigger"] == "key"
    await call.wait_hangup(timeout=15)  # after the confirmation
    await receiver.wait(lambda: len(receiver.delivered) == 1, "the ticket", 15.0)
    [got] = receiver.delivered.values()
    body = got.json()
    assert got.signed_with(SECRET) and body["subject"] == f"Missed call from {ANNA}"
    assert (body["queue"], body["number"], body["data"]["trigger"]) == ("ntix", ANNA, "key")
    events = [e.kind for e in await holdfast.store.events(request_id=request_id)]
    assert "ticket_created" in events
    assert not holdfast.activities.find("attempt_started")  # no call placed
    assert not holdfast.activities.find("agent_ringing")


async def test_ticket_mode_hang_up_after_waiting(notify_holdfast, phonesim, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    holdfast, _ = notify_holdfast
    call, request_id = await arrive(holdfast, phonesim, TICKET, ANNA)
    await asyncio.sleep(2.5)  # waiting longer than abandon_callback_after (2 s): the set-up, not an assertion
    await call.hangup()
    ticket = await holdfast.wait_activity("ticket_created", request_id=request_id)
    assert ticket.data["trigger"] == "abandon" and ticket.data["waited"] >= 2.0
    await receiver.wait(lambda: len(receiver.delivered) == 1, "the ticket", 15.0)
    [got] = receiver.delivered.values()
    assert got.json()["data"]["trigger"] == "abandon" and got.json()["data"]["waited"] >= 2.0
    await holdfast.wait_activity("ended", request_id=request_id, outcome="ticket")


# ---- campaign_finished: a small power campaign called to its end --------------------------------

DOT, EVE = "+4520123490", "+4520123491"


@pytest.fixture
def holdfast_extra_config(receiver: Receiver) -> str:
    """For conftest's `holdfast`: campaign fin (power, one attempt each) and its route."""
    return f"""
campaigns:
  fin:
    name: Finale
    mode: power
    queue: sales
    lines_per_agent: 1
    caller_id: "+4570000009"
    ring_time: 15s
    max_attempts: 1
notifications:
  retry: {{first_delay: 1s, max_delay: 2s, expire_after: 1h}}
  webhooks:
    ops: {{url: "{receiver.url}/ops", secret: "{SECRET}", timeout: 5s}}
  routes:
    fin: {{campaign_finished: [ops]}}
"""


async def test_a_small_campaign_called_to_its_end_sends_one_campaign_finished(
    holdfast, phonesim, receiver: Receiver
) -> None:  # type: ignore[no-untyped-def]
    from app.core import events as ev

    phonesim.set_behaviour(f"customer:{EVE}", "busy")
    rows = [(DOT, "Dot", "{}", None, None), (EVE, "Eve", "{}", None, 5)]  # Eve first (priority)
    await holdfast.store.import_contacts("fin", rows, holdfast.service.clock())
    await holdfast.service.feed_and_commit(ev.ContactsChanged(holdfast.service.clock(), "fin"))
    holdfast.service.agent_action("1001", "ready")

    busy = await holdfast.wait_activity("dial_attempt", number=EVE, timeout=20)
    assert busy.data["outcome"] == "busy"
    dot = await phonesim.wait_incoming(f"customer:{DOT}", timeout=20)
    dialled = await holdfast.wait_activity("attempt_started", number=DOT)
    await holdfast.wait_activity("connected", contact=dialled.data["contact"], timeout=15)
    assert not holdfast.activities.find("campaign_finished"), "Dot is still on the line"
    await dot.hangup()
    await holdfast.wait_activity("dial_attempt", number=DOT)
    finished = await holdfast.wait_activity("campaign_finished", campaign="fin", timeout=30)
    await receiver.wait(lambda: len(receiver.delivered) == 1, "the campaign_finished webhook", 15.0)
    [got] = receiver.delivered.values()
    body = got.json()
    assert got.path == "/ops" and got.signed_with(SECRET)
    assert (body["event"], body["queue"], body["request_id"]) == ("campaign_finished", "sales", "campaign-fin")
    assert body["data"] == {"campaign": "fin", "campaign_name": "Finale"}
    assert body["message"].startswith("Campaign fin has finished")
    assert finished.at >= busy.at

    # the list is asked again (as after an upload that brought nothing): still one, told once
    loads = holdfast.service.contacts.loads
    await holdfast.service.feed_and_commit(ev.ContactsChanged(holdfast.service.clock(), "fin"))
    for _ in range(200):
        if holdfast.service.contacts.loads > loads:
            break
        await asyncio.sleep(0.05)
    assert holdfast.service.contacts.loads > loads
    await holdfast.service.wait_committed()
    marks = await holdfast.store.events_of_kinds(["campaign_finished", "campaign_reopened"])
    assert [(e.kind, e.data["campaign"]) for e in marks] == [("campaign_finished", "fin")]
    assert len(receiver.requests) == 1 and len(holdfast.activities.find("campaign_finished")) == 1
