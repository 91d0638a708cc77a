"""The page's log-in key is the store's, one for every node on it (app/web/auth.py,
`load_session_key`; app/store/web_sessions.py). Before, each node kept its own key in its data
directory: a standby that took over (behind a load balancer, or on a moved address) refused every
supervisor's cookie as "invalid" and logged everyone out mid-shift. The first node to start after
the upgrade hands over the key its data directory held, so the cookies it signed stay valid."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from app.store.sqlite import SQLiteStore
from app.web.api import make_app
from app.web.context import SESSIONS_KEY
from app.web.sessions import COOKIE, KEY_FILE, SessionKeeper
from tests.ari.fake_ari import FakeAri
from tests.telephony.conftest import Shell, config_text, make_shell
from tests.web.conftest import CALLBACK_QUEUES
from tests.web.test_users_api import login, users_yaml

Node = Callable[[str], AbstractAsyncContextManager[Shell]]


@pytest.fixture
async def node(fake_ari: FakeAri, tmp_path: Path) -> AsyncIterator[Node]:
    """`node(name)`: a Holdfast with its own data directory (tmp/<name>) on the one shared store,
    its service not started (a standby's, until it takes over)."""
    stores: list[SQLiteStore] = []

    @asynccontextmanager
    async def make(name: str) -> AsyncIterator[Shell]:
        store = SQLiteStore(tmp_path / "holdfast.db", busy_timeout=5.0)  # one database, a connection each
        await store.open()
        stores.append(store)
        (tmp_path / name).mkdir(exist_ok=True)
        text = config_text(fake_ari, queues=CALLBACK_QUEUES, extra=users_yaml(tmp_path / name))
        shell = await make_shell(fake_ari, text, store=store)
        try:
            yield shell
        finally:
            await shell.stop()

    yield make
    for store in stores:
        await store.close()


def cookie_of(client: TestClient) -> str:
    return client.session.cookie_jar.filter_cookies(client.make_url("/"))[COOKIE].value


async def status_with(shell: Shell, cookie: str) -> int:
    """GET /api/session with `cookie` on a freshly started app of this node."""
    async with TestClient(TestServer(make_app(shell.service))) as fresh:
        return (await fresh.get("/api/session", headers={"Cookie": f"{COOKIE}={cookie}"})).status


def sam_hash(shell: Shell) -> str:
    password_hash = shell.service.config.users["sam"].password_hash
    assert password_hash is not None
    return password_hash


async def test_two_nodes_on_one_store_accept_each_others_cookies(node: Node, tmp_path: Path) -> None:
    async with node("a") as a, node("b") as b:
        await a.start()  # a leads; b waits
        on_a = await login(a, "sam")
        try:
            from_a = cookie_of(on_a)
            assert await status_with(b, from_a) == 200  # behind a load balancer: b knows a's cookie
            on_b = await login(b, "gus")
            try:
                assert await status_with(a, cookie_of(on_b)) == 200  # and a knows b's
            finally:
                await on_b.close()
        finally:
            await on_a.close()
        await a.stop()  # the leader dies; b takes over, started as after a restart
        await b.start()
        assert await status_with(b, from_a) == 200  # sam stays logged in
    assert not list(tmp_path.glob(f"*/{KEY_FILE}"))  # no data directory got a key file of its own


async def test_the_key_is_known_before_the_app_serves(node: Node) -> None:
    async with node("a") as a:
        app = make_app(a.service)
        with pytest.raises(RuntimeError, match="not known yet"):
            app[SESSIONS_KEY].issue("sam", sam_hash(a), 60.0)  # never a key made up on the spot
        async with TestClient(TestServer(app)):
            assert a.service.store is not None
            assert app[SESSIONS_KEY].key == await a.service.store.session_key(os.urandom(32))


async def test_an_upgrade_takes_over_the_key_file_so_nobody_is_logged_out(node: Node, tmp_path: Path) -> None:
    """Each node kept its own web-session.key before; the first to start hands its key over."""
    old_a, old_b = os.urandom(32), os.urandom(32)
    for name, key in (("a", old_a), ("b", old_b)):
        (tmp_path / name).mkdir()
        (tmp_path / name / KEY_FILE).write_bytes(key)
    written_at = (tmp_path / "a" / KEY_FILE).stat().st_mtime_ns
    async with node("a") as a, node("b") as b:
        # Cookies issued before the upgrade, each node with its own key.
        before_a, _ = SessionKeeper(old_a).issue("sam", sam_hash(a), 8 * 3600.0)
        before_b, _ = SessionKeeper(old_b).issue("sam", sam_hash(b), 8 * 3600.0)
        await a.start()
        assert await status_with(a, before_a) == 200  # the upgraded node: a's cookie still logs in
        assert a.service.store is not None
        assert await a.service.store.session_key(os.urandom(32)) == old_a  # the store holds a's old key
        assert await status_with(b, before_a) == 200  # and so b accepts it too
        # b's own old key is not taken (one key for all): its cookies log in again, once.
        assert await status_with(b, before_b) == 401
    assert (tmp_path / "a" / KEY_FILE).read_bytes() == old_a  # the file is left as it was, only read
    assert (tmp_path / "a" / KEY_FILE).stat().st_mtime_ns == written_at
    assert (tmp_path / "b" / KEY_FILE).read_bytes() == old_b


async def test_a_service_without_a_store_keeps_its_key_in_the_data_directory(fake_ari: FakeAri, tmp_path: Path) -> None:
    shell = await make_shell(fake_ari, config_text(fake_ari, queues=CALLBACK_QUEUES, extra=users_yaml(tmp_path)))
    await shell.start()
    try:
        client = await login(shell, "sam")
        try:
            cookie = cookie_of(client)
        finally:
            await client.close()
        key_file = tmp_path / KEY_FILE
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert await status_with(shell, cookie) == 200  # a restart of the app: the same key, from the file
        found = SessionKeeper(key_file.read_bytes()).read(cookie, {"sam": sam_hash(shell)}, time.time())
        assert not isinstance(found, str)
    finally:
        await shell.stop()
