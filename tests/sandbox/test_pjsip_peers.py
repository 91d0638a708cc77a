"""pjsip_peers.conf: the SIP trunk between Holdfast's Asterisk servers."""

from __future__ import annotations

import pytest

from app.config import validate_config
from app.sandbox import PeerServer, render_peer_endpoints

SERVERS = [PeerServer("a", "10.0.0.1", 5060), PeerServer("b", "10.0.0.2", 5062), PeerServer("c", "10.0.0.3", 5060)]


def sections(text: str) -> dict[str, dict[str, str]]:
    """Asterisk's config as {"name](template": {key: value}} (one endpoint and one aor share a name)."""
    found: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in text.splitlines():
        if line.startswith("["):
            current = found.setdefault(line[1:-1], {})
        elif " = " in line and current is not None:
            key, value = line.split(" = ", 1)
            current[key] = value
    return found


def test_each_other_server_gets_an_endpoint_authenticated_both_ways() -> None:
    found = sections(render_peer_endpoints("a", SERVERS, "s3cret"))
    assert found["holdfast-peer-out](peer-auth-tpl"] == {"username": "holdfast-peer-a", "password": "s3cret"}
    assert found["holdfast-peer-b](peer-tpl"] == {
        "aors": "holdfast-peer-b",
        "auth": "holdfast-peer-b-in",
        "outbound_auth": "holdfast-peer-out",
        "from_user": "holdfast-peer-a",  # how b tells our calls from the phone network's
    }
    assert found["holdfast-peer-b-in](peer-auth-tpl"] == {"username": "holdfast-peer-b", "password": "s3cret"}
    assert found["holdfast-peer-b](peer-aor-tpl"] == {"contact": "sip:10.0.0.2:5062"}
    assert "holdfast-peer-c](peer-tpl" in found
    assert not any(name.startswith("holdfast-peer-a]") for name in found)  # no trunk to itself


def test_the_endpoint_name_is_what_the_service_dials_by_default() -> None:
    config = validate_config(
        {
            "asterisk": {"ari_user": "u", "ari_password": "p"},
            "queues": {"q": {}},
        }
    )
    assert config.asterisk.peer_endpoint("1002", "b") == "PJSIP/1002@holdfast-peer-b"
    assert "[holdfast-peer-b](peer-tpl)" in render_peer_endpoints("a", SERVERS, "x")


@pytest.mark.parametrize(
    ("servers", "secret", "error"),
    [
        ([PeerServer("b c", "h", 1)], "x", "server name 'b c'"),
        ([PeerServer("b", "h", 1), PeerServer("b", "h", 2)], "x", "appears twice"),
        (SERVERS, "", "secret is empty"),
    ],
)
def test_bad_input_is_refused(servers: list[PeerServer], secret: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        render_peer_endpoints("a", servers, secret)


def test_a_semicolon_in_the_secret_is_escaped() -> None:
    assert "password = a\\;b" in render_peer_endpoints("a", SERVERS, "a;b")
