"""A confirmation held up by a gateway outage is marked superseded as soon as its callback
connected or ended, not at its next try (up to `retry.max_delay` later): until then a supervisor
reading GET /api/notifications saw a "we will call you back" still pending for a customer already
called back. The end's own notification still goes.

The retries here are 15 minutes apart and the callback expires after 10: no retry comes due
before the gateway is back, so only the callback's own progress can settle the confirmation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from app.config.notifications import NotificationsConfig
from app.core.states import Outcome, RequestState
from app.notify.worker import OutboxWorker
from app.store import Change
from app.store.outbox_records import DELIVERED, FAILED, PENDING, Notification
from app.store.sqlite import SQLiteStore
from app.web.api import make_app
from tests.ari.fake_ari import FakeAri
from tests.notify.receiver import Receiver, receiver_fixture  # noqa: F401 (the `receiver` fixture)
from tests.notify.test_outbox_backends import store
from tests.notify.test_superseded import (
    QUEUES,
    Recorded,
    notifications_yaml,
    promised_while_the_gateway_is_down,
    request,
    rows_of,
    until,
)
from tests.telephony.conftest import CALLER, Shell, config_text, fake_ari, make_shell
from tests.telephony.test_service_callback import _whispered

__all__ = ["fake_ari", "store"]

RETRY = 15 * 60.0


@pytest.fixture
async def shell(fake_ari: FakeAri, receiver: Receiver, tmp_path: Path) -> AsyncIterator[Shell]:
    store = SQLiteStore(tmp_path / "holdfast.db")
    await store.open()
    settings = (
        notifications_yaml(receiver)
        .replace("max_delay: 1s", "max_delay: 15m")
        .replace("first_delay: 1s", "first_delay: 15m")
    )
    s = await make_shell(fake_ari, config_text(fake_ari, queues=QUEUES, extra=settings), store=store)
    await s.start()
    try:
        yield s
    finally:
        await s.stop()
        await store.close()


async def gateway_back(shell: Shell, receiver: Receiver) -> None:
    receiver.mode = "ok"
    shell.clock.advance(RETRY + 1.0)  # the retries are due
    assert shell.service.notifier is not None
    shell.service.notifier.worker.wake()


async def listed(shell: Shell) -> list[dict[str, object]]:
    http = TestClient(TestServer(make_app(shell.service)))
    await http.start_server()
    try:
        answer = await (await http.get("/api/notifications")).json()
    finally:
        await http.close()
    return list(answer["notifications"])


async def test_a_confirmation_is_marked_superseded_once_its_callback_connected(
    shell: Shell, receiver: Receiver
) -> None:
    caller = await promised_while_the_gateway_is_down(shell, receiver)
    request_id = caller.request_id
    tried = len(receiver.requests)

    _, customer_channel = await _whispered(shell, caller)
    customer = shell.fake.channels[customer_channel]
    customer["state"] = "Up"
    _, leg_id = (shell.fake.calls_to("POST", r"/channels")[-1].param("appArgs") or "").split(",")
    await shell.push("StasisStart", channel=customer, args=["customer", leg_id])
    await shell.activities.wait("connected", request_id=request_id)
    await shell.service.wait_committed()

    async def superseded() -> bool:
        return all(r.state == FAILED for r in await rows_of(shell, request_id))

    # The customer is on the line with an agent: no retry is due, yet both are marked now.
    await until(superseded, "the confirmations marked superseded while the callback is connected", timeout=5.0)
    for row in await rows_of(shell, request_id):
        assert row.last_error is not None and row.last_error.startswith("superseded: the callback was connected")
    assert len(receiver.requests) == tried, "nothing more was sent"
    rows = await listed(shell)
    assert {(r["event"], r["state"]) for r in rows} == {("callback_requested", "failed")}

    # Served and the gateway back: still nothing sent.
    await shell.hangup_event(customer, "StasisEnd")
    await shell.activities.wait("ended", request_id=request_id, outcome="served")
    await shell.service.wait_committed()
    await gateway_back(shell, receiver)
    notifier = shell.service.notifier
    assert notifier is not None

    async def counted() -> bool:
        return notifier.worker.superseded == 2 and not notifier.worker.delivered

    await until(counted, "both counted superseded")
    assert not receiver.delivered


async def test_an_expired_callback_drops_its_confirmation_at_once_and_its_expiry_still_goes(
    shell: Shell, receiver: Receiver
) -> None:
    request_id = (await promised_while_the_gateway_is_down(shell, receiver)).request_id
    shell.tick(601.0)  # max_age 10m: the callback expires while the gateway is still down
    await shell.activities.wait("ended", request_id=request_id, outcome="expired")
    await shell.service.wait_committed()

    async def settled() -> bool:
        rows = await rows_of(shell, request_id)
        confirmations = [r for r in rows if r.notification.event == "callback_requested"]
        return len(confirmations) == 2 and all(r.state == FAILED for r in confirmations)

    await until(settled, "the confirmations marked superseded when the callback expired", timeout=5.0)
    rows = await listed(shell)
    assert {(r["event"], r["channel"], r["state"]) for r in rows} == {
        ("callback_requested", "sms", "failed"),
        ("callback_requested", "crm", "failed"),
        ("callback_expired", "sms", "pending"),  # the gateway is down: it waits for its retry
    }

    await gateway_back(shell, receiver)
    await receiver.wait(lambda: len(receiver.delivered) == 1, "the expiry SMS")
    [sent] = receiver.delivered.values()
    assert sent.path == "/sms" and "could not call you back" in sent.json()["text"]

    async def expiry_delivered() -> bool:
        rows = await rows_of(shell, request_id)
        return any(r.notification.event == "callback_expired" and r.state == DELIVERED for r in rows)

    await until(expiry_delivered, "the expiry delivered")


def held(key: str, request_id: str, now: float) -> Notification:
    return Notification(key, now, "callback_requested", "sms", request_id, "support", now + 3600, {"to": CALLER})


async def test_the_worker_settles_held_confirmations_when_told_and_at_its_start(store: SQLiteStore) -> None:
    """On either store: a confirmation whose try failed waits for its retry (next_at an hour
    ahead). A worker starting (after a restart) settles those of callbacks made meanwhile; one
    told a callback moved settles that callback's at once; one still waiting keeps its own."""
    now = 1000.0
    await store.commit_many(
        [
            Change(
                requests=[
                    request(RequestState.WAITING, request_id="w"),
                    request(RequestState.ENDED, Outcome.SERVED, "s"),
                    request(RequestState.WAITING, request_id="later"),
                ]
            ),
            Change(notifications=[held("c-w", "w", now), held("c-s", "s", now), held("c-later", "later", now)]),
        ]
    )
    for key in ("c-w", "c-s", "c-later"):
        await store.notification_retry(key, now + 3600, "GET sms: 503")
    channel = Recorded()
    worker = OutboxWorker(store, {"sms": channel}, NotificationsConfig().retry, lambda: now)
    worker.start()
    try:

        async def state(key: str) -> str:
            [row] = [r for r in await store.notifications() if r.id == key]
            return row.state

        async def started_settled() -> bool:
            return worker.superseded == 1  # counted once its row is stored failed

        await until(started_settled, "the served callback's confirmation settled at the start", timeout=5.0)
        assert await state("c-s") == FAILED
        assert await state("c-w") == PENDING and await state("c-later") == PENDING

        await store.commit_many([Change(requests=[request(RequestState.CONNECTED, request_id="later")])])
        worker.moved("later")

        async def told_settled() -> bool:
            return worker.superseded == 2

        await until(told_settled, "the connected callback's confirmation settled when told", timeout=5.0)
        assert await state("c-later") == FAILED and await state("c-w") == PENDING
    finally:
        await worker.stop()
    assert channel.sent == []
    by_id = {r.id: r for r in await store.notifications()}
    assert by_id["c-later"].last_error == "superseded: the callback was connected before this was delivered"
    assert (worker.delivered, worker.superseded, worker.failed) == (0, 2, 0)


async def test_a_held_confirmation_behind_more_than_a_thousand_newer_pending_rows_is_settled_at_start(
    store: SQLiteStore,
) -> None:
    """The worker's start finds every held-up confirmation, not only among the newest 1000 pending
    rows: a served callback's, older than 1001 rows still to go, is settled at once."""
    now = 1000.0
    await store.commit_many(
        [
            Change(requests=[request(RequestState.ENDED, Outcome.SERVED, "s")]),
            Change(notifications=[held("c-s", "s", now)]),
        ]
    )
    await store.notification_retry("c-s", now + 3600, "GET sms: 503")
    newer = [
        Notification(f"n{i}", now + 1 + i, "closed", "sms", f"other-{i}", "support", now + 7200, {"to": CALLER})
        for i in range(1001)
    ]
    await store.commit_many([Change(notifications=newer)])  # not due before `now` moves: left pending
    worker = OutboxWorker(store, {"sms": Recorded()}, NotificationsConfig().retry, lambda: now)
    worker.start()
    try:

        async def settled() -> bool:
            return worker.superseded == 1

        await until(settled, "the served callback's confirmation settled at the start", timeout=5.0)
    finally:
        await worker.stop()
    [row] = [r for r in await store.notifications(limit=2000) if r.id == "c-s"]
    assert row.state == FAILED and (row.last_error or "").startswith("superseded")
