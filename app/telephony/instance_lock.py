"""Only one service drives one Asterisk app: a lock in the store, renewed while we run.

The lock names its owner "host:pid:nonce". A lock left by a process that died on this host
(kill -9, power cut) is taken over at once instead of waiting for it to expire, so a restart
after a crash is immediate; a lock held by a live process, or by another host, is respected.
A lock with our own pid but another nonce is a previous incarnation of this process (a container
restarted: the service is pid 1 again, on the same hostname): it is dead too.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import structlog

from app.store import Store, StoreError

log = structlog.get_logger("holdfast.lock")

LOCK_TTL = 30.0
REFRESH_EVERY = 10.0


class AnotherInstanceRunning(RuntimeError):
    pass


def _alive_here(owner: str, me: str) -> bool:
    """Whether the process that holds a lock named `owner` may still be running (`me`: our own
    name). Our pid in another name is not us: a previous incarnation with the same pid, gone."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another host's: we cannot tell, so we respect it
    if int(pid) == os.getpid():
        return owner == me
    return os.path.exists(f"/proc/{pid}")


class InstanceLock:
    def __init__(self, store: Store, clock: Callable[[], float], on_lost: Callable[[], None]) -> None:
        self.store = store
        self.clock = clock
        self.on_lost = on_lost
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._task: asyncio.Task[None] | None = None

    async def acquire(self) -> None:
        now = self.clock()
        holder = await self.store.lock_holder()
        if holder is not None and holder.expires_at > now and not _alive_here(holder.owner, self.owner):
            log.warning("lock_taken_over", previous_owner=holder.owner, detail="its process is gone")
            await self.store.release_lock(holder.owner)
        if not await self.store.acquire_lock(self.owner, LOCK_TTL, now):
            holder = await self.store.lock_holder()
            until = datetime.fromtimestamp(holder.expires_at, UTC).isoformat() if holder else "?"
            raise AnotherInstanceRunning(
                f"another Holdfast ({holder.owner if holder else 'unknown'}) drives this Asterisk app and "
                f"holds the lock in the store until {until}; stop it first (or wait for the lock to expire)"
            )
        self._task = asyncio.create_task(self._keep(), name="instance-lock")

    @property
    def task(self) -> asyncio.Task[None] | None:
        return self._task

    def may_act(self) -> bool:
        """One host's lock: another instance waits for it to expire (LOCK_TTL) or for our process
        to be gone, so while we run we may act (see Leadership.may_act for the lease)."""
        return True

    async def _keep(self) -> None:
        held_until = self.clock() + LOCK_TTL
        while True:
            await asyncio.sleep(REFRESH_EVERY)
            now = self.clock()
            try:
                still_ours = await self.store.refresh_lock(self.owner, LOCK_TTL, now)
            except StoreError as error:
                if now + REFRESH_EVERY >= held_until:
                    # The lock runs out before the next try: another instance may then take it and
                    # drive the same Asterisk app beside us. Stop (the task's end stops the service).
                    log.critical("lock_expiring", error=str(error), detail="the store refused every refresh")
                    raise
                log.error("lock_refresh_failed", error=str(error), expires_in=round(held_until - now, 1))
                continue
            held_until = now + LOCK_TTL
            if not still_ours:
                log.critical("lock_lost", detail="another instance took over; stopping")
                self.on_lost()
                return

    async def release(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        with contextlib.suppress(StoreError):
            await self.store.release_lock(self.owner)
