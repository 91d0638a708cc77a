"""Whose lock is it: a restarted container's service has the same pid (1) and hostname as the
incarnation that crashed, and must not take that dead process's lock for a live one."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from pathlib import Path

import pytest

from app.store.lease import Lease
from app.store.sqlite import SQLiteStore
from app.telephony.instance_lock import LOCK_TTL, AnotherInstanceRunning, InstanceLock
from app.telephony.leadership import Leadership

HERE = socket.gethostname()


async def test_a_lock_left_by_a_previous_incarnation_with_our_pid_is_taken_over_at_once(tmp_path: Path) -> None:
    """Same host, same pid, another nonce: a process that is gone (killed with its container).
    Refusing it kept the restart down until the lock expired (LOCK_TTL)."""
    store = SQLiteStore(str(tmp_path / "holdfast.db"))
    await store.open()
    try:
        assert await store.acquire_lock(f"{HERE}:{os.getpid()}:deadbeef", LOCK_TTL, time.time())
        lock = InstanceLock(store, time.time, lambda: None)
        await lock.acquire()
        holder = await store.lock_holder()
        assert holder is not None and holder.owner == lock.owner
        await lock.release()
    finally:
        await store.close()


async def test_a_lock_of_a_live_process_on_this_host_is_still_respected(tmp_path: Path) -> None:
    """The other side of the rule: a pid that is not ours and runs (our parent) is a live instance."""
    store = SQLiteStore(str(tmp_path / "holdfast.db"))
    await store.open()
    try:
        live = f"{HERE}:{os.getppid()}:cafebabe"
        assert await store.acquire_lock(live, LOCK_TTL, time.time())
        with pytest.raises(AnotherInstanceRunning, match="holds the lock"):
            await InstanceLock(store, time.time, lambda: None).acquire()
        holder = await store.lock_holder()
        assert holder is not None and holder.owner == live
    finally:
        await store.close()


class _Leases:
    """A leadership lease held by `holder` until it is asked `free_after` times (then it has expired)."""

    def __init__(self, holder: str, free_after: int) -> None:
        self.holder = Lease("leader", holder, 7, 0.0, time.time() + 3)
        self.free_after = free_after
        self.tries = 0

    async def acquire_lease(self, owner: str, ttl: float, now: float, name: str) -> Lease | None:
        self.tries += 1
        if self.tries <= self.free_after:
            return None
        self.holder = Lease(name, owner, self.holder.epoch + 1, now, now + ttl)
        return self.holder

    async def lease_holder(self, name: str) -> Lease | None:
        return self.holder

    async def refresh_lease(self, lease: Lease, ttl: float, now: float) -> Lease | None:
        return lease

    async def release_lease(self, lease: Lease, now: float) -> None:
        pass

    def fence(self, lease: Lease) -> None:
        pass


async def test_a_lease_left_by_a_previous_incarnation_with_our_pid_is_waited_out_not_refused() -> None:
    """Leadership on PostgreSQL: the dead incarnation's lease runs out within LEASE_TTL and is then
    ours, instead of `holdfast run` refusing to start."""
    leases = _Leases(f"{HERE}:{os.getpid()}:deadbeef", free_after=1)
    leadership = Leadership(leases, time.time, lambda: None)  # type: ignore[arg-type]
    await leadership.acquire()
    try:
        assert leadership.lease is not None and leadership.lease.owner == leadership.owner
        assert leadership.lease.epoch == 8
    finally:
        await leadership.release()


async def test_a_lock_the_store_will_not_refresh_stops_before_it_expires(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A busy store is waited out; one that refuses every refresh until the lock would run out stops
    the lock's task (and so the service) before another instance could take the lock and drive the
    same Asterisk app beside it."""
    from app.store import StoreBusy
    from app.telephony import instance_lock

    every = 2.0**-7  # seconds between refreshes (binary fractions: the sums below are exact)
    monkeypatch.setattr(instance_lock, "REFRESH_EVERY", every)
    monkeypatch.setattr(instance_lock, "LOCK_TTL", 3 * every)
    store = SQLiteStore(str(tmp_path / "holdfast.db"))
    await store.open()
    now = [1000.0]
    refused: list[float] = []

    async def refusing(owner: str, ttl: float, at: float) -> bool:
        refused.append(at)
        now[0] += every  # the next try comes one refresh later on the service's clock
        raise StoreBusy("database is locked")

    try:
        monkeypatch.setattr(store, "refresh_lock", refusing)
        lock = InstanceLock(store, lambda: now[0], lambda: None)
        await lock.acquire()
        assert lock.task is not None
        with pytest.raises(StoreBusy):
            await asyncio.wait_for(lock.task, 5)
        # tried at 0, 1 and 2 refreshes after taking it; the next would find it expired
        assert refused == [1000.0, 1000.0 + every, 1000.0 + 2 * every]
    finally:
        await store.close()
