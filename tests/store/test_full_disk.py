"""The full-disk fixture itself (tests/store/full_disk.py): it fails under CI rather than skip when
it cannot mount, and never leaves a mount behind, even with a file on it still open."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.store import full_disk
from tests.store.full_disk import mounted_disk


def refuse_mount(*argv: str) -> None:
    raise subprocess.CalledProcessError(32, argv, stderr="mount: permission denied (test)")


@pytest.mark.parametrize("on_ci", [True, False], ids=["ci", "developer"])
def test_without_root_it_fails_under_ci_and_skips_elsewhere(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, on_ci: bool
) -> None:
    monkeypatch.setattr(full_disk, "ON_CI", on_ci)
    monkeypatch.setattr(full_disk.os, "geteuid", lambda: 1000)
    expected = pytest.fail.Exception if on_ci else pytest.skip.Exception
    with pytest.raises(expected, match="root"), mounted_disk(tmp_path):
        pass


@pytest.mark.parametrize("kind", full_disk.KINDS)
def test_a_refused_mount_fails_under_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, kind: str) -> None:
    monkeypatch.setattr(full_disk, "ON_CI", True)
    full_disk.need_mount(kind)  # root and the tools are here: only the mount is refused
    real_run = full_disk._run
    monkeypatch.setattr(full_disk, "_run", lambda *argv: refuse_mount(*argv) if argv[0] == "mount" else real_run(*argv))
    with pytest.raises(pytest.fail.Exception, match="permission denied"), mounted_disk(tmp_path, kind):
        pass


@pytest.mark.parametrize("kind", full_disk.KINDS)
def test_it_fills_frees_and_always_unmounts(tmp_path: Path, kind: str) -> None:
    with pytest.raises(RuntimeError, match="the test failed"), mounted_disk(tmp_path, kind) as disk:
        assert os.path.ismount(disk.path)
        disk.fill()
        with pytest.raises(OSError, match="No space left"):
            (disk.path / "one-more").write_bytes(b"x" * 8192)
        disk.free()
        assert disk.free_bytes() > 512 * 1024
        held = open(disk.path / "held-open", "w")  # noqa: SIM115  (a store a failing test left open)
        raise RuntimeError("the test failed")
    assert not os.path.ismount(disk.path)
    held.close()
