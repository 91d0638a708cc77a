"""From the core's Notify commands to outbox rows, at the moment the step is committed.

Theory of operation: each Notify is routed (notifications.routes, per queue) to channels; each
(notify, channel) pair becomes one `Notification` row with a fresh idempotency key and its payload
fully rendered now, so what is delivered later (perhaps after a restart and a reload) is what the
step decided. An SMS goes only to a number that can take one (phonenumbers: mobile, or fixed line
or mobile where the plan does not tell them apart); otherwise that SMS is skipped and logged.

Some messages are true only while their callback waits ("we will call you back, you keep your
place"): one still undelivered when the callback was made or ended (a gateway outage held it up
within `expire_after`) would reach the customer after the call. `superseded` says so from the
request's state as stored; the worker reads that state before each try and drops such a row
(failed, its reason "superseded: ..."), never delivered, as soon as the callback connected or
ended (the service tells the worker of each step of a request whose confirmation is held up), not
only at its next try. The end's own notifications still go.

A confirmation that states a time ("at about 10:15") and is sent after that time, held up by an
outage while the callback still waits, would promise the past: `restated` renders it again at
send time, without the time (the `callback_requested_no_time` template, in the language and with
the templates of the settings then: the store keeps no newer estimate to name). Its facts (number,
`at`, data) are in its row for that: a webhook's body has them; a confirmation's SMS row keeps them
beside the number and the text (not sent to the gateway).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import phonenumbers
import structlog

from app.config.notifications import ANOTHER_DAY, NO_TIME, SMS, NotificationsConfig
from app.config.schema import HoldfastConfig
from app.core.commands import Command, Notify
from app.core.request import Request
from app.core.states import RequestState
from app.notify.templates import message_fields, render
from app.store.outbox_records import Notification

log = structlog.get_logger("holdfast.notify")

SMS_TYPES = (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)


def sms_number(number: str | None, region: str) -> str | None:
    """The E.164 form of `number` if it can take an SMS, else None."""
    if not number:
        return None
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed) or phonenumbers.number_type(parsed) not in SMS_TYPES:
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


# Kinds whose message promises a callback still to come: not sent once it was made or ended.
WHILE_WAITING = frozenset({"callback_requested"})
# The callback is still to be made: waiting, between attempts, or being dialled right now (a
# failed dial puts it back; an answered one makes it CONNECTED).
STILL_TO_BE_MADE = frozenset(
    {
        RequestState.WAITING,
        RequestState.QUARANTINE,
        RequestState.RINGING_AGENT,
        RequestState.WHISPER,
        RequestState.DIALLING_CUSTOMER,
    }
)


def superseded(event: str, request: Request | None) -> str | None:
    """Why a notification of `event` about `request` (as stored now; None: no longer stored,
    pruned long after it ended) must not be sent any more; None while its message is still true."""
    if event not in WHILE_WAITING:
        return None
    if request is None:
        return "superseded: the callback is no longer stored (it ended long ago)"
    if request.state in STILL_TO_BE_MADE:
        return None
    if request.state is RequestState.ENDED:
        outcome = request.outcome.value if request.outcome is not None else "ended"
        return f"superseded: the callback ended ({outcome}) before this was delivered"
    return f"superseded: the callback was {request.state.value} before this was delivered"


# Kinds whose message may state a time still to come ("at about 10:15"): rendered again if sent after it.
RESTATED = frozenset({"callback_requested"})


def notify_of(n: Notification) -> Notify | None:
    """The Notify `n` was planned from, read back from its row (None: a row that does not keep it,
    an SMS stored before its facts were kept)."""
    payload = n.payload
    at, data = payload.get("at"), payload.get("data")
    if n.request_id is None or n.queue is None or not isinstance(at, int | float) or not isinstance(data, dict):
        return None
    number = payload.get("number")
    return Notify(n.event, n.request_id, n.queue, number if isinstance(number, str) else None, at=at, data=data)


def minute_over(at: float, now: float) -> bool:
    """Whether the minute a message names for `at` ("10:15") is over at `now`."""
    return now >= (at // 60 + 1) * 60


class Planner:
    def __init__(self, config: HoldfastConfig, new_id: Callable[[], str] = lambda: uuid.uuid4().hex) -> None:
        self.config = config
        self.new_id = new_id

    @property
    def settings(self) -> NotificationsConfig:
        return self.config.notifications

    def plan(self, commands: Iterable[Command]) -> list[Notification]:
        out: list[Notification] = []
        for command in commands:
            if isinstance(command, Notify):
                out.extend(self.plan_one(command))
        return out

    def routed(self, notify: Notify) -> list[str]:
        """The channels `notify` goes to; none for a kind nobody asked to be told of."""
        campaign = notify.data.get("campaign")  # a campaign's events may have a route of their own
        return self.settings.channels_for(notify.queue, notify.kind, campaign if isinstance(campaign, str) else None)

    def queue_name(self, queue: str) -> str:
        settings = self.config.queues.get(queue)
        return (settings.display_name if settings is not None else "") or queue

    def message(self, notify: Notify) -> str:
        """The text of `notify` in the settings' language ("" if no template has one)."""
        settings = self.settings
        language = settings.language or self.config.service.language
        fields = message_fields(notify, self.queue_name(notify.queue), settings.timezone)
        name = notify.kind
        if notify.kind == "callback_requested":
            if not fields["expected_time"]:
                name = NO_TIME
            elif fields["expected_date"] != fields["date"]:
                name = ANOTHER_DAY
        template = settings.template(language, name)
        return render(template, fields) if template else ""

    def restated(self, n: Notification, now: float) -> Notification:
        """`n` as it must read if sent at `now`: a confirmation sent after the time it states
        (held up by an outage) without that time; anything else, and one still on time, as planned."""
        if n.event not in RESTATED or (notify := notify_of(n)) is None:
            return n
        expected = notify.data.get("expected_at")
        if not isinstance(expected, int | float) or not minute_over(expected, now):
            return n
        untimed = {k: v for k, v in notify.data.items() if k != "expected_at"}
        message = self.message(dataclasses.replace(notify, data=untimed))
        if not message or message == n.payload.get("message"):
            return n
        return dataclasses.replace(n, payload={**n.payload, "message": message})

    def plan_one(self, notify: Notify) -> list[Notification]:
        routed = self.routed(notify)
        if not routed:  # most kinds go nowhere in most centres: nothing to render
            return []
        settings = self.settings
        queue_name = self.queue_name(notify.queue)
        message = self.message(notify)
        rows: list[Notification] = []
        for channel in routed:
            key = self.new_id()
            payload: dict[str, Any]
            if channel == SMS:
                assert settings.sms is not None  # the config refuses a route to sms without it
                to = sms_number(notify.number, settings.sms.region)
                if to is None or not message:
                    log.info(
                        "sms_skipped", kind=notify.kind, request_id=notify.request_id, reason="not a mobile number"
                    )
                    continue
                payload = {"to": to, "message": message}
                if notify.kind in RESTATED:  # what `restated` renders it again from
                    payload |= {"number": notify.number, "at": notify.at, "data": dict(notify.data)}
            else:
                payload = {
                    "id": key,
                    "event": notify.kind,
                    "request_id": notify.request_id,
                    "queue": notify.queue,
                    "queue_name": queue_name,
                    "number": notify.number,
                    "at": notify.at,
                    "message": message,
                    "data": dict(notify.data),
                }
                if notify.kind == "ticket":  # a ticket system's subject line ("Missed call from %number%")
                    payload["subject"] = message
            rows.append(
                Notification(
                    id=key,
                    created_at=notify.at,
                    event=notify.kind,
                    channel=channel,
                    request_id=notify.request_id,
                    queue=notify.queue,
                    expires_at=notify.at + settings.retry.expire_after,
                    payload=payload,
                )
            )
        return rows
