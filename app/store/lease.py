"""The leadership lease on PostgreSQL, with a fencing token (the lease's epoch).

Theory of operation:
- One row per lease name in `leases`: owner ("host:pid:nonce"), epoch, acquired_at, expires_at.
  `acquire_lease` takes it when it is free, expired (expires_at <= now) or already ours; taking it
  from someone else (or after a release) increments the epoch, so every leadership has its own.
- The leader refreshes it well within its ttl; a standby polls `acquire_lease` until it wins.
- Fencing: once the leader calls `fence(lease)`, every transaction of that store first reads its
  lease row FOR SHARE and requires owner and epoch to be unchanged, else raises `FencedOut` and
  nothing of the transaction is written. The row lock orders it against a takeover: a takeover's
  UPDATE waits for in-flight fenced commits (which the new leader then loads), and a commit that
  starts after the takeover sees the new epoch and is refused. So a deposed leader that wakes up
  (SIGSTOP/SIGCONT, a network partition healed) cannot write, and as it acts only on what it
  committed, cannot act either.
- Time is passed in (wall-clock seconds), as for the instance lock: the nodes' clocks must agree
  to well within the ttl (NTP).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.store.errors import StoreError

DEFAULT_LEASE = "leader"

POSTGRES_LEASE = """
    CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        epoch BIGINT NOT NULL,
        acquired_at DOUBLE PRECISION NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL
    );
"""


class FencedOut(StoreError):
    """Another node took the lease over: this node's epoch is no longer current."""


@dataclass(frozen=True)
class Lease:
    name: str
    owner: str
    epoch: int
    acquired_at: float
    expires_at: float


_FENCE_CHECK = "SELECT owner, epoch FROM leases WHERE name = $1 FOR SHARE"


async def check_fence(conn: Any, fence: Lease) -> None:
    """Inside a transaction: raise FencedOut unless `fence` is still the current leadership."""
    row = await conn.fetchrow(_FENCE_CHECK, fence.name)
    if row is None or row["owner"] != fence.owner or int(row["epoch"]) != fence.epoch:
        now_held = "nobody" if row is None else f"{row['owner']} (epoch {row['epoch']})"
        raise FencedOut(
            f"refused: this node's leadership (epoch {fence.epoch}) is no longer current; "
            f"the lease {fence.name!r} is held by {now_held}"
        )


class PostgresLeases:
    """Mixed into PostgresStore, which provides `_transaction(fenced=...)`."""

    fencing: Lease | None = None

    def _transaction(self, isolation: str = "read_committed", fenced: bool = True) -> Any:
        raise NotImplementedError

    def fence(self, lease: Lease | None) -> None:
        """From now on every transaction requires `lease` to be current (None: no check)."""
        self.fencing = lease

    async def acquire_lease(self, owner: str, ttl: float, now: float, name: str = DEFAULT_LEASE) -> Lease | None:
        """Take the lease if free, expired or ours; the lease (with its epoch) or None if held."""
        async with self._transaction(fenced=False) as conn:
            row = await conn.fetchrow(
                "INSERT INTO leases AS l (name, owner, epoch, acquired_at, expires_at) VALUES ($1, $2, 1, $3, $4) "
                "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, "
                "epoch = CASE WHEN l.owner = excluded.owner AND l.expires_at > $3 THEN l.epoch ELSE l.epoch + 1 END, "
                "acquired_at = CASE WHEN l.owner = excluded.owner AND l.expires_at > $3 "
                "THEN l.acquired_at ELSE excluded.acquired_at END, "
                "expires_at = excluded.expires_at "
                "WHERE l.owner = excluded.owner OR l.expires_at <= $3 "
                "RETURNING name, owner, epoch, acquired_at, expires_at",
                name,
                owner,
                now,
                now + ttl,
            )
        return None if row is None else _lease(row)

    async def refresh_lease(self, lease: Lease, ttl: float, now: float) -> Lease | None:
        """Extend our lease to now + ttl; None if it is no longer ours at this epoch (we lost it)."""
        async with self._transaction(fenced=False) as conn:
            row = await conn.fetchrow(
                "UPDATE leases SET expires_at = $1 WHERE name = $2 AND owner = $3 AND epoch = $4 "
                "RETURNING name, owner, epoch, acquired_at, expires_at",
                now + ttl,
                lease.name,
                lease.owner,
                lease.epoch,
            )
        return None if row is None else _lease(row)

    async def release_lease(self, lease: Lease, now: float) -> None:
        """Let a standby take over at once (the row stays, so the next epoch is higher)."""
        async with self._transaction(fenced=False) as conn:
            await conn.execute(
                "UPDATE leases SET expires_at = $1 WHERE name = $2 AND owner = $3 AND epoch = $4",
                now,
                lease.name,
                lease.owner,
                lease.epoch,
            )

    async def lease_holder(self, name: str = DEFAULT_LEASE) -> Lease | None:
        """The lease's row (possibly expired), for 'held by host:pid, epoch N'."""
        async with self._transaction(fenced=False) as conn:
            row = await conn.fetchrow(
                "SELECT name, owner, epoch, acquired_at, expires_at FROM leases WHERE name = $1", name
            )
        return None if row is None else _lease(row)


def _lease(row: Any) -> Lease:
    return Lease(row["name"], row["owner"], int(row["epoch"]), float(row["acquired_at"]), float(row["expires_at"]))
