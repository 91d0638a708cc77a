"""Statistics and export ranges a supervisor may type: an instant no calendar can show is a 400,
not a 500; an export whose range is reversed is refused, not answered with an empty file."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from app.core.commands import Activity
from app.store import store_from_dsn
from app.web.times import iso
from tests.ari.fake_ari import FakeAri
from tests.store.test_stats import LOG, T0
from tests.telephony.conftest import Shell, make_shell
from tests.web.conftest import TOKEN
from tests.web.test_users_api import shell_text  # noqa: F401

HEADERS = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def shell(fake_ari: FakeAri, shell_text: str, tmp_path: Path) -> AsyncIterator[Shell]:  # noqa: F811
    store = store_from_dsn(str(tmp_path / "audit.db"))
    await store.open()
    await store.append_events(LOG)
    s = await make_shell(fake_ari, shell_text, store=store)
    await s.start()
    try:
        yield s
    finally:
        await s.stop()
        await store.close()


@pytest.mark.parametrize("start", ["1e12", "-1e12", "300000000000"])
@pytest.mark.parametrize("path", ["/api/stats", "/api/events/export"])
async def test_an_instant_beyond_the_calendar_is_a_400(shell: Shell, http: TestClient, path: str, start: str) -> None:
    """Epoch seconds past year 9999 (or before year 1) cannot be written as ISO 8601: a clear
    400 naming the parameter, not a 500 from the answer's `from`."""
    end = str(float(start) + 86400)
    resp = await http.get(path, params={"from": start, "to": end}, headers=HEADERS)
    assert resp.status == 400, await resp.text()
    assert "from" in (await resp.json())["error"]


async def test_a_default_to_past_the_year_9999_is_a_400(shell: Shell, http: TestClient) -> None:
    """`to` defaults to from + 1 day: from on the last day of 9999 must not make it unwritable."""
    for start in ("9999-12-31T12:00:00Z", "9999-12-31T23:00:00-05:00"):
        resp = await http.get("/api/stats", params={"from": start}, headers=HEADERS)
        assert resp.status == 400, (start, await resp.text())


@pytest.mark.parametrize(("start", "end"), [(T0 + 7200, T0), (T0, T0)])
async def test_an_export_of_a_reversed_or_empty_range_is_refused(
    shell: Shell, http: TestClient, start: float, end: float
) -> None:
    """As /api/stats: `to` before (or at) `from` is a typo, answered 400 rather than an empty file
    the supervisor takes for a day without calls."""
    resp = await http.get("/api/events/export", params={"from": str(start), "to": str(end)}, headers=HEADERS)
    assert resp.status == 400, await resp.text()
    assert "to" in (await resp.json())["error"]


async def test_a_range_reaching_past_the_pruned_history_says_so(shell: Shell, http: TestClient) -> None:
    """keep_history cut the log an hour in: what went before it is missing from the first hour's
    figures, and the answer must say the range was pruned rather than show the hour as quieter
    than it was (JSON field; CSV header)."""
    store = shell.service.store
    assert store is not None
    cut = T0 + 3600
    await store.prune_history(cut, 10_000)
    # as the history keeper records its sweep (app/telephony/history.py)
    await store.append_events([Activity("history_pruned", None, None, None, cut + 1e6, {"before": cut})])
    whole = await http.get("/api/stats", params={"from": str(T0), "to": str(T0 + 7200)}, headers=HEADERS)
    answer = await whole.json()
    assert (answer["pruned_before"], answer["pruned_before_epoch"]) == (iso(cut), cut)
    csv = await http.get("/api/stats", params={"from": str(T0), "to": str(T0 + 7200), "format": "csv"}, headers=HEADERS)
    assert csv.headers["X-Holdfast-Pruned-Before"] == iso(cut)
    kept = await http.get("/api/stats", params={"from": str(cut), "to": str(T0 + 7200)}, headers=HEADERS)
    assert (await kept.json())["pruned_before"] is None  # all of it is kept


@pytest.mark.parametrize("fmt", ["json", "csv"])
async def test_a_report_is_merged_and_written_off_the_event_loop(
    shell: Shell, http: TestClient, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    """A quarter by agent per 15 min (~300 000 rows, now refused: tests/web/test_stats_size.py) was
    2.7 s merging and 2.3 s writing the JSON, of Python on the loop the calls run on (a gap of
    seconds in every call's handling); a report within the bound is still up to 100 000 rows. Both
    must run in a worker thread."""
    from app.store import stats as store_stats
    from app.web import stats as web_stats

    loop_thread = threading.get_ident()
    threads: dict[str, set[int]] = {"merge": set(), "write": set()}

    def recorded(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            threads[name].add(threading.get_ident())
            return fn(*args, **kwargs)

        return run

    monkeypatch.setattr(store_stats, "_ratio", recorded("merge", store_stats._ratio))  # once a row, at least
    if fmt == "csv":
        monkeypatch.setattr(web_stats, "to_csv", recorded("write", web_stats.to_csv))
    else:
        monkeypatch.setattr(web_stats, "json", SimpleNamespace(dumps=recorded("write", json.dumps)))
    resp = await http.get("/api/stats", params={"from": str(T0), "to": str(T0 + 7200), "format": fmt}, headers=HEADERS)
    assert resp.status == 200, await resp.text()
    assert threads["merge"] and loop_thread not in threads["merge"]
    assert threads["write"] and loop_thread not in threads["write"]
