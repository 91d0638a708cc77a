"""A real full disk for the store's and the service's tests: a small file system mounted in
tmp_path (tmpfs, or ext4 in a loop-mounted image file), with a filler file that takes its free
space and gives it back.

An injected StoreFull is not what a full disk does: SQLite meets it at whichever write needs a
new block (a WAL frame, the -shm file at open, a checkpoint growing the database file), and the
error may come as SQLITE_FULL or as an SQLITE_IOERR variant. Here the kernel says "no space".

Needs root and `mount`. Without them the test skips on a developer's machine and fails under CI
(`need_mount`): never a silent pass. Always unmounted afterwards, also when the test fails (a file
still open on it, e.g. a store the test did not close, is detached lazily rather than left
mounted).

    with mounted_disk(tmp_path, "tmpfs") as disk:
        store = SQLiteStore(disk.path / "holdfast.db")
        ...
        disk.fill()   # no free byte left
        disk.free()   # the filler's space back
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.store.conftest import ON_CI

KINDS = ("tmpfs", "ext4")
DEFAULT_SIZE = 2 * 1024 * 1024
_CHUNK = 64 * 1024


def _skip_or_fail(message: str) -> None:
    if ON_CI:
        pytest.fail(f"CI is set but {message}")
    pytest.skip(message)


def need_mount(kind: str) -> None:
    """Root and the tools for `kind`, or the test skips (fails under CI)."""
    missing = []
    if os.geteuid() != 0:
        missing.append("root (mount)")
    for tool in ("mount", "umount", *(("mkfs.ext4",) if kind == "ext4" else ())):
        if shutil.which(tool) is None:
            missing.append(f"the {tool} command")
    if missing:
        _skip_or_fail(f"a real full disk needs {', '.join(missing)}")


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, text=True, timeout=30)


class SmallDisk:
    """A mounted small file system; `fill` and `free` take and give back its free space."""

    def __init__(self, path: Path, kind: str) -> None:
        self.path = path
        self.kind = kind
        self.filler = path / "filler"

    def free_bytes(self) -> int:
        stat = os.statvfs(self.path)
        return stat.f_bavail * stat.f_frsize

    def fill(self, leave: int = 0) -> None:
        """Grow the filler until at most `leave` bytes are free (0: until the kernel says ENOSPC)."""
        with open(self.filler, "ab", buffering=0) as filler:
            chunk = _CHUNK
            while chunk:
                room = self.free_bytes() - leave
                if leave and room <= 0:
                    break
                try:
                    filler.write(b"\0" * (min(chunk, room) if leave else chunk))
                except OSError as error:
                    if error.errno != errno.ENOSPC:
                        raise
                    chunk //= 2  # the last blocks: smaller writes until not one byte fits
            os.fsync(filler.fileno())  # ext4 allocates at write, but make sure it is taken
        if not leave:
            assert self.free_bytes() == 0, f"{self.kind} still has {self.free_bytes()} bytes free"

    def free(self) -> None:
        """Give the filler's space back."""
        self.filler.unlink(missing_ok=True)


def _unmount(path: Path) -> None:
    try:
        _run("umount", str(path))
    except subprocess.CalledProcessError:
        # Busy: something still holds a file open (a store a failed test left open). Detach it
        # now rather than leave a mount behind; the kernel frees it when the file is closed.
        _run("umount", "--lazy", str(path))


@contextlib.contextmanager
def mounted_disk(
    tmp_path: Path, kind: str = "tmpfs", size: int = DEFAULT_SIZE, mount_point: Path | None = None
) -> Iterator[SmallDisk]:
    """A `kind` file system of `size` bytes mounted at `mount_point` (default tmp_path/disk-KIND;
    an existing directory's contents are hidden while it is mounted), unmounted at the end."""
    assert kind in KINDS, kind
    need_mount(kind)
    if mount_point is None:
        mount_point = tmp_path / f"disk-{kind}"
    mount_point.mkdir(exist_ok=True)
    try:
        if kind == "tmpfs":
            _run("mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_point))
        else:
            image = tmp_path / f"disk-{kind}.img"
            with open(image, "wb") as f:
                f.truncate(size)
            # -m 0: no blocks kept for root (the tests run as root and would write into them).
            _run("mkfs.ext4", "-q", "-F", "-m", "0", str(image))
            _run("mount", "-o", "loop", str(image), str(mount_point))  # the loop device goes at umount
    except subprocess.CalledProcessError as error:
        _skip_or_fail(f"mounting a {kind} file system was refused: {error.stderr.strip() or error}")
    try:
        yield SmallDisk(mount_point, kind)
    finally:
        _unmount(mount_point)


@pytest.fixture(params=KINDS)
def small_disk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SmallDisk]:
    """A 2 MiB file system of each kind in turn (tmpfs, ext4 on a loop device)."""
    with mounted_disk(tmp_path, request.param) as disk:
        yield disk


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[SmallDisk]:
    with mounted_disk(tmp_path, "tmpfs") as disk:
        yield disk
