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


SERVERS_YAML = """
asterisk:
  ari_user: holdfast
  ari_password: secret
  servers:
    - name: a
      ari_url: http://10.0.0.1:8088/ari
      sip_host: 10.0.0.1
      agents: ["1001"]
    - name: b
      ari_url: http://10.0.0.2:8088/ari
      sip_host: 10.0.0.2
      sip_port: 5062
      agents: ["1002"]
queues:
  support: {}
agents:
  "1001": {password: pw1, skills: [support]}
  "1002": {password: pw2, skills: [support]}
"""


def test_pjsip_agents_for_one_server_lists_only_the_agents_registered_there(tmp_path, capsys) -> None:
    path = tmp_path / "holdfast.yaml"
    path.write_text(SERVERS_YAML)
    assert main(["pjsip-agents", "--config", str(path), "--server", "b"]) == 0
    out = capsys.readouterr().out
    assert "[1002](agent-tpl)" in out and "[1001](agent-tpl)" not in out
    assert main(["pjsip-agents", "--config", str(path), "--server", "c"]) == 2
    assert 'no Asterisk server named "c"; the settings list a, b' in capsys.readouterr().err


def test_pjsip_peers_prints_the_trunk_from_one_server_to_the_others(tmp_path, capsys, monkeypatch) -> None:
    path = tmp_path / "holdfast.yaml"
    path.write_text(SERVERS_YAML)
    monkeypatch.setenv("HOLDFAST_PEER_SECRET", "peer-secret")
    assert main(["pjsip-peers", "--config", str(path), "--server", "a"]) == 0
    out = capsys.readouterr().out
    assert "[holdfast-peer-b](peer-tpl)" in out and "contact = sip:10.0.0.2:5062" in out
    assert "from_user = holdfast-peer-a" in out and "password = peer-secret" in out
    monkeypatch.delenv("HOLDFAST_PEER_SECRET")
    assert main(["pjsip-peers", "--config", str(path), "--server", "a"]) == 2
    assert "HOLDFAST_PEER_SECRET" in capsys.readouterr().err
