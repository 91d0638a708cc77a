"""The history keeper in the running service (app/telephony/history.py), with a real SQLite store:
what is older than service.keep_history and over goes, what is promised stays, a reload changes the
cut, and the sweep is written in the event log."""

from __future__ import annotations

from pathlib import Path

from app.config import parse_config
from app.core.commands import Activity
from app.core.request import Request
from app.core.states import Outcome, RequestKind, RequestState
from app.store.sqlite import SQLiteStore
from app.telephony.history import HISTORY_PRUNED
from tests.ari.fake_ari import FakeAri
from tests.store.test_contract import make_request
from tests.telephony.conftest import START, FakeClock, config_text, make_shell

DAY = 86400.0


def callback(rid: str, *, ended_at: float | None) -> Request:
    done = {"state": RequestState.ENDED, "outcome": Outcome.SERVED, "ended_at": ended_at} if ended_at else {}
    return make_request(
        rid, queue="support", kind=RequestKind.CALLBACK, callback_number="+4520123456", arrived_at=START - 60 * DAY,
        queued_since=START - 60 * DAY, **done,
    )  # fmt: skip


async def test_the_service_forgets_what_is_past_the_history_kept_and_keeps_every_promise(
    fake_ari: FakeAri, tmp_path: Path
) -> None:
    store = SQLiteStore(str(tmp_path / "holdfast.db"))
    await store.open()
    text = config_text(fake_ari, extra="service:\n  keep_history: 40d\n")
    requests = [
        callback("served-50-days-ago", ended_at=START - 50 * DAY),
        callback("served-10-days-ago", ended_at=START - 10 * DAY),
        callback("promised-60-days-ago", ended_at=None),  # still waiting: kept whatever its age
    ]
    lines = [Activity("arrived", r.id, None, "support", START - 60 * DAY) for r in requests]
    lines.append(Activity("ended", "served-10-days-ago", None, "support", START - 10 * DAY))
    await store.commit(requests, lines, [])
    shell = await make_shell(fake_ari, text, clock=FakeClock(START), store=store)
    keeper = shell.service.history_keeper
    assert keeper is not None
    try:
        await shell.start()
        assert "promised-60-days-ago" in shell.service.engine.requests
        pruned = await keeper.sweep()
        # the waiting one's line stays, and so does the arrival of the one that ended after the cut
        # (a request's lines go together: app/store/history.py)
        assert (pruned.requests, pruned.events, pruned.notifications) == (1, 1, 0)
        assert await store.load_request("served-50-days-ago") is None
        assert await store.load_request("served-10-days-ago") is not None
        assert "promised-60-days-ago" in {r.id for r in await store.load_active_requests()}
        assert "promised-60-days-ago" in shell.service.engine.requests

        committer = shell.service.committer
        assert committer is not None
        await committer.wait_committed(committer.put_seq)  # the sweep's line, put as it ended
        (line,) = [e for e in await store.events() if e.kind == HISTORY_PRUNED]
        assert line.data == {"before": START - 40 * DAY, "requests": 1, "events": 1, "notifications": 0}

        # Reloaded with the history kept for ever: nothing goes, whatever its age.
        shell.service.config = parse_config(config_text(fake_ari, extra="service:\n  keep_history: off\n"), env={})
        shell.clock.advance(100 * DAY)
        assert (await keeper.sweep()).most() == 0
        assert await store.load_request("served-10-days-ago") is not None
    finally:
        await shell.stop()
        await store.close()
