"""Log-ins behind a trusted proxy that adds its own X-Forwarded-For line (HAProxy `option
forwardfor`, some ALB/Envoy set-ups) instead of extending the client's: the request carries the
client's line first and the proxy's second. The lines are one list (RFC 9110 5.3): reading only
the first, which the guesser writes, let them pick a new address for every guess."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from multidict import CIMultiDict

from app.web.login_guard import Throttle
from tests.ari.fake_ari import FakeAri
from tests.telephony.conftest import config_text
from tests.web.conftest import CALLBACK_QUEUES
from tests.web.test_users_api import PASSWORD, users_yaml


@pytest.fixture
def shell_text(fake_ari: FakeAri, tmp_path: Path) -> str:
    web = "web:\n  trusted_proxies: [127.0.0.1]\n"  # the test client is the proxy
    return config_text(fake_ari, queues=CALLBACK_QUEUES, extra=users_yaml(tmp_path) + web)


def _lines(*lines: str) -> CIMultiDict[str]:
    headers: CIMultiDict[str] = CIMultiDict()
    for line in lines:
        headers.add("X-Forwarded-For", line)
    return headers


async def test_a_forged_first_forwarded_for_line_does_not_dodge_the_address_count(http: TestClient) -> None:
    for i in range(Throttle.MAX_ADDRESS_FAILURES):  # one guess for each of many names, a new forged line each
        headers = _lines(f"192.0.2.{i}", "203.0.113.9")  # the guesser's line, then the proxy's
        resp = await http.post("/api/session", json={"username": f"name{i}", "password": "guess"}, headers=headers)
        assert resp.status == 401
    guesser = await http.post(
        "/api/session", json={"username": "sam", "password": PASSWORD}, headers=_lines("192.0.2.250", "203.0.113.9")
    )
    colleague = await http.post(
        "/api/session", json={"username": "sam", "password": PASSWORD}, headers=_lines("198.51.100.7")
    )
    assert guesser.status == 429  # counted as the address the proxy saw, whatever it wrote first
    assert colleague.status == 200  # and only the guesser
