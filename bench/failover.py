"""Failover benchmark: time from the leader's death (kill -9) to the first dispatch by the new leader.

Run by `make bench-failover` (tests/e2e/test_standby_bench.py drives real Asterisk, the phone
simulator and two `holdfast run` nodes on PostgreSQL, and calls `report` with the trials).

One trial: the leader books a callback due 1 s later (queue cbd, callback_delay 1s) with an agent
ready, and is killed with SIGKILL at once, before it is due. The standby takes the lease once the
leader's expires, starts (loads the state, connects to Asterisk, reconciles) and offers the
callback to the agent: that `agent_ringing` line's time minus the kill's is the failover time.
The killed node is restarted as the standby and the roles swap for the next trial.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path

from app.telephony.leadership import LEASE_TTL, POLL_EVERY, REFRESH_EVERY
from bench.machine import machine

DOC = Path(__file__).resolve().parent.parent / "docs" / "failover.md"
GOAL = 5.0


@dataclass(frozen=True)
class Trial:
    lease_taken: float  # seconds from the kill to the standby's "leader" log line
    dispatched: float  # seconds from the kill to the first dispatch (agent rung) by the new leader
    epoch: int


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), -(-len(ordered) * p // 100)))
    return ordered[int(rank) - 1]


def report(trials: list[Trial], doc: Path = DOC) -> str:
    dispatched = [t.dispatched for t in trials]
    lease = [t.lease_taken for t in trials]
    p50, p95 = percentile(dispatched, 50), percentile(dispatched, 95)
    lease_row = f"{percentile(lease, 50):.2f} | {percentile(lease, 95):.2f} | {min(lease):.2f} | {max(lease):.2f}"
    verdict = "met" if p95 <= GOAL else "NOT met"
    rows = "\n".join(f"| {i} | {t.epoch} | {t.lease_taken:.2f} | {t.dispatched:.2f} |" for i, t in enumerate(trials, 1))
    text = f"""# Failover: leader killed → first dispatch by the standby

`make bench-failover` ({len(trials)} trials). Machine: {machine()}. The machine is shared with
other work (two cores, other helpers' tests running), so the figures include that noise.

Set-up: two `holdfast run` nodes (one with `--standby`) on one PostgreSQL (local, the test server
of scripts/postgres-for-tests.sh), the sandbox Asterisk and the phone simulator. Each trial books
a callback due 1 s later on the leader, kills the leader with SIGKILL at once, and measures until
the new leader offers that callback to the ready agent (its `agent_ringing` line). Lease settings
(app/telephony/leadership.py): ttl {LEASE_TTL:g} s, refreshed every {REFRESH_EVERY:g} s, a standby
polls every {POLL_EVERY:g} s.

| | p50 | p95 | min | max |
|---|---|---|---|---|
| kill → lease taken by the standby (s) | {lease_row} |
| kill → first dispatch by the new leader (s) | {p50:.2f} | {p95:.2f} | {min(dispatched):.2f} | {max(dispatched):.2f} |

Goal: p95 ≤ {GOAL:g} s — **{verdict}**.

Where the time goes: the lease must expire first (the kill lands anywhere in a refresh period, so
{LEASE_TTL - REFRESH_EVERY:g} to {LEASE_TTL:g} s after the kill, plus up to one poll); then the new
leader's start-up (load the state from PostgreSQL, connect ARI, read Asterisk's channels and
reconcile them) and the first engine step. A shorter ttl fails over faster but makes a leader that
stalls (GC pause, slow database) for longer than the ttl lose its leadership: it then stops, and
its standby takes over.

| trial | epoch | lease taken (s) | first dispatch (s) |
|---|---|---|---|
{rows}

Raw figures: docs/failover.json.
"""
    doc.write_text(text)
    doc.with_suffix(".json").write_text(
        json.dumps(
            {
                "machine": machine(),
                "lease_ttl": LEASE_TTL,
                "refresh_every": REFRESH_EVERY,
                "poll_every": POLL_EVERY,
                "p50": p50,
                "p95": p95,
                "mean": statistics.fmean(dispatched),
                "trials": [asdict(t) for t in trials],
            },
            indent=2,
        )
        + "\n"
    )
    return text
