"""The `notifications:` section: channels, templates, routes; errors name their key path."""

from __future__ import annotations

import copy
from typing import Any

from app.config.notifications import NotificationsConfig
from tests.config.helpers import BASE, problems, valid

SECTION: dict[str, Any] = {
    "retry": {"first_delay": "2s", "max_delay": "1m", "expire_after": "2h"},
    "webhooks": {"crm": {"url": "https://crm.example.com/h", "secret": "${HOOK_SECRET}"}},
    "sms": {"url": "https://sms.example.com/send", "headers": {"Authorization": "Bearer ${SMS_TOKEN}"}},
    "templates": {"en": {"closed": "Closed at %time%, %queue_name%"}},
    "routes": {"*": {"closed": ["sms", "crm"]}, "support": {"closed": ["crm"], "abandoned": ["crm"]}},
}
ENV = {"HOOK_SECRET": "h", "SMS_TOKEN": "t0k"}


def data(**changes: Any) -> dict[str, Any]:
    section = copy.deepcopy(SECTION)
    section.update(changes)
    return {**copy.deepcopy(BASE), "notifications": section}


def test_a_full_section_is_read() -> None:
    config = valid(data(), ENV).notifications
    assert config.webhooks["crm"].secret.get_secret_value() == "h"
    assert config.webhooks["crm"].verify_tls is True  # TLS verified unless turned off
    assert config.sms is not None and config.sms.headers == {"Authorization": "Bearer t0k"}
    assert config.channels_for("sales", "closed") == ["sms", "crm"]  # "*"
    assert config.channels_for("support", "closed") == ["crm"]  # the queue's own route wins
    assert config.channels_for("sales", "missed_callback") == []
    assert [config.retry.delay(n) for n in (1, 2, 3, 6, 7)] == [2.0, 4.0, 8.0, 60.0, 60.0]


def test_nothing_is_sent_by_default() -> None:
    assert valid(copy.deepcopy(BASE)).notifications == NotificationsConfig()
    assert not NotificationsConfig().active


def test_a_route_to_an_unknown_channel_or_queue_names_its_path() -> None:
    found = problems(data(routes={"suport": {"closed": ["crm", "mail"]}}), ENV)
    assert any(p.startswith('notifications.routes.suport names unknown queue "suport"') for p in found)
    assert any(p.startswith('notifications.routes.suport.closed.1 names unknown channel "mail"') for p in found)


def test_an_sms_route_needs_the_gateway() -> None:
    found = problems(data(sms=None), ENV)
    assert any(p.startswith('notifications.routes.*.closed.0 names unknown channel "sms"') for p in found)


def test_unknown_events_and_placeholders_are_refused_with_their_path() -> None:
    found = problems(data(templates={"en": {"closed": "at %clock%"}}, routes={"*": {"hungup": ["crm"]}}), ENV)
    assert any(p.startswith("notifications.templates.en.closed") and "%clock%" in p for p in found)
    assert any(p.startswith("notifications.routes.*") and "hungup" in p and "allowed events" in p for p in found)


def test_a_missing_secret_variable_is_refused() -> None:
    found = problems(data(), {"SMS_TOKEN": "t"})
    assert any(p.startswith("notifications.webhooks.crm.secret") and "HOOK_SECRET" in p for p in found)
    found = problems(data(), {"HOOK_SECRET": "h"})
    assert any(p.startswith("notifications.sms.headers.Authorization") and "SMS_TOKEN" in p for p in found)


def test_durations_are_checked() -> None:
    found = problems(data(retry={"first_delay": "0s"}), ENV)
    assert any(p.startswith("notifications.retry.first_delay") for p in found)


def test_the_zone_region_and_language_of_messages_are_checked_where_they_are_written() -> None:
    """A typo here passed check-config, then stopped the service at the first message it planned."""
    found = problems(data(timezone="Europe/Copenhagn", language="Danish"), ENV)
    assert any(
        p.startswith("notifications.timezone") and "IANA time zone" in p and "Europe/Copenhagen" in p for p in found
    )
    assert any(p.startswith("notifications.language") and "language code" in p for p in found)
    sms = {**SECTION["sms"], "region": "XX"}
    assert any(
        p.startswith("notifications.sms.region") and "ISO country code" in p for p in problems(data(sms=sms), ENV)
    )
    config = valid(data(timezone="Europe/Copenhagen", language="da", sms={**SECTION["sms"], "region": "se"}), ENV)
    assert (config.notifications.timezone, config.notifications.language) == ("Europe/Copenhagen", "da")
    assert config.notifications.sms is not None and config.notifications.sms.region == "SE"
