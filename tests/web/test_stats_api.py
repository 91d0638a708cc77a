"""GET /api/stats: the figures of a recorded log through the API, cut to the caller's queues and
agents (a supervisor of support gets nothing of sales, no campaigns), and the CSV reads back to
the same rows as the JSON."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from app.core.commands import Activity
from app.store import store_from_dsn
from app.store.stats import COLUMNS
from tests.ari.fake_ari import FakeAri
from tests.store.test_stats import LOG, T0
from tests.telephony.conftest import Shell, make_shell
from tests.web.conftest import TOKEN
from tests.web.test_users_api import SUPPORT_TOKEN, shell_text  # noqa: F401

RANGE = {"from": str(T0), "to": str(T0 + 7200), "interval": "1h"}
RENAMED = {"a1": "1001", "a3": "1002"}  # the log's agents as the configured ones


def _configured(a: Activity) -> Activity:
    return Activity(a.kind, a.request_id, RENAMED.get(a.agent_id or "", a.agent_id), a.queue, a.at, a.data)


@pytest.fixture
async def shell(fake_ari: FakeAri, shell_text: str, tmp_path: Path) -> AsyncIterator[Shell]:  # noqa: F811
    store = store_from_dsn(str(tmp_path / "stats.db"))
    await store.open()
    await store.append_events([_configured(a) for a in LOG])
    s = await make_shell(fake_ari, shell_text, store=store)
    await s.start()
    try:
        yield s
    finally:
        await s.stop()
        await store.close()


async def get(http: TestClient, token: str, **query: str) -> Any:
    resp = await http.get("/api/stats", params={**RANGE, **query}, headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 200, await resp.text()
    return await resp.json() if query.get("format") != "csv" else await resp.text()


async def test_an_admin_gets_every_queue_with_hourly_rows_and_totals(shell: Shell, http: TestClient) -> None:
    answer = await get(http, TOKEN)
    rows = {(r["key"], r["bucket"] - T0): r for r in answer["rows"]}
    assert set(rows) == {("support", 0.0), ("support", 3600.0), ("sales", 0.0)}
    assert (rows[("support", 0.0)]["offered"], rows[("support", 0.0)]["answered"]) == (5, 3)
    assert rows[("support", 0.0)]["asa_p90"] == 30.0
    totals = {t["key"]: t for t in answer["totals"]}
    assert totals["support"]["offered"] == 7 and totals["support"]["bucket"] is None
    assert totals["support"]["sla_gross"] == pytest.approx(0.6667)  # service_level 20 s from the settings
    campaigns = await get(http, TOKEN, by="campaign")
    assert [r["dial_attempts"] for r in campaigns["rows"]] == [3]


async def test_a_supervisor_of_support_sees_nothing_of_sales(shell: Shell, http: TestClient) -> None:
    answer = await get(http, SUPPORT_TOKEN)
    assert {r["key"] for r in answer["rows"] + answer["totals"]} == {"support"}
    for by in ("queue", "agent", "campaign"):
        for fmt in ("json", "csv"):
            resp = await http.get(
                "/api/stats",
                params={**RANGE, "by": by, "format": fmt},
                headers={"Authorization": f"Bearer {SUPPORT_TOKEN}"},
            )
            assert resp.status == 200
            assert "sales" not in (await resp.text()).lower(), (by, fmt)
    assert (await get(http, SUPPORT_TOKEN, by="campaign"))["rows"] == []  # no campaigns filter: no campaign
    agents = await get(http, SUPPORT_TOKEN, by="agent")
    # 1002 answered only a sales call: from support's events it has nothing.
    assert {r["key"] for r in agents["rows"] if r["answered"]} == {"1001"}
    admin_agents = await get(http, TOKEN, by="agent")
    assert {r["key"] for r in admin_agents["rows"] if r["answered"]} == {"1001", "1002", "a2", "a4"}


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def test_csv_reads_back_to_the_json(shell: Shell, http: TestClient) -> None:
    for by in ("queue", "agent", "campaign"):
        answer = await get(http, TOKEN, by=by, interval="15m")
        text = await get(http, TOKEN, by=by, interval="15m", format="csv")
        parsed = list(csv.DictReader(io.StringIO(text)))
        assert list(parsed[0]) == list(COLUMNS)
        expected = answer["rows"] + answer["totals"]
        assert len(parsed) == len(expected) > 0
        for c, j in zip(parsed, expected, strict=True):
            for col in COLUMNS:
                want, got = j[col], c[col]
                if col == "key":
                    assert got == want
                elif col == "bucket":
                    assert (None if got == "" else _epoch(got)) == want
                else:
                    assert (None if got == "" else float(got)) == want, (by, col)


async def test_bad_parameters_are_refused(shell: Shell, http: TestClient) -> None:
    for query in ({"by": "planet"}, {"interval": "7m"}, {"format": "xml"}, {"to": str(T0 - 1)}, {"short_abandon": "x"}):
        resp = await http.get("/api/stats", params={**RANGE, **query}, headers={"Authorization": f"Bearer {TOKEN}"})
        assert resp.status == 400, query
    assert (await http.get("/api/stats", params=RANGE)).status == 401


@pytest.mark.parametrize("value", ["nan", "inf", "-5"])
async def test_short_abandon_must_be_finite_and_not_negative(shell: Shell, http: TestClient, value: str) -> None:
    """The published schema says a number >= 0; NaN or infinity would also reach the answer as
    tokens that are not JSON."""
    query = {**RANGE, "short_abandon": value}
    resp = await http.get("/api/stats", params=query, headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status == 400
    error = json.loads(await resp.text(), parse_constant=lambda c: pytest.fail(f"not JSON: {c}"))["error"]
    assert "short_abandon" in error


@pytest.fixture
def copenhagen(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The host's zone is not UTC (time.tzset makes the process read TZ again)."""
    with monkeypatch.context() as m:
        m.setenv("TZ", "Europe/Copenhagen")
        time.tzset()
        yield
    time.tzset()


async def test_an_instant_without_a_zone_is_utc_whatever_the_hosts_zone(
    shell: Shell, http: TestClient, copenhagen: None
) -> None:
    """Every instant the API answers is UTC; one it is given without a zone must be read so too."""
    bare = await get(http, TOKEN, **{"from": "2026-01-01T00:00:00", "to": "2026-01-02", "interval": "1d"})
    zoned = await get(http, TOKEN, **{"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00+00:00"})
    assert bare["from"] == zoned["from"] == "2026-01-01T00:00:00.000Z"
    assert bare["to"] == zoned["to"] == "2026-01-02T00:00:00.000Z"
