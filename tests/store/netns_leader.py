"""A leader for test_postgres_network_drop.py, run inside the test's network namespace: it takes
the lease, and in a fenced transaction (the lease row FOR SHARE) keeps its server process "active"
(never idle in the transaction), printing "holding" once the statement is sent. The test then drops
the link under it. Two ways (MODE):
- "large result": PostgreSQL streams it a large result, as a long report would: the server has
  sent data the client never acknowledges;
- "half-sent write": a COPY whose data stops coming, as a write cut between its messages (Bind and
  Sync): the server waits for the client on a quiet connection.

python -m tests.store.netns_leader DSN SCHEMA NETWORK_TIMEOUT TTL MODE
"""

from __future__ import annotations

import asyncio
import math
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

from app.store.postgres import PostgresStore

# Rows of 100 kB, 20 a second: the server always has data in flight, without busying the machine.
# A simple query (execute, no arguments): asyncpg reads and drops the rows, holding no memory.
LARGE_RESULT = "SELECT pg_sleep(0.05), repeat('x', 100000) FROM generate_series(1, 1000000)"


async def a_large_result(conn: Any) -> None:
    await conn.execute(LARGE_RESULT)


async def a_half_sent_write(conn: Any) -> None:
    async def first_line_only() -> AsyncIterator[bytes]:
        yield b"first\n"
        await asyncio.Event().wait()  # the rest never comes

    await conn.execute("CREATE TEMP TABLE sink (line TEXT)")
    await conn.copy_to_table("sink", source=first_line_only())


MODES = {"large result": a_large_result, "half-sent write": a_half_sent_write}


async def lead(dsn: str, schema: str, network_timeout: float, ttl: float, mode: str) -> None:
    store = PostgresStore(dsn, schema=schema, network_timeout=network_timeout)
    await store.open()
    lease = await store.acquire_lease("leader:1:a", ttl, time.time())
    assert lease is not None, "the lease is held by another"
    store.fence(lease)
    async with store._transaction(limit=math.inf) as conn:  # (no limit: the drop is the test's)
        statement = asyncio.ensure_future(MODES[mode](conn))
        await asyncio.sleep(0.1)  # sent
        print("holding", flush=True)
        await statement


if __name__ == "__main__":
    dsn, schema, network_timeout, ttl, mode = sys.argv[1:6]
    asyncio.run(lead(dsn, schema, float(network_timeout), float(ttl), mode))
