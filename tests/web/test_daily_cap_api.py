"""callback.max_per_number_per_day over the API, on the running service with a real SQLite store:
a form cannot be used to ring one number all day, the refusal says when to come back, and a
restart does not wipe the count."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from app.core.promise_log import DAY
from app.store.sqlite import SQLiteStore
from app.web.api import make_app
from tests.ari.fake_ari import FakeAri
from tests.telephony.conftest import CALLER, FakeClock, Shell, config_text, make_shell

OTHER = "+4520999888"

CAPPED_QUEUES = """
  support:
    display_name: Support
    ring_timeout: 15s
    callback:
      max_per_number_per_day: 2
  sales:
    display_name: Sales
    ring_timeout: 15s
"""


@contextlib.asynccontextmanager
async def service(fake: FakeAri, db: Path, clock: FakeClock) -> AsyncIterator[tuple[Shell, TestClient]]:
    store = SQLiteStore(db)
    await store.open()
    shell = await make_shell(fake, config_text(fake, queues=CAPPED_QUEUES), clock=clock, store=store)
    await shell.start()
    http = TestClient(TestServer(make_app(shell.service)))
    await http.start_server()
    try:
        yield shell, http
    finally:
        await http.close()
        await shell.stop()
        await store.close()


async def ask(http: TestClient, number: str = CALLER, queue: str = "support") -> tuple[int, dict[str, Any], str | None]:
    resp = await http.post("/api/callbacks", json={"queue": queue, "number": number})
    return resp.status, await resp.json(), resp.headers.get("Retry-After")


async def ask_and_end(http: TestClient, number: str = CALLER) -> None:
    """A callback asked for and then ended (as if served): it still counts toward the cap."""
    status, body, _ = await ask(http, number)
    assert status == 201, body
    resp = await http.delete(f"/api/callbacks/{body['request_id']}", json={"by": "eva", "reason": "served"})
    assert resp.status == 200


async def test_the_third_callback_is_429_until_a_day_after_the_first_even_across_a_restart(
    fake_ari: FakeAri, tmp_path: Path
) -> None:
    clock = FakeClock()
    first = clock.now
    async with service(fake_ari, tmp_path / "holdfast.db", clock) as (shell, http):
        await ask_and_end(http)
        clock.advance(3600)
        await ask_and_end(http, "20123456")  # the same number, written nationally
        clock.advance(60)
        waiting = sorted(shell.engine.requests)
        status, body, retry_after = await ask(http)
        assert status == 429, body
        assert body["reason"] == "daily_limit" and "allows 2 a day" in body["error"]
        assert retry_after == str(round(first + DAY - clock.now)) == str(body["retry_after"])
        assert sorted(shell.engine.requests) == waiting  # nothing added
        assert (await ask(http, OTHER))[0] == 201  # another number is not held back
        assert (await ask(http, "30123456", queue="sales"))[0] == 201  # nor a queue without a cap
    clock.advance(60)
    async with service(fake_ari, tmp_path / "holdfast.db", clock) as (shell, http):
        status, body, retry_after = await ask(http)
        assert status == 429, body  # the count came back from the store
        assert retry_after == str(round(first + DAY - clock.now))
        clock.now = first + DAY
        assert (await ask(http))[0] == 201
