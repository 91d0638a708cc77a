"""Log-ins behind a reverse proxy (web.trusted_proxies): wrong passwords are counted per client, from
X-Forwarded-For, so one guesser behind the proxy cannot lock the whole team out; without the
setting the header is ignored, so a guesser cannot dodge the count by sending it."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from app.web.login_guard import Throttle
from tests.ari.fake_ari import FakeAri
from tests.telephony.conftest import config_text
from tests.web.conftest import CALLBACK_QUEUES
from tests.web.test_users_api import PASSWORD, users_yaml


@pytest.fixture(params=[True, False], ids=["behind_trusted_proxy", "no_proxy_trusted"])
def trusted(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.fixture
def shell_text(fake_ari: FakeAri, tmp_path: Path, trusted: bool) -> str:
    web = "web:\n  trusted_proxies: [127.0.0.1]\n" if trusted else ""
    return config_text(fake_ari, queues=CALLBACK_QUEUES, extra=users_yaml(tmp_path) + web)


async def test_wrong_passwords_are_counted_per_client_behind_a_trusted_proxy(http: TestClient, trusted: bool) -> None:
    for i in range(Throttle.MAX_ADDRESS_FAILURES):  # the guesser varies the header it sends
        resp = await http.post(
            "/api/session",
            json={"username": f"name{i}", "password": "guess"},
            headers={"X-Forwarded-For": f"192.0.2.{i}, 203.0.113.9" if trusted else f"192.0.2.{i}"},
        )
        assert resp.status == 401
    guesser = await http.post(
        "/api/session",
        json={"username": "sam", "password": PASSWORD},
        headers={"X-Forwarded-For": "203.0.113.9"},
    )
    colleague = await http.post(
        "/api/session",
        json={"username": "sam", "password": PASSWORD},
        headers={"X-Forwarded-For": "198.51.100.7"},
    )
    assert guesser.status == 429  # counted either way: by the address the proxy saw, or the peer's
    assert colleague.status == (200 if trusted else 429)  # behind a trusted proxy the team logs in
