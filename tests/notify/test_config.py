"""The `notifications:` section: channels, templates, routes; errors name their key path."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest

from app.config import ConfigError, check_config, load_config, summarize
from app.config.notifications import DEFAULT_TEMPLATES, EVENTS, TEMPLATES, NotificationsConfig
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


def test_a_webhook_secret_may_be_read_with_env_var() -> None:
    """README and docs/settings.md promise `env:VAR` for secrets; the webhook took "env:X" as its key."""
    webhooks = {"crm": {"url": "https://crm.example.com/h", "secret": "env:HOOK_SECRET"}}
    config = valid(data(webhooks=webhooks), ENV).notifications
    assert config.webhooks["crm"].secret.get_secret_value() == "h"
    found = problems(data(webhooks=webhooks), {"SMS_TOKEN": "t"})
    assert "notifications.webhooks.crm.secret refers to environment variable HOOK_SECRET, which is not set" in found


SETTINGS_MD = Path(__file__).resolve().parents[2] / "docs" / "settings.md"


def test_check_config_takes_the_documented_example_without_its_secrets(tmp_path: Path) -> None:
    """docs/settings.md's notifications example, checked where its variables are not set: notes, as
    for every other secret, not errors; `holdfast run` (load_config) still refuses it."""
    match = re.search(r"```yaml\n(notifications:\n.*?)```", SETTINGS_MD.read_text(), re.S)
    assert match is not None
    path = tmp_path / "holdfast.yaml"
    path.write_text("asterisk: {ari_user: holdfast, ari_password: secret}\nqueues: {support: {}}\n" + match.group(1))
    notes = [line for line in summarize(check_config(path, env={})).splitlines() if line.startswith("note:")]
    assert notes == [
        "note: ${CRM_HOOK_SECRET} is not set (notifications.webhooks.crm.secret); `holdfast run` needs it",
        "note: ${SMS_TOKEN} is not set (notifications.sms.headers.Authorization); `holdfast run` needs it",
    ]
    with pytest.raises(ConfigError) as refused:
        load_config(path, env={})
    assert refused.value.problems == [
        "notifications.webhooks.crm.secret refers to environment variable CRM_HOOK_SECRET, which is not set",
        "notifications.sms.headers.Authorization refers to environment variable SMS_TOKEN, which is not set",
    ]
    config = load_config(path, env={"CRM_HOOK_SECRET": "c", "SMS_TOKEN": "t0k"}).notifications
    assert config.sms is not None and config.sms.headers == {"Authorization": "Bearer t0k"}


@pytest.mark.parametrize("language", sorted(DEFAULT_TEMPLATES))
def test_every_event_has_a_built_in_template_in_every_built_in_language(language: str) -> None:
    """abandoned_call had none: its SMS went out empty (and was skipped)."""
    assert set(EVENTS) <= set(TEMPLATES)
    assert sorted(set(TEMPLATES) - set(DEFAULT_TEMPLATES[language])) == []
    assert all(text.strip() for text in DEFAULT_TEMPLATES[language].values())


def test_a_ticket_queue_must_send_its_tickets_to_a_webhook() -> None:
    """In callback.mode ticket the caller hears "we will call you back" and Holdfast places no
    call: the `ticket` notification is the only way staff learn of it. With no route for it (or
    one to the caller's own SMS only) the promise reached nobody, without a word at start-up."""
    ticket_queue = {"support": {"callback": {"mode": "ticket", "allow_other_number": False}}, "sales": {}}
    for routes in ({"*": {"closed": ["crm"]}}, {"support": {"ticket": ["sms"]}}, {"sales": {"ticket": ["crm"]}}):
        found = problems({**data(routes=routes), "queues": ticket_queue}, ENV)
        assert any(p.startswith("queues.support.callback.mode is ticket, but no webhook gets") for p in found), found
    no_section = {**copy.deepcopy(BASE), "queues": ticket_queue}
    assert any("no webhook gets" in p for p in problems(no_section))
    for routes in ({"*": {"ticket": ["sms", "crm"]}}, {"support": {"ticket": ["crm"]}}):
        valid({**data(routes=routes), "queues": ticket_queue}, ENV)
