"""The SQLite store on a real full disk (tests/store/full_disk.py: tmpfs and ext4), not an injected
StoreFull: the write that meets it is refused whole with StoreFull naming the file, nothing of it
is kept, every earlier write is kept whole, and once space is freed the same store writes again
and a store reopened from the file has every commit. Opening on a full disk is a StoreFull too."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest

from app.core.commands import Activity
from app.core.request import Attempt
from app.core.states import AttemptOutcome, RequestKind, RequestState
from app.store import Change, StoreFull, StoreIOError
from app.store.sqlite import SQLiteStore, translate
from tests.store.full_disk import SmallDisk, mounted_disk, small_disk
from tests.store.test_contract import make_request

__all__ = ["small_disk"]  # the fixture

STEPS_PER_WRITE = 6  # one write, one transaction: several promises at once (a group commit)
PAD = "x" * 300  # each step's log line: a few dozen writes fill what the disk has left
MAX_WRITES = 2000  # a disk that never fills is a broken test, not a pass


def promised(n: int) -> Change:
    """Callback n promised, with a failed attempt behind it and its log line."""
    rid = f"cb-{n:05d}"
    request = make_request(
        rid,
        kind=RequestKind.CALLBACK,
        state=RequestState.WAITING,
        callback_number=f"+4530{n:06d}",
        place=(0, 1000.0 + n, n),
        attempts=[Attempt(1, 900.0 + n, "1001", AttemptOutcome.NO_ANSWER, 920.0 + n)],
    )
    log_line = Activity(
        "callback_accepted", rid, None, "support", 1000.0 + n, {"number": request.callback_number, "pad": PAD}
    )
    return Change([request], [log_line])


def write_of(first: int) -> list[Change]:
    return [promised(n) for n in range(first, first + STEPS_PER_WRITE)]


async def write_until_full(store: SQLiteStore) -> tuple[list[Change], list[Change], StoreFull]:
    """Group commits of new promises until one is refused; returns (stored, refused, its error)."""
    stored: list[Change] = []
    for _ in range(MAX_WRITES):
        write = write_of(len(stored))
        try:
            await store.commit_many(write)
        except StoreFull as error:
            return stored, write, error
        stored += write
    raise AssertionError(f"{MAX_WRITES} writes and the disk is still not full")


async def assert_holds_exactly(store: SQLiteStore, changes: Sequence[Change]) -> None:
    """Every request and log line of `changes`, whole, and nothing else."""
    assert await store.load_active_requests() == [r for c in changes for r in c.requests]
    logged = [e.activity() for e in await store.events(limit=100_000)]
    assert logged == [a for c in changes for a in c.activities]


def assert_names_a_full_disk(error: StoreFull, path: Path) -> None:
    assert str(path) in str(error) and "full" in str(error) and "free disk space" in str(error), error


async def test_the_write_that_meets_a_full_disk_is_refused_whole_and_the_store_writes_again_once_freed(
    small_disk: SmallDisk,
) -> None:
    path = small_disk.path / "holdfast.db"
    store = SQLiteStore(path)
    await store.open()
    try:
        small_disk.fill(leave=200 * 1024)  # the store fills the rest itself, write by write
        stored, refused, error = await write_until_full(store)
        assert len(stored) > STEPS_PER_WRITE  # it did write on the nearly full disk
        assert_names_a_full_disk(error, path)
        await assert_holds_exactly(store, stored)  # the refused write: not one row of it

        with pytest.raises(StoreFull):  # still full: refused again, the same way
            await store.commit_many(refused)
        await assert_holds_exactly(store, stored)

        small_disk.free()
        await store.commit_many(refused)  # the same connection, no restart
        await assert_holds_exactly(store, stored + refused)
    finally:
        await store.close()
    async with SQLiteStore(path) as reopened:
        await assert_holds_exactly(reopened, stored + refused)


async def test_a_store_closed_on_a_full_disk_loses_nothing_and_opens_again(small_disk: SmallDisk) -> None:
    """The close's checkpoint cannot grow the database file: the WAL stays and is read at the next
    open, which works while the disk is still full (its -wal and -shm files are there) and refuses
    writes with StoreFull."""
    path = small_disk.path / "holdfast.db"
    store = SQLiteStore(path)
    await store.open()
    try:
        small_disk.fill(leave=200 * 1024)
        stored, refused, _ = await write_until_full(store)
    finally:
        await store.close()
    assert (small_disk.path / "holdfast.db-wal").stat().st_size > 0  # not checkpointed away
    async with SQLiteStore(path) as still_full:
        await assert_holds_exactly(still_full, stored)
        with pytest.raises(StoreFull):
            await still_full.commit_many(refused)
    small_disk.free()
    async with SQLiteStore(path) as reopened:
        await assert_holds_exactly(reopened, stored)
        await reopened.commit_many(refused)
        await assert_holds_exactly(reopened, stored + refused)


async def test_a_checkpoint_that_meets_a_full_disk_loses_nothing(tmp_path: Path) -> None:
    """8 MiB: room for a WAL of 1000 pages (SQLite's automatic checkpoint) but not for the
    database file it is copied into. The checkpoint stops part way; the WAL stays authoritative."""
    with mounted_disk(tmp_path, "tmpfs", size=8 * 1024 * 1024) as disk:
        path = disk.path / "holdfast.db"
        store = SQLiteStore(path)
        await store.open()
        try:
            disk.fill(leave=4_600_000)
            stored, refused, error = await write_until_full(store)
            assert_names_a_full_disk(error, path)
            assert path.stat().st_size > 100 * 1024  # a checkpoint copied pages in...
            assert (disk.path / "holdfast.db-wal").stat().st_size > 4_000_000  # ...but could not finish
            await assert_holds_exactly(store, stored)
            disk.free()
            await store.commit_many(refused)
        finally:
            await store.close()
        async with SQLiteStore(path) as reopened:
            await assert_holds_exactly(reopened, stored + refused)


@pytest.mark.parametrize("existing", [True, False], ids=["existing_store", "new_store"])
async def test_opening_the_store_on_a_full_disk_is_a_store_full_naming_it(
    small_disk: SmallDisk, existing: bool
) -> None:
    """A start on a full disk: an existing store (its -shm file must be made) or a new one (its
    schema must be written). Was StoreIOError "check that the disk is healthy" for the first."""
    path = small_disk.path / "holdfast.db"
    kept = write_of(0)
    if existing:
        async with SQLiteStore(path) as store:
            await store.commit_many(kept)
    small_disk.fill()
    with pytest.raises(StoreFull) as refused:
        await SQLiteStore(path).open()
    assert_names_a_full_disk(refused.value, path)
    small_disk.free()
    async with SQLiteStore(path) as store:
        await assert_holds_exactly(store, kept if existing else [])


def sqlite_error(code: int) -> sqlite3.OperationalError:
    error = sqlite3.OperationalError("disk I/O error")
    error.sqlite_errorcode = code
    return error


def test_a_shm_file_that_cannot_grow_is_a_full_disk_other_io_errors_are_not() -> None:
    """No mount needed: the mapping the tests above meet on a real disk (SQLITE_IOERR_SHMSIZE)."""
    full = translate(sqlite_error(sqlite3.SQLITE_IOERR_SHMSIZE), "/data/holdfast.db", 5.0)
    assert isinstance(full, StoreFull) and "/data/holdfast.db-shm" in str(full) and "free disk space" in str(full)
    other = translate(sqlite_error(sqlite3.SQLITE_IOERR_READ), "/data/holdfast.db", 5.0)
    assert type(other) is StoreIOError
