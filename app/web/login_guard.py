"""What stands between a password guesser and the calls: the log-in throttle and the password checker.

Theory of operation: a log-in costs a scrypt check, slow on purpose (about 50 ms of CPU), and the
log-in page is open to anyone who reaches the port. Two things keep guessing slow and cheap:
- `Throttle` counts wrong passwords within WINDOW, per user name (MAX_FAILURES: guessing one
  user's password) and per client address (MAX_ADDRESS_FAILURES: one guess for each of many
  names). Past either limit the log-in is refused before any check, right password or not, until
  the oldest counted failure leaves the window. A log-in counts as a failure from the moment it
  passes the throttle (`attempt`) until its check says the password was right (`withdraw`):
  log-ins sent at once would otherwise all pass before the first failure is counted, and one
  user's password would get as many guesses as the checker's line holds. The address is the TCP peer's, or behind a
  reverse proxy listed in `web.trusted_proxies` the client's from X-Forwarded-For
  (`client_address`); behind a proxy not listed every client shares the proxy's.
- `PasswordChecks` runs the checks one at a time on a thread of its own, with a short line.
  hashlib's scrypt lets go of the GIL, so on the default executor a flood of log-ins ran several
  at once and took every core from Asterisk's media and the service's calls; now it takes one
  at most, and a log-in that finds the line full is refused at once (503, retry later).
- The throttle decides from memory (a refused log-in costs nothing), and with a store it keeps each
  wrong password there too (`StoredFailures`, app/store/login_failures.py), read back before the
  first log-in is judged: a restart, or a standby taking over, does not give a guesser fresh
  tries. They are written in batches, at most one small transaction every FLUSH_EVERY seconds
  whatever the flood, so guessing does not hold up the calls' commits; a crash forgets at most
  that last second's. A log-in still in flight is not written: only a checked wrong password is.
The line of password checks is in memory only: it is empty after a restart anyway.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ipaddress
from collections.abc import Callable
from typing import NamedTuple

import structlog

from app.store import StoreError
from app.store.login_failures import LoginFailure, LoginFailureStore

log = structlog.get_logger("holdfast.web.login")


class Refusal(NamedTuple):
    """A log-in refused before its check: `result` is its holdfast_logins_total label."""

    result: str
    why: str
    wait: float  # seconds until it may try again


class _Failures:
    """Failure times per key within `window`. Past `bound` keys the expired ones are forgotten,
    never the recent ones: a flood of made-up keys must not wipe a guessed one's count (each
    failure costs a password check, so the flood is bounded by what one thread checks in a window)."""

    def __init__(self, limit: int, window: float, bound: int) -> None:
        self.limit, self.window, self.bound = limit, window, bound
        self._times: dict[str, list[float]] = {}
        self._prune_at = bound  # doubles past a flood, so pruning stays linear overall
        self.prunes = 0

    def blocked_for(self, key: str, now: float) -> float:
        """Seconds until `key` may try again (0: now)."""
        recent = [t for t in self._times.get(key, ()) if now - t < self.window]
        if recent:
            self._times[key] = recent
        else:
            self._times.pop(key, None)
        if len(recent) < self.limit:
            return 0.0
        return recent[-self.limit] + self.window - now  # when all but limit - 1 have left the window

    def remove(self, key: str, at: float) -> None:
        """Take back one failure counted at `at` (a log-in in flight that turned out right)."""
        times = self._times.get(key)
        if times is not None and at in times:
            times.remove(at)
            if not times:
                del self._times[key]

    def add(self, key: str, now: float) -> None:
        if len(self._times) >= self._prune_at:
            self._times = {k: ts for k, ts in self._times.items() if now - ts[-1] < self.window}
            self._prune_at = max(self.bound, 2 * len(self._times))
            self.prunes += 1
        self._times.setdefault(key, []).append(now)

    def __len__(self) -> int:
        return len(self._times)


class Throttle:
    """Wrong passwords counted per user name and per client address (module comment)."""

    MAX_FAILURES = 5  # per user name within the window
    MAX_ADDRESS_FAILURES = 30  # per client address within the window
    WINDOW = 300.0
    MAX_NAMES = 10_000  # keys kept before the expired ones are forgotten (each of names, addresses)

    def __init__(self, store: object = None) -> None:
        """`store`: where wrong passwords are kept across restarts, if it can (a LoginFailureStore)."""
        self._names = _Failures(self.MAX_FAILURES, self.WINDOW, self.MAX_NAMES)
        self._addresses = _Failures(self.MAX_ADDRESS_FAILURES, self.WINDOW, self.MAX_NAMES)
        self.stored = StoredFailures(store, self.WINDOW) if isinstance(store, LoginFailureStore) else None
        self._restored = self.stored is None
        self._restoring = asyncio.Lock()

    def refusal(self, name: str, address: str | None, now: float) -> Refusal | None:
        """Why a log-in is refused before its check, and for how many seconds; None: let it try."""
        wait = self._names.blocked_for(name, now)
        if wait > 0:
            return Refusal("throttled_user", "too many wrong passwords for this user", wait)
        wait = self._addresses.blocked_for(address, now) if address is not None else 0.0
        if wait > 0:
            return Refusal("throttled_address", "too many wrong passwords from this address", wait)
        return None

    def attempt(self, name: str, address: str | None, now: float) -> Refusal | None:
        """`refusal`, and when the log-in may try, its failure counted at once: it stays counted
        unless `withdraw` takes it back (the password was right, or it was never checked)."""
        refused = self.refusal(name, address, now)
        if refused is None:
            self.failed(name, now, address)
        return refused

    def withdraw(self, name: str, address: str | None, at: float) -> None:
        self._names.remove(name, at)
        if address is not None:
            self._addresses.remove(address, at)

    def blocked(self, name: str, now: float, address: str | None = None) -> bool:
        return self.refusal(name, address, now) is not None

    def failed(self, name: str, now: float, address: str | None = None) -> None:
        self._names.add(name, now)
        if address is not None:
            self._addresses.add(address, now)

    def checked_wrong(self, name: str, address: str | None, at: float) -> None:
        """A log-in counted at `at` by `attempt` had a wrong password: kept in the store too."""
        if self.stored is not None:
            self.stored.add(LoginFailure(name, address, at))

    async def ready(self, now: float) -> None:
        """Before the first log-in is judged: the wrong passwords the store holds within the window
        count again. Once, at the first log-in rather than at start-up: the start (or a standby's
        take-over) is not held up by it, and every later log-in passes at no cost. Raises
        StoreError if the store cannot be read (tried again at the next log-in)."""
        if self._restored:
            return
        async with self._restoring:  # log-ins arriving together: one read
            if self._restored:
                return
            assert self.stored is not None
            found = await self.stored.store.login_failures(now - self.WINDOW)
            for failure in found:
                self.failed(failure.user, failure.at, failure.address)
            self._restored = True
            if found:
                log.info("login_failures_restored", failures=len(found))

    async def close(self) -> None:
        if self.stored is not None:
            await self.stored.close()

    @property
    def names(self) -> int:
        return len(self._names)

    @property
    def addresses(self) -> int:
        return len(self._addresses)

    @property
    def prunes(self) -> int:
        return self._names.prunes + self._addresses.prunes


class StoredFailures:
    """Checked wrong passwords on their way to the store, written together (module comment)."""

    FLUSH_EVERY = 1.0  # seconds: at most one write this often, however many wrong passwords

    def __init__(self, store: LoginFailureStore, window: float) -> None:
        self.store, self.window = store, window
        self._pending: list[LoginFailure] = []
        self._flusher: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()
        self.writes = 0

    def add(self, failure: LoginFailure) -> None:
        self._pending.append(failure)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_soon())

    async def _flush_soon(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), self.FLUSH_EVERY)
        try:
            await self.flush()
        except Exception:  # not the store's refusal (flush logs that): a fault of ours, said loudly
            log.exception("login_failures_flush_failed")

    async def flush(self) -> None:
        failures, self._pending = self._pending, []
        if not failures:
            return
        try:
            # Rows that have left the window go in the same transaction: the table stays one window's.
            await self.store.add_login_failures(failures, forget_before=max(f.at for f in failures) - self.window)
            self.writes += 1
        except StoreError as error:  # still counted in memory: only a restart would forget them
            log.error("login_failures_not_stored", failures=len(failures), error=str(error))

    async def close(self) -> None:
        """At shutdown, before the store closes: what is still pending is written."""
        self._closing.set()
        if self._flusher is not None:
            await self._flusher
        await self.flush()


def client_address(peer: str | None, forwarded_for: str | None, trusted: tuple[str, ...]) -> str | None:
    """The client's address: the TCP peer's, or, when the peer is a trusted proxy, the nearest
    address in X-Forwarded-For that is not one (each proxy appends the address it heard from; a
    client can put anything before that, so the list is read from the right)."""
    networks = [ipaddress.ip_network(n) for n in trusted]

    def is_trusted(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in n for n in networks)

    if peer is None or not forwarded_for or not is_trusted(peer):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if not is_trusted(hop):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer  # not an address: the proxy's word cannot be used, count the proxy
    return hops[0] if hops else peer


class LineFull(Exception):
    """More log-ins wait for a password check than the line holds."""


class PasswordChecks:
    """Password checks one at a time on their own thread, at most MAX_WAITING in line (module comment)."""

    MAX_WAITING = 16

    def __init__(self, check: Callable[[str, str], bool]) -> None:
        self.check = check  # the password check (hashlib scrypt); a test may slow it
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="password-check")
        self.waiting = 0  # in line or being checked
        self.refused = 0

    async def verify(self, password: str, stored: str) -> bool:
        if self.waiting >= self.MAX_WAITING:
            self.refused += 1
            raise LineFull(f"{self.waiting} log-ins are already waiting for their password check")
        self.waiting += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, self.check, password, stored)
        finally:
            self.waiting -= 1

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
