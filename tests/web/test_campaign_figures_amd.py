"""A predictive campaign's `/figures` from the raw event log count what its pacing counts: the
persons estimated among its machine verdicts (`amd_false_positive`) beside the abandoned calls,
and the abandon rate the campaign is judged on with them. Before, the figures showed only the
rate without them, lower than the one the dialler paced to."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from app.core.commands import Activity
from app.store.sqlite import SQLiteStore
from tests.telephony.conftest import START
from tests.web.test_pacing_api import http, shell_text, store, stored_shell

__all__ = ["http", "shell_text", "store", "stored_shell"]  # the pacing API tests' settings: pred, 10 %


def dial(campaign: str, outcome: str, at: float) -> Activity:
    data = {"campaign": campaign, "outcome": outcome, "number": "+4520123456", "abandoned": outcome == "abandoned"}
    return Activity("dial_attempt", None, "1001", "support", at, data)


async def figures(http: TestClient, campaign: str) -> Any:
    resp = await http.get(f"/api/campaigns/{campaign}/figures")
    body = await resp.json()
    assert resp.status == 200, body
    return body


async def test_machine_verdicts_add_their_estimated_persons_to_the_judged_rate(
    http: TestClient, store: SQLiteStore
) -> None:
    outcomes = ["answered"] * 97 + ["abandoned"] * 1 + ["machine"] * 20
    await store.append_events([dial("pred", o, START - 60) for o in outcomes])
    day = (await figures(http, "pred"))["last_24h"]
    assert (day["connects"], day["abandoned"], day["machines"]) == (97, 1, 20)
    assert day["abandon_rate"] == round(1 / 98, 4)
    # 20 machine verdicts x 10 % = 2 persons hung up on: 3 abandoned of 100 live answers
    assert day["amd_false_positives"] == pytest.approx(2.0)
    assert day["judged_abandon_rate"] == pytest.approx(0.03)


async def test_a_campaign_without_an_assumed_share_is_judged_on_its_abandoned_calls(
    http: TestClient, store: SQLiteStore
) -> None:
    outcomes = ["answered"] * 3 + ["abandoned"] + ["machine"] * 5
    await store.append_events([dial("spring", o, START - 60) for o in outcomes])
    day = (await figures(http, "spring"))["last_24h"]
    assert day["amd_false_positives"] == 0.0
    assert day["judged_abandon_rate"] == day["abandon_rate"] == 0.25
