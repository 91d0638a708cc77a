"""Backing up the SQLite store while the service runs, and putting a backup back safely.

Theory of operation:
- `backup(db, target)`: SQLite's online backup (`sqlite3.Connection.backup`, all pages in one
  step) copies the database inside one read transaction, so the copy is the store as it was at
  one instant, taken while the service goes on committing (in WAL mode a reader never holds up
  the writer). The copy is written next to the target, made one self-contained file (journal
  mode DELETE), checked (`PRAGMA integrity_check`), fsynced, and only then renamed to the
  target: a backup file that exists is whole. An existing file is never overwritten. A target
  that is a directory gets a time-stamped file, and `keep` removes the oldest beyond that many.
- The web log-in key (which signs the page's cookies) is kept in the store itself (table
  `web_session_key`, app/store/web_sessions.py), so a backup holds it and a restore brings it
  back with the rest: a machine rebuilt from a backup keeps its supervisors logged in. `check`
  says whether a file holds one (a store no service of this version has started yet has none).
- `restore(backup, db)`: refused while a Holdfast holds the store's instance lock (a live
  process on this host; on another host, until its lock expires). The backup is checked before
  anything is touched. The current database goes aside WITH its -wal and -shm files
  (`holdfast.db.before-restore-<time>`): a WAL file left next to the restored database would be
  replayed into it at the next open, writing the old store's last commits over the backup's
  pages. The backup is copied next to the database, fsynced and renamed in, and the instance
  lock it carries (the service that was running when it was taken) is cleared. A data
  directory that is not there (a rebuilt machine) is made, 0700.
- A restore goes back to the backup's instant: callbacks promised since are not in it, and
  requests it holds as waiting that were served since will be served again. Back up often (the
  example timer: every 15 minutes).
- PostgreSQL has its own tools (pg_dump, or the server's continuous archiving): both functions
  refuse a DSN.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from app.store import is_postgres, sqlite_file

STAMP = "%Y%m%dT%H%M%SZ"
PREFIX = "holdfast-"
SUFFIX = ".db"


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Contents:
    """What a store file holds, for the operator to check a backup by."""

    path: Path
    size: int  # bytes
    active_requests: int
    callbacks_waiting: int  # promised and not yet served: waiting or between attempts
    events: int
    session_key: bool = False  # the store holds the web log-in key (app/store/web_sessions.py)

    def describe(self) -> str:
        return (
            f"{self.path}: {self.size / 1e6:.1f} MB, {self.active_requests} active requests of which "
            f"{self.callbacks_waiting} callbacks waiting, {self.events} events logged, "
            f"{'with the web log-in key' if self.session_key else 'no web log-in key'}; integrity ok"
        )


def store_file(dsn: str) -> Path:
    """The SQLite file of `service.database` (BackupError for PostgreSQL or no file)."""
    if is_postgres(dsn):
        raise BackupError(
            "the store is PostgreSQL: back it up with pg_dump (or the server's continuous archiving) "
            "and restore with pg_restore; these commands are for the SQLite store"
        )
    try:
        path = sqlite_file(dsn)
    except ValueError as error:
        raise BackupError(str(error)) from None
    if path == ":memory:":
        raise BackupError("the store is in memory: there is nothing to back up")
    return Path(path)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _as_owner(path: Path, command: str) -> None:
    """Refuse to work on a store another user owns: even reading it, SQLite leaves its -wal and -shm
    files behind, and owned by root (say) the service could no longer write its own store."""
    owner = path.stat().st_uid
    if os.geteuid() != owner:
        try:
            import pwd

            name = pwd.getpwuid(owner).pw_name
        except KeyError:
            name = str(owner)
        raise BackupError(
            f"{path} belongs to user {name}: run this as that user (sudo -u {name} holdfast {command} ...); "
            "as another, the WAL files SQLite leaves would be theirs and the service could not write its store"
        )


def _as_owner_where_made(path: Path, command: str) -> None:
    """`_as_owner` for a file a restore writes: the file, else its directory. A directory not there
    yet (a rebuilt machine) is made by the restore, if the nearest one there is ours."""
    if path.exists() or path.parent.exists():
        _as_owner(path if path.exists() else path.parent, command)
        return
    there = next(p for p in path.parents if p.exists())
    if os.geteuid() != there.stat().st_uid:
        raise BackupError(
            f"{path.parent} is not there: make it for the service's user "
            f"(install -d -o holdfast -g holdfast -m 700 {path.parent}) and {command} as that user"
        )


def _holds_key(db: sqlite3.Connection, tables: set[str]) -> bool:
    """Whether the store holds the web log-in key (a store made by an older Holdfast, or never
    started by this one, has none: the service then takes the data directory's file or makes one)."""
    if "web_session_key" not in tables:
        return False
    return bool(db.execute("SELECT COUNT(*) FROM web_session_key").fetchone()[0])


def check(path: Path) -> Contents:
    """The file's integrity, and what it holds; BackupError if it is not a whole Holdfast store."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as error:
        raise BackupError(f"{path}: cannot be opened ({error})") from error
    try:
        result = [row[0] for row in db.execute("PRAGMA integrity_check")]
        if result != ["ok"]:
            raise BackupError(f"{path}: damaged ({'; '.join(result[:3])})")
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not {"requests", "events", "schema_version"} <= tables:
            raise BackupError(f"{path}: not a Holdfast store (no requests, events or schema_version table)")
        active, waiting = db.execute(
            "SELECT COUNT(*), COALESCE(SUM(kind = 'callback' AND state IN ('waiting', 'quarantine')), 0) "
            "FROM requests WHERE state <> 'ended'"
        ).fetchone()
        (events,) = db.execute("SELECT COUNT(*) FROM events").fetchone()
        key = _holds_key(db, tables)
    except sqlite3.DatabaseError as error:
        raise BackupError(f"{path}: not a readable SQLite database ({error})") from error
    finally:
        db.close()
    return Contents(path, path.stat().st_size, active, waiting, events, key)


def backup(db_path: Path, target: Path, keep: int | None = None, now: float | None = None) -> Contents:
    """Copy the store at `db_path` to `target` (a file, or a directory for a time-stamped one)."""
    if not db_path.is_file():
        raise BackupError(f"{db_path}: no store there (is service.data_dir right?)")
    if keep is not None and keep < 1:
        raise BackupError(f"--keep is {keep}: keep at least the backup just taken (1)")
    _as_owner(db_path, "backup")
    if target.is_dir():
        stamp = datetime.fromtimestamp(time.time() if now is None else now, UTC).strftime(STAMP)
        target = target / f"{PREFIX}{stamp}{SUFFIX}"
    elif keep is not None:
        raise BackupError("--keep needs a directory to keep backups in")
    if target.exists():
        raise BackupError(f"{target}: already exists; a backup never overwrites a file")
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)  # a backup that died half-way
    try:
        source = sqlite3.connect(db_path, timeout=30.0)
        copy = sqlite3.connect(partial)
        try:
            source.backup(copy)  # pages=-1: in one step, one read transaction, one instant
            copy.execute("PRAGMA journal_mode = DELETE")
        finally:
            copy.close()
            source.close()
        contents = check(partial)
        _fsync_file(partial)
        os.replace(partial, target)
        _fsync_dir(target.parent)
    except (sqlite3.Error, OSError) as error:
        partial.unlink(missing_ok=True)
        # SQLite says only "disk I/O error" when the store's -shm file cannot grow: its disk is full
        if getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_IOERR_SHMSIZE:
            error = OSError(f"{db_path}'s disk is full (its -shm file cannot grow): free disk space there")
        raise BackupError(f"backing up {db_path} to {target} failed: {error}") from error
    except BackupError:
        partial.unlink(missing_ok=True)
        raise
    if keep is not None:
        _prune(target.parent, keep)
    return replace(contents, path=target)


def _prune(directory: Path, keep: int) -> list[Path]:
    """Remove the oldest time-stamped backups beyond `keep` (only files this module named)."""
    ours = sorted(p for p in directory.glob(f"{PREFIX}*{SUFFIX}") if _is_stamped(p.name))
    gone = ours[: max(0, len(ours) - keep)]
    for path in gone:
        path.unlink()
    return gone


def _is_stamped(name: str) -> bool:
    try:
        datetime.strptime(name[len(PREFIX) : -len(SUFFIX)], STAMP)
    except ValueError:
        return False
    return True


def lock_holder(db_path: Path, now: float) -> str | None:
    """The Holdfast that holds the store's instance lock now, if any (app/telephony/instance_lock.py)."""
    if not db_path.is_file():
        return None
    db = sqlite3.connect(db_path, timeout=30.0)
    try:
        row = db.execute("SELECT owner, expires_at FROM instance_lock").fetchone()
    except sqlite3.OperationalError:  # no such table: a store never started
        return None
    finally:
        db.close()
    if row is None or row[1] <= now:
        return None
    owner = str(row[0])
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host == socket.gethostname() and pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
        return None  # its process is gone: the service itself would take the lock over
    return owner


def restore(source: Path, db_path: Path, now: float | None = None) -> tuple[Contents, Path | None]:
    """Put the backup `source` in place of the store at `db_path`; returns what it holds and the
    name the files it replaced went to, with their suffixes (None if there were none)."""
    now = time.time() if now is None else now
    _as_owner_where_made(db_path, "restore")
    holder = lock_holder(db_path, now)
    if holder is not None:
        raise BackupError(f"a Holdfast ({holder}) is running on {db_path}: stop it first (systemctl stop holdfast)")
    contents = check(source)
    stamp = datetime.fromtimestamp(now, UTC).strftime(STAMP)
    aside = db_path.with_name(f"{db_path.name}.before-restore-{stamp}")
    moved = False
    partial = db_path.with_name(db_path.name + ".restoring")
    try:
        db_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)  # callers' numbers: ours alone
        with open(source, "rb") as src, open(partial, "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
            dst.flush()
            os.fsync(dst.fileno())
        db = sqlite3.connect(partial)
        try:
            # (a store never started has no lock table)
            with contextlib.suppress(sqlite3.OperationalError), db:
                db.execute("DELETE FROM instance_lock")
            db.execute("PRAGMA journal_mode = DELETE")
        finally:
            db.close()
        for suffix in ("", "-wal", "-shm", "-journal"):  # the WAL goes with its database, never stays
            old = db_path.with_name(db_path.name + suffix)
            if old.exists():
                os.replace(old, aside.with_name(aside.name + suffix))
                moved = True
        os.replace(partial, db_path)
        _fsync_dir(db_path.parent)
    except (sqlite3.Error, OSError) as error:
        partial.unlink(missing_ok=True)
        raise BackupError(f"restoring {source} to {db_path} failed: {error}") from error
    return replace(contents, path=db_path), aside if moved else None
