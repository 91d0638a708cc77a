"""`holdfast backup` and a real full disk (tests/store/full_disk.py): a backup whose target disk is
full fails with a BackupError and leaves nothing behind; a store whose own disk filled is backed up
to another disk whole while the service keeps it open."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.store import StoreFull
from app.store.backup import BackupError, backup
from app.store.sqlite import SQLiteStore
from tests.store.full_disk import SmallDisk, small_disk
from tests.store.test_sqlite_disk_full import assert_holds_exactly, write_of, write_until_full

__all__ = ["small_disk"]  # the fixture


async def test_a_backup_to_a_full_disk_fails_clearly_and_leaves_nothing_there(
    small_disk: SmallDisk, tmp_path: Path
) -> None:
    path = tmp_path / "holdfast.db"
    kept = write_of(0)
    async with SQLiteStore(path) as store:
        await store.commit_many(kept)
        small_disk.fill()
        target = small_disk.path / "holdfast-backup.db"
        with pytest.raises(BackupError, match=r"failed: .*(full|space)"):
            backup(path, target)
        assert sorted(p.name for p in small_disk.path.iterdir() if p.name != "lost+found") == ["filler"]
        await store.commit_many(write_of(len(kept)))  # the store itself goes on
    small_disk.free()
    backup(path, target)  # once there is room


async def test_a_store_on_a_full_disk_is_backed_up_whole_to_another_disk(small_disk: SmallDisk, tmp_path: Path) -> None:
    path = small_disk.path / "holdfast.db"
    async with SQLiteStore(path) as store:  # open, as a running service holds it
        small_disk.fill(leave=200 * 1024)
        stored, refused, _ = await write_until_full(store)
        contents = backup(path, tmp_path / "holdfast-backup.db")
        assert contents.callbacks_waiting == len(stored)
        with pytest.raises(StoreFull):  # still full: the backup took no room from it, gave none either
            await store.commit_many(refused)
    async with SQLiteStore(tmp_path / "holdfast-backup.db") as copy:
        await assert_holds_exactly(copy, stored)


async def test_a_stopped_store_on_a_full_disk_is_named_full_not_an_io_error(
    small_disk: SmallDisk, tmp_path: Path
) -> None:
    """Opening it needs its -shm file, which cannot grow there: SQLite says only "disk I/O error",
    and the backup said so, pointing the admin at a failing disk."""
    path = small_disk.path / "holdfast.db"
    async with SQLiteStore(path) as store:
        await store.commit_many(write_of(0))
    small_disk.fill()
    with pytest.raises(BackupError, match=r"disk is full .*-shm.*free disk space"):
        backup(path, tmp_path / "holdfast-backup.db")
    small_disk.free()
    assert backup(path, tmp_path / "holdfast-backup.db").callbacks_waiting == len(write_of(0))
