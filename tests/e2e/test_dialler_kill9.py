"""kill -9 of the service in the middle of a power campaign, on real Asterisk: the dials that were
ringing are taken back (not dialled again), the contacts it had only claimed are released and
dialled once each later, nobody is dialled twice."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import ServiceProcess, holdfast_config_text, installed_prompts_yaml
from test_kill9_journeys import guarded, ready

from app.core.commands import Activity
from app.sandbox import free_tcp_port
from app.store import store_from_dsn

pytestmark = pytest.mark.e2e

NUMBERS = ["+4520123490", "+4520123491", "+4520123492", "+4520123493"]
CAMPAIGN = """
campaigns:
  pow:
    mode: power
    queue: sales
    caller_id: "+4570000009"
    lines_per_agent: 2
    ring_time: 30s
    max_attempts: 3
"""


async def prepare_campaign_store(tmp_path: Path, campaign: str, numbers: list[str]) -> None:
    """The store in `tmp_path` with `numbers` as the campaign's contacts (queue sales), and 100 calls
    answered an hour ago, none abandoned: room under the 3 % cap to dial ahead."""
    store = store_from_dsn(str(tmp_path / "holdfast.db"))
    await store.open()
    try:
        rows = [(n, f"Contact {n[-2:]}", json.dumps({}), None, None) for n in numbers]
        await store.import_contacts(campaign, rows, 0.0)
        hour_ago = time.time() - 3600
        answered = {"campaign": campaign, "outcome": "answered", "abandoned": False}
        await store.append_events(
            [Activity("dial_attempt", f"old-{i}", None, "sales", hour_ago, answered) for i in range(100)]
        )
    finally:
        await store.close()


async def test_kill9_mid_campaign_nobody_is_dialled_twice(
    sut_asterisk, phonesim_asterisk, test_agents, phonesim, tmp_path: Path
):
    await prepare_campaign_store(tmp_path, "pow", NUMBERS)
    port = free_tcp_port()
    path = tmp_path / "holdfast.yaml"
    extra = installed_prompts_yaml(sut_asterisk) + CAMPAIGN
    path.write_text(holdfast_config_text(sut_asterisk, test_agents, port, extra=extra, data_dir=tmp_path))
    service = ServiceProcess(path, port, tmp_path)
    for number in NUMBERS:
        phonesim.set_behaviour(f"customer:{number}", "manual")  # they ring until we answer
    await service.start()
    try:
        await ready(service, "1003")
        first = await guarded(service, phonesim.wait_incoming(f"customer:{NUMBERS[0]}", timeout=20), "A rung", 22)
        second = await guarded(service, phonesim.wait_incoming(f"customer:{NUMBERS[1]}", timeout=20), "B rung", 22)
        await service.wait_events(lambda ev: sum(e.kind == "attempt_started" for e in ev) == 2, "two dials stored", 10)

        service.kill9()  # both contacts' phones still ring
        await service.start()
        await first.answer()  # answered after the restart: the restored dial goes on
        await service.wait_events(lambda ev: any(e.kind == "connected" for e in ev), "A connected", 20)
        await second.answer()  # the only agent talks to A: B hears the message
        events = await service.wait_events(
            lambda ev: any(e.kind == "dial_attempt" and e.data.get("outcome") == "abandoned" for e in ev),
            "B abandoned",
            20,
        )
        abandoned = next(e for e in events if e.kind == "dial_attempt" and e.data.get("outcome") == "abandoned")
        assert abandoned.data["number"] == NUMBERS[1]
        await first.hangup()
        # the agent is free again: the two contacts the killed run had only claimed are dialled now
        third = await guarded(service, phonesim.wait_incoming(f"customer:{NUMBERS[2]}", timeout=30), "C rung", 32)
        fourth = await guarded(service, phonesim.wait_incoming(f"customer:{NUMBERS[3]}", timeout=30), "D rung", 32)
        dialled = Counter(c.dest for c in phonesim.calls.values() if c.kind == "customer" and c.dest in NUMBERS)
        assert dialled == Counter(NUMBERS), dialled  # each once, across the kill
        events = await service.store_events.refresh()
        started = Counter(e.data.get("number") for e in events if e.kind == "attempt_started")
        assert started == Counter(NUMBERS), started
        await third.hangup()
        await fourth.hangup()
    finally:
        service.stop()
    assert not service.unexpected_exits
