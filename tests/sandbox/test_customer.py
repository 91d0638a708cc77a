"""The sandbox's customer account (pjsip_sandbox.conf) and the RTP range `make run` prefers."""

from __future__ import annotations

import socket

import pytest

from app.sandbox import CustomerAccount, free_port_range, render_customer_endpoint
from app.sandbox.ports import ephemeral_port_range, free_udp_port
from app.sandbox.templates import render_template


def sections(text: str) -> dict[tuple[str, str], dict[str, str]]:
    """(name, type) -> options of an Asterisk config text (comments dropped, ';' unescaped)."""
    out: dict[tuple[str, str], dict[str, str]] = {}
    name, options = "", {}
    for raw in text.splitlines():
        line = raw.replace("\\;", "\0").split(";", 1)[0].replace("\0", ";").strip()
        if line.startswith("["):
            name, options = line[1 : line.index("]")], {}
        elif "=" in line:
            key, value = (part.strip() for part in line.split("=", 1))
            options[key] = value
            if key == "type":
                out[(name, value)] = options
    return out


def test_customer_calls_enter_like_the_trunk_and_are_found_by_their_credentials() -> None:
    conf = sections(render_customer_endpoint(CustomerAccount("s3cret")))
    endpoint = conf[("customer", "endpoint")]
    assert endpoint["context"] == "holdfast-inbound"  # Stasis(holdfast,inbound,<dialled number>)
    assert "auth_username" in endpoint["identify_by"].split(",")  # the From user may be any number
    assert endpoint["trust_id_inbound"] == "yes"
    assert endpoint["auth"] == "customer" and endpoint["aors"] == "customer"
    auth = conf[("customer", "auth")]
    assert (auth["username"], auth["password"]) == ("customer", "s3cret")
    assert conf[("customer", "aor")]["max_contacts"] == "1"


def test_a_customer_phone_gone_silent_is_cut_as_the_trunks_would_be() -> None:
    endpoint = sections(render_customer_endpoint(CustomerAccount("x"), [], 60, 1800))[("customer", "endpoint")]
    assert (endpoint["rtp_timeout"], endpoint["rtp_timeout_hold"]) == ("60", "1800")


def test_a_semicolon_in_the_password_survives_asterisks_parser() -> None:
    conf = sections(render_customer_endpoint(CustomerAccount("a;b")))
    assert conf[("customer", "auth")]["password"] == "a;b"


def test_callbacks_are_dialled_at_the_customer_softphone_with_the_number_as_request_user() -> None:
    assert CustomerAccount("x").endpoint_format.format(number="+4520123456") == "PJSIP/+4520123456@customer"


@pytest.mark.parametrize("agent", ["customer", "Customer"])
def test_an_agent_named_like_the_customer_account_is_refused(agent: str) -> None:
    with pytest.raises(ValueError, match="customer account"):
        render_customer_endpoint(CustomerAccount("x"), [agent])


def test_empty_password_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        render_customer_endpoint(CustomerAccount(""))


def test_production_pjsip_conf_includes_the_sandbox_file_only_if_present() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "asterisk-conf" / "pjsip.conf").read_text()
    rendered = render_template(text, {"SIP_PORT": "5060", "TRUNK_MATCH": "x", "TRUNK_CONTACT": "sip:x"})
    includes = [line for line in rendered.splitlines() if line.startswith("#")]
    # pjsip_peers.conf: the trunk between several Asterisk servers (absent with one server).
    assert includes == ["#include pjsip_agents.conf", "#tryinclude pjsip_peers.conf", "#tryinclude pjsip_sandbox.conf"]


def test_free_port_range_prefers_the_given_start_when_free() -> None:
    start, end = free_port_range(20, low=20000, high=60000, prefer=None)
    assert free_port_range(20, low=20000, high=60000, prefer=start) == (start, end)


def test_free_port_range_moves_away_from_a_taken_preferred_range() -> None:
    start, end = free_port_range(20, low=20000, high=60000)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("0.0.0.0", start + 7))
        other = free_port_range(20, low=20000, high=60000, prefer=start)
    assert other != (start, end)
    assert not other[0] <= start + 7 <= other[1]


def test_free_port_range_stays_below_the_kernels_ephemeral_ports() -> None:
    # A SIP port (free_udp_port binds port 0) landing on an RTP range's odd port leaves the call on
    # that pair without RTCP and without RTP statistics in Asterisk: the ranges must not meet.
    ephemeral_low, ephemeral_high = ephemeral_port_range()
    assert 1024 < ephemeral_low < ephemeral_high
    for _ in range(20):
        start, end = free_port_range(1000)
        assert start % 2 == 0 and end - start == 999 and end < ephemeral_low
    sip_ports = {free_udp_port() for _ in range(50)}
    assert all(ephemeral_low <= port <= ephemeral_high for port in sip_ports)
