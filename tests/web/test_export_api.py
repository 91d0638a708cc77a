"""Raw events exported as CSV and JSON lines, cut to the caller's queues (a supervisor of support
gets nothing of sales), numbers masked for viewers, and the CSV reads back to the same rows."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from app.store import store_from_dsn
from tests.ari.fake_ari import FakeAri
from tests.telephony.conftest import Shell, make_shell
from tests.web.conftest import TOKEN
from tests.web.test_users_api import SALES_NUMBER, SUPPORT_NUMBER, SUPPORT_TOKEN, shell_text  # noqa: F401

VIEWER_TOKEN = "hf_viewer-token-for-tests-0123456789"


@pytest.fixture
async def shell(fake_ari: FakeAri, shell_text: str, tmp_path: Path) -> AsyncIterator[Shell]:  # noqa: F811
    store = store_from_dsn(str(tmp_path / "events.db"))
    await store.open()
    text = shell_text.replace("    role: viewer\n", f'    role: viewer\n    api_token_hash: "{_hash(VIEWER_TOKEN)}"\n')
    s = await make_shell(fake_ari, text, store=store)
    await s.start()
    try:
        yield s
    finally:
        await s.stop()
        await store.close()


def _hash(token: str) -> str:
    from app.web.passwords import hash_token

    return hash_token(token)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def export(http: TestClient, token: str, **query: str) -> str:
    resp = await http.get("/api/events/export", params=query, headers=bearer(token))
    assert resp.status == 200, await resp.text()
    return await resp.text()


async def two_callbacks(http: TestClient, shell: Shell) -> tuple[str, str]:
    ids = []
    for queue, number in (("support", SUPPORT_NUMBER), ("sales", SALES_NUMBER)):
        resp = await http.post("/api/callbacks", json={"queue": queue, "number": number}, headers=bearer(TOKEN))
        assert resp.status == 201
        ids.append((await resp.json())["request_id"])
    await shell.service.wait_committed()
    return ids[0], ids[1]


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


async def test_a_supervisor_exports_only_their_queues(shell: Shell, http: TestClient) -> None:
    support, sales = await two_callbacks(http, shell)
    everything = rows(await export(http, TOKEN))
    assert {r["request_id"] for r in everything} >= {support, sales}
    text = await export(http, SUPPORT_TOKEN)
    mine = rows(text)
    assert mine and {r["request_id"] for r in mine} == {support}
    assert "sales" not in text.lower() and sales not in text and SALES_NUMBER not in text
    assert SUPPORT_NUMBER in text  # a supervisor sees numbers
    resp = await http.get("/api/events/export", params={"queue": "sales"}, headers=bearer(SUPPORT_TOKEN))
    assert resp.status == 404


async def test_a_viewer_gets_masked_numbers(shell: Shell, http: TestClient) -> None:
    await two_callbacks(http, shell)
    text = await export(http, VIEWER_TOKEN, format="jsonl")
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines and all(line["queue"] == "support" for line in lines if line["queue"])
    assert SUPPORT_NUMBER not in text and "+•••••••456" in text


async def test_csv_reads_back_to_the_json_lines_and_the_time_range_applies(shell: Shell, http: TestClient) -> None:
    await two_callbacks(http, shell)
    as_csv = rows(await export(http, TOKEN))
    as_json = [json.loads(line) for line in (await export(http, TOKEN, format="jsonl")).splitlines()]
    assert len(as_csv) == len(as_json) > 0
    for c, j in zip(as_csv, as_json, strict=True):
        assert int(c["id"]) == j["id"] and float(c["at_epoch"]) == j["at_epoch"] and c["at"] == j["at"]
        assert (c["kind"], c["request_id"] or None, c["agent_id"] or None) == (
            j["kind"],
            j["request_id"],
            j["agent_id"],
        )
        assert json.loads(c["data"]) == j["data"]
    later = shell.clock() + 10
    assert rows(await export(http, TOKEN, **{"from": str(later)})) == []
    first = as_json[0]["at_epoch"]
    only_first = rows(await export(http, TOKEN, **{"from": str(first), "to": str(first + 0.0001)}))
    assert {r["at_epoch"] for r in only_first} == {str(first)}
    resp = await http.get("/api/events/export", params={"from": "yesterday"}, headers=bearer(TOKEN))
    assert resp.status == 400


async def test_an_export_the_store_fails_part_way_is_a_cut_download_not_an_error_inside_the_file(
    shell: Shell, http: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The headers and the first page are out when the store refuses the next page: an answer of
    ours can no longer follow (a 503 written then landed inside the CSV, as if a line of it). The
    download must fail as a download, so the admin's tool says it is cut."""
    from app.store.errors import StoreBusy
    from app.web import export as export_module

    await two_callbacks(http, shell)
    store = shell.service.store
    assert store is not None
    pages = 0
    real_events = store.events

    async def second_page_fails(**kwargs: object) -> object:
        nonlocal pages
        pages += 1
        if pages > 1:
            raise StoreBusy("database is locked")
        return await real_events(**kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(export_module, "PAGE", 1)  # one event a page: the second page is mid-file
    monkeypatch.setattr(store, "events", second_page_fails)
    resp = await http.get("/api/events/export", headers=bearer(TOKEN))
    assert resp.status == 200  # the headers went out before the first line
    # Before: the 503 was written inside the body and the download never ended (the client hung).
    async with asyncio.timeout(10):
        with pytest.raises(aiohttp.ClientPayloadError):
            await resp.read()
