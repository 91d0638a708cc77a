"""The contacts and do-not-call API on the real service app with a real (SQLite) store: uploads
streamed and checked row by row, listings, figures, do-not-call lists, and refusals that store
nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from app.core.commands import Activity
from app.core.contacts import ContactProgress
from app.core.events import ContactsChanged
from app.store import Change
from app.store.sqlite import SQLiteStore
from app.web import campaigns
from app.web.api import make_app
from app.web.context import SERVICE_KEY
from tests.ari.fake_ari import FakeAri
from tests.telephony.conftest import START, Shell, config_text, make_shell
from tests.web.conftest import CALLBACK_QUEUES, TOKEN

CAMPAIGN = "spring"
CSV = {"Content-Type": "text/csv"}


# One campaign, worked by the support agents, taking Danish mobile and fixed-line numbers (the
# default eligibility). It is paused: these tests are about its lists, not about dialling.
CAMPAIGNS = f"""
campaigns:
  {CAMPAIGN}:
    queue: support
    state: paused
"""


@pytest.fixture
def shell_text(fake_ari: FakeAri, admin_token: str | None) -> str:
    extra = f'service:\n  admin_token: "{admin_token}"\n' if admin_token else ""
    return config_text(fake_ari, queues=CALLBACK_QUEUES, extra=extra + CAMPAIGNS)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    s = SQLiteStore(tmp_path / "holdfast.db")
    await s.open()
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def stored_shell(fake_ari: FakeAri, shell_text: str, store: SQLiteStore) -> AsyncIterator[Shell]:
    s = await make_shell(fake_ari, shell_text, store=store)
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


@pytest.fixture
async def http(stored_shell: Shell, admin_token: str | None) -> AsyncIterator[TestClient]:
    headers = {"Authorization": f"Bearer {admin_token}"} if admin_token else {}
    client = TestClient(TestServer(make_app(stored_shell.service)), headers=headers)
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


async def upload(http: TestClient, text: str | bytes, campaign: str = CAMPAIGN, status: int = 200) -> Any:
    resp = await http.post(f"/api/campaigns/{campaign}/contacts?by=eva", data=text, headers=CSV)
    body = await resp.json()
    assert resp.status == status, body
    return body


async def get(http: TestClient, path: str, status: int = 200) -> Any:
    resp = await http.get(path)
    body = await resp.json()
    assert resp.status == status, body
    return body


# ---- contacts ----------------------------------------------------------------------------------


async def test_upload_then_list_and_fetch_contacts(http: TestClient, store: SQLiteStore, stored_shell: Shell) -> None:
    text = (
        "number,name,priority,order\n"
        "+4520123456,Ann,2,A-1\n"  # 2
        "+4590123456,Premium,,\n"  # 3: premium rate
        "20 12 34 57,Bo,,B-2\n"  # 4: national form
        "+4520123456,,,A-9\n"  # 5: Ann again: merged
        "x,Nobody,,\n"  # 6
    )
    result = await upload(http, text)
    assert {k: result[k] for k in ("campaign", "rows", "inserted", "merged", "refused")} == {
        "campaign": CAMPAIGN,
        "rows": 5,
        "inserted": 2,
        "merged": 1,
        "refused": 2,
    }
    assert [(r["line"], r["reason"]) for r in result["refusals"]] == [(3, "premium_rate"), (6, "invalid")]
    assert result["reasons"] == {"premium_rate": 1, "invalid": 1}
    listed = await get(http, f"/api/campaigns/{CAMPAIGN}/contacts")
    assert [(c["number"], c["name"], c["state"], c["attempts"]) for c in listed["contacts"]] == [
        ("+4520123456", "Ann", "new", 0),
        ("+4520123457", "Bo", "new", 0),
    ]
    ann = listed["contacts"][0]
    assert ann["fields"] == {"order": "A-9"} and ann["priority"] == 2 and ann["next_due"] is None
    changed = [e for e in stored_shell.fed if isinstance(e, ContactsChanged)]
    assert [e.campaign for e in changed] == [CAMPAIGN]  # the engine looks again at once
    one = await get(http, f"/api/campaigns/{CAMPAIGN}/contacts/{ann['contact_id']}")
    assert one == ann
    (logged,) = await store.admin_log()
    assert (logged.who, logged.action, logged.detail["campaign"], logged.detail["inserted"]) == (
        "eva",
        "contacts_import",
        CAMPAIGN,
        2,
    )
    await get(http, f"/api/campaigns/{CAMPAIGN}/contacts/999999", 404)
    await get(http, f"/api/campaigns/{CAMPAIGN}/contacts/abc", 404)


async def test_progress_shows_in_the_listing(http: TestClient, store: SQLiteStore) -> None:
    await upload(http, "number,name\n+4520123456,Ann\n+4520123457,Bo\n+4520123458,Cy\n")
    ids = [c["contact_id"] for c in (await get(http, f"/api/campaigns/{CAMPAIGN}/contacts"))["contacts"]]
    due = START + 600
    await store.commit_many([Change(contacts=[ContactProgress(CAMPAIGN, ids[1], "scheduled", 1, due, "busy", "1001")])])
    scheduled = await get(http, f"/api/campaigns/{CAMPAIGN}/contacts?state=scheduled")
    (bo,) = scheduled["contacts"]
    assert (bo["name"], bo["attempts"], bo["last_outcome"], bo["reserved_agent"]) == ("Bo", 1, "busy", "1001")
    assert bo["next_due_epoch"] == due and bo["next_due"] == "2026-01-01T10:10:00.000Z"
    page = await get(http, f"/api/campaigns/{CAMPAIGN}/contacts?offset=1&limit=1")
    assert [c["name"] for c in page["contacts"]] == ["Bo"] and (page["offset"], page["limit"]) == (1, 1)
    for query in ("state=ringing", "limit=0", "limit=5000", "offset=-1", "limit=x"):
        body = await get(http, f"/api/campaigns/{CAMPAIGN}/contacts?{query}", 422)
        assert query.split("=")[0] in body["error"]


async def test_an_unknown_campaign_is_404_and_nothing_is_stored(http: TestClient, store: SQLiteStore) -> None:
    body = await upload(http, "number\n+4520123456\n", campaign="autumn", status=404)
    assert "autumn" in body["error"]
    assert await store.list_contacts("autumn") == []
    await get(http, "/api/campaigns/autumn/contacts", 404)
    await get(http, "/api/campaigns/autumn/figures", 404)
    assert (await http.post("/api/campaigns/autumn/dnc", json={"entries": ["+4520123456"]})).status == 404


@pytest.mark.parametrize(
    ("data", "content_type", "status", "words"),
    [
        (b"number,name\n+4520123456,\xff\xfeAnn\n", "text/csv", 400, "not UTF-8"),
        ("name,city\nAnn,Aarhus\n", "text/csv", 400, "no 'number' column"),
        ("", "text/csv", 400, "empty"),
        ('{"number": "+4520123456"}', "application/json", 415, "text/csv"),
    ],
)
async def test_a_refused_file_stores_nothing(
    http: TestClient, store: SQLiteStore, data: str | bytes, content_type: str, status: int, words: str
) -> None:
    resp = await http.post(f"/api/campaigns/{CAMPAIGN}/contacts", data=data, headers={"Content-Type": content_type})
    body = await resp.json()
    assert resp.status == status and words in body["error"], body
    assert await store.list_contacts(CAMPAIGN) == [] and await store.admin_log() == []


async def test_a_file_over_the_limit_is_413(
    http: TestClient, store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(campaigns, "MAX_UPLOAD_BYTES", 1000)
    rows = "".join(f"+452110{i:04d},n\n" for i in range(100))  # about 1.5 kB

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the limit holds while streaming
        yield b"number,name\n"
        yield rows.encode()

    resp = await http.post(f"/api/campaigns/{CAMPAIGN}/contacts", data=chunks(), headers=CSV)
    assert resp.status == 413, await resp.text()
    assert await store.list_contacts(CAMPAIGN) == []


async def test_a_large_upload_is_streamed_into_the_store(http: TestClient, store: SQLiteStore) -> None:
    rows = 12_000  # more than two batches

    async def chunks() -> AsyncIterator[bytes]:
        yield b"number,name,city\n"
        for start in range(0, rows, 1000):
            yield "".join(
                f"+4521{100_000 + i:06d},Contact {i},City {i % 7}\n" for i in range(start, start + 1000)
            ).encode()

    resp = await http.post(f"/api/campaigns/{CAMPAIGN}/contacts", data=chunks(), headers=CSV)
    result = await resp.json()
    assert resp.status == 200, result
    assert (result["rows"], result["inserted"], result["refused"]) == (rows, rows, 0)
    figures = await get(http, f"/api/campaigns/{CAMPAIGN}/figures")
    assert figures["contacts"] == {"new": rows} and figures["left"] == rows


# ---- do-not-call --------------------------------------------------------------------------------


async def test_dnc_add_list_remove_global_and_per_campaign(
    http: TestClient, store: SQLiteStore, stored_shell: Shell
) -> None:
    resp = await http.post("/api/dnc", json={"entries": ["+45 20 12 34 56", "+4590*"], "by": "eva", "reason": "asked"})
    assert resp.status == 201
    assert await resp.json() == {"campaign": None, "entries": ["+4520123456", "+4590*"], "changed": 2}
    # a national number on a campaign's list is read in the campaign's region
    resp = await http.post(f"/api/campaigns/{CAMPAIGN}/dnc", json={"entries": ["20123457", "+4520123456"]})
    assert resp.status == 201 and (await resp.json())["changed"] == 2
    listed = await get(http, "/api/dnc")
    assert [(e["entry"], e["is_prefix"], e["added_by"]) for e in listed["entries"]] == [
        ("+4520123456", False, "eva"),
        ("+4590*", True, "eva"),
    ]
    assert listed["entries"][0]["added_at_epoch"] == START
    assert [e["entry"] for e in (await get(http, f"/api/campaigns/{CAMPAIGN}/dnc"))["entries"]] == [
        "+4520123456",
        "+4520123457",
    ]
    assert await store.dnc_entries(CAMPAIGN) == [("+4520123456", False), ("+4520123457", False), ("+4590", True)]
    dnc = stored_shell.engine.dnc  # the running engine checks these at dial time
    assert dnc.blocked("+4590111111", CAMPAIGN) and dnc.blocked("+4520123457", CAMPAIGN)
    assert not dnc.blocked("+4520123458", CAMPAIGN)
    resp = await http.delete("/api/dnc", json={"entries": ["+4590*", "+4599*"], "by": "bo"})
    assert resp.status == 200 and (await resp.json())["changed"] == 1
    # a removal may give contacts back: every campaign the global list covers looks again
    assert [e.campaign for e in stored_shell.fed if isinstance(e, ContactsChanged)] == [CAMPAIGN]
    assert await store.dnc_entries(None) == [("+4520123456", False)]
    assert not dnc.blocked("+4590111111", CAMPAIGN)
    actions = [(a.who, a.action, a.detail["campaign"], a.detail["changed"]) for a in await store.admin_log()]
    assert actions == [("eva", "dnc_add", None, 2), ("admin", "dnc_add", CAMPAIGN, 2), ("bo", "dnc_remove", None, 1)]
    assert (await store.admin_log())[0].at == stored_shell.clock.now


@pytest.mark.parametrize(
    "body",
    [
        {"entries": ["+4520123456", "hello"]},
        {"entries": []},
        {"entries": ["+4520123456"], "who": "eva"},
        {"entries": "+4520123456"},
    ],
)
async def test_a_bad_dnc_body_is_422_and_changes_nothing(http: TestClient, store: SQLiteStore, body: Any) -> None:
    resp = await http.post("/api/dnc", json=body)
    assert resp.status == 422, await resp.text()
    assert await store.dnc_entries(None) == [] and await store.admin_log() == []


async def test_dnc_import_and_figures(http: TestClient, store: SQLiteStore) -> None:
    await upload(http, "number,name\n+4520123456,Ann\n+4520123457,Bo\n+4590123456,Premium\n+4530123456,Cy\n")
    resp = await http.post(
        f"/api/campaigns/{CAMPAIGN}/dnc/import?by=eva", data="number\n+4520123457\nnonsense\n+453012*\n", headers=CSV
    )
    result = await resp.json()
    assert resp.status == 200, result
    assert (result["rows"], result["inserted"], result["refused"]) == (3, 2, 1)
    assert result["refusals"] == [{"line": 3, "reason": "invalid", "detail": result["refusals"][0]["detail"]}]
    assert (await store.admin_log())[-1].action == "dnc_import"
    assert http.server.app[SERVICE_KEY].engine.dnc.blocked("+4530123499", CAMPAIGN)  # the prefix, at once
    contacts = {c.number: c.contact_id for c in await store.list_contacts(CAMPAIGN)}
    await store.commit_many(
        [Change(contacts=[ContactProgress(CAMPAIGN, contacts["+4520123456"], "done", 1, None, "answered", None)])]
    )

    def dial(outcome: str, at: float, abandoned: bool = False) -> Activity:
        data = {"campaign": CAMPAIGN, "outcome": outcome, "number": "+4520123456", "abandoned": abandoned}
        return Activity("dial_attempt", None, "1001", "support", at, data)

    await store.append_events(
        [dial("answered", START - 60), dial("abandoned", START - 30, True), dial("machine", START - 2 * 86400)]
    )
    figures = await get(http, f"/api/campaigns/{CAMPAIGN}/figures")
    assert figures["contacts"] == {"new": 2, "done": 1}
    assert figures["left"] == 0  # both new contacts are on the campaign's do-not-call list
    assert figures["last_24h"] == {
        "attempts": 2,
        "connects": 1,
        "machines": 0,
        "abandoned": 1,
        "abandon_rate": 0.5,
        "amd_false_positives": 0.0,
        "judged_abandon_rate": 0.5,
    }
    assert figures["last_30d"]["attempts"] == 3 and figures["last_30d"]["machines"] == 1
    assert figures["at_epoch"] == START


async def test_without_a_store_the_lists_are_503(http: TestClient, stored_shell: Shell) -> None:
    stored_shell.service.store = None
    assert (await http.get("/api/dnc")).status == 503
    assert (await http.get(f"/api/campaigns/{CAMPAIGN}/contacts")).status == 503


class TestBehindTheToken:
    @pytest.fixture
    def admin_token(self) -> str | None:
        return TOKEN

    async def test_uploads_and_lists_need_the_token(self, stored_shell: Shell) -> None:
        async with TestClient(TestServer(make_app(stored_shell.service))) as bare:
            resp = await bare.post(f"/api/campaigns/{CAMPAIGN}/contacts", data="number\n+4520123456\n", headers=CSV)
            assert resp.status == 401
            assert (await bare.get("/api/dnc")).status == 401
            assert (await bare.get(f"/api/campaigns/{CAMPAIGN}/figures")).status == 401
        assert await stored_shell.service.store.list_contacts(CAMPAIGN) == []  # type: ignore[union-attr]

    async def test_with_the_token_it_works(self, http: TestClient) -> None:
        assert (await upload(http, "number\n+4520123456\n"))["inserted"] == 1


async def test_a_store_failing_midway_is_503_and_says_what_was_stored(
    http: TestClient, store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.store import StoreFull
    from app.store.contact_import import BATCH_SIZE

    calls = 0
    real = store.import_contacts

    async def full_on_the_second_batch(*args: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise StoreFull("database or disk is full (test)")
        return await real(*args)

    monkeypatch.setattr(store, "import_contacts", full_on_the_second_batch)
    rows = "".join(f"+4521{100_000 + i:06d},n\n" for i in range(BATCH_SIZE + 10))
    resp = await http.post(f"/api/campaigns/{CAMPAIGN}/contacts", data="number,name\n" + rows, headers=CSV)
    body = await resp.json()
    assert resp.status == 503, body
    assert "disk is full" in body["error"] and f"{BATCH_SIZE} rows before it were stored" in body["error"]
    assert body["inserted"] == BATCH_SIZE == len(await store.list_contacts(CAMPAIGN, limit=5000))


async def test_the_service_answers_while_a_large_upload_is_imported(
    http: TestClient, store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    first_batch = asyncio.Event()
    real = store.import_contacts

    async def noted(*args: Any) -> Any:
        result = await real(*args)
        first_batch.set()
        return result

    monkeypatch.setattr(store, "import_contacts", noted)
    rows = 30_000  # 15 batches: seconds of number checks
    text = "number,name\n" + "".join(f"+4521{100_000 + i:06d},n{i}\n" for i in range(rows))
    upload_task = asyncio.create_task(http.post(f"/api/campaigns/{CAMPAIGN}/contacts", data=text, headers=CSV))
    await asyncio.wait_for(first_batch.wait(), 30)
    health = await http.get("/healthz")
    listed = await get(http, f"/api/campaigns/{CAMPAIGN}/contacts?limit=1")
    assert health.status == 200 and len(listed["contacts"]) == 1
    assert not upload_task.done()  # answered in the middle of the import, not after it
    resp = await upload_task
    assert (await resp.json())["inserted"] == rows
