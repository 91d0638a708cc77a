"""A store lost with its disk comes back from `holdfast backup`, taken while the service ran, and the
callbacks it held are served on the real Asterisk (README, "Backups")."""

from __future__ import annotations

import asyncio
import subprocess

import pytest
from conftest import HOLDFAST, wait_events

pytestmark = pytest.mark.e2e

IN_BACKUP = [f"+45202000{i:02d}" for i in range(4)]
AFTER_BACKUP = "+4520200099"
TALK = 0.5  # seconds a customer stays on the line once answered


async def holdfast_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run, [HOLDFAST, *args], capture_output=True, text=True, timeout=60, check=False
    )


async def test_a_store_lost_with_its_disk_comes_back_from_a_backup_and_its_callbacks_are_served(
    service_process, phonesim, tmp_path
):
    service = service_process
    ids = {}
    for number in IN_BACKUP:
        status, body = await service.api("POST", "/api/callbacks", json={"queue": "cb", "number": number})
        assert status == 201, body
        ids[number] = body["request_id"]
    shelf = tmp_path / "backups"
    shelf.mkdir()
    made = await holdfast_cli("backup", "--config", str(service.config_path), "--keep", "3", str(shelf))
    assert made.returncode == 0, made.stderr
    assert f"{len(IN_BACKUP)} callbacks waiting" in made.stdout
    status, body = await service.api("POST", "/api/callbacks", json={"queue": "cb", "number": AFTER_BACKUP})
    assert status == 201, body  # the service ran on through the backup
    later = body["request_id"]

    service.kill9()
    store_files = list(service.data_dir.glob("holdfast.db*"))
    assert store_files
    for path in store_files:  # the disk is lost, and the WAL with it
        path.unlink()
    (backup_file,) = shelf.iterdir()
    refused = await holdfast_cli("restore", "--config", str(service.config_path), str(tmp_path / "nothing.db"))
    assert refused.returncode == 2 and "cannot be opened" in refused.stderr
    put_back = await holdfast_cli("restore", "--config", str(service.config_path), str(backup_file))
    assert put_back.returncode == 0, put_back.stderr
    await service.start()

    status, body = await service.api("GET", "/api/callbacks")
    assert status == 200
    waiting = {c["request_id"]: c for c in body["callbacks"]}
    assert set(waiting) == set(ids.values())  # the backup's promises, in their places; the later one is not there
    assert [waiting[ids[n]]["position"] for n in IN_BACKUP] == [1, 2, 3, 4]
    assert later not in waiting

    phonesim.set_behaviour("customer:*", ("talk", TALK))
    status, _ = await service.api("POST", "/api/agents/1001/ready")
    assert status == 200
    events = await wait_events(
        service.data_dir,
        lambda ev: sum(1 for e in ev if e.kind == "ended" and e.data.get("outcome") == "served") == len(IN_BACKUP),
        "every callback of the backup served",
        timeout=120,
    )
    served = [e.request_id for e in events if e.kind == "ended" and e.data.get("outcome") == "served"]
    assert served == [ids[n] for n in IN_BACKUP]  # in their order
    for number in IN_BACKUP:
        rang = [c for c in phonesim.calls.values() if c.kind == "customer" and c.dest == number]
        assert len(rang) == 1, f"{number} rang {len(rang)} times"
    assert service.running
