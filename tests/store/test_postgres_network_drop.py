"""A silent network drop on a real network (a veth pair into a network namespace, its far end set
down: no reset, the packets vanish; tests/store/netns_drop.py), where the store's own limits do not
reach and only TCP can tell:
- the migrations at open have no limit (a big table's may take long): a drop during them must fail
  the start with an error saying so, not hold it forever with nothing logged; a long migration on a
  live link must still finish;
- on the server, a session busy sending a large result to a client that is gone, or waiting for
  the rest of its write, is "active", not idle in its transaction: it must end within about the
  store's `network_timeout`, releasing its row locks (a leader's lease row, FOR SHARE), so a standby
  can take over, not when the server's TCP gives up (15 minutes and more with default kernel
  settings; never, for a quiet connection without keepalives).

Needs root, `ip netns` and PostgreSQL's binaries (a throwaway cluster each); under CI a missing
part fails (netns_drop.need_parts).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest

from app.store import StoreBusy, StoreIOError
from app.store.lease import Lease
from app.store.postgres import PostgresStore
from tests.store.netns_drop import Cluster, NetnsLink, link_and_cluster

NETWORK_TIMEOUT = 2.0  # the store's in these tests
BOUND = 15.0  # the test's, from the drop: well past it, well short of the kernel's defaults
REPO = Path(__file__).resolve().parents[2]

SLOW_MIGRATION = "SELECT pg_sleep(600)"  # a big table's, taking long


async def statement_running(local_dsn: str, like: str) -> int:
    """The server process running a statement like `like` (waited for), seen over the Unix socket."""
    conn = await asyncpg.connect(local_dsn)
    try:
        async with asyncio.timeout(BOUND):
            while True:
                pid = await conn.fetchval(
                    "SELECT pid FROM pg_stat_activity WHERE state = 'active' AND query LIKE $1", like
                )
                if pid is not None:
                    return int(pid)
                await asyncio.sleep(0.05)
    finally:
        await conn.close()


async def test_a_drop_during_the_migrations_at_open_fails_the_start_with_an_error_saying_so() -> None:
    with link_and_cluster(server_in_netns=True) as (link, cluster):
        store = PostgresStore(cluster.dsn, network_timeout=NETWORK_TIMEOUT, migrations=(SLOW_MIGRATION,))
        opening = asyncio.ensure_future(store.open())
        await statement_running(cluster.local_dsn, SLOW_MIGRATION)
        link.drop()
        dropped = time.monotonic()
        await asyncio.wait({opening}, timeout=BOUND)
        if not opening.done():
            if store._pool is not None:  # let the test end: the hung connection is cut off
                store._pool.terminate()
            opening.cancel()
            with contextlib.suppress(BaseException):
                await opening
            pytest.fail(f"open() still waiting {BOUND:g} s after the drop: the start hangs forever")
        with pytest.raises(StoreIOError, match="the database stopped answering during the migrations at open"):
            opening.result()
        assert time.monotonic() - dropped < NETWORK_TIMEOUT + 5.0
        assert store._pool is None  # not open: nothing half-open is left behind


async def test_a_long_migration_on_a_live_link_is_not_cut() -> None:
    """The server answers the keepalives from its kernel while it works: a quiet connection for
    three times `network_timeout` is not taken for a dead one."""
    with link_and_cluster(server_in_netns=True) as (_, cluster):
        long = f"SELECT pg_sleep({3 * NETWORK_TIMEOUT:g})"
        store = PostgresStore(cluster.dsn, network_timeout=NETWORK_TIMEOUT, migrations=(long,))
        await store.open()
        try:
            assert await store.schema_version() == 1
        finally:
            await store.close()


# ---- the server's side: the client (the leader) in the namespace, PostgreSQL on the host's end

TTL = 1.0


@contextlib.asynccontextmanager
async def leader_in_netns(link: NetnsLink, cluster: Cluster, schema: str, mode: str) -> AsyncIterator[None]:
    """tests/store/netns_leader.py in the namespace, once it holds the lease row and streams."""
    leader = await asyncio.create_subprocess_exec(
        *("ip", "netns", "exec", link.netns, sys.executable, "-m", "tests.store.netns_leader"),
        *(cluster.dsn, schema, str(NETWORK_TIMEOUT), str(TTL), mode),
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert leader.stdout is not None and leader.stderr is not None
        async with asyncio.timeout(BOUND):
            line = await leader.stdout.readline()  # (one line, then it streams; or it fails and exits)
            if line.strip() != b"holding":
                pytest.fail(f"the leader did not start: {line!r} {(await leader.stderr.read()).decode()}")
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            leader.kill()
        await leader.wait()


async def taken_over(standby: PostgresStore, since: float) -> Lease:
    """As a standby does (Leadership.wait_for_lease): try until the lease is ours; a test failure
    once BOUND has passed since the drop."""
    busy = 0
    while True:
        try:
            lease = await standby.acquire_lease("standby:2:b", TTL, time.time())
        except StoreBusy:  # the lease row is locked
            busy += 1
            lease = None
        if lease is not None:
            return lease
        if time.monotonic() - since > BOUND:
            pytest.fail(f"the standby could not take the lease within {BOUND:g} s of the drop ({busy} tries StoreBusy)")
        await asyncio.sleep(0.1)


async def session_gone(standby: PostgresStore, pid: int) -> None:
    """Waits for the server process `pid` to leave pg_stat_activity: its locks go when its
    transaction aborts, the process (and its row there) a moment later, under load some
    milliseconds after the standby already took the lease."""
    async with asyncio.timeout(5.0):
        while True:
            async with standby._transaction() as conn:
                if await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid) == 0:
                    return
            await asyncio.sleep(0.05)


STATEMENTS = {"large result": "%generate_series%", "half-sent write": "COPY%"}  # (netns_leader.MODES)


@pytest.mark.parametrize("mode", list(STATEMENTS))
async def test_a_standby_takes_over_from_a_leader_gone_silent_while_its_server_process_is_active(mode: str) -> None:
    schema = f"holdfast_test_{uuid.uuid4().hex[:12]}"
    with link_and_cluster(server_in_netns=False) as (link, cluster):
        standby = PostgresStore(cluster.local_dsn, schema=schema, busy_timeout=0.5)  # never crosses the link
        await standby.open()
        try:
            async with leader_in_netns(link, cluster, schema, mode):
                active = await statement_running(cluster.local_dsn, STATEMENTS[mode])
                link.drop()
                dropped = time.monotonic()
                taken = await taken_over(standby, dropped)
                took = time.monotonic() - dropped
                assert taken.owner == "standby:2:b" and taken.epoch == 2
                assert took < NETWORK_TIMEOUT + 5.0, f"took over {took:.1f} s after the drop"
                await session_gone(standby, active)  # the leader's session was ended by the server
        finally:
            await standby.close()
