"""`holdfast backup` / `holdfast restore` on the SQLite store (app/store/backup.py): a backup taken
while commits go on holds everything stored before it and is whole; a restore never replays the
old store's WAL into the backup, is refused while a service runs, and never loses the store it
replaces. The web log-in key is kept in the store, so it goes with it: a machine rebuilt from a
backup keeps its supervisors logged in."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.cli import main
from app.core.request import Request
from app.core.states import RequestKind
from app.store.backup import BackupError, backup, check, restore
from app.store.sqlite import SQLiteStore
from app.web.sessions import KEY_FILE, Session, SessionKeeper, new_key
from tests.config.test_cli import EXAMPLE, secrets_set
from tests.store.test_contract import make_request

__all__ = ["secrets_set"]

ROOT = Path(__file__).resolve().parents[2]


def callback(rid: str) -> Request:
    return make_request(rid, kind=RequestKind.CALLBACK, callback_number="+4520123456", callback_requested_at=1000.0)


def ids_in(path: Path) -> set[str]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return {row[0] for row in db.execute("SELECT id FROM requests")}


async def test_a_backup_taken_while_commits_go_on_holds_every_one_stored_before_it(tmp_path: Path) -> None:
    db = tmp_path / "holdfast.db"
    committed: list[str] = []
    enough = asyncio.Event()
    stop = False
    async with SQLiteStore(db) as store:

        async def writer() -> None:
            i = 0
            while not stop:
                await store.commit([callback(f"cb{i}")], [], [])
                committed.append(f"cb{i}")
                i += 1
                if i == 200:
                    enough.set()

        task = asyncio.create_task(writer())
        await enough.wait()
        before = list(committed)
        contents = await asyncio.to_thread(backup, db, tmp_path / "copy.db")
        after = len(committed)
        stop = True
        await task
    saved = ids_in(tmp_path / "copy.db")
    assert set(before) <= saved  # everything committed before the backup began
    assert saved <= set(committed[:after])  # nothing that was not yet committed when it ended
    assert contents.callbacks_waiting == contents.active_requests == len(saved)
    with sqlite3.connect(tmp_path / "copy.db") as copy:
        assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # one self-contained file
    assert not (tmp_path / "copy.db-wal").exists() and not (tmp_path / "copy.db.partial").exists()
    async with SQLiteStore(tmp_path / "copy.db") as restored:  # the service opens it as its store
        assert {r.id for r in await restored.load_active_requests()} == saved


async def test_a_restore_moves_the_old_wal_aside_instead_of_replaying_it_into_the_backup(tmp_path: Path) -> None:
    db = tmp_path / "var" / "holdfast.db"
    db.parent.mkdir()
    async with SQLiteStore(db) as store:
        await store.commit([callback("promised-before-the-backup")], [], [])
    backup(db, tmp_path / "backup.db")
    # The store goes on; the process dies with commits still in its WAL (a crash, a dead disk
    # being copied from): the WAL is left next to the database, as after a kill -9.
    async with SQLiteStore(db) as store:
        await store.commit([callback("after-the-backup")], [], [])
        shutil.copy(db.with_name("holdfast.db-wal"), tmp_path / "wal")
        shutil.copy(db, tmp_path / "db-at-crash")
    shutil.copy(tmp_path / "wal", db.with_name("holdfast.db-wal"))
    # What a plain copy of the backup over the database would do: the old WAL is replayed into it.
    shutil.copy(tmp_path / "backup.db", tmp_path / "naive.db")
    shutil.copy(tmp_path / "wal", tmp_path / "naive.db-wal")
    try:
        naive = ids_in(tmp_path / "naive.db")
    except sqlite3.DatabaseError:
        naive = {"damaged"}
    assert naive != {"promised-before-the-backup"}  # the hazard the restore guards against

    contents, aside = restore(tmp_path / "backup.db", db, now=2_000_000_000.0)
    assert ids_in(db) == {"promised-before-the-backup"} and contents.callbacks_waiting == 1
    assert aside is not None and aside.name == "holdfast.db.before-restore-20330518T033320Z"
    assert ids_in(aside) == {"promised-before-the-backup", "after-the-backup"}  # the store replaced, whole
    assert not db.with_name("holdfast.db-wal").exists()
    # The database itself gone (a disk replaced, a careless rm) but its WAL left behind: it goes aside too.
    db.unlink()
    shutil.copy(tmp_path / "wal", db.with_name("holdfast.db-wal"))
    _, aside = restore(tmp_path / "backup.db", db, now=2_000_000_060.0)
    assert ids_in(db) == {"promised-before-the-backup"} and aside is not None
    assert (db.parent / "holdfast.db.before-restore-20330518T033420Z-wal").exists()


async def test_a_restore_is_refused_while_a_service_holds_the_store(tmp_path: Path) -> None:
    db = tmp_path / "holdfast.db"
    async with SQLiteStore(db) as store:
        await store.commit([callback("live")], [], [])
        owner = f"{socket.gethostname()}:{os.getpid()}:abcd1234"  # this very process: alive
        assert await store.acquire_lock(owner, 60.0, time.time())
    backup(db, tmp_path / "backup.db")
    with pytest.raises(BackupError, match=r"is running on .*stop it first"):
        restore(tmp_path / "backup.db", db)
    assert ids_in(db) == {"live"}  # untouched
    # Its lock expired (or its process is gone): the restore goes ahead, and clears the lock the
    # backup carried, so the service starts without waiting for it.
    contents, _ = restore(tmp_path / "backup.db", db, now=time.time() + 120)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM instance_lock").fetchone()[0] == 0
    assert contents.active_requests == 1


async def test_a_damaged_or_foreign_backup_is_refused_before_anything_is_touched(tmp_path: Path) -> None:
    db = tmp_path / "holdfast.db"
    async with SQLiteStore(db) as store:
        await store.commit([callback("kept")], [], [])
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE t (x)")
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"SQLite format 3\x00" + os.urandom(4096))
    for bad, words in ((foreign, "not a Holdfast store"), (garbage, "not a readable|damaged|cannot be opened")):
        with pytest.raises(BackupError, match=words):
            restore(bad, db)
    assert ids_in(db) == {"kept"} and not list(tmp_path.glob("holdfast.db.before-restore-*"))


async def test_backups_into_a_directory_are_stamped_never_overwritten_and_the_oldest_pruned(tmp_path: Path) -> None:
    db = tmp_path / "holdfast.db"
    async with SQLiteStore(db) as store:
        await store.commit([callback("cb")], [], [])
    shelf = tmp_path / "backups"
    shelf.mkdir()
    (shelf / "notes.txt").write_text("not ours")
    (shelf / "holdfast-manual.db").write_text("not stamped: not ours either")
    made = [backup(db, shelf, keep=2, now=1_800_000_000.0 + 900 * i).path for i in range(4)]
    assert [p.name for p in made][-1] == "holdfast-20270115T084500Z.db"
    assert sorted(p.name for p in shelf.iterdir()) == sorted(
        ["notes.txt", "holdfast-manual.db", made[2].name, made[3].name]
    )
    with pytest.raises(BackupError, match="already exists"):
        backup(db, made[3])
    with pytest.raises(BackupError, match="keep at least"):
        backup(db, shelf, keep=0)
    assert check(made[3]).callbacks_waiting == 1


def _config(tmp_path: Path, database: str | None = None) -> Path:
    path = tmp_path / "holdfast.yaml"
    text = EXAMPLE.read_text().replace("data_dir: ./var", f"data_dir: {tmp_path / 'var'}", 1)
    if database is not None:
        text = text.replace("data_dir:", f"database: {database}\n  data_dir:", 1)
    path.write_text(text)
    return path


def test_the_commands_back_up_and_restore_the_configured_store(tmp_path: Path, secrets_set: None, capsys) -> None:
    config = _config(tmp_path)
    (tmp_path / "var").mkdir()

    async def seed() -> None:
        async with SQLiteStore(tmp_path / "var" / "holdfast.db") as store:
            await store.commit([callback("a"), callback("b")], [], [])

    asyncio.run(seed())
    assert main(["backup", "--config", str(config), str(tmp_path / "b.db")]) == 0
    assert "2 active requests of which 2 callbacks waiting" in capsys.readouterr().out
    (tmp_path / "var" / "holdfast.db").unlink()  # the disk lost it
    assert main(["restore", "--config", str(config), str(tmp_path / "b.db")]) == 0
    out = capsys.readouterr().out
    assert "restored:" in out and "holds no web log-in key" in out  # no service had started on it: said
    assert ids_in(tmp_path / "var" / "holdfast.db") == {"a", "b"}
    assert main(["backup", "--config", str(config), str(tmp_path / "b.db")]) == 2
    assert "already exists" in capsys.readouterr().err


def test_backups_and_restored_stores_are_readable_by_their_owner_alone(tmp_path: Path, secrets_set: None) -> None:
    """They hold callers' numbers and contact lists: with the usual umask (022) they were 0644."""
    config = _config(tmp_path)
    (tmp_path / "var").mkdir()

    async def seed() -> None:
        async with SQLiteStore(tmp_path / "var" / "holdfast.db") as store:
            await store.commit([callback("a")], [], [])

    asyncio.run(seed())

    _holdfast(config, "backup", str(tmp_path / "b.db"))
    (tmp_path / "var" / "holdfast.db").unlink()
    _holdfast(config, "restore", str(tmp_path / "b.db"))
    for made in (tmp_path / "b.db", tmp_path / "var" / "holdfast.db"):
        assert stat.S_IMODE(made.stat().st_mode) == 0o600, made


def test_a_postgresql_store_is_sent_to_its_own_tools(tmp_path: Path, secrets_set: None, capsys) -> None:
    config = _config(tmp_path, database="postgresql://holdfast@db.example/holdfast")
    assert main(["backup", "--config", str(config), str(tmp_path / "b.db")]) == 2
    assert "pg_dump" in capsys.readouterr().err
    assert main(["restore", "--config", str(config), str(tmp_path / "b.db")]) == 2
    assert "pg_restore" in capsys.readouterr().err


async def test_a_store_of_another_user_is_refused_so_no_wal_file_of_ours_is_left_in_its_way(tmp_path: Path) -> None:
    db = tmp_path / "var" / "holdfast.db"
    db.parent.mkdir()
    async with SQLiteStore(db) as store:
        await store.commit([callback("cb")], [], [])
    good = backup(db, tmp_path / "good.db").path
    nobody = 65534
    os.chown(db, nobody, nobody)
    with pytest.raises(BackupError, match=r"belongs to user .*sudo -u"):
        backup(db, tmp_path / "b.db")
    with pytest.raises(BackupError, match=r"belongs to user .*sudo -u"):
        restore(good, db)
    assert sorted(p.name for p in db.parent.iterdir()) == ["holdfast.db"]  # no -wal, no -shm of ours
    db.unlink()
    os.chown(db.parent, nobody, nobody)  # no store yet: the directory's owner decides
    with pytest.raises(BackupError, match="belongs to user"):
        restore(good, db)
    # No directory yet either (a rebuilt machine), in one that is not ours: refused, nothing made.
    with pytest.raises(BackupError, match=r"is not there: make it for the service's user \(install -d"):
        restore(good, db.parent / "var" / "holdfast.db")
    assert not (db.parent / "var").exists()


def test_a_store_named_by_a_sqlite_url_is_the_one_backed_up(tmp_path: Path, secrets_set: None, capsys) -> None:
    other = tmp_path / "elsewhere" / "centre.db"
    other.parent.mkdir()
    config = _config(tmp_path, database=f"sqlite:///{other}")  # sqlite:////abs/path: absolute

    async def seed() -> None:
        async with SQLiteStore(other) as store:
            await store.commit([callback("a")], [], [])

    asyncio.run(seed())
    assert main(["backup", "--config", str(config), str(tmp_path / "b.db")]) == 0
    assert "1 callbacks waiting" in capsys.readouterr().out
    assert ids_in(tmp_path / "b.db") == {"a"}


def _holdfast(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The command as the backup timer or an operator runs it: its own process, the usual umask."""
    command = [sys.executable, "-m", "app.cli", *args, "--config", str(config)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, umask=0o022, check=False)
    assert done.returncode == 0, done.stderr
    return done


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_a_machine_rebuilt_from_a_backup_keeps_its_supervisors_logged_in(tmp_path: Path, secrets_set: None) -> None:
    """Before, the backup held the store alone and the key stayed in web-session.key: on the rebuilt
    machine the service made a new key, silently, and every supervisor's cookie was refused. The
    key is in the store now (app/store/web_sessions.py): a backup holds it, a restore brings it back."""
    config = _config(tmp_path)
    var = tmp_path / "var"
    var.mkdir()

    async def seed() -> bytes:
        async with SQLiteStore(var / "holdfast.db") as store:
            await store.commit([callback("a")], [], [])
            return await store.session_key(new_key())  # as the service takes it at start

    key = asyncio.run(seed())
    cookie, _ = SessionKeeper(key).issue("anna", "anna's password hash", 8 * 3600.0)  # anna logs in
    made = _holdfast(config, "backup", str(tmp_path / "b.db"))
    assert "with the web log-in key" in made.stdout
    shutil.rmtree(var)  # the machine is rebuilt: not even the data directory is there
    restored = _holdfast(config, "restore", str(tmp_path / "b.db"))
    assert "with the web log-in key" in restored.stdout and "holds no web log-in key" not in restored.stdout
    assert stat.S_IMODE(var.stat().st_mode) == 0o700

    async def restarted() -> bytes:  # the restarted service offers a new key of its own: the store's wins
        async with SQLiteStore(var / "holdfast.db") as store:
            assert ids_in(var / "holdfast.db") == {"a"}
            return await store.session_key(new_key())

    found = SessionKeeper(asyncio.run(restarted())).read(cookie, {"anna": "anna's password hash"})
    assert isinstance(found, Session) and found.user == "anna"
    assert not (var / KEY_FILE).exists()  # no key file: the store is the one place it is kept
    fresh = tmp_path / "fresh.db"

    async def make_fresh() -> None:
        async with SQLiteStore(fresh):
            pass

    asyncio.run(make_fresh())
    assert _tables(var / "holdfast.db") == _tables(fresh)  # nothing but the store's own tables


async def test_a_store_without_a_key_yet_is_backed_up_and_said_to_hold_none(tmp_path: Path) -> None:
    """A store no service of this version has started (the key is stored at the web app's start)."""
    db = tmp_path / "var" / "holdfast.db"
    db.parent.mkdir()
    async with SQLiteStore(db) as store:
        await store.commit([callback("cb")], [], [])
    contents = backup(db, tmp_path / "b.db")
    assert not contents.session_key and "no web log-in key" in contents.describe()
    async with SQLiteStore(db) as store:
        key = await store.session_key(new_key())
    assert backup(db, tmp_path / "c.db").session_key and check(tmp_path / "c.db").session_key
    restored, _ = restore(tmp_path / "b.db", db)
    assert not restored.session_key
    async with SQLiteStore(db) as store:  # the backup's instant: no key yet, the next start stores one
        assert await store.session_key(new_key()) != key
