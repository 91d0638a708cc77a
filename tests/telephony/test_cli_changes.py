"""`holdfast dnc import` / `contacts import` while the service runs: the admin-log line the command
leaves is read by the running service, whose dial-time do-not-call list learns the new entries
(real SQLite store, real engine)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from app.core import events as ev
from app.core.engine import Engine
from app.core.settings import AgentSettings, CampaignSettings, CoreSettings, QueueSettings
from app.store import StoreError
from app.store.sqlite import SQLiteStore
from app.telephony import cli_changes
from app.telephony.cli_changes import CliChanges

NOW = 1_780_000_000.0
SETTINGS = CoreSettings(
    queues=(QueueSettings(name="sales"),),
    agents=(AgentSettings(id="a1", skills=(("sales", 0),)),),
    campaigns=(CampaignSettings(id="c1", queue="sales", window=4),),
)
BARRED = "+4520123402"


@pytest.fixture
async def store(tmp_path: Path):
    store = SQLiteStore(str(tmp_path / "holdfast.db"))
    await store.open()
    rows = [(f"+45201234{i:02d}", f"Contact {i}", json.dumps({}), None, None) for i in range(1, 7)]
    await store.import_contacts("c1", rows, NOW)
    yield store
    await store.close()


class Fed:
    def __init__(self, engine: Engine) -> None:
        self.engine, self.events = engine, list[ev.Event]()

    def __call__(self, event: ev.Event) -> None:
        self.events.append(event)
        self.engine.handle(event)


async def _cli_import(store: SQLiteStore, campaign: str | None, entries: list[tuple[str, bool]], via: str) -> None:
    """What `holdfast dnc import` leaves in the store (contacts_cli._tell_running_service)."""
    await store.dnc_add(campaign, entries, NOW, "ops")
    await store.append_admin(NOW, "ops", cli_changes.DNC_IMPORT, None, {"via": via, "campaign": campaign})


async def test_an_entry_imported_by_the_cli_is_in_the_running_engines_dial_time_check(store: SQLiteStore) -> None:
    engine = Engine(SETTINGS)
    fed = Fed(engine)
    watcher = CliChanges(store, lambda: engine, fed, lambda: NOW)
    await store.append_admin(NOW, "ops", cli_changes.DNC_IMPORT, None, {"via": "cli", "campaign": "c1"})
    await watcher.mark()  # lines before start-up are in what the engine loaded
    await watcher.poll()
    assert fed.events == []

    await _cli_import(store, "c1", [(BARRED, False)], via="cli")
    await _cli_import(store, None, [("+4590", True)], via="cli")
    assert not engine.dnc.blocked(BARRED, "c1")
    await watcher.poll()
    assert engine.dnc.blocked(BARRED, "c1")  # was: dialled until the service's next start
    assert engine.dnc.blocked("+4590123456", "c1")  # the global list, a prefix
    assert watcher.applied == 2
    await watcher.poll()  # lines are read once
    assert len(fed.events) == 2


async def test_only_entries_the_engine_lacks_are_fed_and_api_lines_are_left_alone(store: SQLiteStore) -> None:
    engine = Engine(SETTINGS)
    fed = Fed(engine)
    watcher = CliChanges(store, lambda: engine, fed, lambda: NOW)
    await watcher.mark()
    await store.dnc_add("c1", [("+4520123401", False)], NOW, "api")
    engine.handle(ev.DncUpdated(NOW, "c1", added=(("+4520123401", False),)))  # as the API does
    await store.append_admin(NOW, "ana", cli_changes.DNC_IMPORT, None, {"via": "api", "campaign": "c1"})
    await _cli_import(store, "c1", [(BARRED, False)], via="cli")
    await watcher.poll()
    assert len(fed.events) == 1
    update = fed.events[0]
    assert isinstance(update, ev.DncUpdated) and update.added == ((BARRED, False),)


async def test_a_contacts_import_makes_the_engine_look_at_the_list_again(store: SQLiteStore) -> None:
    engine = Engine(SETTINGS)
    fed = Fed(engine)
    watcher = CliChanges(store, lambda: engine, fed, lambda: NOW)
    await watcher.mark()
    await store.append_admin(NOW, "cli", cli_changes.CONTACTS_IMPORT, None, {"via": "cli", "campaign": "c1"})
    await store.append_admin(NOW, "cli", cli_changes.CONTACTS_IMPORT, None, {"via": "cli", "campaign": "gone"})
    await watcher.poll()
    assert [type(e) for e in fed.events] == [ev.ContactsChanged]  # an unknown campaign is skipped


class FailingReads(SQLiteStore):
    async def admin_log(self, since_id: int = 0, request_id: str | None = None, limit: int = 100):  # type: ignore[no-untyped-def]
        raise StoreError("database is locked")


async def test_a_store_that_keeps_refusing_the_read_ends_the_task_with_the_error(tmp_path: Path) -> None:
    store = FailingReads(str(tmp_path / "holdfast.db"))
    await store.open()
    try:
        engine = Engine(SETTINGS)
        watcher = CliChanges(store, lambda: engine, Fed(engine), lambda: NOW, every=0.001)
        watcher.start()
        assert watcher.task is not None
        with pytest.raises(StoreError):  # the service's watcher turns this into a loud stop
            await asyncio.wait_for(watcher.task, 5.0)
    finally:
        await store.close()
