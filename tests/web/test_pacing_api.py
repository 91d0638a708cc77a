"""A predictive campaign's pacing figures over the API (app/web/pacing_view.py), on the real service
app with a real (SQLite) store: what the engine's pacer counts in its judged windows, AMD false
positives estimated from machine verdicts, and refusals for campaigns without pacing."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from app.core import pacing
from tests.ari.fake_ari import FakeAri
from tests.telephony.conftest import Shell, config_text
from tests.web.conftest import CALLBACK_QUEUES
from tests.web.test_campaigns_api import http, store, stored_shell

__all__ = ["http", "store", "stored_shell"]  # the contacts API tests' fixtures, on this module's settings

# Paused: these tests read the pacing, they do not dial.
CAMPAIGNS = """
campaigns:
  pred:
    queue: support
    mode: predictive
    caller_id: "+4570000009"
    state: paused
    amd_false_positive: 10%
  spring:
    queue: support
    mode: power
    caller_id: "+4570000009"
    state: paused
"""


@pytest.fixture
def shell_text(fake_ari: FakeAri) -> str:
    return config_text(fake_ari, queues=CALLBACK_QUEUES, extra=CAMPAIGNS)


async def get(http: TestClient, path: str, status: int = 200) -> Any:
    resp = await http.get(path)
    body = await resp.json()
    assert resp.status == status, body
    return body


async def test_a_fresh_campaign_has_empty_windows_and_no_room_to_dial_ahead(http: TestClient) -> None:
    body = await get(http, "/api/campaigns/pred/pacing")
    assert body["campaign"] == "pred" and body["abandon_cap"] == 0.03 and body["amd_false_positive"] == 0.1
    for window in ("last_24h", "last_30d"):
        assert body[window] == {
            "live_answers": 0.0,
            "abandoned": 0.0,
            "abandon_rate": None,
            "machines": 0,
            "amd_false_positives": 0.0,
        }
    assert body["over_cap"] is True and body["room"] == 0.0  # no room for an abandon yet: one dial per ready agent
    assert body["calls_to_place"] == 0 and body["in_flight"] == 0  # nobody logged in
    assert 0 < body["live_rate"] < 1 and body["talk_time"] > 0  # the prior


async def test_the_windows_count_abandons_and_estimated_amd_false_positives(
    http: TestClient, stored_shell: Shell
) -> None:
    engine = stored_shell.service.engine
    pacer = engine.pacer("pred")
    assert isinstance(pacer, pacing.HoldfastPacer)
    now = stored_shell.service.clock()
    for i in range(200):
        pacer.observe_end(now, pacing.LIVE, 8.0)
        pacer.observe_live(now, abandoned=i < 2)
    for _ in range(30):
        pacer.observe_end(now, pacing.MACHINE, 12.0)
    body = await get(http, "/api/campaigns/pred/pacing")
    day = body["last_24h"]
    # 30 machine verdicts x 10 % are persons hung up on: counted as abandoned live answers
    assert day == {
        "live_answers": 203.0,
        "abandoned": 5.0,
        "abandon_rate": round(5 / 203, 4),
        "machines": 30,
        "amd_false_positives": 3.0,
    }
    assert body["last_30d"] == day
    assert body["over_cap"] is False and body["room"] == pytest.approx(0.03 * 203 - 5, abs=1e-3)
    assert body["live_rate"] == pytest.approx(pacer.est.share(pacing.LIVE), abs=1e-4)
    assert body["machine_rate"] == pytest.approx(pacer.est.share(pacing.MACHINE), abs=1e-4)
    assert 0 < body["target_abandon_rate"] < 0.03


async def test_campaigns_without_pacing_are_refused(http: TestClient) -> None:
    body = await get(http, "/api/campaigns/spring/pacing", 409)
    assert "predictive" in body["error"]
    await get(http, "/api/campaigns/nosuch/pacing", 404)
