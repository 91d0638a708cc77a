"""`holdfast check-config` validates a file without its secrets present; `holdfast run` still needs them."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import main
from app.config import ConfigError, UnsetSecret, check_config, load_config, summarize, unset_secrets

from .helpers import EXAMPLE, EXAMPLE_ENV

NOTES = [
    "note: ${HOLDFAST_ARI_PASSWORD} is not set (asterisk.ari_password); `holdfast run` needs it",
    "note: ${HOLDFAST_ADMIN_TOKEN} is not set (service.admin_token); `holdfast run` needs it",
    "note: ${HOLDFAST_AGENT_1001_PASSWORD} is not set (agents.1001.password); `holdfast run` needs it",
    "note: ${HOLDFAST_AGENT_1002_PASSWORD} is not set (agents.1002.password); `holdfast run` needs it",
]


@pytest.fixture
def no_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in EXAMPLE_ENV:
        monkeypatch.delenv(name, raising=False)


def test_check_config_of_the_example_without_secrets_passes_with_notes(no_secrets: None, capsys) -> None:
    assert main(["check-config", str(EXAMPLE)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.splitlines()[-4:] == NOTES
    assert "admin token from ${HOLDFAST_ADMIN_TOKEN}" in out


def test_run_still_refuses_to_start_without_the_secrets(no_secrets: None, capsys) -> None:
    assert main(["run", "--config", str(EXAMPLE)]) == 2
    err = capsys.readouterr().err
    for key, var in [
        ("asterisk.ari_password", "HOLDFAST_ARI_PASSWORD"),
        ("service.admin_token", "HOLDFAST_ADMIN_TOKEN"),
        ("agents.1001.password", "HOLDFAST_AGENT_1001_PASSWORD"),
        ("agents.1002.password", "HOLDFAST_AGENT_1002_PASSWORD"),
    ]:
        assert f"{key} refers to environment variable {var}, which is not set" in err


def test_check_config_with_the_secrets_set_has_no_notes(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    for name, value in EXAMPLE_ENV.items():
        monkeypatch.setenv(name, value)
    assert main(["check-config", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "note:" not in out and "admin token set" in out
    for value in EXAMPLE_ENV.values():
        assert value not in out


def test_an_empty_variable_is_a_note_too(no_secrets: None, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("HOLDFAST_ARI_PASSWORD", "")
    assert main(["check-config", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "note: ${HOLDFAST_ARI_PASSWORD} is empty (asterisk.ari_password); `holdfast run` needs it" in out


def test_real_problems_are_still_errors_and_unset_secrets_are_not(tmp_path: Path, no_secrets: None, capsys) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(EXAMPLE.read_text().replace("ring_timeout: 15s", "ring_timeout: soon", 1))
    assert main(["check-config", str(broken)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "queues.support.ring_timeout" in err and "(1 problem):" in err
    assert "not set" not in err


def test_one_note_per_variable_naming_every_key(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace("env:HOLDFAST_AGENT_1002_PASSWORD", "${HOLDFAST_AGENT_1001_PASSWORD}")
    path = tmp_path / "shared.yaml"
    path.write_text(text)
    notes = [line for line in summarize(check_config(path, env={})).splitlines() if line.startswith("note:")]
    assert notes[-1] == (
        "note: ${HOLDFAST_AGENT_1001_PASSWORD} is not set (agents.1001.password, agents.1002.password); "
        "`holdfast run` needs it"
    )
    assert len(notes) == 3


def test_the_token_length_is_not_judged_while_unset_but_a_short_literal_is_refused(tmp_path: Path) -> None:
    cfg = check_config(EXAMPLE, env={})
    assert isinstance(cfg.service.admin_token, UnsetSecret)
    path = tmp_path / "short.yaml"
    path.write_text(EXAMPLE.read_text().replace("env:HOLDFAST_ADMIN_TOKEN", "short"))
    with pytest.raises(ConfigError) as info:
        check_config(path, env={})
    assert info.value.problems == [
        "service.admin_token is 5 characters long; use at least 16 so it cannot be guessed "
        "(e.g. the output of `openssl rand -hex 16`)"
    ]


def test_placeholders_only_in_checked_files() -> None:
    assert [(path, s.variable) for path, s in unset_secrets(check_config(EXAMPLE, env={}))] == [
        ("asterisk.ari_password", "HOLDFAST_ARI_PASSWORD"),
        ("service.admin_token", "HOLDFAST_ADMIN_TOKEN"),
        ("agents.1001.password", "HOLDFAST_AGENT_1001_PASSWORD"),
        ("agents.1002.password", "HOLDFAST_AGENT_1002_PASSWORD"),
    ]
    assert unset_secrets(load_config(EXAMPLE, env=EXAMPLE_ENV)) == []
    with pytest.raises(ConfigError):
        load_config(EXAMPLE, env={})
