"""Commit before act, checked against the fake ARI with a real SQLite store."""

from __future__ import annotations

from pathlib import Path

from app.store import StoreFull
from app.store.sqlite import SQLiteStore
from tests.ari.fake_ari import FakeAri, RecordedCall
from tests.telephony.conftest import CALLER, make_shell


async def test_a_step_is_stored_before_asterisk_is_told_anything(fake_ari: FakeAri, tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "holdfast.db"))
    await store.open()
    seen_at_answer: list[list[str]] = []

    async def look_at_store(call: RecordedCall) -> None:
        if call.method == "POST" and call.path.endswith("/answer"):
            seen_at_answer.append([e.kind for e in await store.events()])

    fake_ari.on_request.append(look_at_store)
    shell = await make_shell(fake_ari, store=store)
    try:
        await shell.start()
        caller = await shell.caller(CALLER)
        await shell.fake.wait_for_call("POST", f"/channels/{caller.channel_id}/answer")
        assert seen_at_answer and "arrived" in seen_at_answer[0]
        stored = await store.load_request(caller.request_id)
        assert stored is not None and stored.state == "waiting"
    finally:
        await shell.stop()
        await store.close()


class FullDisk(SQLiteStore):
    async def commit(self, requests, activities, agents=()):  # type: ignore[no-untyped-def]
        raise StoreFull("database or disk is full (test)")


async def test_a_store_that_cannot_commit_stops_the_service_before_acting(fake_ari: FakeAri, tmp_path: Path) -> None:
    store = FullDisk(str(tmp_path / "holdfast.db"))
    await store.open()
    shell = await make_shell(fake_ari, store=store)
    assert shell.service.committer is not None
    shell.service.committer.retries = (0.0, None)
    try:
        await shell.start()
        chan = await shell.arrive(CALLER, ("inbound", "4000"))
        await shell.eventually(shell.service.fatal.is_set, "the service giving up")
        assert not shell.fake.calls_to("POST", rf"/channels/{chan['id']}/answer")  # nothing acted on
        assert shell.service.metrics.store_failures._value.get() >= 1
    finally:
        await shell.stop()
        await store.close()
