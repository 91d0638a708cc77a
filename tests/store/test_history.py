"""Pruning the history (app/store/history.py), on SQLite and PostgreSQL: only what is over and older
than the cut goes, in batches of at most `limit`, and what is still promised stays whatever its age."""

from __future__ import annotations

from app.core.commands import Activity
from app.core.request import Attempt, Request
from app.core.states import AttemptOutcome, Outcome, RequestKind, RequestState
from app.store import Change, Store
from app.store.history import HistoryStore, Pruned
from app.store.outbox_records import Notification
from tests.store.test_contract import make_request

CUT = 10_000.0


def ended(rid: str, at: float) -> Request:
    return make_request(
        rid,
        kind=RequestKind.CALLBACK,
        callback_number="+4520123456",
        state=RequestState.ENDED,
        outcome=Outcome.SERVED,
        ended_at=at,
        attempts=[Attempt(1, at - 60, "a1", AttemptOutcome.ANSWERED, at)],
    )


def note(nid: str, at: float) -> Notification:
    return Notification(nid, at, "missed_callback", "sms", None, "support", at + 3600, {"to": "+4520123456"})


async def test_only_what_is_over_and_older_than_the_cut_is_pruned_in_batches(store: Store) -> None:
    assert isinstance(store, HistoryStore)
    old_active = make_request(
        "still-waiting", kind=RequestKind.CALLBACK, callback_number="+4520123457", arrived_at=1000.0
    )  # a callback promised long ago, still waiting: kept whatever its age
    requests = [ended(f"old{i}", 5000.0 + i) for i in range(5)] + [ended("recent", CUT + 1), old_active]
    activities = [Activity("arrived", f"old{i}", None, "support", 4000.0 + i) for i in range(5)]
    activities += [Activity("agent_ready", None, "a1", None, 4000.0 + i) for i in (5, 6)]
    activities += [Activity("arrived", "still-waiting", None, "support", 1000.0)]  # kept with its request
    activities += [Activity("arrived", "recent", None, "support", CUT + 0.5)]
    notes = [note(f"n{i}", 6000.0 + i) for i in range(4)] + [note("n-recent", CUT + 2)]
    await store.commit_many([Change(requests=requests, activities=activities, notifications=notes)])
    for nid in ("n0", "n1", "n2"):
        await store.notification_delivered(nid, 6100.0)  # n3 still pending: never pruned

    batches = []
    while True:
        pruned = await store.prune_history(CUT, limit=2)
        batches.append(pruned)
        if pruned.most() < 2:
            break
    total = sum(batches, Pruned())
    assert total == Pruned(requests=5, events=7, notifications=3)
    assert all(b.most() <= 2 for b in batches) and len(batches) == 4  # 2 + 2 + 2 + 1 events

    assert {r.id for r in await store.load_active_requests()} == {"still-waiting"}
    assert await store.load_request("old0") is None  # its attempts went with it (foreign key)
    kept = await store.load_request("recent")
    assert kept is not None and [a.number for a in kept.attempts] == [1]
    assert [(e.kind, e.request_id) for e in await store.events()] == [
        ("arrived", "still-waiting"),
        ("arrived", "recent"),
    ]
    left = {n.id: n.state for n in await store.notifications()}
    assert left == {"n3": "pending", "n-recent": "pending"}
    assert await store.prune_history(CUT, limit=2) == Pruned()  # nothing more: a no-op


async def test_event_ids_are_never_reused_after_pruning(store: Store) -> None:
    await store.commit([], [Activity("arrived", "a", None, "support", 1.0)], [])
    (first,) = await store.events()
    await store.prune_history(CUT, limit=100)
    await store.commit([], [Activity("arrived", "b", None, "support", CUT + 1)], [])
    (second,) = await store.events()
    assert second.id > first.id  # the live page reads on from the last id it saw
    assert second.request_id == "b"


async def test_a_campaigns_finishing_marks_are_kept_however_old(store: Store) -> None:
    """Every start reads the last finishing mark of each campaign: pruned, a campaign finished over
    keep_history ago was announced (and notified) finished again at the next restart."""
    assert isinstance(store, HistoryStore)
    old = 1_000.0
    await store.commit(
        [],
        [
            Activity("campaign_finished", at=old, data={"campaign": "spring"}),
            Activity("campaign_reopened", at=old + 1, data={"campaign": "autumn"}),
            Activity("campaign_finished", at=old + 2, data={"campaign": "autumn"}),
            Activity("agent_state", at=old + 3, agent_id="a1", data={"state": "ready"}),
            Activity("campaign_removed", at=old + 4, data={"campaign": "spring"}),
        ],
    )
    pruned = await store.prune_history(before=old + 10_000.0, limit=100)
    assert pruned.events == 1  # the agent's line only
    kinds = [
        (e.kind, e.data.get("campaign"))
        for e in await store.events_of_kinds(("campaign_finished", "campaign_reopened", "campaign_removed"))
    ]
    assert kinds == [
        ("campaign_finished", "spring"),
        ("campaign_reopened", "autumn"),
        ("campaign_finished", "autumn"),
        ("campaign_removed", "spring"),  # pruned, spring would be restored finished under a new list
    ]
