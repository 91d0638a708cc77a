"""/metrics (issue 16): an operator's view of every queue, so once the service has users or an
admin token it answers only the metrics scraper's own token (web.metrics_token) or an admin —
not a supervisor, a viewer, or nobody. An open service (neither) keeps it open, as before; a
standby node's /metrics asks the same."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from app.runner import _standby_app
from tests.ari.fake_ari import FakeAri
from tests.config.helpers import problems, with_value
from tests.telephony.conftest import Shell, config_text
from tests.web.conftest import CALLBACK_QUEUES, TOKEN
from tests.web.test_users_api import SUPPORT_TOKEN, login, users_yaml

SCRAPER = "scrape-0123456789abcdef"


@pytest.fixture
def shell_text(fake_ari: FakeAri, tmp_path: Path) -> str:
    """The users of the users' API tests and a scraper's token (conftest's shell and http use it)."""
    extra = users_yaml(tmp_path) + f'web:\n  metrics_token: "{SCRAPER}"\n'
    return config_text(fake_ari, queues=CALLBACK_QUEUES, extra=extra)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_only_the_scraper_and_admins_read_metrics(shell: Shell, http: TestClient) -> None:
    assert (await http.get("/metrics")).status == 401
    assert (await http.get("/metrics", headers=bearer("wrong-token-0123456789"))).status == 401
    scraped = await http.get("/metrics", headers=bearer(SCRAPER))
    assert scraped.status == 200 and "holdfast_" in await scraped.text()
    assert (await http.get("/metrics", headers=bearer(TOKEN))).status == 200  # the admin token
    assert (await http.get("/metrics", headers=bearer(SUPPORT_TOKEN))).status == 403  # sam, a supervisor
    assert (await http.get("/api/queues", headers=bearer(SCRAPER))).status == 401  # only /metrics
    for user, status in (("ada", 200), ("sam", 403), ("vic", 403)):  # sessions: admins only
        client = await login(shell, user)
        try:
            assert (await client.get("/metrics")).status == status, user
        finally:
            await client.close()
    doc = await (await http.get("/api/openapi.json", headers=bearer(TOKEN))).json()
    assert doc["paths"]["/metrics"]["get"]["security"] == [{"bearer": []}]


async def test_a_standby_nodes_metrics_ask_the_same(shell: Shell) -> None:
    class Waiting:
        standby_status = "standby"

    async with TestClient(TestServer(_standby_app(shell.service, Waiting()))) as standby:  # type: ignore[arg-type]
        assert (await standby.get("/metrics")).status == 401
        assert (await standby.get("/metrics", headers=bearer(SCRAPER))).status == 200
        assert (await standby.get("/metrics", headers=bearer(TOKEN))).status == 200
        assert (await standby.get("/metrics", headers=bearer(SUPPORT_TOKEN))).status == 401


def test_a_short_metrics_token_is_refused() -> None:
    found = problems(with_value("web", {"metrics_token": "short"}))
    assert any("web.metrics_token is 5 characters long" in p for p in found), found
