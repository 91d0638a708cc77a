"""`users`, `agent_groups` and `web` in the settings file: accepted as `holdfast user add` writes
them, and every mistake named with its key path (a password written in clear is never echoed)."""

from __future__ import annotations

import pytest

from app.cli import main
from app.web.passwords import hash_password, verify_password

from .helpers import problems, valid, with_value

HASH = hash_password("a long password")


def test_a_user_as_holdfast_user_add_writes_it(capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    import io

    import yaml

    monkeypatch.setattr("sys.stdin", io.StringIO("a long password\n"))
    assert main(["user", "add", "eva", "--role", "supervisor", "--queues", "support", "--password-stdin"]) == 0
    out = capsys.readouterr().out
    assert "a long password" not in out
    entry = yaml.safe_load("\n".join(line for line in out.splitlines() if not line.startswith("#")))["users"]["eva"]
    assert verify_password("a long password", entry["password_hash"])
    assert not verify_password("another password", entry["password_hash"])
    config = valid(with_value("users", {"eva": entry}))
    user = config.users["eva"]
    assert (user.role, user.queues) == ("supervisor", ("support",))


def test_groups_users_and_web_settings_are_read() -> None:
    data = with_value("agent_groups", {"front": ["1001"]})
    data["users"] = {
        "ada": {"role": "admin", "password_hash": HASH},
        "vic": {"role": "viewer", "password_hash": HASH, "queues": ["*"], "agent_groups": ["front"]},
    }
    data["web"] = {"session_lifetime": "30m", "secure_cookies": "always", "mask_numbers": ["viewer", "supervisor"]}
    config = valid(data)
    assert config.agent_groups == {"front": ("1001",)}
    assert config.users["vic"].queues == ("*",) and config.users["vic"].agent_groups == ("front",)
    assert (config.web.session_lifetime, config.web.secure_cookies) == (1800.0, "always")


@pytest.mark.parametrize(
    ("users", "needle"),
    [
        ({"eva": {"role": "supervisor", "password_hash": "hunter2"}}, "users.eva.password_hash is not a password hash"),
        ({"eva": {"role": "boss", "password_hash": HASH}}, "users.eva.role"),
        ({"eva": {"role": "viewer"}}, "users.eva needs password_hash or api_token_hash"),
        ({"eva": {"role": "viewer", "password_hash": HASH, "queues": ["suport"]}}, 'unknown queue "suport"'),
        ({"eva": {"role": "viewer", "password_hash": HASH, "agent_groups": ["x"]}}, 'unknown group "x"'),
    ],
)
def test_mistakes_are_named(users: dict, needle: str) -> None:
    found = problems(with_value("users", users))
    assert any(needle in p for p in found), found
    assert not any("hunter2" in p for p in found)


def test_an_agent_group_of_unknown_agents_and_an_unknown_role_to_mask_are_refused() -> None:
    assert any(
        'agent_groups.front names unknown agent "9"' in p
        for p in problems(with_value("agent_groups", {"front": ["9"]}))
    )
    assert any("web.mask_numbers" in p for p in problems(with_value("web", {"mask_numbers": ["king"]})))


def test_a_campaign_filter_may_name_a_campaign_the_file_does_not_define() -> None:
    """It may be created over the API: accepted, and check-config says what it must be."""
    from app.config.summary import summarize

    data = with_value("users", {"eva": {"role": "supervisor", "password_hash": HASH, "campaigns": ["winter", "*"]}})
    config = valid(data)
    assert config.users["eva"].campaigns == ("winter", "*")
    summary = summarize(config)
    assert 'Note: users.eva.campaigns names "winter", which this file does not define' in summary
    assert "POST /api/campaigns" in summary and '"*"' not in summary


def test_trusted_proxies_are_addresses_or_networks() -> None:
    config = valid(with_value("web.trusted_proxies", ["127.0.0.1", "10.0.0.0/8", "::1"]))
    assert config.web.trusted_proxies == ("127.0.0.1/32", "10.0.0.0/8", "::1/128")
    assert valid(with_value("web.trusted_proxies", "10.1.2.3/8")).web.trusted_proxies == ("10.0.0.0/8",)
    (msg,) = problems(with_value("web.trusted_proxies", ["nginx.local"]))
    assert msg.startswith("web.trusted_proxies is ") and "'nginx.local' is not an address or network" in msg
