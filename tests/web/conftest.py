"""The API under test: the real service (engine, executor, ARI client) on a fake Asterisk, served
in-process by aiohttp's test server. Override `admin_token` or `shell_extra` to change settings."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from app.store.sqlite import SQLiteStore
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


def users_settings(tmp: Path, password_hash: str, **users: dict[str, object]) -> str:
    """`service` (the admin token, data in tmp) and `users`, each with a role and filters, e.g.
    users_settings(tmp, h, sam={"role": "supervisor", "queues": ["support"]})."""
    lines = ["service:", f'  admin_token: "{TOKEN}"', f"  data_dir: {tmp}", "users:"]
    for name, fields in users.items():
        lines += [f"  {name}:", f'    password_hash: "{password_hash}"']
        for key, value in fields.items():
            shown = "[" + ", ".join(f'"{v}"' for v in value) + "]" if isinstance(value, list) else value
            lines.append(f"    {key}: {shown}")
    return "\n".join(lines) + "\n"


@contextlib.asynccontextmanager
async def started_shell(fake: FakeAri, tmp: Path, extra: str, queues: str = CALLBACK_QUEUES) -> AsyncIterator[Shell]:
    """The service on `queues` (the callback queues) with `extra` settings and a real SQLite
    store, started."""
    store = SQLiteStore(tmp / "holdfast.db")
    await store.open()
    s = await make_shell(fake, config_text(fake, queues=queues, extra=extra), store=store)
    await s.start()
    try:
        yield s
    finally:
        await s.stop()
        await store.close()
