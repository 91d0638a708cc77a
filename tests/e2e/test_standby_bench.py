"""The failover benchmark (bench/failover.py) on real Asterisk: run by `make bench-failover`
(HOLDFAST_BENCH_FAILOVER=1; skipped otherwise, as it takes several minutes)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest
from phonesim import PhoneSim
from standby_nodes import Node, make_nodes
from test_kill9_journeys import of, ready

from bench.failover import Trial, report

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.environ.get("HOLDFAST_BENCH_FAILOVER") != "1", reason="a benchmark: make bench-failover"),
]

TRIALS = int(os.environ.get("HOLDFAST_BENCH_FAILOVER_TRIALS", "20"))


@pytest.fixture
async def nodes(sut_asterisk, test_agents, tmp_path: Path) -> AsyncIterator[tuple[Node, Node, str]]:
    async for pair in make_nodes(sut_asterisk, test_agents, tmp_path):
        yield pair


def leader_line_at(node: Node, epoch: int) -> float:
    """When `node` logged taking the lease at `epoch` (its structlog "leader" line)."""
    for line in reversed(node.log.read_text(errors="replace").splitlines()):
        if '"event": "leader"' in line:
            entry = json.loads(line)
            if entry["epoch"] == epoch:
                return datetime.fromisoformat(entry["timestamp"]).timestamp()
    raise AssertionError(f"no 'leader' line for epoch {epoch} in {node.log}")


async def test_failover_benchmark(nodes: tuple[Node, Node, str], phonesim: PhoneSim) -> None:
    leader, standby, _ = nodes
    await leader.start()
    await standby.start(standby=True)
    await ready(leader, "1001")
    trials: list[Trial] = []
    for i in range(TRIALS):
        number = f"+45205560{i:02d}"
        phonesim.set_behaviour(f"customer:{number}", "busy")  # the attempt ends at once; the agent is free
        status, body = await leader.api("POST", "/api/callbacks", json={"queue": "cbd", "number": number})
        assert status == 201, body
        request_id = body["request_id"]
        killed_at = time.time()
        leader.kill9()
        events = await standby.wait_events(
            lambda ev, r=request_id: of(ev, "agent_ringing", r), f"trial {i + 1}: dispatched", 30
        )
        rung = of(events, "agent_ringing", request_id)[0]
        lease = await standby.store_events.lease()
        assert lease is not None
        trial = Trial(leader_line_at(standby, lease.epoch) - killed_at, rung.at - killed_at, lease.epoch)
        trials.append(trial)
        print(f"trial {i + 1}: lease {trial.lease_taken:.2f} s, first dispatch {trial.dispatched:.2f} s")
        await standby.wait_events(lambda ev, r=request_id: of(ev, "ended", r), f"trial {i + 1}: ended", 60)
        await leader.start(standby=True)
        leader, standby = standby, leader
    print(report(trials))
