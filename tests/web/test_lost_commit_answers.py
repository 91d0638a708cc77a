"""A write whose COMMIT the database carried out but whose answer was lost (PostgreSQL over a
network that dropped at that moment: `StoreIOError`), then retried by the client. The store side
is proven on real PostgreSQL (tests/store/test_pg_ambiguous_commit_audit.py); here the API's
answers to it, on the real service app with a real SQLite store whose write is made to commit and
then raise, as the lost answer does."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from app.core.events import ContactsChanged
from app.store import StoreIOError
from app.store.sqlite import SQLiteStore
from tests.telephony.conftest import Shell
from tests.web.test_campaign_writes_api import NEW, call, stopped_api_campaign
from tests.web.test_campaigns_api import CAMPAIGN, http, shell_text, store, stored_shell

__all__ = ["http", "shell_text", "store", "stored_shell"]  # the fixtures of the contacts API tests

LOST = "connection lost at COMMIT (test): the transaction may have committed"


def answer_lost_once(monkeypatch: pytest.MonkeyPatch, store: SQLiteStore, method: str) -> None:
    """The next call of `store.method` is carried out, then its answer is lost."""
    real: Callable[..., Awaitable[Any]] = getattr(store, method)

    async def committed_then_lost(*args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(store, method, real)  # the retry goes through
        await real(*args, **kwargs)
        raise StoreIOError(LOST)

    monkeypatch.setattr(store, method, committed_then_lost)


async def test_a_503_after_a_lost_commit_answer_does_not_say_nothing_was_stored(
    http: TestClient, store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    answer_lost_once(monkeypatch, store, "dnc_add")
    status, refused = await call(http, "POST", "/api/dnc", entries=["+4520123456"])
    assert status == 503, refused
    assert "may have been stored" in refused["error"] and "wrote nothing" not in refused["error"], refused
    assert await store.dnc_entries(None) == [("+4520123456", False)]  # it was, indeed


async def test_a_delete_retried_after_its_answer_was_lost_finishes_the_deletion(
    http: TestClient, store: SQLiteStore, stored_shell: Shell, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stored state ("stopped") went with the definition: the retry was refused as "not
    stopped" (409), and the engine kept running a campaign the store no longer had."""
    await stopped_api_campaign(http)
    answer_lost_once(monkeypatch, store, "delete_campaign_def")
    assert (await call(http, "DELETE", f"/api/campaigns/{NEW}"))[0] == 503
    assert NEW in stored_shell.service.api_campaigns  # stored, not applied
    status, deleted = await call(http, "DELETE", f"/api/campaigns/{NEW}")
    assert (status, deleted) == (200, {"deleted": NEW}), deleted
    assert NEW not in stored_shell.service.api_campaigns
    assert NEW not in {c.id for c in stored_shell.engine.settings.campaigns}
    assert (await call(http, "DELETE", f"/api/campaigns/{NEW}"))[0] == 404  # and only once


async def test_a_dnc_removal_retried_after_its_answer_was_lost_still_frees_the_contacts(
    http: TestClient, store: SQLiteStore, stored_shell: Shell, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The retry finds nothing to remove (0 there): the engine was not told the campaign's
    contacts may be due again, and those held back by the entry waited for the next poll."""
    assert (await call(http, "POST", f"/api/campaigns/{CAMPAIGN}/dnc", entries=["+4520123456"]))[0] == 201
    told: list[object] = []
    feed = stored_shell.service.feed_and_commit

    async def noted(event: Any, *args: Any, **kwargs: Any) -> Any:
        told.append(event)
        return await feed(event, *args, **kwargs)

    monkeypatch.setattr(stored_shell.service, "feed_and_commit", noted)
    answer_lost_once(monkeypatch, store, "dnc_remove")
    assert (await call(http, "DELETE", f"/api/campaigns/{CAMPAIGN}/dnc", entries=["+4520123456"]))[0] == 503
    assert not any(isinstance(e, ContactsChanged) for e in told)  # the failed call told nobody
    status, removed = await call(http, "DELETE", f"/api/campaigns/{CAMPAIGN}/dnc", entries=["+4520123456"])
    assert (status, removed["changed"]) == (200, 0), removed
    assert [e.campaign for e in told if isinstance(e, ContactsChanged)] == [CAMPAIGN]
    assert await store.dnc_entries(CAMPAIGN) == []
