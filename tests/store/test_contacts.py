"""Dialler contacts in the store, on every backend: the order they fall due, claims, releases,
do-not-call lists, and their progress committed with the engine's step (all of it or nothing)."""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path

import pytest

from app.core.commands import Activity
from app.core.contacts import ContactProgress
from app.store import Change, Store, StoreDataError
from app.store.migrations import SQLITE_MIGRATIONS
from app.store.sqlite import SQLiteStore
from tests.store.conftest import POSTGRES_DSN, StoreFactory
from tests.store.test_contract import make_request

NOW = 1_000_000.0


def number(i: int) -> str:
    return f"+45201{i:05d}"


async def upload(store: Store, campaign: str, *rows: tuple[int, int | None], name: str = "") -> list[int]:
    """Contacts (number index, priority) into `campaign`; their ids in the order given."""
    await store.import_contacts(campaign, [(number(i), name or f"n{i}", "{}", None, p) for i, p in rows], NOW)
    listed = {c.number: c.contact_id for c in await store.list_contacts(campaign, limit=10_000)}
    return [listed[number(i)] for i, _ in rows]


def progress(campaign: str, cid: int, state: str = "claimed", **more: object) -> ContactProgress:
    values: dict[str, object] = {"attempts": 0, "next_due": None, "last_outcome": None, "reserved_agent": None}
    values.update(more)
    return ContactProgress(campaign, cid, state, **values)  # type: ignore[arg-type]


async def due_ids(store: Store, campaign: str = "c1", now: float = NOW, limit: int = 100) -> list[int]:
    return [d.contact_id for d in await store.contacts_due(campaign, now, limit)]


# ------------------------------------------------------------------ due order


async def test_due_by_priority_high_first_then_upload_order(store: Store) -> None:
    low, high, none, high2 = await upload(store, "c1", (1, -5), (2, 10), (3, None), (4, 10))
    assert await due_ids(store) == [high, high2, none, low]
    assert await due_ids(store, limit=2) == [high, high2]
    assert await due_ids(store, "other") == []


async def test_a_contact_is_due_only_when_new_or_scheduled_and_its_time_has_come(store: Store) -> None:
    a, b, c, d = await upload(store, "c1", (1, 0), (2, 0), (3, 0), (4, 0))
    await store.commit_many(
        [
            Change(
                contacts=[
                    progress("c1", a, "scheduled", attempts=1, next_due=NOW + 60, last_outcome="busy"),
                    progress("c1", b, "done", attempts=1, last_outcome="answered"),
                    progress("c1", c, "claimed"),
                ]
            )
        ]
    )
    assert await due_ids(store) == [d]
    assert await due_ids(store, now=NOW + 60) == [a, d]  # next_due <= now is due
    due = (await store.contacts_due("c1", NOW + 60, 1))[0]
    assert (due.attempts, due.number, due.name, due.campaign) == (1, number(1), "n1", "c1")


async def test_a_list_is_exhausted_once_every_contact_is_final(store: Store) -> None:
    """contacts_exhausted: the campaign has contacts and none is new or scheduled (even due later)
    off the do-not-call lists; claimed ones are the engine's, done / dnc / invalid ones are final."""
    assert await store.contacts_exhausted("c1") is False  # nothing uploaded: nothing finished
    a, b, c, _d = await upload(store, "c1", (1, 0), (2, 0), (3, 0), (4, 0))
    await upload(store, "other", (9, 0))
    assert await store.contacts_exhausted("c1") is False

    async def step(*p: ContactProgress) -> None:
        await store.commit_many([Change(contacts=list(p))])

    await step(progress("c1", a, "done", attempts=1, last_outcome="answered"), progress("c1", b, "claimed"))
    await step(progress("c1", c, "done", attempts=0, last_outcome="dnc"))
    assert await store.contacts_exhausted("c1") is False  # d is new
    await store.dnc_add("c1", [(number(4), False)], NOW, "test")
    assert await store.contacts_exhausted("c1") is True  # d is listed; b is claimed (the engine's)
    await step(progress("c1", b, "scheduled", attempts=1, next_due=NOW + 3600, last_outcome="busy"))
    assert await store.contacts_exhausted("c1") is False  # due later is still left
    await step(progress("c1", b, "done", attempts=2, last_outcome="invalid"))
    assert await store.contacts_exhausted("c1") is True
    assert await store.contacts_exhausted("other") is False
    await upload(store, "c1", (5, 0))  # a new upload opens the list again
    assert await store.contacts_exhausted("c1") is False


async def test_pending_dispositions_are_answered_rows_that_still_name_their_agent(store: Store) -> None:
    a, b, c = await upload(store, "c1", (1, 0), (2, 0), (3, 0))
    (z,) = await upload(store, "c2", (4, 0))
    await store.commit_many(
        [
            Change(
                contacts=[
                    progress("c1", a, "done", attempts=1, last_outcome="answered", reserved_agent="a1"),
                    progress("c1", b, "done", attempts=2, last_outcome="answered"),  # disposed already
                    progress("c1", c, "scheduled", attempts=1, last_outcome="call_back", reserved_agent="a2"),
                    progress("c2", z, "done", attempts=1, last_outcome="answered", reserved_agent="a3"),
                ]
            )
        ]
    )
    assert await store.pending_dispositions("c1") == [(a, 1, "a1")]
    assert await store.pending_dispositions("c2") == [(z, 1, "a3")]
    await store.commit_many([Change(contacts=[progress("c1", a, "done", attempts=1, last_outcome="sale")])])
    assert await store.pending_dispositions("c1") == []


async def test_due_contacts_carry_their_upload_data(store: Store) -> None:
    await store.import_contacts(
        "c1", [(number(1), "Ann", '{"order":"77","city":"Aarhus"}', "Europe/Copenhagen", 3)], NOW
    )
    (due,) = await store.contacts_due("c1", NOW, 10)
    assert dict(due.fields) == {"order": "77", "city": "Aarhus"}
    assert (due.timezone, due.priority, due.reserved_agent) == ("Europe/Copenhagen", 3, None)


# ------------------------------------------------------------------ claims


async def test_a_claimed_contact_is_never_handed_out_again(store_factory: StoreFactory) -> None:
    first = await store_factory()
    second = await store_factory()  # a second node (or reader) on the same database
    ids = await upload(first, "c1", *((i, 0) for i in range(6)))
    window = await due_ids(first, limit=3)
    assert window == ids[:3]
    await first.commit_many([Change(contacts=[progress("c1", cid) for cid in window])])
    for store in (first, second):
        assert await due_ids(store) == ids[3:]
    # the claimed ones are listed as claimed
    assert {c.contact_id for c in await second.list_contacts("c1", state="claimed")} == set(window)


async def test_release_claimed_returns_all_but_the_kept_ones(store: Store) -> None:
    fresh, dialled, kept, other = await upload(store, "c1", (1, 0), (2, 0), (3, 0), (4, 0))
    (elsewhere,) = await upload(store, "c2", (1, 0))
    await store.commit_many(
        [
            Change(
                contacts=[
                    progress("c1", fresh),
                    progress("c1", dialled, attempts=2, next_due=NOW + 30, last_outcome="no_answer"),
                    progress("c1", kept),
                    progress("c2", elsewhere),
                ]
            )
        ]
    )
    assert await store.release_claimed("c1", keep={kept}) == 2
    assert (await store.contact("c1", fresh)).state == "new"  # type: ignore[union-attr]
    back = await store.contact("c1", dialled)
    assert back is not None and (back.state, back.next_due, back.attempts) == ("scheduled", NOW + 30, 2)
    assert (await store.contact("c1", kept)).state == "claimed"  # type: ignore[union-attr]
    assert (await store.contact("c2", elsewhere)).state == "claimed"  # type: ignore[union-attr]
    assert await due_ids(store, now=NOW + 30) == [fresh, dialled, other]
    assert await store.release_claimed(None, keep=()) == 2  # every campaign: kept (c1) and c2's
    assert await store.release_claimed(None, keep=()) == 0


# ------------------------------------------------------------------ do-not-call


async def test_do_not_call_exact_and_prefix_global_and_per_campaign(store: Store) -> None:
    ids = await upload(store, "c1", (1, 0), (2, 0), (300, 0), (301, 0), (4, 0))
    (c2_contact,) = await upload(store, "c2", (2, 0))
    assert await store.dnc_add(None, [(number(1), False)], NOW, "eva") == 1
    assert await store.dnc_add("c1", [(number(2), False), ("+45201003", True)], NOW, "eva") == 2
    assert await store.dnc_add("c1", [(number(2), False)], NOW, "bo") == 0  # already there
    # number(300) and number(301) start with the prefix +45201003
    assert await due_ids(store) == [ids[4]]
    assert await due_ids(store, "c2") == [c2_contact]  # c1's list does not cover c2
    assert await store.dnc_entries("c1") == [(number(1), False), (number(2), False), ("+45201003", True)]
    assert await store.dnc_entries(None) == [(number(1), False)]
    assert await store.dnc_entries("c2") == [(number(1), False)]
    listed = await store.dnc_list("c1")
    assert [(e.campaign, e.entry, e.is_prefix, e.added_by) for e in listed] == [
        ("c1", number(2), False, "eva"),
        ("c1", "+45201003", True, "eva"),
    ]
    assert [e.entry for e in await store.dnc_list(None)] == [number(1)]
    # removing the prefix brings back the numbers only it covered
    assert await store.dnc_remove("c1", [("+45201003", True), ("+4599", True)]) == 1
    assert await due_ids(store) == [ids[2], ids[3], ids[4]]
    assert await store.dnc_remove(None, [(number(1), False)]) == 1
    assert await due_ids(store) == [ids[0], ids[2], ids[3], ids[4]]


async def test_a_prefix_is_not_an_exact_entry(store: Store) -> None:
    (cid,) = await upload(store, "c1", (1, 0))
    await store.dnc_add(None, [(number(1) + "9", True)], NOW, "eva")  # longer than the number: no match
    await store.dnc_add(None, [("+45201", False)], NOW, "eva")  # exact, not a prefix
    assert await due_ids(store) == [cid]


# ------------------------------------------------------------------ committed with the step


async def test_progress_is_committed_with_the_rest_of_the_step(store: Store) -> None:
    (cid,) = await upload(store, "c1", (1, 0))
    req = make_request("r1")
    claim = progress("c1", cid, attempts=1, reserved_agent="1001")
    await store.commit_many([Change([req], [Activity("dial_attempt", None, "1001", "c1", NOW)], (), [claim])])
    stored = await store.contact("c1", cid)
    assert stored is not None
    assert (stored.state, stored.attempts, stored.reserved_agent) == ("claimed", 1, "1001")
    assert await store.load_request("r1") == req
    assert [e.kind for e in await store.events()] == ["dial_attempt"]


async def test_the_last_progress_of_a_contact_in_a_group_commit_wins(store: Store) -> None:
    (cid,) = await upload(store, "c1", (1, 0))
    await store.commit_many(
        [
            Change(contacts=[progress("c1", cid)]),
            Change(contacts=[progress("c1", cid, "scheduled", attempts=1, next_due=NOW + 5, last_outcome="busy")]),
        ]
    )
    stored = await store.contact("c1", cid)
    assert stored is not None and (stored.state, stored.next_due, stored.last_outcome) == ("scheduled", NOW + 5, "busy")


@pytest.mark.parametrize("bad", ["missing", "other_campaign", "bad_state"])
async def test_a_failing_commit_writes_no_contact_change(store: Store, bad: str) -> None:
    good, other = await upload(store, "c1", (1, 0), (2, 0))
    before = await store.list_contacts("c1")
    broken = {
        "missing": progress("c1", other + 1000),
        "other_campaign": progress("c2", other),  # the id exists, but not in this campaign
        "bad_state": progress("c1", other, "exploded"),
    }[bad]
    with pytest.raises(StoreDataError):
        await store.commit_many(
            [
                Change([make_request("r1")], [Activity("dial_attempt", "r1", at=NOW)], (), [progress("c1", good)]),
                Change(contacts=[broken]),
            ]
        )
    assert await store.list_contacts("c1") == before
    assert await store.load_request("r1") is None
    assert await store.events() == []
    assert await due_ids(store) == [good, other]


# ------------------------------------------------------------------ uploads, listing, figures


async def test_an_upload_merges_a_number_the_campaign_has(store: Store) -> None:
    first = await store.import_contacts("c1", [(number(1), "Ann", '{"a":"1","b":"2"}', "Europe/Oslo", 4)], NOW)
    assert (first.inserted, first.merged) == (1, 0)
    (cid,) = [c.contact_id for c in await store.list_contacts("c1")]
    await store.commit_many([Change(contacts=[progress("c1", cid, "scheduled", attempts=1, next_due=NOW)])])
    again = await store.import_contacts(
        "c1", [(number(1), "", '{"b":"3","c":"4"}', None, None), (number(2), "Bo", "{}", None, None)], NOW + 1
    )
    assert (again.inserted, again.merged) == (1, 1)
    merged = await store.contact("c1", cid)
    assert merged is not None
    assert (merged.name, dict(merged.fields), merged.timezone, merged.priority) == (
        "Ann",
        {"a": "1", "b": "3", "c": "4"},
        "Europe/Oslo",
        4,
    )
    assert (merged.state, merged.attempts) == ("scheduled", 1)  # progress is kept
    third = await store.import_contacts("c1", [(number(1), "Anna", "{}", None, -2)], NOW + 2)
    assert (third.inserted, third.merged) == (0, 1)
    renamed = await store.contact("c1", cid)
    assert renamed is not None and (renamed.name, renamed.priority) == ("Anna", -2)
    # the same number in another campaign is another contact
    assert (await store.import_contacts("c2", [(number(1), "Ann", "{}", None, None)], NOW)).inserted == 1


async def test_list_contacts_pages_and_filters(store: Store) -> None:
    ids = await upload(store, "c1", *((i, 0) for i in range(5)))
    await store.commit_many([Change(contacts=[progress("c1", ids[1], "done", attempts=1)])])
    assert [c.contact_id for c in await store.list_contacts("c1", offset=1, limit=2)] == ids[1:3]
    assert [c.contact_id for c in await store.list_contacts("c1", state="done")] == [ids[1]]
    assert [c.contact_id for c in await store.list_contacts("c1", state="new")] == [ids[0], *ids[2:]]
    assert await store.contact("c2", ids[0]) is None  # a contact is found in its own campaign only


async def test_campaign_figures_from_contacts_and_the_dial_log(store: Store) -> None:
    ids = await upload(store, "c1", *((i, 0) for i in range(5)))
    await store.commit_many(
        [Change(contacts=[progress("c1", ids[0], "done", attempts=1), progress("c1", ids[1], "scheduled", attempts=1)])]
    )
    await store.dnc_add(None, [(number(4), False)], NOW, "eva")

    def dial(at: float, outcome: str, abandoned: bool = False, campaign: str = "c1") -> Activity:
        data = {"campaign": campaign, "outcome": outcome, "number": number(0), "agent": "1001", "abandoned": abandoned}
        return Activity("dial_attempt", None, "1001", "support", at, data)

    day, hour = 86400.0, 3600.0
    await store.append_events(
        [
            dial(NOW - hour, "answered"),
            dial(NOW - hour, "answered", abandoned=True),
            dial(NOW - hour, "machine"),
            dial(NOW - hour, "busy"),
            dial(NOW - 2 * day, "answered"),
            dial(NOW - 2 * day, "abandoned", abandoned=True),
            dial(NOW - 31 * day, "answered"),  # too old
            dial(NOW - hour, "answered", campaign="c2"),  # another campaign
            Activity("dial_other", None, None, "c1", NOW - hour, {"campaign": "c1", "outcome": "answered"}),
            dial(NOW + hour, "answered"),  # after `now`
        ]
    )
    figures = await store.campaign_figures("c1", NOW)
    assert dict(figures.contacts) == {"new": 3, "done": 1, "scheduled": 1}
    assert figures.left == 3  # new or scheduled, less the one on the do-not-call list
    d, m = figures.last_24h, figures.last_30d
    assert (d.attempts, d.connects, d.machines, d.abandoned) == (4, 2, 1, 1)
    assert d.abandon_rate == pytest.approx(1 / 3)
    assert (m.attempts, m.connects, m.machines, m.abandoned) == (6, 3, 1, 2)
    assert m.abandon_rate == pytest.approx(2 / 5)
    empty = await store.campaign_figures("nothing", NOW)
    assert (empty.left, empty.last_30d.attempts, empty.last_30d.abandon_rate) == (0, 0, None)


async def test_campaign_states_are_stored(store_factory: StoreFactory) -> None:
    store = await store_factory()
    await store.set_campaign_state("c1", "paused", NOW, "eva")
    await store.set_campaign_state("c2", "running", NOW, "eva")
    await store.set_campaign_state("c1", "running", NOW + 1, "bo")
    reader = await store_factory()
    assert [dataclasses.astuple(s) for s in await reader.campaign_states()] == [
        ("c1", "running", NOW + 1, "bo"),
        ("c2", "running", NOW, "eva"),
    ]
    with pytest.raises(StoreDataError):
        await store.set_campaign_state("c1", "exploded", NOW, "eva")


# ------------------------------------------------------------------ the schema upgrade


async def test_a_database_of_schema_1_is_upgraded_and_keeps_its_requests(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    req = make_request("r1")
    async with SQLiteStore(path, migrations=SQLITE_MIGRATIONS[:1]) as old:
        await old.save_requests([req])
        assert await old.schema_version() == 1
    async with SQLiteStore(path) as new:
        assert await new.schema_version() == len(SQLITE_MIGRATIONS) >= 2
        assert await new.load_request("r1") == req
        (cid,) = await upload(new, "c1", (1, 0))
        assert await due_ids(new) == [cid]


async def test_a_postgres_schema_1_is_upgraded_and_keeps_its_requests() -> None:
    if not POSTGRES_DSN:
        pytest.skip("set HOLDFAST_TEST_POSTGRES_DSN to run the PostgreSQL contract tests")
    from app.store.postgres import POSTGRES_MIGRATIONS, PostgresStore, drop_schema

    schema = f"holdfast_test_{uuid.uuid4().hex[:12]}"
    req = make_request("r1")
    try:
        async with PostgresStore(POSTGRES_DSN, schema=schema, migrations=POSTGRES_MIGRATIONS[:1]) as old:
            await old.save_requests([req])
        async with PostgresStore(POSTGRES_DSN, schema=schema) as new:
            assert await new.schema_version() == len(POSTGRES_MIGRATIONS) >= 2
            assert await new.load_request("r1") == req
            (cid,) = await upload(new, "c1", (1, 0))
            assert await due_ids(new) == [cid]
    finally:
        await drop_schema(POSTGRES_DSN, schema)


async def test_a_contact_done_because_of_dnc_comes_back_when_its_entry_is_removed(store: Store) -> None:
    listed, bad, other = await upload(store, "c1", (1, 0), (2, 0), (3, 0))
    (elsewhere,) = await upload(store, "c2", (1, 0))
    await store.dnc_add(None, [(number(1), False)], NOW, "eva")
    await store.dnc_add("c1", [("+45201", True)], NOW, "eva")  # covers every number here, in c1
    await store.commit_many(
        [
            Change(
                contacts=[
                    progress("c1", listed, "done", attempts=1, last_outcome="dnc"),
                    progress("c1", bad, "done", attempts=1, last_outcome="invalid"),
                    progress("c1", other, "done", attempts=1, last_outcome="answered"),
                    progress("c2", elsewhere, "done", last_outcome="dnc"),
                ]
            )
        ]
    )
    states = {c.contact_id: c.state for c in await store.list_contacts("c1")}
    assert states == {listed: "dnc", bad: "invalid", other: "done"}
    assert [c.contact_id for c in await store.list_contacts("c1", state="dnc")] == [listed]
    # the campaign's prefix goes: number(1) is still on the global list, so it stays held back
    assert await store.dnc_remove("c1", [("+45201", True)]) == 1
    assert (await store.contact("c1", listed)).state == "dnc"  # type: ignore[union-attr]
    # the global entry goes too: it comes back (dialled once before: scheduled), in both campaigns
    assert await store.dnc_remove(None, [(number(1), False)]) == 1
    back = await store.contact("c1", listed)
    assert back is not None and (back.state, back.attempts) == ("scheduled", 1)
    assert (await store.contact("c2", elsewhere)).state == "new"  # type: ignore[union-attr]
    assert (await store.contact("c1", bad)).state == "invalid"  # type: ignore[union-attr]
    assert await due_ids(store) == [listed]


async def test_contacts_left_leave_out_each_listed_contact_once(store: Store) -> None:
    # numbers +4520100001.. +4520100009, +4520100300, +4520100301, +4520100400
    ids = await upload(store, "c1", *((i, 0) for i in (1, 2, 3, 300, 301, 400)))
    (other,) = await upload(store, "c2", (300, 0))
    await store.commit_many([Change(contacts=[progress("c1", ids[1]), progress("c1", ids[0], "done", attempts=1)])])
    await store.dnc_add(None, [(number(1), False), ("+452010030", True), ("+4520100", True)], NOW, "eva")
    await store.dnc_add("c1", [(number(2), False), (number(300), False), ("+45201004", True)], NOW, "eva")
    # +4520100 covers all of c1 (and c2): nothing left; each contact is counted once however many
    # entries cover it, and the done one is not "left" anyway
    assert (await store.campaign_figures("c1", NOW)).left == 0
    assert (await store.campaign_figures("c2", NOW)).left == 0
    await store.dnc_remove(None, [("+4520100", True)])
    # left: new number(3), claimed number(2) is listed (c1), number(300)/(301) by +452010030,
    # number(400) by c1's +45201004; in c2 number(300) is still under the global +452010030
    assert (await store.campaign_figures("c1", NOW)).left == 1
    assert (await store.campaign_figures("c2", NOW)).left == 0
    await store.dnc_remove(None, [("+452010030", True)])
    assert (await store.campaign_figures("c1", NOW)).left == 2  # number(3), number(301)
    assert (await store.campaign_figures("c2", NOW)).left == 1
    assert await due_ids(store, "c2") == [other]


async def test_a_promised_call_back_comes_due_with_its_last_outcome(store: Store) -> None:
    """The dialler dials a call_back whatever attempts the answered call used: it must see the
    stored last outcome on the due contact, also after a restart released its claim."""
    (a,) = await upload(store, "c1", (1, 0))
    await store.commit_many(
        [Change(contacts=[progress("c1", a, "scheduled", attempts=3, next_due=NOW, last_outcome="call_back")])]
    )
    (due,) = await store.contacts_due("c1", NOW, 10)
    assert (due.attempts, due.last_outcome) == (3, "call_back")
    await store.commit_many([Change(contacts=[progress("c1", a, "claimed", attempts=3, last_outcome="call_back")])])
    await store.release_claimed("c1", ())
    (due,) = await store.contacts_due("c1", NOW, 10)
    assert due.last_outcome == "call_back"
