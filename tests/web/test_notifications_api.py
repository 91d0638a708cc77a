"""GET /api/notifications: the last error may quote what the receiver answered, and a gateway can
echo the customer's number or the message in it; a supervisor or viewer sees the row (number
masked as their role says) but not the error or the text, an admin sees both."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.store import Change
from app.store.outbox_records import Notification
from tests.ari.fake_ari import FakeAri
from tests.telephony.conftest import Shell
from tests.web.conftest import TOKEN, started_shell, users_settings
from tests.web.test_users_api import _HASH, login

NUMBER = "+4520123456"
ERROR = f"GET http://gw.example/send answered 400 Bad Request: no route to {NUMBER}"


@pytest.fixture
async def shell(fake_ari: FakeAri, tmp_path: Path) -> AsyncIterator[Shell]:
    users = users_settings(tmp_path, _HASH, vic={"role": "viewer", "queues": ["support"]})
    async with started_shell(fake_ari, tmp_path, users) as s:
        yield s


async def test_the_last_error_and_the_text_are_for_admins_only(shell: Shell) -> None:
    store, notifier = shell.service.store, shell.service.notifier
    assert store is not None and notifier is not None
    await notifier.worker.stop()  # the row's error is the one written here, not the worker's
    now = shell.clock.now
    payload = {"to": NUMBER, "message": "Sorry, support is closed"}
    sms = Notification("n-1", now, "closed", "sms", "web-1", "support", now + 3600, payload)
    await store.commit_many([Change(notifications=[sms])])
    await store.notification_failed("n-1", ERROR)  # type: ignore[attr-defined]
    vic = await login(shell, "vic")
    try:
        [row] = (await (await vic.get("/api/notifications")).json())["notifications"]
        assert (row["id"], row["state"], row["last_error"], row["message"]) == ("n-1", "failed", None, None)
        assert row["number"] != NUMBER
        resp = await vic.get("/api/notifications", headers={"Authorization": f"Bearer {TOKEN}"})  # the admin token
        [row] = (await resp.json())["notifications"]
        assert (row["last_error"], row["message"], row["number"]) == (ERROR, payload["message"], NUMBER)
    finally:
        await vic.close()


async def test_a_supervisor_sees_their_queues_rows_behind_a_thousand_newer_of_other_queues(shell: Shell) -> None:
    """The newest 1000 rows of every queue were read and then cut to the caller's queues: in a
    busy centre a supervisor of a quieter queue saw an empty list, their failed SMS hidden behind
    a thousand newer rows of sales. Their own newest rows are found however many others are newer."""
    store, notifier = shell.service.store, shell.service.notifier
    assert store is not None and notifier is not None
    await notifier.worker.stop()
    now = shell.clock.now
    ours = Notification("ours", now, "closed", "sms", "web-1", "support", now + 3600, {"to": NUMBER, "message": "x"})
    others = [
        Notification(f"s{i:04}", now + 1 + i, "closed", "crm", f"web-s{i}", "sales", now + 3600, {"message": "y"})
        for i in range(1001)
    ]
    await store.commit_many([Change(notifications=[ours, *others])])
    await store.notification_failed("ours", ERROR)  # type: ignore[attr-defined]
    vic = await login(shell, "vic")
    try:
        for query in ("", "?state=failed", "?limit=1"):
            rows = (await (await vic.get(f"/api/notifications{query}")).json())["notifications"]
            assert [r["id"] for r in rows] == ["ours"], query
        admin = {"Authorization": f"Bearer {TOKEN}"}
        rows = (await (await vic.get("/api/notifications?limit=1000", headers=admin)).json())["notifications"]
        assert len(rows) == 1000 and rows[0]["id"] == "s1000"  # newest first, still cut to the limit
    finally:
        await vic.close()
