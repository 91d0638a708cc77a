"""A campaign's pause or resume is written to the change log like every admin change: a store that
keeps refusing the line stops the service (503), never a bare 500 with the change made and no
line (an admin change nobody can account for is not acceptable)."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from app.core.settings import CampaignState
from app.store import StoreError
from app.store.sqlite import SQLiteStore
from tests.ari.fixtures import fake_ari  # noqa: F401
from tests.telephony.conftest import Shell
from tests.web.conftest import admin_token  # noqa: F401
from tests.web.test_campaigns_api import CAMPAIGN, http, shell_text, store, stored_shell  # noqa: F401


async def test_a_change_log_line_the_store_refuses_stops_the_service_not_a_silent_500(
    http: TestClient,  # noqa: F811
    store: SQLiteStore,  # noqa: F811
    stored_shell: Shell,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def refuse(*args: Any, **kwargs: Any) -> int:
        raise StoreError("database is locked")

    monkeypatch.setattr(store, "append_admin", refuse)
    resp = await http.post(f"/api/campaigns/{CAMPAIGN}/resume", json={"by": "eva", "reason": "go"})
    body = await resp.json()
    applied = stored_shell.engine.campaign_state[CAMPAIGN] is CampaignState.RUNNING
    assert resp.status == 503, f"{resp.status} {body}; campaign resumed anyway: {applied}; no change-log entry"
    assert not stored_shell.service.healthy and stored_shell.service.fatal_reason == "admin_log_failed_stopping"
