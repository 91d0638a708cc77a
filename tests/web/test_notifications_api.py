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
