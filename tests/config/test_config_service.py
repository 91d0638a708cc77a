"""The service section's safety rules, duplicate keys named by their path, and what needs a restart."""

from __future__ import annotations

import pytest

from app.config import RESTART_KEYS, ConfigError, parse_config, restart_needed

from .helpers import BASE, problems, valid, with_value

MINIMAL = """\
asterisk:
  ari_user: holdfast
  ari_password: secret
queues:
  support: {}
  sales: {}
"""

TOKEN = "0123456789abcdef"  # 16 characters: the shortest accepted


def errors_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, env={})
    return info.value.problems


# --- admin token ---------------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["short", "x" * 15])
def test_a_short_admin_token_is_refused_without_echoing_it(token: str) -> None:
    (msg,) = problems(with_value("service.admin_token", token))
    assert msg.startswith(f"service.admin_token is {len(token)} characters long; use at least 16")
    assert token not in msg


def test_a_short_token_from_the_environment_is_refused() -> None:
    (msg,) = problems(with_value("service.admin_token", "env:TOKEN"), env={"TOKEN": "abc"})
    assert msg.startswith("service.admin_token is 3 characters long")


def test_a_token_of_16_characters_is_accepted() -> None:
    token = valid(with_value("service.admin_token", TOKEN)).service.admin_token
    assert token is not None and token.get_secret_value() == TOKEN


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "::", "", "holdfast.example.org"])
def test_listening_beyond_loopback_needs_a_token(host: str) -> None:
    (msg,) = problems(with_value("service.http_host", host))
    assert msg.startswith(f'service.admin_token is required when service.http_host is "{host}" (not a loopback')


@pytest.mark.parametrize("host", ["0.0.0.0", "holdfast.example.org"])
def test_listening_beyond_loopback_with_a_token_is_fine(host: str) -> None:
    data = with_value("service", {"http_host": host, "admin_token": TOKEN})
    assert valid(data).service.http_host == host


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost", "LOCALHOST"])
def test_loopback_without_a_token_is_fine(host: str) -> None:
    cfg = valid(with_value("service.http_host", host))
    assert cfg.service.admin_token is None


def test_an_invalid_host_is_reported_once() -> None:
    found = problems(with_value("service.http_host", None))
    assert found == ["service.http_host is null; expected text"]


# --- duplicates named by their key path -------------------------------------------------------------


def test_an_inbound_number_written_twice_names_its_key_path_and_both_queues() -> None:
    found = errors_of(MINIMAL + 'inbound:\n  "4000": support\n  4000: sales\n')
    assert found == [
        "line 9, column 3: inbound.4000 appears twice in the same mapping (first at line 8); it sends the "
        "number to support and to sales; a number goes to one queue; remove one"
    ]


def test_an_inbound_number_given_as_text_and_as_a_number_names_its_key_path() -> None:
    # Data that did not come through YAML (or came through a merge) has no line to point at.
    found = problems({**BASE, "inbound": {4000: "support", "4000": "sales"}})
    assert found == ["inbound.4000 is given 2 times (for support and sales); a number goes to one queue"]


def test_a_nested_duplicate_key_names_the_full_path() -> None:
    found = errors_of(MINIMAL.replace("  support: {}\n", "  support:\n    callback:\n      key: 1\n      key: 2\n"))
    assert found == [
        "line 8, column 7: queues.support.callback.key appears twice in the same mapping (first at line 7); remove one"
    ]


def test_different_numbers_for_different_queues_are_fine() -> None:
    cfg = parse_config(MINIMAL + 'inbound:\n  "4000": support\n  "04000": sales\n', env={})
    assert cfg.inbound == {"4000": "support", "04000": "sales"}


# --- what a reload cannot apply -------------------------------------------------------------------


def _config(**service: object) -> object:
    return valid(with_value("service", {"admin_token": TOKEN, **service}))


def test_nothing_changed_needs_no_restart() -> None:
    assert restart_needed(valid(BASE), valid(BASE)) == []


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("service.http_port", 9090, ["service.http_port"]),
        ("service.http_host", "localhost", ["service.http_host"]),
        ("service.data_dir", "/srv/holdfast", ["service.data_dir"]),
        ("service.database", "postgresql://h/db", ["service.database"]),
        ("service.log_level", "debug", ["service.log_level"]),
        ("asterisk.ari_password", "another", ["asterisk.ari_password"]),
        ("asterisk.ari_url", "http://10.0.0.5:8088/ari", ["asterisk.ari_url"]),
        ("asterisk.app", "other", ["asterisk.app"]),
        # applied live: the API reads the token on each request; the engine takes queues and agents
        ("service.admin_token", TOKEN + "-new", []),
        ("service.menu_timeout", "20s", []),
        ("queues.sales.wrap_up", "30s", []),
    ],
)
def test_a_change_needs_a_restart_only_for_keys_read_at_start(path: str, value: object, expected: list[str]) -> None:
    running = valid(with_value("service.admin_token", TOKEN))
    new = valid(with_value(path, value, with_value("service.admin_token", TOKEN)))
    assert restart_needed(running, new) == expected


def test_several_restart_keys_are_listed_in_a_stable_order() -> None:
    running = valid(BASE)
    changed = with_value("asterisk.app", "other", with_value("service", {"http_port": 9090, "http_host": "::1"}))
    assert restart_needed(running, valid(changed)) == ["service.http_host", "service.http_port", "asterisk.app"]
    assert all(key in RESTART_KEYS for key in restart_needed(running, valid(changed)))


# --- history kept ----------------------------------------------------------------------------------


def test_history_is_kept_for_ever_unless_a_duration_is_set() -> None:
    assert valid(BASE).service.keep_history is None
    assert valid(with_value("service.keep_history", "400d")).service.keep_history == 400 * 86400.0
    assert valid(with_value("service.keep_history", "off")).service.keep_history is None


def test_history_shorter_than_the_dialler_reads_back_is_refused() -> None:
    (msg,) = problems(with_value("service.keep_history", "30d"))
    assert msg.startswith('service.keep_history is "30d"; allowed 35d or more, or off')


def test_history_must_outlive_every_recording() -> None:
    data = with_value("service.keep_history", "40d")
    data["queues"]["support"] = {**data["queues"].get("support", {}), "recording": {"retention": "60d"}}
    (msg,) = problems(data)
    assert "service.keep_history 40d must be a day longer than queues.support.recording.retention 60d" in msg
    data["service"]["keep_history"] = "61d"
    assert valid(data).service.keep_history == 61 * 86400.0
