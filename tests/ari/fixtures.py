"""Pytest fixtures around FakeAri, importable from any test folder:

from tests.ari.fixtures import fake_ari, ari_client  # noqa: F401  (in a conftest.py)
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.ari import AriClient
from tests.ari.fake_ari import FakeAri


@pytest.fixture
async def fake_ari() -> AsyncIterator[FakeAri]:
    async with FakeAri() as fake:
        yield fake


@pytest.fixture
async def ari_client(fake_ari: FakeAri) -> AsyncIterator[AriClient]:
    """A client for the fake (events not started: call client.start_events(...) yourself)."""
    client = AriClient(fake_ari.config())
    try:
        yield client
    finally:
        await client.close(drain_timeout=1.0)
