"""Both ends' TCP gives up on a silent peer after about the store's `network_timeout`: our socket
options on every connection, the server's per session. What they achieve on a real network drop is
in test_postgres_network_drop.py (root and ip netns); here, that they are set.

The last test runs when HOLDFAST_TEST_POSTGRES_DSN is set; under CI a missing database fails (conftest).
"""

from __future__ import annotations

import socket
import uuid

import pytest

from app.store.pg_network import keepalive_for, session_settings
from app.store.postgres import PostgresStore, drop_schema
from tests.store.conftest import POSTGRES_DSN


@pytest.mark.parametrize("network_timeout", [30.0, 10.0, 2.0])
def test_the_probes_give_up_about_the_network_timeout_after_the_peer_went_silent(network_timeout: float) -> None:
    keepalive = keepalive_for(network_timeout)
    assert keepalive.user_timeout_ms == network_timeout * 1000
    assert 1 <= keepalive.idle < network_timeout and keepalive.interval >= 1 and keepalive.count >= 2
    probing_gives_up = keepalive.idle + keepalive.interval * keepalive.count
    assert network_timeout <= probing_gives_up <= network_timeout + 2  # (whole seconds)


def test_the_session_settings_are_one_string_with_the_servers_side_of_the_probes() -> None:
    keepalive = keepalive_for(30.0)
    settings = session_settings("holdfast", 5.0, 10.0, keepalive)
    assert settings.split("; ") == [
        "SET search_path TO holdfast",
        "SET lock_timeout = 5000",
        "SET idle_in_transaction_session_timeout = 10000",
        "SET tcp_keepalives_idle = 15",
        "SET tcp_keepalives_interval = 5",
        "SET tcp_keepalives_count = 3",
        "SET tcp_user_timeout = 30000",
    ]


@pytest.mark.skipif(not POSTGRES_DSN, reason="set HOLDFAST_TEST_POSTGRES_DSN to run PostgreSQL tests")
async def test_a_pooled_connection_has_the_probes_on_both_ends() -> None:
    assert POSTGRES_DSN is not None
    schema = f"holdfast_test_{uuid.uuid4().hex[:12]}"
    store = PostgresStore(POSTGRES_DSN, schema=schema, network_timeout=7.0)
    keepalive = keepalive_for(7.0)
    await store.open()
    try:
        async with store._transaction() as conn:
            sock = conn._transport.get_extra_info("socket")
            if sock.family == socket.AF_UNIX:
                pytest.fail("the test database's DSN must be TCP: a Unix socket has no network to drop")
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == keepalive.idle
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == keepalive.interval
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == keepalive.count
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == keepalive.user_timeout_ms
            server = await conn.fetchrow(
                "SELECT current_setting('tcp_keepalives_idle') AS idle, "
                "current_setting('tcp_keepalives_interval') AS interval, "
                "current_setting('tcp_keepalives_count') AS count, current_setting('tcp_user_timeout') AS user_timeout"
            )
        # (on a Unix socket, or where the socket refused them, the server would say 0)
        assert dict(server) == {
            "idle": str(keepalive.idle),
            "interval": str(keepalive.interval),
            "count": str(keepalive.count),
            "user_timeout": str(keepalive.user_timeout_ms),
        }
    finally:
        await store.close()
        await drop_schema(POSTGRES_DSN, schema)
