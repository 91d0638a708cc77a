"""The outbox in the store and its worker, against a real local HTTP receiver (tests/notify/receiver.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Collection
from pathlib import Path

import aiohttp
import pytest

from app.config.notifications import NotificationsConfig, SmsGatewayConfig
from app.core.contacts import ContactProgress
from app.notify.channels import Rejected, Retry, SmsChannel, WebhookChannel, sign
from app.notify.worker import BATCH, CONCURRENCY, OutboxWorker
from app.store import Change, StoreBusy, StoreDataError, StoreError
from app.store.outbox_records import Notification, StoredNotification
from app.store.sqlite import SQLiteStore
from tests.notify.receiver import Receiver, receiver_fixture  # noqa: F401 (the `receiver` fixture)

SECRET = "s3cret-for-tests"


def settings(receiver: Receiver, **retry: object) -> NotificationsConfig:
    return NotificationsConfig.model_validate(
        {
            "retry": {"first_delay": 0.05, "max_delay": 0.2, "expire_after": 60, **retry},
            "webhooks": {"crm": {"url": f"{receiver.url}/hooks", "secret": SECRET, "timeout": 2}},
            "sms": {
                "url": f"{receiver.url}/sms",
                "headers": {"Authorization": "Bearer gw-token"},
                "body": '{"to": "%to%", "text": "%message%", "ref": "%id%"}',
                "timeout": 2,
            },
        }
    )


def notification(key: str, channel: str = "crm", *, expires_in: float = 60.0, **payload: object) -> Notification:
    now = time.time()
    body = payload or {"id": key, "event": "closed", "number": "+4520123456", "message": 'say "hi"\nthere'}
    return Notification(key, now, "closed", channel, f"r-{key}", "support", now + expires_in, body)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    s = SQLiteStore(tmp_path / "holdfast.db")
    await s.open()
    yield s
    await s.close()


def worker_for(store: SQLiteStore, config: NotificationsConfig) -> OutboxWorker:
    assert config.sms is not None
    channels = {"crm": WebhookChannel(config.webhooks["crm"]), "sms": SmsChannel(config.sms)}
    return OutboxWorker(store, channels, config.retry, time.time)


async def wait_state(store: SQLiteStore, key: str, state: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        rows = [r for r in await store.notifications() if r.id == key]
        if rows and rows[0].state == state:
            return
        assert time.monotonic() < deadline, f"{key} never became {state}: {rows}"
        await asyncio.sleep(0.02)


async def test_notifications_are_stored_with_the_step_or_not_at_all(store: SQLiteStore) -> None:
    await store.commit_many([Change(notifications=[notification("a")]), Change(notifications=[notification("b")])])
    assert {r.id for r in await store.notifications(state="pending")} == {"a", "b"}
    # A step the store refuses (progress for a contact that does not exist) takes its notification with it.
    bad = ContactProgress("nope", 999, "done", 1, next_due=None, last_outcome=None, reserved_agent=None)
    with pytest.raises(StoreDataError):
        await store.commit_many([Change(contacts=[bad], notifications=[notification("c")])])
    assert {r.id for r in await store.notifications()} == {"a", "b"}


async def test_a_webhook_is_posted_signed_with_its_idempotency_key(store: SQLiteStore, receiver: Receiver) -> None:
    config = settings(receiver)
    worker = worker_for(store, config)
    await store.commit_many([Change(notifications=[notification("k1")])])
    worker.start()
    try:
        await wait_state(store, "k1", "delivered")
    finally:
        await worker.stop()
    [got] = receiver.requests
    assert got.path == "/hooks"
    assert got.signed_with(SECRET)
    assert not got.signed_with("another secret")
    assert got.headers["Idempotency-Key"] == got.headers["X-Holdfast-Idempotency-Key"] == "k1"
    assert got.headers["X-Holdfast-Event"] == "closed"
    assert got.headers["Content-Type"] == "application/json"
    assert got.json() == {"id": "k1", "event": "closed", "number": "+4520123456", "message": 'say "hi"\nthere'}
    assert got.headers["X-Holdfast-Signature"] == sign(got.body, SECRET)


async def test_an_sms_goes_to_the_gateway_with_the_body_template(store: SQLiteStore, receiver: Receiver) -> None:
    worker = worker_for(store, settings(receiver))
    sms = notification("s1", "sms", to="+4520123456", message='Closed "now"')
    await store.commit_many([Change(notifications=[sms])])
    worker.start()
    try:
        await wait_state(store, "s1", "delivered")
    finally:
        await worker.stop()
    [got] = receiver.requests
    assert got.path == "/sms"
    assert got.headers["Authorization"] == "Bearer gw-token"
    assert got.json() == {"to": "+4520123456", "text": 'Closed "now"', "ref": "s1"}  # JSON-escaped placeholders


async def test_a_failed_try_names_the_gateway_without_its_credential_the_number_or_the_text(
    receiver: Receiver,
) -> None:
    """The error goes to the service log and the API: a GET gateway's URL carries its key, the
    customer's number and the message, so the error names method, scheme, host and path only."""
    host = receiver.url.split("://")[1]
    url = f"http://user:pa55word@{host}/send?key=sk_live_7fa0&to=%to%&text=%message%"
    sms = SmsChannel(SmsGatewayConfig.model_validate({"url": url, "method": "GET", "timeout": 2}))
    message = notification("s9", "sms", to="+4520123456", message="Sorry, closed")
    secrets = ("sk_live_7fa0", "pa55word", "4520123456", "Sorry")
    receiver.mode = "reject"
    async with aiohttp.ClientSession() as session:
        with pytest.raises(Rejected) as refused:
            await sms.deliver(session, message)
        await receiver.stop()  # connection refused: the Retry's text too
        with pytest.raises(Retry) as unreachable:
            await sms.deliver(session, message)
    for error in (str(refused.value), str(unreachable.value)):
        assert error.startswith(f"GET http://{host}/send"), error
        assert not [s for s in secrets if s in error], error
    assert "400" in str(refused.value) and len(receiver.requests) == 1


async def test_a_receiver_down_for_a_while_gets_it_after_it_comes_back(store: SQLiteStore, receiver: Receiver) -> None:
    receiver.mode = "down"
    worker = worker_for(store, settings(receiver))
    await store.commit_many([Change(notifications=[notification("k2")])])
    worker.start()
    try:
        await receiver.wait(lambda: len(receiver.requests) >= 3, "three refused tries")
        [row] = await store.notifications(state="pending")
        assert row.attempts >= 2 and row.last_error is not None and "503" in row.last_error
        await receiver.stop()  # unreachable now: connection refused
        await receiver.start()
        receiver.mode = "ok"
        await wait_state(store, "k2", "delivered")
    finally:
        await worker.stop()
    assert set(receiver.delivered) == {"k2"}
    assert {r.key for r in receiver.requests} == {"k2"}  # every try carried the same key
    assert len({r.body for r in receiver.requests}) == 1  # and the same body (and so signature)
    [row] = await store.notifications(state="delivered")
    assert row.last_error is None and row.delivered_at is not None


async def test_retries_back_off(store: SQLiteStore, receiver: Receiver) -> None:
    receiver.mode = "down"
    worker = worker_for(store, settings(receiver, first_delay=0.1, max_delay=0.4))
    await store.commit_many([Change(notifications=[notification("k3")])])
    started = time.monotonic()
    worker.start()
    try:
        await receiver.wait(lambda: len(receiver.requests) >= 4, "four tries")
    finally:
        await worker.stop()
    # delays 0.1, 0.2, 0.4 between the four tries: at least 0.7 s in all
    assert time.monotonic() - started >= 0.7


async def test_a_refusal_fails_at_once_with_its_error(store: SQLiteStore, receiver: Receiver) -> None:
    receiver.mode = "reject"
    worker = worker_for(store, settings(receiver))
    await store.commit_many([Change(notifications=[notification("k4")])])
    worker.start()
    try:
        await wait_state(store, "k4", "failed")
    finally:
        await worker.stop()
    [row] = await store.notifications(state="failed")
    assert row.attempts == 1 and row.last_error is not None and "400" in row.last_error
    assert len(receiver.requests) == 1


async def test_not_delivered_before_it_expires_is_failed_not_dropped(store: SQLiteStore, receiver: Receiver) -> None:
    receiver.mode = "down"
    worker = worker_for(store, settings(receiver))
    await store.commit_many([Change(notifications=[notification("k5", expires_in=0.5)])])
    worker.start()
    try:
        await wait_state(store, "k5", "failed")
    finally:
        await worker.stop()
    [row] = await store.notifications(state="failed")
    assert row.attempts >= 2 and "503" in (row.last_error or "")


async def test_a_channel_no_longer_configured_fails_the_row(store: SQLiteStore, receiver: Receiver) -> None:
    worker = worker_for(store, settings(receiver))
    await store.commit_many([Change(notifications=[notification("k6", "gone")])])
    worker.start()
    try:
        await wait_state(store, "k6", "failed")
    finally:
        await worker.stop()
    [row] = await store.notifications(state="failed")
    assert "no longer configured" in (row.last_error or "")


async def test_a_store_that_keeps_refusing_ends_the_worker(store: SQLiteStore, receiver: Receiver) -> None:
    worker = worker_for(store, settings(receiver))
    worker.store_retries = (0.01, 0.01, None)
    await store.close()  # every read now raises StoreNotOpen (a StoreError)
    worker.start()
    assert worker.task is not None
    with pytest.raises(StoreError, match="not open"):
        await asyncio.wait_for(worker.task, 5.0)
    await worker.stop()


async def test_a_busy_store_is_waited_out(store: SQLiteStore, receiver: Receiver) -> None:
    refusals = 2

    class Busy(SQLiteStore):
        async def due_notifications(
            self, now: float, limit: int = 50, skip_channels: Collection[str] = ()
        ) -> list[StoredNotification]:
            nonlocal refusals
            if refusals:
                refusals -= 1
                raise StoreBusy("locked")
            return await super().due_notifications(now, limit, skip_channels)

    busy = Busy(store.path)
    await busy.open()
    worker = worker_for(busy, settings(receiver))
    worker.store_retries = (0.01, 0.01, 0.01, None)
    await busy.commit_many([Change(notifications=[notification("k7")])])
    worker.start()
    try:
        await wait_state(busy, "k7", "delivered")
    finally:
        await worker.stop()
        await busy.close()
    assert refusals == 0 and set(receiver.delivered) == {"k7"}


async def test_a_notification_that_cannot_be_sent_fails_its_row_and_the_worker_goes_on(
    store: SQLiteStore, receiver: Receiver
) -> None:
    """Anything a channel raises besides a delivery error (a bug, a value aiohttp refuses) would
    fail the same way on every try: escaping, it stopped the service, again on every start. It
    fails that row only; the rows beside it are delivered and the worker keeps running."""

    class Broken:
        async def deliver(self, session: aiohttp.ClientSession, notification: Notification) -> None:
            raise ValueError("Forbidden control character detected in headers")

    config = settings(receiver)
    channels = {"crm": WebhookChannel(config.webhooks["crm"]), "bad": Broken()}
    worker = OutboxWorker(store, channels, config.retry, time.time)
    await store.commit_many([Change(notifications=[notification("b1", "bad"), notification("ok1")])])
    worker.start()
    try:
        await wait_state(store, "b1", "failed")
        await wait_state(store, "ok1", "delivered")
        assert worker.task is not None and not worker.task.done()
        await store.commit_many([Change(notifications=[notification("ok2")])])  # still at work afterwards
        worker.wake()
        await wait_state(store, "ok2", "delivered")
    finally:
        await worker.stop()
    [row] = await store.notifications(state="failed")
    assert row.last_error == "cannot be sent: ValueError: Forbidden control character detected in headers"
    assert worker.failed == 1 and set(receiver.delivered) == {"ok1", "ok2"}


async def test_a_multi_line_message_in_a_gateway_header_is_sent_on_one_line(
    store: SQLiteStore, receiver: Receiver
) -> None:
    """sms.headers may carry %message%, and a template may have line breaks; a header value with
    one is refused by aiohttp before anything is sent (it would split the header)."""
    config = NotificationsConfig.model_validate(
        {"sms": {"url": f"{receiver.url}/sms", "headers": {"X-Text": "%message%\r\n%to%"}, "timeout": 2}}
    )
    assert config.sms is not None
    worker = OutboxWorker(store, {"sms": SmsChannel(config.sms)}, config.retry, time.time)
    sms = notification("s2", "sms", to="+4520123456", message="We are closed.\nCall again tomorrow.")
    await store.commit_many([Change(notifications=[sms])])
    worker.start()
    try:
        await wait_state(store, "s2", "delivered")
    finally:
        await worker.stop()
    [got] = receiver.requests
    assert got.headers["X-Text"] == "We are closed. Call again tomorrow.  +4520123456"
    assert got.json()["text"] == "We are closed.\nCall again tomorrow."  # the body keeps the text as it is


async def test_a_notification_found_past_its_expiry_is_failed_not_sent(store: SQLiteStore, receiver: Receiver) -> None:
    """After two days down, "we will call you back at about 10:00" would mislead: a row already
    past expires_at when its turn comes is failed without a try, not sent late."""
    worker = worker_for(store, settings(receiver))
    made = time.time() - 2 * 86400
    old = Notification("k8", made, "callback_requested", "crm", "r-k8", "support", made + 86400, {"id": "k8"})
    await store.commit_many([Change(notifications=[old, notification("k9")])])
    worker.start()
    try:
        await wait_state(store, "k8", "failed")
        await wait_state(store, "k9", "delivered")
    finally:
        await worker.stop()
    [row] = await store.notifications(state="failed")
    assert row.last_error == "expired before delivery"
    assert {r.key for r in receiver.requests} == {"k9"}


@pytest.mark.parametrize("channel", ["crm", "sms"])
async def test_a_redirect_is_not_taken_for_a_delivery(store: SQLiteStore, receiver: Receiver, channel: str) -> None:
    """A receiver that answers 301/302 (an http URL whose server sends you to https, a CRM moved
    behind a login page) was followed as a GET without the body, and its 200 taken for a
    delivery: the notification was marked delivered and nobody ever got it. A redirect is not
    followed (the signed body and the key would go to wherever it points): the try failed, the
    row stays pending with an error naming where it points, so an admin can correct the URL
    (a reload gives the pending rows the new one)."""
    receiver.mode = "moved"
    worker = worker_for(store, settings(receiver, first_delay=30, max_delay=60))
    message = notification("m1", channel, to="+4520123456", message="We are closed")
    await store.commit_many([Change(notifications=[message])])
    worker.start()
    try:
        await receiver.wait(lambda: bool(receiver.requests) and receiver.requests[-1].answered == 301, "a try")
        deadline = time.monotonic() + 10
        while not (rows := [r for r in await store.notifications() if r.attempts]):
            assert time.monotonic() < deadline, "the try's outcome was never stored"
            await asyncio.sleep(0.02)
    finally:
        await worker.stop()
    [row] = rows
    assert row.state == "pending", row
    assert row.last_error is not None and "301" in row.last_error and "/moved-here" in row.last_error
    assert "session=abc" not in row.last_error  # a Location's query may carry anything: not kept
    assert [r.path.split("?")[0] for r in receiver.requests] == ["/hooks" if channel == "crm" else "/sms"]
    assert not receiver.delivered


async def test_a_webhook_that_hangs_does_not_hold_up_the_sms(store: SQLiteStore, receiver: Receiver) -> None:
    """A CRM that takes every request and never answers costs each of its tries the webhook's
    timeout. Its tries held the whole worker: the SMS "we will call you back at about 10:05" made
    meanwhile waited for them (with a backlog of webhooks, for many timeouts), and more hung
    webhooks than the worker tries at once took every slot. The SMS goes out while they hang."""
    crm = Receiver()
    await crm.start()
    crm.mode = "hang"
    config = NotificationsConfig.model_validate(
        {
            "retry": {"first_delay": 30, "max_delay": 60, "expire_after": 600},
            "webhooks": {"crm": {"url": f"{crm.url}/hooks", "secret": SECRET, "timeout": 60}},
            "sms": {"url": f"{receiver.url}/sms", "timeout": 2},
        }
    )
    worker = worker_for(store, config)
    hooks = [notification(f"h{i}") for i in range(BATCH + CONCURRENCY)]  # a backlog: more than a round reads
    await store.commit_many([Change(notifications=hooks)])
    worker.start()
    try:
        await crm.wait(lambda: len(crm.requests) >= CONCURRENCY, "the CRM's tries")
        await store.commit_many([Change(notifications=[notification("s1", "sms", to="+4520123456", message="Hi")])])
        worker.wake()  # as the service does once the step is stored
        await wait_state(store, "s1", "delivered")
        assert not [r for r in await store.notifications() if r.id.startswith("h") and r.state != "pending"]
    finally:
        await worker.stop()
        await crm.stop()
    assert set(receiver.delivered) == {"s1"}


async def test_a_try_whose_outcome_the_store_keeps_refusing_ends_the_worker(
    store: SQLiteStore, receiver: Receiver
) -> None:
    """Each try is its own task: one that cannot record its outcome is not lost in it. The loop
    raises its StoreError, waits it out a few times as any other, and then ends (the service
    stops loudly); the row stays pending, to be delivered again with the same key."""

    class Refusing(SQLiteStore):
        async def notification_delivered(self, notification_id: str, now: float) -> None:
            raise StoreBusy("locked")

    refusing = Refusing(store.path)
    await refusing.open()
    worker = worker_for(refusing, settings(receiver))
    worker.store_retries = (0.01, 0.01, None)
    await refusing.commit_many([Change(notifications=[notification("r1")])])
    worker.start()
    assert worker.task is not None
    try:
        with pytest.raises(StoreBusy, match="locked"):
            await asyncio.wait_for(worker.task, 10.0)
    finally:
        await worker.stop()
    [row] = await refusing.notifications(state="pending")
    await refusing.close()
    assert row.id == "r1" and set(receiver.delivered) == {"r1"} and receiver.repeats >= 1
