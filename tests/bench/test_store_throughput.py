"""`make bench-store` on a tiny day: both stores replay the same recorded events, every step is
stored (the committer's count), and the report names both and their ratio."""

from __future__ import annotations

import argparse
import os

import pytest

from bench import store_throughput
from bench.store_throughput import Recorder, replay, report, run, scenario

DSN = os.environ.get("HOLDFAST_TEST_POSTGRES_DSN", "")


async def test_sqlite_replay_stores_every_recorded_event_in_group_commits() -> None:
    sc = scenario(0.05)
    recorder = Recorder(sc)
    recorder.run()
    assert len(recorder.fed) > 100 and recorder.callers
    result = await replay("sqlite", "", sc, recorder.fed)
    assert result.events == len(recorder.fed)
    assert 0 < result.transactions < result.events  # group commit: fewer transactions than steps
    assert result.service_cpu > 0 and result.server_cpu == 0.0
    text = report([result], sc, len(recorder.fed), len(recorder.callers))
    assert "| sqlite |" in text and "engine events each" in text and "ms per call" in text


async def test_both_stores_in_one_run(monkeypatch: pytest.MonkeyPatch) -> None:
    if not DSN:
        if os.environ.get("CI") == "true":
            pytest.fail("HOLDFAST_TEST_POSTGRES_DSN is not set: the PostgreSQL side of bench-store is untested")
        pytest.skip("set HOLDFAST_TEST_POSTGRES_DSN to run the PostgreSQL side")
    # The server's processes are found and their CPU read: cumulative since they started, so above 0.
    assert store_throughput.postgres_cpu() > 0
    # A tiny day's replay costs the server well under one clock tick (10 ms) at times, so its CPU is
    # counted from a reading that moves by a known step between calls, not from the real one.
    readings = iter(0.25 * i for i in range(1, 100))
    monkeypatch.setattr(store_throughput, "postgres_cpu", lambda: next(readings))
    results = await run(argparse.Namespace(hours=0.05, postgres=DSN, no_write=True))
    assert [r.backend for r in results] == ["sqlite", "postgres"]
    assert results[0].events == results[1].events
    assert results[0].server_cpu == 0.0  # SQLite has no server
    assert results[1].server_cpu == 0.25  # the server's CPU between the PostgreSQL replay's two readings
