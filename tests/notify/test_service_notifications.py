"""The service end to end without Asterisk (FakeAri): a caller still queued `max_wait_after_close`
after closing is told by SMS and staff by a webhook; the rows are committed with the step that
ended the request, delivered by the worker, and shown by GET /api/notifications."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from structlog.testing import capture_logs

from app.core import events as ev
from app.core.commands import Notify
from app.store import Change
from app.store.sqlite import SQLiteStore
from app.web.api import make_app
from tests.ari.fake_ari import FakeAri
from tests.notify.receiver import Receiver, receiver_fixture  # noqa: F401 (the `receiver` fixture)
from tests.telephony.conftest import CALLER, START, Shell, config_text, fake_ari, make_shell

__all__ = ["fake_ari"]

SECRET = "hook-secret"
LANDLINE = "+442079460000"  # a UK fixed-line number: no SMS (Danish numbers are "fixed line or mobile")

# START is Thursday 10:00 UTC: support closes at 10:01 and keeps callers 30 s more.
QUEUES = """
  support:
    display_name: Support
    max_wait_after_close: 30s
    hours:
      timezone: UTC
      thu: "08:00-10:01"
    callback:
      enabled: false
  sales:
    display_name: Sales
"""


def notifications_yaml(receiver: Receiver) -> str:
    return f"""
notifications:
  retry: {{first_delay: 1s, max_delay: 1s, expire_after: 1h}}
  webhooks:
    crm: {{url: "{receiver.url}/hooks", secret: "{SECRET}", timeout: 2s}}
  sms:
    url: "{receiver.url}/sms"
    body: '{{"to": "%to%", "text": "%message%"}}'
  templates:
    en:
      closed: "Sorry, %queue_name% closed at %time% while you waited since %arrived_time%."
  routes:
    support:
      closed: [sms, crm]
"""


class SpyStore(SQLiteStore):
    """Keeps every batch of changes it commits, to see what went into one transaction."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.batches: list[list[Change]] = []

    async def commit_many(self, changes: Iterable[Change]) -> None:
        batch = list(changes)
        self.batches.append(batch)
        await super().commit_many(batch)


@pytest.fixture
async def shell(fake_ari: FakeAri, receiver: Receiver, tmp_path: Path) -> AsyncIterator[Shell]:
    store = SpyStore(tmp_path / "holdfast.db")
    await store.open()
    s = await make_shell(
        fake_ari, config_text(fake_ari, queues=QUEUES, extra=notifications_yaml(receiver)), store=store
    )
    await s.start()
    try:
        yield s
    finally:
        await s.stop()
        await store.close()


async def closed_on(shell: Shell, *numbers: str) -> list[str]:
    ids = [(await shell.caller(n)).request_id for n in numbers]
    shell.tick(61.0)  # 10:01: closed
    shell.tick(31.0)  # max_wait_after_close passed: the close sweep
    for request_id in ids:
        await shell.activities.wait("ended", request_id=request_id, outcome="closed")
    await shell.service.wait_committed()
    return ids


async def test_a_caller_queued_after_closing_gets_an_sms_and_staff_a_webhook(shell: Shell, receiver: Receiver) -> None:
    [request_id] = await closed_on(shell, CALLER)
    await receiver.wait(lambda: len(receiver.delivered) == 2, "the SMS and the webhook")
    by_path = {r.path: r for r in receiver.delivered.values()}
    sms, hook = by_path["/sms"], by_path["/hooks"]
    assert sms.json() == {"to": CALLER, "text": "Sorry, Support closed at 10:01 while you waited since 10:00."}
    assert hook.signed_with(SECRET)
    body = hook.json()
    assert body["event"] == "closed" and body["request_id"] == request_id and body["queue"] == "support"
    assert body["number"] == CALLER and body["queue_name"] == "Support" and body["id"] == hook.key
    # the sweep runs at its deadline, 10:01:30: 90 s after the caller came at 10:00
    assert body["data"]["waited"] == pytest.approx(90.0) and body["data"]["arrived_at"] == START
    assert sms.key != hook.key  # one key per notification

    # Committed in the same transaction as the step that ended the request.
    store = shell.service.store
    assert isinstance(store, SpyStore)
    [change] = [c for batch in store.batches for c in batch if c.notifications]
    assert {n.channel for n in change.notifications} == {"sms", "crm"}
    assert [r.outcome.value for r in change.requests if r.id == request_id] == ["closed"]


async def test_the_outbox_worker_is_woken_only_for_what_has_a_route(
    shell: Shell, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every abandoned call and callback request is a Notify; most centres route few of them. A
    wake-up of the worker is two reads of the outbox in the store's queue, ahead of the next
    commits: only a notification that was given rows wakes it."""
    notifier = shell.service.notifier
    assert notifier is not None
    woken: list[str] = []
    wake = notifier.worker.wake
    monkeypatch.setattr(notifier.worker, "wake", lambda: (woken.append("wake"), wake())[1])

    with capture_logs() as logs:
        gone = await shell.caller(CALLER, args=("inbound", "4001"))  # sales: no route for anything
        await shell.hangup_event(gone.channel, "StasisEnd")
        await shell.activities.wait("ended", request_id=gone.request_id, outcome="abandoned")
        await shell.service.wait_committed()
        await shell.settle()
        await shell.service.executor.drain(0.5)
    told = [e for e in logs if e["event"] == "notify"]
    assert [(e["kind"], e["request_id"]) for e in told] == [("abandoned", gone.request_id)]  # acted on...
    assert woken == []  # ...and woke nothing

    await closed_on(shell, LANDLINE)  # support's closed: routed to the webhook
    await shell.eventually(lambda: woken == ["wake"], "the worker woken for the routed notification")


async def test_no_sms_to_a_landline_but_the_webhook_still_goes(shell: Shell, receiver: Receiver) -> None:
    await closed_on(shell, LANDLINE)
    await receiver.wait(lambda: len(receiver.delivered) == 1, "the webhook")
    [got] = receiver.delivered.values()
    assert got.path == "/hooks" and got.json()["number"] == LANDLINE
    await shell.service.wait_committed()
    store = shell.service.store
    assert isinstance(store, SQLiteStore)
    assert [n.notification.channel for n in await store.notifications()] == ["crm"]


async def test_the_api_lists_pending_and_delivered_with_the_last_error(shell: Shell, receiver: Receiver) -> None:
    receiver.mode = "down"
    await closed_on(shell, CALLER)
    await receiver.wait(lambda: len(receiver.requests) >= 2, "the first tries")
    http = TestClient(TestServer(make_app(shell.service)))
    await http.start_server()
    try:
        store = shell.service.store
        assert isinstance(store, SQLiteStore)

        async def tried_twice() -> None:
            while not all(r.attempts >= 1 for r in await store.notifications()):
                await asyncio.sleep(0.01)

        await asyncio.wait_for(tried_twice(), 5.0)
        answer = await (await http.get("/api/notifications?state=pending")).json()
        rows = answer["notifications"]
        assert {r["channel"] for r in rows} == {"sms", "crm"}
        assert all(r["state"] == "pending" and "503" in r["last_error"] for r in rows)
        assert all(r["number"] == CALLER and r["event"] == "closed" for r in rows)
        assert (await (await http.get("/api/notifications?state=delivered")).json())["notifications"] == []
        assert (await http.get("/api/notifications?state=lost")).status == 422

        receiver.mode = "ok"
        shell.clock.advance(2.0)  # the retry is due (the worker reads the service's clock)
        shell.service.notifier.worker.wake()  # type: ignore[union-attr]
        await receiver.wait(lambda: len(receiver.delivered) == 2, "both after the receiver is back")

        async def all_delivered() -> None:
            while len(await store.notifications(state="delivered")) < 2:
                await asyncio.sleep(0.01)

        await asyncio.wait_for(all_delivered(), 5.0)
        answer = await (await http.get("/api/notifications?state=delivered")).json()
        assert {r["id"] for r in answer["notifications"]} == set(receiver.delivered)
        assert all(r["last_error"] is None and r["delivered_at"] for r in answer["notifications"])
    finally:
        await http.close()


class BrokenOutbox(SQLiteStore):
    async def due_notifications(self, now: float, limit: int = 50, skip_channels: Any = ()) -> list[Any]:
        raise RuntimeError("a bug in the outbox")


async def test_a_dead_worker_stops_the_service_loudly(fake_ari: FakeAri, tmp_path: Path) -> None:
    store = BrokenOutbox(tmp_path / "holdfast.db")
    await store.open()
    shell = await make_shell(fake_ari, config_text(fake_ari, queues=QUEUES), store=store)
    try:
        await shell.start()
        await asyncio.wait_for(shell.service.fatal.wait(), 5.0)
        assert shell.service.fatal_reason == "notification_outbox_died"
        assert not shell.service.healthy
    finally:
        await shell.stop()
        await store.close()


async def test_a_reload_plans_its_own_step_with_the_new_settings_and_a_refused_one_with_the_running(
    shell: Shell, receiver: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reload's own step may notify (a lowered callback.max_attempts ends callbacks as
    missed_callback): its outbox rows are planned as that step is fed, so with the new routes and
    templates. A reload the engine refuses changes nothing: the running ones stay."""
    notifier = shell.service.notifier
    assert notifier is not None

    def message() -> str:
        [sms] = [n for n in notifier.plan([Notify("closed", "r1", "support", CALLER, at=START)]) if n.channel == "sms"]
        return str(sms.payload["message"])

    planned: list[str] = []
    feed = shell.service.feed

    def planning(event: ev.Event) -> Any:
        if isinstance(event, ev.SettingsChanged):
            planned.append(message())  # what this step's Notify would be told
        return feed(event)

    monkeypatch.setattr(shell.service, "feed", planning)
    text = config_text(shell.fake, queues=QUEUES, extra=notifications_yaml(receiver))
    path = tmp_path / "holdfast.yaml"
    shell.service.config_path = path
    path.write_text(text.replace("Sorry, %queue_name% closed", "Reloaded: %queue_name% closed"))
    assert shell.service.reload() is None
    assert planned[-1].startswith("Reloaded: Support closed")

    await shell.caller("+4520777666", ("inbound", "4001"))  # waits in sales: removing sales is refused
    without_sales = (
        text.replace("  sales:\n    display_name: Sales\n", "")
        .replace('"4001": sales', '"4001": support')
        .replace("[support, sales]", "[support]")
        .replace("Sorry, %queue_name% closed", "Refused: %queue_name% closed")
    )
    path.write_text(without_sales)
    assert shell.service.reload() is not None
    assert planned[-1].startswith("Refused: Support closed")  # planned with it while the engine judged it
    assert message().startswith("Reloaded: Support closed")  # then the running settings again
