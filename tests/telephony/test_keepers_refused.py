"""The recording retention keeper and the history keeper against a store that refuses them: a busy
store is waited out, one that keeps refusing stops the service loudly (app/telephony/refusals.py)
instead of leaving recordings past their retention while /healthz says all is well."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.store import store_from_dsn
from app.store.errors import StoreBusy, StoreCorrupt, StoreError
from app.telephony.refusals import MAX_REFUSALS
from app.web.status import health_problems
from tests.ari.fake_ari import FakeAri
from tests.telephony.conftest import Shell, config_text, make_shell
from tests.telephony.test_recording_retention import HOUR, RECORDED_QUEUES, recorded_call


@pytest.fixture
async def shell(fake_ari: FakeAri, tmp_path: Path) -> AsyncIterator[Shell]:
    store = store_from_dsn(str(tmp_path / "events.db"))
    await store.open()
    text = config_text(fake_ari, queues=RECORDED_QUEUES, extra="service:\n  keep_history: 40d\n")
    s = await make_shell(fake_ari, text, store=store)
    assert s.service.recording_keeper is not None and s.service.history_keeper is not None
    s.service.recording_keeper.interval = 0.01  # a sweep every 10 ms instead of 10 minutes
    s.service.history_keeper.first = 0.0
    s.service.history_keeper.interval = 0.01  # instead of an hour
    await s.start()
    try:
        yield s
    finally:
        await s.stop()
        await store.close()


def refuse(store: object, method: str, error: StoreError, times: int | None = None) -> list[int]:
    """Make `store.<method>` raise `error` (for good, or its first `times` calls); returns the count of calls."""
    calls = [0]
    real = getattr(store, method)

    async def refusing(*args: object, **kwargs: object) -> object:
        calls[0] += 1
        if times is None or calls[0] <= times:
            raise error
        return await real(*args, **kwargs)

    setattr(store, method, refusing)
    return calls


DAMAGED = StoreCorrupt("database events.db is damaged (database disk image is malformed)")


async def test_a_retention_keeper_the_store_keeps_refusing_stops_the_service(shell: Shell) -> None:
    rid = await recorded_call(shell, "+4520123456", "4000")
    shell.clock.advance(3 * HOUR)  # past the support queue's 2 h retention
    calls = refuse(shell.service.store, "events_of_kinds", DAMAGED)
    await shell.eventually(lambda: shell.service.fatal.is_set(), "the service stops", timeout=5)
    assert calls[0] == MAX_REFUSALS
    assert f"holdfast-{rid}" in shell.fake.state.recordings  # not deleted: the restart's sweep will
    assert health_problems(shell.service)


async def test_a_history_keeper_the_store_keeps_refusing_stops_the_service(shell: Shell) -> None:
    calls = refuse(shell.service.store, "prune_history", DAMAGED)
    await shell.eventually(lambda: shell.service.fatal.is_set(), "the service stops", timeout=5)
    assert calls[0] == MAX_REFUSALS
    assert health_problems(shell.service)


async def test_a_busy_store_is_waited_out_and_the_recording_goes_at_a_later_sweep(shell: Shell) -> None:
    rid = await recorded_call(shell, "+4520123456", "4000")
    shell.clock.advance(3 * HOUR)
    calls = refuse(shell.service.store, "events_of_kinds", StoreBusy("database is locked"), times=MAX_REFUSALS - 1)
    await shell.eventually(lambda: f"holdfast-{rid}" not in shell.fake.state.recordings, "the recording deleted")
    assert calls[0] >= MAX_REFUSALS
    assert not shell.service.fatal.is_set() and not health_problems(shell.service)
