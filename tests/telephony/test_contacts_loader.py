"""The contacts loader against a real SQLite store: LoadContacts answered with ContactsLoaded,
claims committed with the step, stale claims released at start-up (not those of restored dials),
each do-not-call list given to the engine on its own, a failing store stops the service."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from app.core import events as ev
from app.core.commands import Activity, Command, LoadContacts, OriginateAgent
from app.core.contacts import CLAIMED, ContactProgress
from app.core.engine import Engine
from app.core.settings import AgentSettings, CampaignSettings, CoreSettings, QueueSettings
from app.core.states import AgentState
from app.store import StoreError
from app.store.records import Change
from app.store.sqlite import SQLiteStore
from app.telephony.contacts_loader import ContactsLoader, agent_key_event

NOW = 1_780_000_000.0
SETTINGS = CoreSettings(
    queues=(QueueSettings(name="sales"),),
    agents=(AgentSettings(id="a1", skills=(("sales", 0),)),),
    campaigns=(CampaignSettings(id="c1", queue="sales", window=4),),
)


@pytest.fixture
async def store(tmp_path: Path):
    store = SQLiteStore(str(tmp_path / "holdfast.db"))
    await store.open()
    rows = [(f"+45201234{i:02d}", f"Contact {i}", json.dumps({"n": str(i)}), None, None) for i in range(1, 7)]
    await store.import_contacts("c1", rows, NOW)
    yield store
    await store.close()


class Driver:
    """Feeds the engine as the service does: each step's contacts committed, then its loads run."""

    def __init__(self, engine: Engine, store: SQLiteStore) -> None:
        self.engine, self.store = engine, store
        self.loader = ContactsLoader(store, self.feed, lambda: NOW, self.fatal)
        self.failures: list[str] = []
        self.commands: list[Command] = []
        self.pending: list[asyncio.Task[None]] = []

    def fatal(self, reason: str, error: BaseException | None) -> None:
        self.failures.append(reason)

    def feed(self, event: ev.Event) -> list[Command]:
        out = self.engine.handle(event)
        self.commands += out
        progress = self.engine.take_contact_progress()
        self.pending.append(asyncio.ensure_future(self._commit_then_act(progress, out)))
        return out

    async def _commit_then_act(self, progress: list[ContactProgress], out: list[Command]) -> None:
        await self.store.commit_many([Change(contacts=progress)])
        for command in out:
            if isinstance(command, LoadContacts):
                self.loader.submit(command)

    async def settle(self) -> None:
        for _ in range(20):
            await asyncio.gather(*self.pending)
            await asyncio.sleep(0.01)


async def test_a_load_claims_the_window_in_the_store(store: SQLiteStore) -> None:
    driver = Driver(Engine(SETTINGS), store)
    driver.feed(ev.Tick(NOW))
    await driver.settle()
    assert driver.engine.window_size("c1") == 4
    claimed = [r.contact_id for r in await store.list_contacts("c1", state=CLAIMED)]
    assert claimed == [1, 2, 3, 4]
    assert [c.contact_id for c in await store.contacts_due("c1", NOW, 10)] == [5, 6]  # never handed out twice


async def test_start_up_releases_stale_claims_but_not_a_restored_dial(store: SQLiteStore) -> None:
    first = Driver(Engine(SETTINGS), store)
    first.feed(ev.Tick(NOW))
    await first.settle()
    first.feed(ev.AgentReady(NOW + 1, "a1"))  # contact 1 is rung for: a request holds it
    await first.settle()
    (ring,) = [c for c in first.commands if isinstance(c, OriginateAgent)]
    held = first.engine.requests[ring.request_id]
    await store.dnc_add(None, [("+4520123402", False)], NOW, "test")
    await store.dnc_add("c1", [("+452012340", True)], NOW, "test")
    # "kill -9": a new engine takes back the active request, then the loader starts up
    engine = Engine(SETTINGS)
    engine.restore([held], [("a1", AgentState.RINGING, None)], NOW + 2)
    loader = ContactsLoader(store, engine.handle, lambda: NOW + 2, lambda *_: None)
    await loader.start_up(engine)
    assert [r.contact_id for r in await store.list_contacts("c1", state=CLAIMED)] == [held.contact_id]
    assert engine.dnc.blocked("+4520123402", "c1") and engine.dnc.blocked("+4520123409", "c1")
    # each list kept on its own, so removing the global entry later does not leave a copy behind
    assert engine.dnc._exact[None] == {"+4520123402"} and engine.dnc._prefixes["c1"] == {"+452012340"}


async def loaded(store: SQLiteStore, campaign: str = "c1") -> ev.ContactsLoaded:
    fed: list[ev.Event] = []
    loader = ContactsLoader(store, fed.append, lambda: NOW, lambda *_: None)
    loader.submit(LoadContacts(campaign, 4))
    for _ in range(200):
        if fed:
            break
        await asyncio.sleep(0.01)
    (event,) = fed
    assert isinstance(event, ev.ContactsLoaded)
    return event


async def test_a_load_with_nothing_due_says_whether_anything_is_left_for_later(store: SQLiteStore) -> None:
    assert (await loaded(store, "empty")).exhausted is False  # nothing uploaded: not finished
    assert (await loaded(store)).exhausted is False  # six new contacts
    done = [ContactProgress("c1", i, "done", 1, None, "answered", None) for i in range(1, 6)]
    later = ContactProgress("c1", 6, "scheduled", 1, NOW + 600, "busy", None)
    await store.commit_many([Change(contacts=[*done, later])])
    first = await loaded(store)
    assert (first.contacts, first.exhausted) == ((), False)  # contact 6 is due in 10 minutes
    await store.commit_many([Change(contacts=[ContactProgress("c1", 6, "done", 2, None, "busy", None)])])
    last = await loaded(store)
    assert (last.contacts, last.exhausted) == ((), True)


async def test_start_up_gives_the_engine_the_campaigns_already_told_finished(store: SQLiteStore) -> None:
    settings = CoreSettings(
        queues=SETTINGS.queues,
        agents=SETTINGS.agents,
        campaigns=(*SETTINGS.campaigns, CampaignSettings(id="c2", queue="sales")),
    )
    marks = [("c1", "campaign_finished"), ("c2", "campaign_finished"), ("c1", "campaign_reopened")]
    marks += [("c1", "campaign_finished"), ("c2", "campaign_reopened")]
    await store.append_events([Activity(kind, at=NOW + i, data={"campaign": c}) for i, (c, kind) in enumerate(marks)])
    engine = Engine(settings)
    await ContactsLoader(store, engine.handle, lambda: NOW, lambda *_: None).start_up(engine)
    assert engine.finished_campaigns() == {"c1"}


async def test_a_campaign_created_again_under_a_finished_ones_id_is_not_restored_finished(
    store: SQLiteStore,
) -> None:
    """c1 finished, was deleted (campaign_removed) and created again with a new list: after a
    restart it is not taken for finished, so its own list's end is still told (campaign_finished,
    notified), as it is without the restart."""
    marks = [("c1", "campaign_finished"), ("c1", "campaign_removed")]
    await store.append_events([Activity(kind, at=NOW + i, data={"campaign": c}) for i, (c, kind) in enumerate(marks)])
    engine = Engine(SETTINGS)
    await ContactsLoader(store, engine.handle, lambda: NOW, lambda *_: None).start_up(engine)
    assert engine.finished_campaigns() == set()


async def test_start_up_gives_back_a_disposition_pending_at_the_restart(store: SQLiteStore) -> None:
    (first, *_) = [r.contact_id for r in await store.list_contacts("c1")]
    pending = ContactProgress("c1", first, "done", 1, None, "answered", "a1")
    await store.commit_many([Change(contacts=[pending])])
    engine = Engine(SETTINGS)
    await ContactsLoader(store, engine.handle, lambda: NOW, lambda *_: None).start_up(engine)
    engine.handle(ev.ContactDisposed(NOW, "a1", "sale"))  # was refused: no call waiting for it
    (disposed,) = [r for r in await store.list_contacts("c1") if r.contact_id == first]
    progress = engine.take_contact_progress()
    assert [(p.contact_id, p.last_outcome, p.reserved_agent) for p in progress] == [(first, "sale", None)]
    assert disposed.last_outcome == "answered"  # the engine's step is the shell's to commit


async def test_a_store_that_keeps_failing_stops_the_service(store: SQLiteStore) -> None:
    class Broken(SQLiteStore):
        async def contacts_due(self, campaign: str, now: float, limit: int):  # type: ignore[override]
            raise StoreError("disk on fire")

    broken = Broken(store.path)
    driver = Driver(Engine(SETTINGS), broken)  # type: ignore[arg-type]
    driver.loader.store = broken
    driver.loader.retries = (0.0, None)
    driver.loader.submit(LoadContacts("c1", 4))
    for _ in range(100):
        if driver.failures:
            break
        await asyncio.sleep(0.01)
    assert driver.failures == ["contact_load_failed_stopping"]


def test_agent_keys_mean_something_only_while_reviewing() -> None:
    from tests.core.dialler_harness import DiallerHarness, campaign, contact, dialler_settings

    h = DiallerHarness(dialler_settings(campaign(review_time=30.0)), [contact(1)])
    (ring,) = [c for c in h.ready("a1") if isinstance(c, OriginateAgent)]
    assert agent_key_event(h.engine, ring.request_id, "#", h.now) is None  # still ringing
    h.answer(ring.leg_id)  # reviewing
    assert agent_key_event(h.engine, ring.request_id, "#", h.now) == ev.ContactDialNow(h.now, "a1")
    assert agent_key_event(h.engine, ring.request_id, "*", h.now) == ev.ContactSkipped(h.now, "a1")
    assert agent_key_event(h.engine, ring.request_id, "5", h.now) is None
    h.send(ev.ContactDialNow(h.now, "a1"))
    assert agent_key_event(h.engine, ring.request_id, "*", h.now) is None  # dialled: too late to skip
