"""The streaming CSV importer: every row is stored or refused with its line and a reason, repeated
numbers merge, and nothing of an unusable file is stored. Runs on every backend."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core.settings import EligibilityRules
from app.store import Store
from app.store.contact_import import (
    ImportRefused,
    ImportReport,
    contact_batches,
    dnc_entry,
    import_contacts,
    import_dnc,
)
from tests.store.conftest import StoreFactory

NOW = 1_000_000.0
RULES = EligibilityRules()  # Denmark; mobile and fixed line numbers


async def run(store: Store, text: str, campaign: str = "c1", batch_size: int = 3) -> ImportReport:
    return await import_contacts(store, campaign, io.StringIO(text), RULES, NOW, batch_size=batch_size)


async def test_rows_are_stored_or_refused_with_line_and_reason(store: Store) -> None:
    text = (
        "Number, Name ,timezone,priority,order\n"  # header names are matched without case or blanks
        "+4520123456,Ann,Europe/Copenhagen,5,A-1\n"  # 2
        "20 12 34 57,Bo,,,\n"  # 3: national form, read in the campaign's region
        "+4590123456,Premium,,,\n"  # 4
        "+44 20 7946 0958,Foreign,,,\n"  # 5: a valid London number
        "12,Short,,,\n"  # 6
        ",Nobody,,,\n"  # 7
        "\n"  # 8: blank, not a row
        "+4520123458,Tz,Mars/Olympus,,\n"  # 9
        "+4520123459,Prio,,high,\n"  # 10
        "+4520123460,Prio,,5000,\n"  # 11
        '+4520123461,"Multi\nline",,,\n'  # 12-13
        "+4520123462,Cells,,,,extra\n"  # 14
        "anonymous,Hidden,,,\n"  # 15
        "+4520123463,Last,,-3,B-2\n"  # 16
    )
    report = await run(store, text)
    assert [(r.line, r.reason) for r in report.refusals] == [
        (4, "premium_rate"),
        (5, "foreign"),
        (6, "invalid"),
        (7, "no_number"),
        (9, "bad_timezone"),
        (10, "bad_priority"),
        (11, "bad_priority"),
        (14, "bad_row"),
        (15, "hidden"),
    ]
    assert all(r.detail for r in report.refusals)
    assert (report.rows, report.inserted, report.merged, report.refused) == (13, 4, 0, 9)
    assert report.reasons["bad_priority"] == 2
    stored = {c.number: c for c in await store.list_contacts("c1")}
    assert sorted(stored) == ["+4520123456", "+4520123457", "+4520123461", "+4520123463"]
    ann = stored["+4520123456"]
    assert (ann.name, ann.timezone, ann.priority, dict(ann.fields)) == ("Ann", "Europe/Copenhagen", 5, {"order": "A-1"})
    assert stored["+4520123461"].name == "Multi\nline"
    assert stored["+4520123463"].priority == -3 and dict(stored["+4520123457"].fields) == {}


@pytest.mark.parametrize(
    ("zone", "suggested"),
    [("EST", "America/New_York"), ("EST5EDT", "America/New_York"), ("HST", "Pacific/Honolulu"), ("CET", "Europe/")],
)
def test_a_zone_that_is_not_a_place_is_refused_with_the_places_zone(zone: str, suggested: str) -> None:
    """US CRMs write "EST" for Eastern: a fixed UTC-5 with no summer time, so in July a New York
    contact was rung at 21:30 by their clock when calling hours end at 21:00 (TCPA: 8-21)."""
    report = ImportReport()
    us = EligibilityRules(allowed_regions=("US",))
    text = f"number,timezone\n+12125550100,{zone}\n+12125550101,America/New_York\n"
    rows = [row for batch in contact_batches(io.StringIO(text), us, report) for row in batch]
    assert [row[3] for row in rows] == ["America/New_York"]
    (refused,) = report.refusals
    assert (refused.line, refused.reason) == (2, "bad_timezone")
    assert zone in refused.detail and suggested in refused.detail


async def test_repeated_numbers_merge_in_the_file_and_with_the_campaign(store: Store) -> None:
    first = await run(store, "number,name,priority,city\n+4520123456,Ann,1,Aarhus\n")
    assert (first.inserted, first.merged) == (1, 0)
    text = (
        "number;name;priority;city;order\n"  # ";" separates cells too
        "+4520123456;;;;A-1\n"  # merged: the name and priority kept, a field added
        "+45 20 12 34 56;Anna;;Odense;\n"  # the same number written otherwise
        "+4520123457;Bo;2;;\n"
        "004520123457;;7;;\n"  # the same as the row before, merged within the file
    )
    report = await run(store, text, batch_size=2)
    assert (report.rows, report.inserted, report.merged, report.refused) == (4, 1, 3, 0)
    contacts = {c.number: c for c in await store.list_contacts("c1")}
    assert len(contacts) == 2
    ann, bo = contacts["+4520123456"], contacts["+4520123457"]
    assert (ann.name, ann.priority, dict(ann.fields)) == ("Anna", 1, {"city": "Odense", "order": "A-1"})
    assert (bo.name, bo.priority) == ("Bo", 7)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty"),
        ("\n\n", "empty"),
        ("name,city\nAnn,Aarhus\n", "no 'number' column"),
        ("number,name,number\n+4520123456,x,y\n", "twice"),
        ("number,,name\n+4520123456,x,y\n", "without a name"),
        ("number," + ",".join(f"c{i}" for i in range(60)) + "\n+4520123456\n", "at most 50"),
        ("number,no\x00te\n+4520123456,x\n", "NUL character"),
    ],
)
async def test_an_unusable_header_refuses_the_file_and_stores_nothing(store: Store, text: str, problem: str) -> None:
    with pytest.raises(ImportRefused, match=problem):
        await run(store, text)
    assert await store.list_contacts("c1") == []


async def test_a_row_with_a_nul_in_any_cell_is_refused_on_its_line(store: Store) -> None:
    """PostgreSQL cannot store NUL: the row is refused with its line and reason, like any other
    refusal, on every backend alike; the rest of the file goes on."""
    text = (
        "number,name,timezone,note\n"
        "+4520123456,Ann,,fine\n"  # 2
        "+4520123457\x00,Bo,,\n"  # 3
        "+4520123458,C\x00y,,\n"  # 4
        "+4520123459,Di,Europe/Copenhagen\x00,\n"  # 5
        "+4520123460,Ed,,\x00\n"  # 6
        "+4520123461,Flo,,ok\n"  # 7
    )
    report = await run(store, text)
    assert [(r.line, r.reason) for r in report.refusals] == [(n, "nul_character") for n in (3, 4, 5, 6)]
    assert [r.detail.split(" cell")[0] for r in report.refusals] == [
        "the 'number'",
        "the 'name'",
        "the 'timezone'",
        "the 'note'",
    ]
    assert (report.rows, report.inserted, report.refused) == (6, 2, 4)
    assert [c.name for c in await store.list_contacts("c1")] == ["Ann", "Flo"]
    dnc = await import_dnc(store, "c1", io.StringIO("number,comment\n+4520123456,a\x00\n+4520123457,\n"), NOW, "eva")
    assert [(r.line, r.reason) for r in dnc.refusals] == [(2, "nul_character")]
    assert await store.dnc_entries("c1") == [("+4520123457", False)]


async def test_a_large_file_is_read_in_batches_not_at_once() -> None:
    """Only one batch of rows is held: the reader yields before reading the file to its end."""
    lines = "".join(f"+452110{i:04d},n{i}\n" for i in range(1000))
    stream = io.StringIO("number,name\n" + lines)
    report = ImportReport()
    batches = contact_batches(stream, RULES, report, batch_size=100)
    first = next(batches)
    assert len(first) == 100 and report.rows == 100
    assert stream.tell() < len(stream.getvalue())  # the rest is still unread
    assert sum(len(b) for b in batches) == 900


# ------------------------------------------------------------------ the property: no row is lost

_cells = st.sampled_from(
    [
        "+4520123456",
        "+4520123457",
        "20123458",
        "+4590123456",
        "+44 20 7946 0958",
        "",
        "abc",
        "anonymous",
        "0045 21 10 00 00",
    ]
)
_row = st.tuples(
    _cells,
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r"), max_size=8),
    st.sampled_from(["", "", "Europe/Copenhagen", "Nowhere/Else"]),
    st.sampled_from(["", "", "3", "-1", "x", "99999"]),
)


def _csv(rows: list[tuple[str, str, str, str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["number", "name", "timezone", "priority"])
    writer.writerows(rows)
    return out.getvalue()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(_row, max_size=25), batch_size=st.integers(1, 7))
async def test_every_row_is_imported_or_refused_with_a_reason(
    store: Store, rows: list[tuple[str, str, str, str]], batch_size: int
) -> None:
    campaign = f"p{uuid.uuid4().hex}"  # one store serves every example
    report = await import_contacts(store, campaign, io.StringIO(_csv(rows)), RULES, NOW, batch_size=batch_size)
    non_blank = [r for r in rows if any(c.strip() for c in r)]
    assert report.rows == len(non_blank)
    assert report.imported + report.refused == report.rows  # none lost
    assert len(report.refusals) == report.refused and all(r.reason and r.line >= 2 for r in report.refusals)
    assert sum(report.reasons.values()) == report.refused
    stored = await store.list_contacts(campaign, limit=1000)
    assert report.inserted == len(stored)  # every new number is one contact; the rest merged
    assert len({c.number for c in stored}) == len(stored)


# ------------------------------------------------------------------ do-not-call files


def test_dnc_entries_are_numbers_or_prefixes() -> None:
    assert dnc_entry("+45 20 12 34 56") == ("+4520123456", False)
    assert dnc_entry("0045 20123456") == ("+4520123456", False)
    assert dnc_entry("20123456", "DK") == ("+4520123456", False)
    assert dnc_entry("+4590*") == ("+4590", True)
    assert dnc_entry("20123456") is None  # no country: not a number
    assert dnc_entry("+45x*") is None and dnc_entry("*") is None and dnc_entry("hello") is None


async def test_a_dnc_file_is_imported_into_its_list(store: Store) -> None:
    text = "Number,comment\n+4520123456,asked\n+4590*,premium\n\nnonsense,\n+45 20 12 34 56,again\n,no number\n"
    report = await import_dnc(store, "c1", io.StringIO(text), NOW, "eva", "DK", batch_size=2)
    assert (report.rows, report.inserted, report.merged, report.refused) == (5, 2, 1, 2)
    assert [(r.line, r.reason) for r in report.refusals] == [(5, "invalid"), (7, "no_number")]
    assert await store.dnc_entries("c1") == [("+4520123456", False), ("+4590", True)]
    assert await store.dnc_entries(None) == []
    glob = await import_dnc(store, None, io.StringIO("number\n+4520999999\n"), NOW, "eva")
    assert glob.inserted == 1 and await store.dnc_entries(None) == [("+4520999999", False)]
    assert json.dumps([e.entry for e in await store.dnc_list("c1")]) == '["+4520123456", "+4590"]'


async def test_two_uploads_of_the_same_numbers_at_once_merge(store_factory: StoreFactory) -> None:
    """Two nodes (or two API calls) upload overlapping files to one campaign at the same time:
    every number ends up as one contact, counted as new exactly once."""
    first, second = await store_factory(), await store_factory()
    numbers = [f"+452110{i:04d}" for i in range(3000)]
    forward = "number,name\n" + "".join(f"{n},a\n" for n in numbers)
    again = "number,name,city\n" + "".join(f"{n},,b\n" for n in numbers)
    one, two = await asyncio.gather(
        import_contacts(first, "c1", io.StringIO(forward), RULES, NOW, batch_size=250),
        import_contacts(second, "c1", io.StringIO(again), RULES, NOW, batch_size=250),
    )
    assert one.refused == two.refused == 0
    assert one.inserted + two.inserted == len(numbers)
    assert one.merged + two.merged == len(numbers)
    stored = await first.list_contacts("c1", limit=5000)
    assert sorted(c.number for c in stored) == numbers
    assert all(c.name == "a" and dict(c.fields) == {"city": "b"} for c in stored)  # both rows merged


async def test_a_line_that_is_not_csv_stops_the_import_and_says_what_was_stored(store: Store) -> None:
    huge = "x" * 200_000  # over csv's field size limit
    text = "number,name\n+4520123456,Ann\n+4520123457,Bo\n+4520123458," + huge + "\n+4520123459,Cy\n"
    report = ImportReport()
    with pytest.raises(ImportRefused, match=r"line 4 cannot be read as CSV"):
        await import_contacts(store, "c1", io.StringIO(text), RULES, NOW, batch_size=2, report=report)
    assert report.imported == 2 and "2 rows before it were stored" in report.stored_note()
    assert [c.name for c in await store.list_contacts("c1")] == ["Ann", "Bo"]
