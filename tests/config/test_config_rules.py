"""One row per validation rule: the key path, the value and the reason appear in the message."""

from __future__ import annotations

from typing import Any

import pytest

from app.core.settings import CallbackOrder, DispatchPolicy, OfferMode

from .helpers import problems, valid, with_value

CB = "queues.support.callback"
EL = "queues.support.eligibility"

REJECTED: list[tuple[str, Any, str]] = [
    # asterisk
    ("asterisk.ari_url", "ftp://pbx/ari", 'asterisk.ari_url is "ftp://pbx/ari"; expected an http(s) URL'),
    ("asterisk.app", "hold fast", 'asterisk.app is "hold fast"; a Stasis app name uses'),
    ("asterisk.sip_port", 0, "asterisk.sip_port is 0; allowed 1-65535"),
    ("asterisk.agent_endpoint_format", "PJSIP/{user}", 'must contain "{username}"'),
    ("asterisk.agent_endpoint_format", "PJSIP/{username}/{x}", 'may only use the placeholder "{username}"'),
    (
        "asterisk.trunk_endpoint_format",
        "PJSIP/trunk",
        'asterisk.trunk_endpoint_format is "PJSIP/trunk"; must contain "{number}"',
    ),
    ("asterisk.trunk_endpoint_format", "PJSIP/{number", "expected a dial string"),
    # service
    ("service.http_port", 70000, "service.http_port is 70000; allowed 1-65535"),
    ("service.http_port", "web", 'service.http_port is "web"; expected a whole number'),
    ("service.log_level", "verbose", 'service.log_level is "verbose"; allowed: debug, info, warning, error, critical'),
    ("service.language", "English", 'service.language is "English"; expected a language code'),
    ("service.menu_timeout", 0, "service.menu_timeout is 0; must be longer than 0s"),
    ("service.menu_timeout", "10 secs", "expected seconds or a duration"),
    ("service.max_wrap_up_extension", "-1m", "must not be negative"),
    ("service.data_dir", "", 'service.data_dir is ""; expected a folder path'),
    # feature codes
    ("feature_codes.ready", "21", 'feature_codes.ready is "21"; expected "*" followed by digits'),
    ("feature_codes.pause", "*2a", 'feature_codes.pause is "*2a"'),
    ("feature_codes.logout", "*21", 'feature_codes uses "*21" for both ready and logout'),
    # prompts
    (
        "prompts.overrides",
        {"welcome": "custom/welcome.wav"},
        'prompts.overrides.welcome is "custom/welcome.wav"; give the file path without its extension',
    ),
    ("prompts.overrides", {"bad name!": "x"}, 'prompts.overrides: the key "bad name!" is not valid'),
    ("prompts.overrides", ["welcome"], 'prompts.overrides is ["welcome"]; expected a mapping'),
    # inbound
    (
        "inbound",
        {"4000": "suport"},
        'inbound.4000 names unknown queue "suport"; known queues: sales, support; did you mean support?',
    ),
    ("inbound", {"40a0": "support"}, 'inbound: the key "40a0" is not valid; a dialled number uses digits'),
    ("inbound", ["4000"], 'inbound is ["4000"]; expected a mapping'),
    # queue
    ("queues.support.service_level", "-20s", 'queues.support.service_level is "-20s"; a duration must not be negative'),
    ("queues.support.ring_timeout", 0, "queues.support.ring_timeout is 0; must be longer than 0s"),
    ("queues.support.wrap_up", "soon", 'queues.support.wrap_up is "soon"; expected seconds or a duration'),
    ("queues.support.max_wait_after_close", [1], "queues.support.max_wait_after_close is [1]; expected seconds"),
    ("queues.support.display_name", ["x"], 'queues.support.display_name is ["x"]; expected text'),
    ("queues.support.callbak", {}, "queues.support.callbak is not a known key; did you mean callback?"),
    ("queues.support.hours", "always", 'queues.support.hours is "always"; expected a mapping'),
    # callback
    (f"{CB}.max_attempts", 5, f"{CB}.max_attempts is 5; allowed 1-3"),
    (f"{CB}.max_attempts", 0, f"{CB}.max_attempts is 0; allowed 1-3"),
    (f"{CB}.max_attempts", 1.5, f"{CB}.max_attempts is 1.5; expected a whole number"),
    (f"{CB}.max_per_number_per_day", -1, f"{CB}.max_per_number_per_day is -1; allowed 0-100"),
    (f"{CB}.max_per_number_per_day", "3/day", f'{CB}.max_per_number_per_day is "3/day"; expected a whole number'),
    (f"{CB}.key", "#", f'{CB}.key is "#"; allowed a single digit 0-9'),
    (f"{CB}.key", 12, f"{CB}.key is 12; allowed a single digit 0-9"),
    (f"{CB}.enabled", "maybe", f'{CB}.enabled is "maybe"; expected true or false'),
    (f"{CB}.offer_mode", "repeet", f'{CB}.offer_mode is "repeet"; allowed: repeat, on_arrival; did you mean repeat?'),
    (
        f"{CB}.dispatch",
        "sometimes",
        f'{CB}.dispatch is "sometimes"; allowed: always, when_agents_free, when_no_callers_waiting',
    ),
    (f"{CB}.order", "fifo", f'{CB}.order is "fifo"; allowed: keep_place, oldest_first, newest_first, random'),
    (f"{CB}.max_callback_agent_share", 0, f"{CB}.max_callback_agent_share is 0; allowed a number in (0, 1]"),
    (f"{CB}.max_callback_agent_share", 1.5, f"{CB}.max_callback_agent_share is 1.5; allowed a number in (0, 1]"),
    (f"{CB}.max_callback_agent_share", "half", "allowed a number in (0, 1]"),
    (f"{CB}.max_age", "73h", f'{CB}.max_age is "73h"; allowed at most 72h'),
    (f"{CB}.max_age", "4d", "allowed at most 72h"),
    (f"{CB}.vip_on_retry", -1, f"{CB}.vip_on_retry is -1; allowed 0 or more"),
    (f"{CB}.customer_ring_timeout", "4s", f'{CB}.customer_ring_timeout is "4s"; allowed 5s-2m'),
    (f"{CB}.customer_ring_timeout", 121, f"{CB}.customer_ring_timeout is 121; allowed 5s-2m"),
    (f"{CB}.caller_id", "45-70-00", f'{CB}.caller_id is "45-70-00"; expected digits with an optional leading +'),
    (f"{CB}.sec_between_retries", "-1s", f'{CB}.sec_between_retries is "-1s"; a duration must not be negative'),
    (f"{CB}.callback_delay", True, f"{CB}.callback_delay is true; expected seconds or a duration"),
    (f"{CB}.reoffer_interval", 0, f"{CB}.reoffer_interval is 0; must be longer than 0s"),
    (
        f"{CB}.abandon_callback_after",
        "sometimes",
        f'{CB}.abandon_callback_after is "sometimes"; expected seconds or a duration like "30s", "5m", '
        '"1h30m", "2d", or "off"',
    ),
    (f"{CB}.random_seed", "x", f'{CB}.random_seed is "x"; expected a whole number'),
    (f"{CB}.voicemail_message", "bad name", f'{CB}.voicemail_message is "bad name"; expected a prompt name'),
    # eligibility
    (
        f"{EL}.allowed_regions",
        ["DK", "XX"],
        f'{EL}.allowed_regions is ["DK", "XX"]; "XX" is not a two-letter ISO country code',
    ),
    (f"{EL}.allowed_regions", ["Denmark"], '"Denmark" is not a two-letter ISO country code'),
    (
        f"{EL}.allowed_types",
        ["mobil"],
        f'{EL}.allowed_types is ["mobil"]; "mobil" is not a number type; allowed: mobile, fixed_line',
    ),
    (f"{EL}.allowed_types", ["mobil"], "did you mean mobile?"),
    (
        f"{EL}.blocklist",
        ["4590*"],
        f'{EL}.blocklist is ["4590*"]; "4590*" is not an E.164 number like "+4532123456" or a prefix like "+4590*"',
    ),
    (f"{EL}.allowlist", [4512345678], "4512345678 is not an E.164 number"),
    (f"{EL}.blocklist", ["+45*90"], "is not an E.164 number"),
    (f"{EL}.blocklist", {"+45": 1}, f"{EL}.blocklist is " + '{"+45": 1}; expected a list'),
    # announce
    ("queues.support.announce.interval", 0, "queues.support.announce.interval is 0; must be longer than 0s"),
    ("queues.support.announce.position", "sure", 'queues.support.announce.position is "sure"; expected true or false'),
    # keys of maps
    ("queues.bad name", {}, 'queues: the key "bad name" is not valid; a queue name uses letters, digits'),
    ("agents.10 01", {"password": "x"}, 'agents: the key "10 01" is not valid; an agent id uses'),
    # agents
    ("agents.1002", {"name": "Bo"}, "agents.1002.password is required"),
    (
        "agents.1002",
        {"password": "x", "skills": ["salse"]},
        'agents.1002.skills names unknown queue "salse"; known queues: sales, support',
    ),
    (
        "agents.1002",
        {"password": "x", "skills": {"salse": 1}},
        'agents.1002.skills names unknown queue "salse"; known queues: sales, support; did you mean sales?',
    ),
    (
        "agents.1002",
        {"password": "x", "skills": {"sales": -1}},
        'the penalty for "sales" is -1; allowed a whole number 0 or more',
    ),
    ("agents.1002", {"password": "x", "skills": {"sales": "low"}}, 'the penalty for "sales" is "low"'),
    (
        "agents.1002",
        {"password": "x", "skills": ["sales", "sales"]},
        'agents.1002.skills is ["sales", "sales"]; queue "sales" is listed twice',
    ),
    ("agents.1002", {"password": "x", "skills": "sales"}, "expected a list of queue names or a mapping queue: penalty"),
    ("agents.1002", {"password": "x", "nme": "Bo"}, "agents.1002.nme is not a known key; did you mean name?"),
    ("agents.1002", {"password": 5.5}, "agents.1002.password must be text"),
    # sections
    ("service", 3, "service is 3; expected a mapping of keys to values"),
    ("queues", {}, "queues is {}; define at least one queue"),
    ("queus", {}, "queus is not a known key; did you mean queues?"),
    ("asterisk.extra", 1, "asterisk.extra is not a known key; known keys: ari_url, ari_user"),
]


@pytest.mark.parametrize(("path", "value", "needle"), REJECTED, ids=[f"{p}={v!r}" for p, v, _ in REJECTED])
def test_rejected(path: str, value: Any, needle: str) -> None:
    found = problems(with_value(path, value))
    assert any(needle in p for p in found), found


ACCEPTED: list[tuple[str, Any, str, Any]] = [
    # (yaml path, value, attribute path on QueueSettings/CoreSettings, expected)
    (f"{CB}.max_attempts", 3, "callback.max_attempts", 3),
    (f"{CB}.key", 0, "callback.key", "0"),
    (f"{CB}.key", "9", "callback.key", "9"),
    (f"{CB}.offer_mode", "ON_ARRIVAL", "callback.offer_mode", OfferMode.ON_ARRIVAL),
    (f"{CB}.dispatch", "when_no_callers_waiting", "callback.dispatch", DispatchPolicy.WHEN_NO_CALLERS_WAITING),
    (f"{CB}.order", "random", "callback.order", CallbackOrder.RANDOM),
    (f"{CB}.max_callback_agent_share", 1, "callback.max_callback_agent_share", 1.0),
    (f"{CB}.max_callback_agent_share", "25%", "callback.max_callback_agent_share", 0.25),
    (f"{CB}.max_age", "72h", "callback.max_age", 259200.0),
    (f"{CB}.max_age", "1d", "callback.max_age", 86400.0),
    (f"{CB}.customer_ring_timeout", "2m", "callback.customer_ring_timeout", 120.0),
    (f"{CB}.customer_ring_timeout", 5, "callback.customer_ring_timeout", 5.0),
    (f"{CB}.caller_id", "+4570000000", "callback.caller_id", "+4570000000"),
    (f"{CB}.caller_id", 4570000000, "callback.caller_id", "4570000000"),
    (f"{CB}.abandon_callback_after", None, "callback.abandon_callback_after", None),
    (f"{CB}.abandon_callback_after", "off", "callback.abandon_callback_after", None),
    (f"{CB}.abandon_callback_after", False, "callback.abandon_callback_after", None),
    (f"{CB}.abandon_callback_after", "2m", "callback.abandon_callback_after", 120.0),
    (f"{CB}.enabled", "no", "callback.enabled", False),
    (f"{CB}.vip_on_retry", 2, "callback.vip_on_retry", 2),
    (f"{CB}.voicemail_message", "sorry-we-missed-you", "callback.voicemail_message", "sorry-we-missed-you"),
    (f"{EL}.allowed_regions", ["dk", "SE", "DK"], "eligibility.allowed_regions", ("DK", "SE")),
    (f"{EL}.allowed_regions", "NO", "eligibility.allowed_regions", ("NO",)),
    (f"{EL}.allowed_regions", [], "eligibility.allowed_regions", ()),
    (f"{EL}.allowed_types", ["Mobile", "voip"], "eligibility.allowed_types", ("mobile", "voip")),
    (f"{EL}.blocklist", ["+4590*", "+4532123456"], "eligibility.blocklist", ("+4590*", "+4532123456")),
    ("queues.support.service_level", "1m", "service_level", 60.0),
    ("queues.support.wrap_up", 0, "wrap_up", 0.0),
    ("queues.support.display_name", "Support", "label", "Support"),
    ("queues.support.announce.interval", "45s", "announce.interval", 45.0),
]


@pytest.mark.parametrize(("path", "value", "attr", "expected"), ACCEPTED, ids=[f"{p}={v!r}" for p, v, _, _ in ACCEPTED])
def test_accepted(path: str, value: Any, attr: str, expected: Any) -> None:
    queue: Any = valid(with_value(path, value)).core().queue("support")
    for part in attr.split("."):
        queue = getattr(queue, part)
    assert queue == expected


def test_every_problem_is_reported_at_once() -> None:
    data = with_value(f"{CB}.max_attempts", 5)
    data = with_value(f"{CB}.key", "x", data)
    data = with_value("queues.sales.hours", {"mon": "8-16"}, data)
    data = with_value("agents.1001.skills", ["salse"], data)
    data = with_value("service.http_port", 0, data)
    found = problems(data)
    assert len(found) == 5, found
    # sections in file order: service before queues before agents
    assert found[0].startswith("service.http_port")
    assert found[-1].startswith("agents.1001.skills")


def test_int_keys_from_yaml_become_text() -> None:
    data = with_value("inbound", {4000: "support"})
    data["agents"] = {1001: {"password": "pw", "skills": {"support": 0, "sales": 2}}}
    cfg = valid(data)
    assert cfg.inbound == {"4000": "support"}
    (agent,) = cfg.core().agents
    assert agent.id == "1001"
    assert agent.skills == (("support", 0), ("sales", 2))
    assert agent.penalty_for("sales") == 2


def test_empty_queue_means_defaults() -> None:
    data = with_value("queues.sales", None)
    from app.core.settings import QueueSettings

    assert valid(data).core().queue("sales") == QueueSettings(name="sales")
