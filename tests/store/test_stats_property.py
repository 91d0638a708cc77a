"""Property: for any event sequence the engine produces (tests/core/test_properties.py's random
drivers), the statistics counted in the database agree with the log counted in Python, and every
offered request is accounted for: offered == served + abandoned + closed + dropped + callbacks
missed / expired / removed + tickets + requests still open."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core import commands as c
from app.core.settings import CoreSettings
from app.store.sqlite import SQLiteStore
from app.store.stats import StatsQuery, statistics
from tests.core.test_properties import START, configs, run

ENDINGS = {
    "served": "served",
    "abandoned": "abandoned",
    "closed": "closed",
    "dropped": "dropped",
    "missed": "callbacks_missed",
    "expired": "callbacks_expired",
    "removed": "callbacks_removed",
    "ticket": "tickets",
}


async def _counted(activities: list[c.Activity]) -> list[dict[str, object]]:
    store = SQLiteStore(":memory:")
    await store.open()
    try:
        await store.append_events(activities)
        end = max(a.at for a in activities) + 1.0
        # one bucket over everything, and hourly buckets that must add up to it
        whole = await statistics(store, StatsQuery(start=START - 1.0, end=end, width=end - START + 1.0))
        hourly = await statistics(store, StatsQuery(start=START - 1.0, end=end, width=3600.0))
    finally:
        await store.close()
    summed: dict[str, Counter[str]] = {}
    for r in hourly:
        summed.setdefault(str(r["key"]), Counter()).update(
            {k: v for k, v in r.items() if isinstance(v, int) and k != "bucket"}
        )
    for r in whole:
        assert all(summed[str(r["key"])][k] == v for k, v in r.items() if isinstance(v, int)), r["key"]
    return whole


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=configs(), data=st.data(), journeys=st.booleans())
def test_every_offered_request_is_counted_once(
    config: tuple[CoreSettings, bool], data: st.DataObject, journeys: bool
) -> None:
    core, fifo = config
    if journeys:
        core = replace(core, queues=tuple(replace(q, callback=replace(q.callback, enabled=True)) for q in core.queues))
    m = run(core, fifo, data, journeys)
    activities = [a for _, a in m.activities]
    arrived = [a for a in activities if a.kind == "arrived"]
    if not arrived:
        return
    rows = asyncio.run(_counted(activities))
    # the oracle: the same log counted in Python
    offered = Counter(a.queue for a in arrived)
    ended = Counter((a.queue, a.data["outcome"]) for a in activities if a.kind == "ended")
    answered = Counter(a.queue for a in activities if a.kind == "connected")
    requested = Counter(a.queue for a in activities if a.kind == "callback_accepted")
    by_queue = {r["key"]: r for r in rows}
    for queue in set(offered) | {q for q, _ in ended} | set(answered):
        r = by_queue[queue]
        assert r["offered"] == offered[queue]
        assert r["answered"] == answered[queue]
        assert r["callbacks_requested"] == requested[queue]
        for outcome, column in ENDINGS.items():
            assert r[column] == ended[(queue, outcome)], (queue, outcome)
    # every request offered is served, abandoned, otherwise ended, or still open (over all queues:
    # a request moved between queues arrives in one and ends in another)
    # A caller turned away by a closed queue ends "closed" without having arrived: not offered.
    arrived_ids = {a.request_id for a in arrived}
    turned_away = [a for a in activities if a.kind == "ended" and a.request_id not in arrived_ids]
    assert all(a.data["outcome"] == "closed" for a in turned_away)
    # and per queue, once moves are counted: offered + moved in = endings + moved out + still open
    open_in = Counter(r.queue for r in m.engine.requests.values())
    away_in = Counter(a.queue for a in turned_away)
    for queue, r in by_queue.items():
        ends = sum(int(r[col]) for col in ENDINGS.values()) - away_in[queue] + open_in[queue]
        assert r["offered"] + r["moved_in"] == ends + r["moved_out"], (queue, r)
    accounted = sum(int(r[col]) for r in rows for col in ENDINGS.values()) - len(turned_away) + len(m.engine.requests)
    assert sum(int(r["offered"]) for r in rows) == accounted, (
        [(r.id, r.state, r.kind) for r in m.engine.requests.values()],
        " ".join(f"{a.kind}:{a.request_id}:{a.data.get('outcome', '')}" for a in activities if a.request_id)[-800:],
    )
