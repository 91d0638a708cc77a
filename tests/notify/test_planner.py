"""From Notify commands to outbox rows: routes, templates and languages, SMS only to mobiles."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

from app.core.commands import Notify
from app.notify.planner import Planner, sms_number
from tests.config.helpers import BASE, valid

AT = 1_767_261_600.0  # 2026-01-01 10:00 UTC


def planner(language: str = "en", **section: Any) -> Planner:
    data = copy.deepcopy(BASE)
    data["queues"]["support"] = {"display_name": "Support"}
    data["service"] = {"language": language}
    data["notifications"] = {
        "timezone": "Europe/Copenhagen",
        "webhooks": {"crm": {"url": "https://crm.example.com/h", "secret": "s"}},
        "sms": {"url": "https://sms.example.com/send"},
        "routes": {"support": {"callback_requested": ["sms"], "closed": ["sms", "crm"]}},
        **section,
    }
    keys = iter(f"k{i}" for i in range(100))
    return Planner(valid(data), new_id=lambda: next(keys))


def requested(**data: Any) -> Notify:
    return Notify("callback_requested", "r1", "support", "+4520123456", at=AT, data={"arrived_at": AT - 60, **data})


def test_the_confirmation_sms_names_the_expected_time_in_the_configured_zone() -> None:
    [row] = planner().plan([requested(expected_at=AT + 1800)])
    assert (row.id, row.channel, row.event, row.request_id, row.queue) == (
        "k0",
        "sms",
        "callback_requested",
        "r1",
        "support",
    )
    assert row.payload == {
        "to": "+4520123456",
        "message": "We will call you back from Support at about 11:30.",
        # what it is rendered again from if sent after 11:30 (test_late_confirmation.py); not sent
        "number": "+4520123456",
        "at": AT,
        "data": {"arrived_at": AT - 60, "expected_at": AT + 1800},
    }
    assert row.created_at == AT and row.expires_at == AT + 24 * 3600


def test_without_an_estimate_the_message_promises_no_time() -> None:
    [row] = planner().plan([requested()])
    assert row.payload["message"] == "We will call you back from Support as soon as we can."


def test_a_callback_expected_on_a_later_day_names_that_day() -> None:
    """At 22:00 in Copenhagen with the queue closed until 08:00, "at about 08:05" would read as tonight."""
    late = Notify("callback_requested", "r1", "support", "+4520123456", at=AT + 11 * 3600, data={})
    [row] = planner().plan([replace(late, data={"expected_at": AT + 21 * 3600 + 300})])
    assert row.payload["message"] == "We will call you back from Support on 2026-01-02 at about 08:05."
    [row] = planner("da").plan([replace(late, data={"expected_at": AT + 21 * 3600 + 300})])
    assert row.payload["message"] == "Vi ringer dig op fra Support den 2026-01-02 omkring kl. 08:05."
    # the same local day (23:30 Copenhagen is 22:30 UTC): the time alone
    [row] = planner().plan([replace(late, data={"expected_at": AT + 12 * 3600 + 1800})])
    assert row.payload["message"] == "We will call you back from Support at about 23:30."
    custom = planner(templates={"en": {"callback_requested_another_day": "%expected_date% %expected_time%"}})
    [row] = custom.plan([replace(late, data={"expected_at": AT + 21 * 3600 + 300})])
    assert row.payload["message"] == "2026-01-02 08:05"


def test_templates_by_language_and_overridden() -> None:
    [row] = planner("da").plan([requested(expected_at=AT + 1800)])
    assert row.payload["message"] == "Vi ringer dig op fra Support omkring kl. 11:30."
    custom = planner(templates={"en": {"closed": "%queue_name% closed; you waited %waited_minutes% min (%number%)"}})
    closed = Notify("closed", "r1", "support", "+4520123456", at=AT, data={"arrived_at": AT - 600, "waited": 600.0})
    sms, hook = custom.plan([closed])
    assert sms.payload["message"] == "Support closed; you waited 10 min (+4520123456)"
    assert hook.channel == "crm" and hook.payload["message"] == sms.payload["message"]
    assert hook.payload["id"] == hook.id and hook.payload["data"] == {"arrived_at": AT - 600, "waited": 600.0}


def test_no_sms_to_a_landline_or_no_number_and_nothing_unrouted() -> None:
    p = planner()
    assert p.plan([Notify("callback_requested", "r1", "support", "+442079460000", at=AT)]) == []
    assert p.plan([Notify("callback_requested", "r1", "support", None, at=AT)]) == []
    assert p.plan([Notify("missed_callback", "r1", "support", "+4520123456", at=AT)]) == []  # no route
    assert p.plan([Notify("closed", "r1", "sales", "+4520123456", at=AT)]) == []  # not sales'
    assert sms_number("+447700900123", "DK") is None  # not a valid number
    assert sms_number("20 12 34 56", "DK") == "+4520123456"  # read in the gateway's region


def test_a_ticket_has_its_subject() -> None:
    p = planner(routes={"*": {"ticket": ["crm"]}})
    [row] = p.plan([Notify("ticket", "r9", "support", "+4520123456", at=AT, data={"trigger": "key"})])
    assert row.payload["subject"] == "Missed call from +4520123456" and row.payload["event"] == "ticket"


def finished_notify(campaign: str = "spring") -> Notify:
    return Notify(
        "campaign_finished",
        f"campaign-{campaign}",
        "sales",
        None,
        at=AT,
        data={"campaign": campaign, "campaign_name": "Spring"},
    )


def campaign_planner(routes: dict[str, Any]) -> Planner:
    data = copy.deepcopy(BASE)
    data["campaigns"] = {"spring": {"queue": "sales"}, "autumn": {"queue": "sales"}}
    data["notifications"] = {
        "webhooks": {
            "crm": {"url": "https://crm.example.com/h", "secret": "s"},
            "ops": {"url": "https://ops.example.com/h", "secret": "t"},
        },
        "routes": routes,
    }
    keys = iter(f"k{i}" for i in range(100))
    return Planner(valid(data), new_id=lambda: next(keys))


def test_campaign_finished_goes_by_the_campaigns_own_route_else_its_queues() -> None:
    p = campaign_planner({"spring": {"campaign_finished": ["ops"]}, "sales": {"campaign_finished": ["crm"]}})
    [row] = p.plan([finished_notify("spring")])
    assert (row.channel, row.event, row.request_id, row.queue) == (
        "ops",
        "campaign_finished",
        "campaign-spring",
        "sales",
    )
    assert row.payload["message"] == "Campaign spring has finished: no contact is left to call (10:00)."
    assert row.payload["data"] == {"campaign": "spring", "campaign_name": "Spring"} and row.payload["number"] is None
    [other] = p.plan([finished_notify("autumn")])  # no route of its own: its queue's
    assert other.channel == "crm"


def test_a_route_may_name_a_campaign_but_not_an_unknown_name() -> None:
    from tests.config.helpers import problems

    data = copy.deepcopy(BASE)
    data["campaigns"] = {"spring": {"queue": "sales"}}
    data["notifications"] = {
        "webhooks": {"ops": {"url": "https://ops.example.com/h", "secret": "t"}},
        "routes": {"spring": {"campaign_finished": ["ops"]}, "sprong": {"campaign_finished": ["ops"]}},
    }
    assert problems(data) == [
        'notifications.routes.sprong names unknown queue "sprong"; known: *, sales, support; campaigns: spring'
    ]


def test_a_removed_callback_can_be_routed_and_tells_the_customer_in_their_language() -> None:
    """A supervisor removed a promised callback: the customer was told "we will call you back"."""
    routes = {"support": {"callback_removed": ["sms", "crm"]}}
    removed = Notify(
        "callback_removed", "r1", "support", "+4520123456", at=AT, data={"by": "eva", "reason": "duplicate"}
    )
    sms, hook = planner(routes=routes).plan([removed])
    assert (
        sms.payload["message"] == "Your callback from Support was cancelled. Please call us again if you still need us."
    )
    assert hook.payload["data"] == {"by": "eva", "reason": "duplicate"}
    [da] = planner("da", routes={"support": {"callback_removed": ["sms"]}}).plan([removed])
    assert da.payload["message"].startswith("Dit opkald fra Support er aflyst.")


def test_an_abandoned_dialler_call_tells_the_contact_in_their_language() -> None:
    """A power or predictive call answered with no agent free: its SMS had no built-in text, so it
    went out empty (and was skipped as "not a mobile number")."""
    abandoned = Notify(
        "abandoned_call", "dial-spring-3-1", "support", "+4520123456", at=AT, data={"campaign": "spring"}
    )
    routes = {"support": {"abandoned_call": ["sms"]}}
    [sms] = planner(routes=routes).plan([abandoned])
    assert sms.payload == {
        "to": "+4520123456",
        "message": "We called you from Support at 11:00, but nobody was free to take the call. We are sorry.",
    }
    [da] = planner("da", routes=routes).plan([abandoned])
    assert da.payload["message"] == (
        "Vi ringede til dig fra Support kl. 11:00, men ingen var ledig til at tage samtalen. Vi beklager."
    )


def test_a_regional_service_language_takes_its_base_languages_templates() -> None:
    """service.language da_DK (as prompts take it, docs/prompts.md) got English messages."""
    [row] = planner("da_DK").plan([requested(expected_at=AT + 1800)])
    assert row.payload["message"] == "Vi ringer dig op fra Support omkring kl. 11:30."
    own = planner("da_DK", templates={"da_DK": {"callback_requested": "Kl. %expected_time%"}})
    assert own.plan([requested(expected_at=AT + 1800)])[0].payload["message"] == "Kl. 11:30"  # its own first
    assert own.plan([requested()])[0].payload["message"] == "Vi ringer dig op fra Support så hurtigt vi kan."
    [row] = planner("de_AT").plan([requested(expected_at=AT + 1800)])  # no German: English
    assert row.payload["message"] == "We will call you back from Support at about 11:30."
