"""The daily cap (callback.max_per_number_per_day) through a restart, on every backend: the engine's
count after it is rebuilt from `recent_promises` equals its count before, merged callbacks included
(a callback asked for again while it waits is one callback: app/core/promise_log.py)."""

from __future__ import annotations

import pytest

from app.core import events as ev
from app.core.commands import Activity, PlayPrompt
from app.core.errors import DailyLimitReached
from app.core.promise_log import DAY
from app.core.settings import CoreSettings
from app.core.states import Outcome, RequestKind, RequestState
from app.store import Store
from tests.core.harness import DK_MOBILE, Harness, callback_settings, settings
from tests.store.test_contract import make_request

CORE: CoreSettings = settings(
    agents=1,
    callback=callback_settings(
        max_per_number_per_day=2,
        allow_duplicate_numbers=False,
        allow_other_number=False,
        min_wait_before_offer=0.0,
        offer_threshold=0.0,
    ),
)


class Stored:
    """A Harness whose every step is committed to `store` as the service's committer would."""

    def __init__(self, store: Store, start: float = 1_000_000.0) -> None:
        self.store = store
        self.h = Harness(CORE, start=start)

    async def send(self, event: ev.Event) -> None:
        engine = self.h.engine
        out = engine.handle(event)
        await self.store.commit(engine.take_touched(), [a for a in out if isinstance(a, Activity)])
        lines = {r.caller_line for r in engine.requests.values() if r.caller_line is not None}
        for p in out:  # the caller's line hangs up after its confirmation, as the shell's would
            if isinstance(p, PlayPrompt) and p.hangup_after and p.leg_id in lines:
                await self.send(ev.CallerHungUp(self.h.now, p.leg_id))

    async def dtmf(self, rid: str, digits: str) -> None:
        for d in digits:
            await self.send(ev.DtmfReceived(self.h.now, rid, d))

    async def web_callback(self, rid: str) -> None:
        await self.send(ev.CallbackRequested(self.h.now, rid, "support", DK_MOBILE, 0))

    def count(self) -> int:
        return self.h.engine.promises.count(DK_MOBILE, self.h.now)

    async def restart(self, after: float = 5.0) -> Stored:
        """A fresh service `after` seconds later, restored from the store as the service does."""
        fresh = Stored(self.store, start=self.h.now + after)
        now = fresh.h.now
        fresh.h.engine.restore(await self.store.load_active_requests(), [], now)
        fresh.h.engine.restore_promises(await self.store.recent_promises(now - DAY), now)
        return fresh


async def test_a_merged_callback_counts_once_before_and_after_a_restart(store: Store) -> None:
    s = Stored(store)
    await s.web_callback("w1")
    await s.send(ev.CallerArrived(s.h.at(60).now, "r1", "support", DK_MOBILE, 0))
    await s.dtmf("r1", "1")  # the same customer asks again on the phone: merged into one callback
    asked_again = s.h.now
    assert s.h.engine.callbacks_to("support", DK_MOBILE) == {"r1"}
    before = s.count()
    r = await s.restart()
    assert r.count() == before == 1
    # and the cap goes on as it would have without the restart
    await r.send(ev.CallbackRemoved(r.h.now, "r1", by="alice"))
    await r.web_callback("w2")
    assert r.h.engine.requests["w2"].kind is RequestKind.CALLBACK
    await r.send(ev.CallbackRemoved(r.h.now, "w2", by="alice"))
    with pytest.raises(DailyLimitReached) as info:
        await r.web_callback("w3")
    assert info.value.free_again_at == asked_again + DAY


async def test_a_merge_into_a_callback_restored_after_a_restart_counts_once_too(store: Store) -> None:
    s = Stored(store)
    await s.web_callback("w1")
    r = await s.restart()  # w1 waits through it, its promise counted from the store
    await r.send(ev.CallerArrived(r.h.at(60).now, "r1", "support", DK_MOBILE, 0))
    await r.dtmf("r1", "1")  # merges the restored w1
    assert r.h.engine.callbacks_to("support", DK_MOBILE) == {"r1"}
    assert r.count() == 1
    again = await r.restart()
    assert again.count() == 1


async def test_recent_promises_leave_out_only_callbacks_ended_merged(store: Store) -> None:
    """Removed by a supervisor, or by Holdfast for another reason, a promise still counts; merged
    into a later callback it does not (the later one counts for it)."""
    cb = {"kind": RequestKind.CALLBACK, "callback_number": DK_MOBILE, "state": RequestState.ENDED}
    rows = [
        make_request("merged", callback_requested_at=1001.0, outcome=Outcome.REMOVED, ended_at=1005.0, **cb),
        make_request("by-alice", callback_requested_at=1002.0, outcome=Outcome.REMOVED, ended_at=1006.0, **cb),
        make_request("reached", callback_requested_at=1003.0, outcome=Outcome.REMOVED, ended_at=1007.0, **cb),
        make_request("served", callback_requested_at=1004.0, outcome=Outcome.SERVED, ended_at=1008.0, **cb),
    ]
    ended = [
        Activity("ended", "merged", at=1005.0, data={"outcome": "removed", "by": "holdfast", "reason": "merged"}),
        Activity("ended", "by-alice", at=1006.0, data={"outcome": "removed", "by": "alice"}),
        Activity("ended", "reached", at=1007.0, data={"outcome": "removed", "reason": "reached_by_phone"}),
        Activity("ended", "served", at=1008.0, data={"outcome": "served"}),
    ]
    await store.commit(rows, ended)
    assert sorted(await store.recent_promises(since=1000.0)) == [
        (DK_MOBILE, 1002.0),
        (DK_MOBILE, 1003.0),
        (DK_MOBILE, 1004.0),
    ]
