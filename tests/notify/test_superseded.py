"""A callback's confirmation ("we will call you back") held up by a gateway outage is true only
while the callback waits: once the callback was made or ended, it is not sent any more but marked
superseded (failed, with the reason). The end's own notification (callback_expired) still goes.

Through the service with FakeAri (tests/telephony/conftest.py): the gateway is down when the
callback is promised, the callback is served (or expires), then the gateway is back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from structlog.testing import capture_logs

from app.config.notifications import NotificationsConfig
from app.core.request import Request
from app.core.states import Outcome, RequestKind, RequestState
from app.notify.planner import superseded
from app.notify.worker import OutboxWorker
from app.store import Change
from app.store.outbox_records import DELIVERED, FAILED, PENDING, Notification, StoredNotification
from app.store.sqlite import SQLiteStore
from app.web.api import make_app
from tests.ari.fake_ari import FakeAri
from tests.notify.receiver import Receiver, receiver_fixture  # noqa: F401 (the `receiver` fixture)
from tests.notify.test_outbox_backends import store
from tests.telephony.conftest import CALLBACK_QUEUES, CALLER, Caller, Shell, config_text, fake_ari, make_shell
from tests.telephony.test_service_callback import _promised, _whispered

__all__ = ["fake_ari", "store"]

SECRET = "hook-secret"
QUEUES = CALLBACK_QUEUES.replace("caller_id:", "max_age: 10m\n      caller_id:")


def notifications_yaml(receiver: Receiver) -> str:
    return f"""
notifications:
  retry: {{first_delay: 1s, max_delay: 1s}}
  webhooks:
    crm: {{url: "{receiver.url}/hooks", secret: "{SECRET}", timeout: 2s}}
  sms:
    url: "{receiver.url}/sms"
    body: '{{"to": "%to%", "text": "%message%"}}'
  routes:
    support:
      callback_requested: [sms, crm]
      callback_expired: [sms]
"""


@pytest.fixture
async def shell(fake_ari: FakeAri, receiver: Receiver, tmp_path: Path) -> AsyncIterator[Shell]:
    store = SQLiteStore(tmp_path / "holdfast.db")
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


async def rows_of(shell: Shell, request_id: str) -> list[StoredNotification]:
    store = shell.service.store
    assert isinstance(store, SQLiteStore)
    return await store.notifications(request_id=request_id)


async def promised_while_the_gateway_is_down(shell: Shell, receiver: Receiver) -> Caller:
    """The caller keys 1; the confirmation (SMS and webhook) is tried and refused (503)."""
    receiver.mode = "down"
    caller = await _promised(shell)
    await shell.service.wait_committed()
    await receiver.wait(lambda: {r.path for r in receiver.requests} == {"/sms", "/hooks"}, "the first tries")

    async def tried() -> bool:
        rows = await rows_of(shell, caller.request_id)
        return len(rows) == 2 and all(r.attempts >= 1 and r.state == PENDING for r in rows)

    await until(tried, "both confirmations tried once and pending")
    return caller


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 10.0) -> None:
    async def loop() -> None:
        while not await check():
            await asyncio.sleep(0.01)

    try:
        await asyncio.wait_for(loop(), timeout)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def gateway_back(shell: Shell, receiver: Receiver) -> None:
    receiver.mode = "ok"
    shell.clock.advance(2.0)  # the retries are due (the worker reads the service's clock)
    assert shell.service.notifier is not None
    shell.service.notifier.worker.wake()


async def test_a_confirmation_held_up_until_the_callback_was_served_is_not_sent(
    shell: Shell, receiver: Receiver
) -> None:
    caller = await promised_while_the_gateway_is_down(shell, receiver)
    request_id = caller.request_id

    with capture_logs() as logs:
        # The callback is made and served while the gateway is down.
        _, customer_channel = await _whispered(shell, caller)
        customer = shell.fake.channels[customer_channel]
        customer["state"] = "Up"
        _, leg_id = (shell.fake.calls_to("POST", r"/channels")[-1].param("appArgs") or "").split(",")
        await shell.push("StasisStart", channel=customer, args=["customer", leg_id])
        await shell.activities.wait("connected", request_id=request_id)
        await shell.hangup_event(customer, "StasisEnd")
        await shell.activities.wait("ended", request_id=request_id, outcome="served")
        await shell.service.wait_committed()
        await gateway_back(shell, receiver)

        async def settled() -> bool:
            return all(r.state != PENDING for r in await rows_of(shell, request_id))

        await until(settled, "the confirmations settled")
    assert not receiver.delivered, "a 'we will call you back' after the call was made"
    rows = await rows_of(shell, request_id)
    assert {r.notification.channel for r in rows} == {"sms", "crm"}
    for row in rows:
        assert row.state == FAILED and row.delivered_at is None
        # Marked when the worker was told the callback connected, or (told later) when it was served.
        assert row.last_error is not None
        assert row.last_error.startswith(
            ("superseded: the callback was connected", "superseded: the callback ended (served)")
        )
    told = [e for e in logs if e["event"] == "notification_superseded"]
    assert {e["channel"] for e in told} == {"sms", "crm"}
    assert all(e["request_id"] == request_id and e["kind"] == "callback_requested" for e in told)
    notifier = shell.service.notifier
    assert notifier is not None
    assert notifier.worker.delivered == 0 and notifier.worker.superseded == 2

    # Staff see why where notifications are listed.
    http = TestClient(TestServer(make_app(shell.service)))
    await http.start_server()
    try:
        listed = (await (await http.get("/api/notifications")).json())["notifications"]
    finally:
        await http.close()
    assert {(r["event"], r["state"], r["delivered_at"]) for r in listed} == {("callback_requested", "failed", None)}
    assert {r["last_error"] for r in listed} == {r.last_error for r in rows}


async def test_a_callback_that_expired_drops_its_confirmation_but_tells_of_the_expiry(
    shell: Shell, receiver: Receiver
) -> None:
    request_id = (await promised_while_the_gateway_is_down(shell, receiver)).request_id
    shell.tick(601.0)  # max_age 10m: the callback expires, nobody having served it
    await shell.activities.wait("ended", request_id=request_id, outcome="expired")
    await shell.service.wait_committed()

    await gateway_back(shell, receiver)

    async def settled() -> bool:
        rows = await rows_of(shell, request_id)
        return len(rows) == 3 and all(r.state != PENDING for r in rows)

    await until(settled, "every row settled")
    assert len(receiver.delivered) == 1, "the confirmation went after the callback expired"
    [sent] = receiver.delivered.values()
    assert sent.path == "/sms" and "could not call you back" in sent.json()["text"]
    by_event = {(r.notification.event, r.notification.channel): r for r in await rows_of(shell, request_id)}
    assert by_event[("callback_expired", "sms")].state == DELIVERED
    for channel in ("sms", "crm"):
        confirmation = by_event[("callback_requested", channel)]
        assert confirmation.state == FAILED
        assert confirmation.last_error is not None and confirmation.last_error.startswith("superseded:")


async def test_a_confirmation_of_a_callback_still_waiting_goes_once_the_gateway_is_back(
    shell: Shell, receiver: Receiver
) -> None:
    request_id = (await promised_while_the_gateway_is_down(shell, receiver)).request_id
    await gateway_back(shell, receiver)
    await receiver.wait(lambda: len(receiver.delivered) == 2, "both confirmations")
    sms = next(r for r in receiver.delivered.values() if r.path == "/sms")
    assert sms.json()["to"] == CALLER and "We will call you back" in sms.json()["text"]

    async def delivered() -> bool:
        return all(r.state == DELIVERED for r in await rows_of(shell, request_id))

    await until(delivered, "both delivered")


def request(state: RequestState, outcome: Outcome | None = None, request_id: str = "r1") -> Request:
    return Request(
        request_id,
        "support",
        RequestKind.CALLBACK,
        0,
        0.0,
        0.0,
        (0, 0.0, 0),
        CALLER,
        state=state,
        callback_number=CALLER,
        outcome=outcome,
    )


@pytest.mark.parametrize(
    "state",
    [
        RequestState.WAITING,
        RequestState.QUARANTINE,
        RequestState.RINGING_AGENT,
        RequestState.WHISPER,
        RequestState.DIALLING_CUSTOMER,
    ],
)
def test_a_confirmation_stays_true_while_the_callback_is_still_to_be_made(state: RequestState) -> None:
    assert superseded("callback_requested", request(state)) is None


@pytest.mark.parametrize(
    ("state", "outcome", "says"),
    [
        (RequestState.CONNECTED, None, "connected"),
        (RequestState.ENDED, Outcome.SERVED, "served"),
        (RequestState.ENDED, Outcome.EXPIRED, "expired"),
        (RequestState.ENDED, Outcome.REMOVED, "removed"),
        (RequestState.ENDED, Outcome.MISSED, "missed"),
        (RequestState.ENDED, Outcome.CLOSED, "closed"),
    ],
)
def test_a_confirmation_is_superseded_once_the_callback_was_made_or_ended(
    state: RequestState, outcome: Outcome | None, says: str
) -> None:
    reason = superseded("callback_requested", request(state, outcome))
    assert reason is not None and reason.startswith("superseded:") and says in reason


def test_a_confirmation_of_a_request_no_longer_stored_is_superseded() -> None:
    assert superseded("callback_requested", None) is not None


@pytest.mark.parametrize("event", ["callback_expired", "missed_callback", "callback_removed", "closed", "ticket"])
def test_the_end_of_a_callback_is_still_told(event: str) -> None:
    assert superseded(event, request(RequestState.ENDED, Outcome.EXPIRED)) is None
    assert superseded(event, None) is None


class Recorded:
    """A channel that takes every try: what the worker chose to send."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def deliver(self, session: object, notification: Notification) -> None:
        self.sent.append(notification.id)


async def test_the_worker_reads_the_callbacks_state_from_either_store(store: SQLiteStore) -> None:
    """The same choice on SQLite and PostgreSQL: the stored request decides (its row is written by
    the same commits as the outbox)."""
    waiting, served = request(RequestState.WAITING, request_id="w"), request(RequestState.ENDED, Outcome.SERVED, "s")
    now = 1000.0

    def confirmation(key: str, request_id: str) -> Notification:
        return Notification(key, now, "callback_requested", "sms", request_id, "support", now + 3600, {"to": CALLER})

    closed = Notification("end", now, "closed", "sms", "s", "support", now + 3600, {"to": CALLER})
    await store.commit_many(
        [
            Change(requests=[waiting, served]),
            Change(notifications=[confirmation("c-w", "w"), confirmation("c-s", "s"), closed]),
        ]
    )
    channel = Recorded()
    config = NotificationsConfig()
    worker = OutboxWorker(store, {"sms": channel}, config.retry, lambda: now)
    worker.start()
    try:

        async def settled() -> bool:
            # The counters, not the rows: each is counted after its row is stored, so stopping the
            # worker once the rows are settled could cut off the last count.
            return worker.delivered + worker.superseded == 3

        await until(settled, "every row settled")
    finally:
        await worker.stop()
    assert not await store.notifications(state=PENDING)
    assert sorted(channel.sent) == ["c-w", "end"]
    by_id = {r.id: r for r in await store.notifications()}
    assert by_id["c-s"].state == FAILED and by_id["c-s"].delivered_at is None
    assert by_id["c-s"].last_error == "superseded: the callback ended (served) before this was delivered"
    assert (worker.delivered, worker.superseded, worker.failed) == (2, 1, 0)
