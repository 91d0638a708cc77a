"""The live page's "today" in the centre's zone, not the host's: a queue without hours counts its
day in notifications.timezone (app/web/live_feed.py)."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from app.core.commands import Activity
from app.web.live import live_snapshot
from app.web.live_feed import LIVE_KEY
from tests.ari.fake_ari import FakeAri
from tests.telephony.conftest import START, Shell, config_text
from tests.web.conftest import CALLBACK_QUEUES


@pytest.fixture
def shell_text(fake_ari: FakeAri) -> str:
    # START is 1 January 23:00 in Auckland (UTC+13 in summer), 10:00 UTC
    return config_text(fake_ari, queues=CALLBACK_QUEUES, extra="notifications:\n  timezone: Pacific/Auckland\n")


async def test_a_queue_without_hours_starts_its_day_at_midnight_in_the_centres_zone(
    shell: Shell, http: TestClient
) -> None:
    feed = http.app[LIVE_KEY]
    await feed.seeded.wait()
    feed.today(Activity("connected", "req-1", "1001", "support", START, {"within_sla": True}))
    before = {q["name"]: q for q in live_snapshot(shell.service, feed.today, now=START + 60)["queues"]}
    assert before["support"]["answered_today"] == 1
    after_midnight = START + 2 * 3600  # 2 January 01:00 in Auckland, still 1 January in UTC
    queues = {q["name"]: q for q in live_snapshot(shell.service, feed.today, now=after_midnight)["queues"]}
    assert queues["support"]["answered_today"] == 0
