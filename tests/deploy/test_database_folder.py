"""`service.database` naming a SQLite file whose folder does not exist yet: the service makes the
folder (ours alone, 0700, as it does for data_dir) whether the file is written as a path or as
`sqlite:///FILE`. The URL form was not made, and `holdfast run` stopped with "cannot open
database ...: directory ... does not exist" (exit 3, which systemd restarts for ever)."""

from __future__ import annotations

import copy
import stat
from pathlib import Path

import pytest

from app.runner import open_store
from tests.config.helpers import BASE, valid


async def opened_at(database: str) -> None:
    data = copy.deepcopy(BASE)
    data["service"] = {"database": database}
    store = await open_store(valid(data))
    await store.close()


@pytest.mark.parametrize("form", ["path", "absolute url", "relative url"])
async def test_a_sqlite_database_gets_its_folder(form: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "new" / "store"
    database = {
        "path": str(folder / "x.db"),
        "absolute url": f"sqlite:///{folder / 'x.db'}",  # sqlite:////abs/x.db
        "relative url": "sqlite:///new/store/x.db",  # relative to the working directory
    }[form]
    await opened_at(database)
    assert (folder / "x.db").is_file()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700  # callers' numbers: the service's alone
