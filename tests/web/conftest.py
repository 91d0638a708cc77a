"""The API under test: the real service (engine, executor, ARI client) on a fake Asterisk, served
in-process by aiohttp's test server. Override `admin_token` or `shell_extra` to change settings."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from app.web.api import make_app
from tests.ari.fake_ari import FakeAri
from tests.telephony.conftest import Shell, config_text, fake_ari, make_shell

__all__ = ["TOKEN", "fake_ari"]

TOKEN = "s3cret-token-0123456789"

# support and sales take callbacks here (the shell's defaults have them off)
CALLBACK_QUEUES = """
  support:
    display_name: Support
    ring_timeout: 15s
    wrap_up: 10s
  sales:
    display_name: Sales
    ring_timeout: 15s
    wrap_up: 10s
"""


@pytest.fixture
def admin_token() -> str | None:
    return None


@pytest.fixture
def shell_text(fake_ari: FakeAri, admin_token: str | None) -> str:
    extra = f'service:\n  admin_token: "{admin_token}"\n' if admin_token else ""
    return config_text(fake_ari, queues=CALLBACK_QUEUES, extra=extra)


@pytest.fixture
async def shell(fake_ari: FakeAri, shell_text: str) -> AsyncIterator[Shell]:
    s = await make_shell(fake_ari, shell_text)
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


@pytest.fixture
async def http(shell: Shell) -> AsyncIterator[TestClient]:
    client = TestClient(TestServer(make_app(shell.service)))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()
