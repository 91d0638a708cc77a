"""`web.allowed_hosts`: the names the service answers to besides loopback, IP addresses and
service.http_host (app/web/hosts.py); written as bare host names, compared in lower case."""

from __future__ import annotations

import pytest

from .helpers import problems, valid, with_value


def test_allowed_hosts_are_host_names_in_lower_case() -> None:
    assert valid(with_value("web.allowed_hosts", ["Holdfast.Example.com", "holdfast_web"])).web.allowed_hosts == (
        "holdfast.example.com",
        "holdfast_web",
    )
    assert valid(with_value("web.allowed_hosts", "holdfast.lan.")).web.allowed_hosts == ("holdfast.lan",)
    assert valid(with_value("web", {})).web.allowed_hosts == ()


@pytest.mark.parametrize("value", ["https://holdfast.example.com", "holdfast.example.com:8443", "*.example.com", 8080])
def test_a_url_a_port_or_a_pattern_is_refused_with_the_key(value: object) -> None:
    (msg,) = problems(with_value("web.allowed_hosts", [value]))
    assert msg.startswith("web.allowed_hosts is ") and "without scheme or port" in msg, msg
