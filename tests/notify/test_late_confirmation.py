"""A callback's confirmation held up by an SMS gateway outage is sent as what is true when it goes:
hours late to a callback still waiting, "we will call you back around 10:15" at 13:40 named a
time already past. Sent after the time it states, it reads as the wording without a time, in the
customer's language, on every channel; and the row shows what was sent. On time it is unchanged.

Through the Notifier (planned as a step plans it, stored, delivered by its worker) on both stores,
with a real HTTP receiver standing in for the gateway and the CRM."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from app.core.commands import Notify
from app.core.states import RequestState
from app.notify.planner import Planner
from app.notify.service import Notifier
from app.store import Change
from app.store.outbox_records import DELIVERED, PENDING, Notification
from tests.config.helpers import BASE, valid
from tests.notify.receiver import Receiver, receiver_fixture  # noqa: F401 (the `receiver` fixture)
from tests.notify.test_outbox_backends import store
from tests.notify.test_superseded import request, until
from tests.telephony.conftest import CALLER

__all__ = ["store"]

AT = 1_767_261_600.0  # 2026-01-01 10:00 UTC
EXPECTED = AT + 15 * 60  # "at about 10:15"


def config(receiver_url: str, language: str = "en", closed: bool = False) -> Any:
    data = copy.deepcopy(BASE)
    data["queues"]["support"] = {"display_name": "Support"}
    data["service"] = {"language": language}
    data["notifications"] = {
        "timezone": "UTC",
        "retry": {"first_delay": "1m", "max_delay": "1m"},
        "webhooks": {"crm": {"url": f"{receiver_url}/hooks", "secret": "s", "timeout": "2s"}},
        "sms": {"url": f"{receiver_url}/sms", "body": '{"to": "%to%", "text": "%message%"}'},
        "routes": {"support": {"callback_requested": ["sms", "crm"], **({"closed": ["sms"]} if closed else {})}},
    }
    return valid(data)


def promised(expected_at: float | None = EXPECTED, at: float = AT) -> Notify:
    data: dict[str, Any] = {"arrived_at": at - 60, "waited": 60.0, "callback_requested_at": at}
    if expected_at is not None:
        data["expected_at"] = expected_at
    return Notify("callback_requested", "r1", "support", CALLER, at=at, data=data)


@pytest.mark.parametrize(
    ("language", "back_at", "says"),
    [
        ("en", AT + 3 * 3600 + 40 * 60, "We will call you back from Support as soon as we can."),
        ("da", AT + 3 * 3600 + 40 * 60, "Vi ringer dig op fra Support så hurtigt vi kan."),
        ("en", AT + 10 * 60, "We will call you back from Support at about 10:15."),  # not late: as planned
    ],
)
async def test_a_confirmation_sent_after_the_time_it_states_names_no_time(
    store: Any, receiver: Receiver, language: str, back_at: float, says: str
) -> None:
    now = [AT]
    notifier = Notifier(config(receiver.url, language), store, lambda: now[0])
    rows = notifier.plan([promised()])
    await store.commit_many([Change(requests=[request(RequestState.WAITING)]), Change(notifications=rows)])
    receiver.mode = "down"  # the gateway's outage: the first tries are refused
    notifier.worker.start()
    try:

        async def tried() -> bool:
            found = await store.notifications()
            return len(found) == 2 and all(r.attempts == 1 and r.state == PENDING for r in found)

        await until(tried, "both first tries refused")
        now[0] = back_at  # the gateway is back; the callback still waits
        receiver.mode = "ok"
        notifier.worker.wake()
        await receiver.wait(lambda: len(receiver.delivered) == 2, "both delivered")

        async def delivered() -> bool:
            return all(r.state == DELIVERED for r in await store.notifications())

        await until(delivered, "both rows delivered")
    finally:
        await notifier.worker.stop()
    sent = {r.path: r.json() for r in receiver.delivered.values()}
    assert sent["/sms"] == {"to": CALLER, "text": says}
    assert sent["/hooks"]["message"] == says
    assert sent["/hooks"]["data"]["expected_at"] == EXPECTED  # the estimate it was promised with, as data
    # The row (and GET /api/notifications for an admin) shows the text that went.
    assert {r.notification.payload["message"] for r in await store.notifications()} == {says}


def planner(language: str = "en", closed: bool = False) -> Planner:
    return Planner(config("http://127.0.0.1:9", language, closed))


def test_a_confirmation_for_another_day_is_restated_only_once_its_time_passed() -> None:
    evening = AT + 11 * 3600  # 21:00; the queue opens at 08:00
    [sms, hook] = planner().plan([promised(expected_at=AT + 22 * 3600 + 300, at=evening)])
    assert sms.payload["message"] == "We will call you back from Support on 2026-01-02 at about 08:05."
    for row in (sms, hook):
        assert planner().restated(row, AT + 21 * 3600) is row  # 07:00 the next day: still ahead
        late = planner().restated(row, AT + 23 * 3600)
        assert late.payload == {**row.payload, "message": "We will call you back from Support as soon as we can."}
        assert late.id == row.id  # the same idempotency key


def test_within_the_minute_it_names_and_without_a_time_a_confirmation_is_as_planned() -> None:
    [sms, _] = planner().plan([promised()])
    assert planner().restated(sms, EXPECTED + 30) is sms  # 10:15:30 is "about 10:15"
    assert planner().restated(sms, EXPECTED + 60).payload["message"].endswith("as soon as we can.")
    [untimed, _] = planner().plan([promised(expected_at=None)])
    assert planner().restated(untimed, AT + 5 * 3600) is untimed


def test_other_kinds_and_rows_stored_without_their_facts_are_sent_as_planned() -> None:
    closed = Notify("closed", "r1", "support", CALLER, at=AT, data={"arrived_at": AT - 60, "waited": 60.0})
    p = planner(closed=True)
    [row] = p.plan([closed])
    assert p.restated(row, AT + 5 * 3600) is row
    # A confirmation stored by an earlier version: its SMS row holds only the number and the text.
    old = Notification(
        "k", AT, "callback_requested", "sms", "r1", "support", AT + 86400, {"to": CALLER, "message": "x"}
    )
    assert p.restated(old, AT + 5 * 3600) is old
