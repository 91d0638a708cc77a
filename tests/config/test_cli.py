"""The command line an admin uses on a settings file."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "holdfast.yaml"
SECRETS = (
    "HOLDFAST_ARI_PASSWORD",
    "HOLDFAST_ADMIN_TOKEN",
    "HOLDFAST_AGENT_1001_PASSWORD",
    "HOLDFAST_AGENT_1002_PASSWORD",
)


@pytest.fixture
def secrets_set(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SECRETS:
        monkeypatch.setenv(name, f"secret-{name.lower()}")


def test_check_config_summarises_a_valid_file(secrets_set: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(EXAMPLE)]) == 0
    assert "support" in capsys.readouterr().out


def test_check_config_names_the_key_and_the_reason(tmp_path: Path, secrets_set: None, capsys) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(EXAMPLE.read_text().replace("ring_timeout: 15s", "ring_timeout: soon", 1))
    assert main(["check-config", str(broken)]) == 2
    assert "queues.support.ring_timeout" in capsys.readouterr().err


def test_pjsip_agents_generates_one_endpoint_per_agent(secrets_set: None, capsys) -> None:
    assert main(["pjsip-agents", "--config", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    for agent in ("1001", "1002", "1003"):
        assert f"[{agent}](agent-tpl)" in out and f"username = {agent}" in out
    assert "password = secret-holdfast_agent_1001_password" in out
