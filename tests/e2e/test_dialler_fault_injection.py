"""Fault injection in a power campaign on real Asterisk: 5 agents whose phones answer at once, a
list of contacts who answer (a seeded third after ringing 1.5 s) and talk 3 s, and `kill -9` of
the service at seeded random moments (a contact ringing, answered and waiting for an agent,
connected, the agent in wrap-up). Whatever the moment:
- every contact is done by the end, and nobody is left over (`left` 0);
- no number is rung twice at once (its calls' spans on the simulator never overlap), and none is
  rung without a stored attempt;
- nobody is connected to an agent twice (a contact talked to is done);
- the process never exits 0 by itself and does not crash-loop; at the end every agent is ready.

`make test` runs one seed of 30 contacts and 4 kills; `make test-all` (marker `slow`) three more of
60 contacts and 8 kills. The callback flavour is test_fault_injection.py."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import ServiceProcess, holdfast_config_text, installed_prompts_yaml
from test_dialler_kill9 import prepare_campaign_store
from test_fault_injection import killed_as_planned, restarted_after_fatal_stop, wait_all_ready

from app.sandbox import free_tcp_port

pytestmark = pytest.mark.e2e

AGENTS = ("1001", "1002", "1003", "1004", "1005")
TALK = 3.0  # seconds a contact stays on the line once answered
SLOW_PICKUP = 1.5  # seconds a seeded third of the contacts let the phone ring
PROGRESS = ("attempt_started", "contact_answered", "connected", "dial_attempt", "ended")
CAMPAIGN = """
campaigns:
  powf:
    mode: power
    queue: sales
    caller_id: "+4570000019"
    lines_per_agent: 1
    ring_time: 20s
    max_attempts: 3
"""


def _numbers(seed: int, n: int) -> list[str]:
    return [f"+4527{seed % 100:02d}{i:04d}" for i in range(n)]  # Danish mobiles 27 xx xx xx


def _at(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["timestamp"].replace("+0000", "+00:00")).timestamp()


def _spans(calls: list[Any]) -> list[tuple[float, float]]:
    out = []
    for call in calls:
        ended = [_at(e) for e in call.events if e.get("type") in ("ChannelDestroyed", "StasisEnd")]
        out.append((_at(call.events[0]), min(ended) if ended else float("inf")))
    return sorted(out)


async def _left(service: ServiceProcess) -> int | None:
    status, body = await service.api("GET", "/api/campaigns/powf/figures")
    return int(body["left"]) if status == 200 else None


def _customer_calls(phonesim: Any) -> list[Any]:
    return [c for c in phonesim.calls.values() if c.direction == "incoming" and c.kind == "customer"]


async def _run_with_kills(
    service: ServiceProcess, phonesim: Any, numbers: list[str], rng: random.Random, kills: int
) -> list[int]:
    plan = sorted(rng.sample(range(3 * len(numbers)), kills))
    delays = [rng.uniform(0.0, 2.0) for _ in plan]
    fatal_stops: list[int] = []
    deadline = time.monotonic() + 120 + 4.0 * len(numbers)
    while True:
        events = await service.store_events.refresh()
        if await _left(service) == 0 and all(c.hung_up for c in _customer_calls(phonesim)):
            return fatal_stops  # every contact dialled to the end, and no call still up
        if await killed_as_planned(service, sum(1 for e in events if e.kind in PROGRESS), plan, delays):
            continue  # the agents' states are the restart's to keep: nobody is made ready again here
        if await restarted_after_fatal_stop(service, fatal_stops, "power campaign"):
            continue
        assert time.monotonic() < deadline, f"contacts left: {await _left(service)}\n{service.diagnose_sync()}"
        await asyncio.sleep(0.2)


@pytest.mark.parametrize(
    ("seed", "contacts", "kills"),
    [(21, 30, 4), *(pytest.param(seed, 60, 8, marks=pytest.mark.slow) for seed in (22, 23, 24))],
)
async def test_kill9_at_random_moments_in_a_power_campaign(
    sut_asterisk, phonesim_asterisk, test_agents, phonesim, tmp_path: Path, seed: int, contacts: int, kills: int
) -> None:
    rng = random.Random(seed)
    numbers = _numbers(seed, contacts)
    await prepare_campaign_store(tmp_path, "powf", numbers)
    port = free_tcp_port()
    path = tmp_path / "holdfast.yaml"
    extra = installed_prompts_yaml(sut_asterisk) + CAMPAIGN
    path.write_text(holdfast_config_text(sut_asterisk, list(test_agents), port, extra=extra, data_dir=tmp_path))
    service = ServiceProcess(path, port, tmp_path)
    phonesim.set_behaviour("agent:*", "answer")
    for number in numbers:
        phonesim.set_behaviour(
            f"customer:{number}", ("talk", TALK, SLOW_PICKUP) if rng.random() < 1 / 3 else ("talk", TALK)
        )
    await service.start()
    try:
        for agent_id in AGENTS:
            status, body = await service.api("POST", f"/api/agents/{agent_id}/ready")
            assert status == 200, body
        fatal_stops = await _run_with_kills(service, phonesim, numbers, rng, kills)
        events = await service.store_events.refresh()
        diag = f"seed {seed}\n{service.diagnose_sync(events)}"

        status, listing = await service.api("GET", "/api/campaigns/powf/contacts", params={"limit": "100"})
        assert status == 200, listing
        states = {c["number"]: (c["state"], c["last_outcome"]) for c in listing["contacts"]}
        assert {s for s, _ in states.values()} == {"done"}, f"{states}\n{diag}"

        calls = _customer_calls(phonesim)
        attempts = Counter(e.data.get("number") for e in events if e.kind == "attempt_started")
        for number in numbers:
            mine = [c for c in calls if c.dest[-8:] == number[-8:]]
            assert 1 <= len(mine) <= attempts[number], (
                f"{number} rang {len(mine)} times, {attempts[number]} attempts\n{diag}"
            )
            spans = _spans(mine)
            assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans)), (
                f"{number} rung twice at once: {spans}\n{diag}"
            )

        by_request = {e.request_id: e.data.get("number") for e in events if e.kind == "attempt_started"}
        connected = Counter(by_request.get(e.request_id) for e in events if e.kind == "connected")
        assert not [n for n, k in connected.items() if k > 1], f"connected twice: {connected.most_common(3)}\n{diag}"

        await wait_all_ready(service, AGENTS, diag)
        assert 0 not in service.unexpected_exits, diag
        print(
            f"\n[dialler-fault-injection] seed {seed}: {len(numbers)} contacts, {service.kills} kill -9,"
            f" fatal stops {fatal_stops}, connected {sum(connected.values())},"
            f" outcomes {Counter(o for _, o in states.values())}"
        )
    finally:
        service.stop()
