"""Active/standby on PostgreSQL: the leader holds a lease with an epoch; standbys wait for it.

Theory of operation:
- The leader refreshes its lease every REFRESH_EVERY seconds; the lease lasts LEASE_TTL. A
  standby polls every POLL_EVERY and takes the lease once it expired (the leader died, froze, or
  lost the database), so a takeover comes LEASE_TTL to LEASE_TTL + REFRESH_EVERY + POLL_EVERY after
  the leader's last refresh. The new leader then runs the ordinary start-up: load the state,
  connect to Asterisk, reconcile its channels.
- On taking the lease the store is fenced with it (app/store/lease.py): every later transaction
  is refused once another node holds a newer epoch, so a deposed leader stops at its first write.
- A leader that could not refresh its lease before it would expire stops itself (on_lost): a
  standby may already be leading, and acting on then would be acting twice. The fence covers the
  store, not Asterisk: so the executor asks `may_act` before each command, and a leader that
  stalled past its lease (a GC pause, SIGSTOP) sends nothing more before on_lost stops it. A clean
  stop releases the lease only once the executor is drained (service.stop).
- This is an InstanceLock (same acquire/task/release) so the service uses either unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import structlog
from prometheus_client import CollectorRegistry, Gauge

from app.store import StoreError
from app.store.lease import DEFAULT_LEASE, Lease, PostgresLeases
from app.telephony.instance_lock import AnotherInstanceRunning, InstanceLock, _alive_here

log = structlog.get_logger("holdfast.leadership")

T = TypeVar("T")

LEASE_TTL = 3.0
REFRESH_EVERY = 0.75
POLL_EVERY = 0.25


async def _within(call: Coroutine[Any, Any, T], timeout: float) -> T:
    """`call`'s result, or TimeoutError after `timeout` WITHOUT waiting for it to unwind: a query
    to a database cut off by the network can hang in its clean-up (rollback, cancel request)
    long after it was cancelled, and the lease must be given up on time."""
    task = asyncio.ensure_future(call)
    done, _ = await asyncio.wait([task], timeout=timeout)
    if not done:
        task.cancel()
        task.add_done_callback(lambda t: t.cancelled() or t.exception())  # no "never retrieved" noise
        raise TimeoutError(f"no answer from the database within {timeout:.1f} s")
    return task.result()


class Leadership(InstanceLock):
    def __init__(
        self,
        store: PostgresLeases,
        clock: Callable[[], float],
        on_lost: Callable[[], None],
        registry: CollectorRegistry | None = None,
        name: str = DEFAULT_LEASE,
    ) -> None:
        super().__init__(store, clock, on_lost)  # type: ignore[arg-type]
        self.leases = store
        self.name = name
        self.lease: Lease | None = None
        self.standby_status: str | None = None  # "standby, waiting for the lease (held by …)" while waiting
        self._good_until = 0.0  # monotonic: until when the lease we hold is surely still ours
        self._leader = Gauge("holdfast_leader", "1 while this node holds the leadership lease", registry=registry)
        self._epoch = Gauge("holdfast_lease_epoch", "Epoch of the lease this node holds (0: none)", registry=registry)

    async def _try(self) -> Lease | None:
        asked = time.monotonic()  # the lease runs from no later than this
        lease = await self.leases.acquire_lease(self.owner, LEASE_TTL, self.clock(), self.name)
        if lease is not None:
            self._good_until = asked + LEASE_TTL
            self._became_leader(lease)
        return lease

    def may_act(self) -> bool:
        """Whether the lease is surely still ours, so acting on Asterisk cannot double a standby's."""
        return self.lease is not None and time.monotonic() < self._good_until

    def _became_leader(self, lease: Lease) -> None:
        self.lease = lease
        self.standby_status = None
        self.leases.fence(lease)  # from now on every write carries this epoch
        self._leader.set(1)
        self._epoch.set(lease.epoch)
        log.info("leader", lease=lease.name, epoch=lease.epoch, owner=lease.owner)

    async def acquire(self) -> None:
        """Take the lease now (a plain `holdfast run`); a live holder refuses the start. A holder
        that was a process on this host and is gone (kill -9; or our own pid under another name, a
        restarted container's previous incarnation) is waited out: its lease expires within LEASE_TTL."""
        if self.lease is None:
            if await self._try() is None:
                holder = await self.leases.lease_holder(self.name)
                if holder is not None and _alive_here(holder.owner, self.owner):
                    raise AnotherInstanceRunning(
                        f"another Holdfast ({holder.owner}, epoch {holder.epoch}) holds the leadership lease; "
                        "stop it first, or start this one with --standby to take over when it stops"
                    )
                await self.wait_for_lease()
        self._start_keeping()

    async def wait_for_lease(self, show: Callable[[str | None], None] = lambda status: None) -> Lease:
        """Standby: poll until the lease is ours, saying who holds it meanwhile (log and `show`)."""
        shown: tuple[str, int] | None = None
        while True:
            try:
                lease = await self._try()
                if lease is not None:
                    return lease
                holder = await self.leases.lease_holder(self.name)
            except StoreError as error:  # the database is away: keep waiting, say so
                self.standby_status = f"standby, the database is unreachable ({error})"
                show(self.standby_status)
                shown = None
                log.warning("standby_store_unreachable", error=str(error))
                await asyncio.sleep(POLL_EVERY * 4)
                continue
            if holder is not None and (holder.owner, holder.epoch) != shown:
                shown = (holder.owner, holder.epoch)
                host_pid = ":".join(holder.owner.split(":")[:2])
                self.standby_status = f"standby, waiting for the lease (held by {host_pid}, epoch {holder.epoch})"
                show(self.standby_status)
                log.info("standby", detail=self.standby_status, holder=holder.owner, epoch=holder.epoch)
            await asyncio.sleep(POLL_EVERY)

    def _start_keeping(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._keep(), name="leadership-lease")

    async def _keep(self) -> None:
        assert self.lease is not None
        good_until = self._good_until  # monotonic: a wall-clock jump must not fool us
        while True:
            await asyncio.sleep(REFRESH_EVERY)
            started = time.monotonic()
            try:
                lease = await _within(
                    self.leases.refresh_lease(self.lease, LEASE_TTL, self.clock()), max(0.1, good_until - started)
                )
            except (StoreError, TimeoutError) as error:
                if time.monotonic() < good_until:
                    log.error("lease_refresh_failed", error=str(error) or "timed out")
                    continue
                lease = None
                log.critical("lease_expired", epoch=self.lease.epoch, detail="could not refresh it in time; stopping")
            if lease is None:
                log.critical("lease_lost", epoch=self.lease.epoch, detail="another node may lead now; stopping")
                self._lost()
                return
            self.lease = lease
            good_until = self._good_until = started + LEASE_TTL

    def _lost(self) -> None:
        self._leader.set(0)
        self._epoch.set(0)
        self.on_lost()

    async def release(self) -> None:
        """On a clean stop: end the lease now so a standby takes over at once."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        lease, self.lease = self.lease, None
        self._leader.set(0)
        self._epoch.set(0)
        if lease is not None:
            with contextlib.suppress(StoreError):
                await self.leases.release_lease(lease, self.clock())
