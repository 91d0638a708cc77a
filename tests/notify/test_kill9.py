"""`kill -9` of `holdfast run` with undelivered notifications: after a restart every one is
delivered, each with its own idempotency key, the same key on every repeat (the receiver dedupes).

The notifications are put in the store as a step's commit puts them (`commit_many` with
`Change.notifications`) before the first run; the receiver first refuses (503), then takes the
requests and never answers (the service dies mid-delivery: the row is still pending, so the
restart sends it again), and answers 200 only after the restart.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from app.store import Change
from app.store.outbox_records import Notification
from app.store.sqlite import SQLiteStore
from tests.ari.fake_ari import FakeAri
from tests.ari.fixtures import fake_ari
from tests.notify.receiver import Receiver, free_port, receiver_fixture  # noqa: F401 (the `receiver` fixture)
from tests.telephony.conftest import config_text

__all__ = ["fake_ari"]

ROOT = Path(__file__).resolve().parents[2]
SECRET = "kill9-secret"
COUNT = 12


async def start(config: Path, log: Path) -> asyncio.subprocess.Process:
    with open(log, "ab") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "app.cli", "run", "--config", str(config), cwd=ROOT, stdout=out, stderr=out
        )


async def kill9(proc: asyncio.subprocess.Process) -> None:
    proc.kill()  # SIGKILL: no clean-up of any kind
    assert await proc.wait() == -9


async def test_undelivered_notifications_survive_kill_9(fake_ari: FakeAri, receiver: Receiver, tmp_path: Path) -> None:
    data = tmp_path / "var"
    data.mkdir()
    notifications = f"""
notifications:
  retry: {{first_delay: 0.2s, max_delay: 0.5s, expire_after: 1h}}
  webhooks:
    crm: {{url: "{receiver.url}/hooks", secret: "{SECRET}", timeout: 30s}}
  routes:
    support:
      closed: [crm]
"""
    extra = f"service:\n  http_port: {free_port()}\n  data_dir: {data}\n{notifications}"
    config = tmp_path / "holdfast.yaml"
    config.write_text(config_text(fake_ari, extra=extra))
    store = SQLiteStore(data / "holdfast.db")
    await store.open()
    now = time.time()
    keys = [f"key-{i:02d}" for i in range(COUNT)]
    rows = [
        Notification(k, now, "closed", "crm", f"req-{k}", "support", now + 3600, {"id": k, "event": "closed", "n": i})
        for i, k in enumerate(keys)
    ]
    await store.commit_many([Change(notifications=rows)])
    await store.close()

    receiver.mode = "down"
    proc = await start(config, tmp_path / "run.log")
    try:
        await receiver.wait(lambda: len({r.key for r in receiver.requests}) == COUNT, "a first try of each", 30.0)
        receiver.mode = "hang"  # the next tries are taken and never answered
        seen = len(receiver.requests)
        await receiver.wait(lambda: len(receiver.requests) > seen, "a try in flight", 10.0)
        await kill9(proc)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert not receiver.delivered

    receiver.mode = "ok"
    proc = await start(config, tmp_path / "run.log")
    try:
        await receiver.wait(lambda: set(receiver.delivered) == set(keys), "every key delivered after the restart", 30.0)
        store = SQLiteStore(data / "holdfast.db")
        await store.open()
        try:
            deadline = time.monotonic() + 10.0
            while len(await store.notifications(state="delivered")) < COUNT:
                assert time.monotonic() < deadline, "the rows were not marked delivered"
                await asyncio.sleep(0.05)
        finally:
            await store.close()
    finally:
        proc.kill()
        await proc.wait()
    # Every request carried one of our keys, with that key's own body, signed.
    by_key: dict[str, set[bytes]] = {}
    for got in receiver.requests:
        assert got.signed_with(SECRET)
        assert got.json()["id"] == got.key
        by_key.setdefault(got.key, set()).add(got.body)
    assert set(by_key) == set(keys)
    assert all(len(bodies) == 1 for bodies in by_key.values())
    assert len(receiver.delivered) == COUNT  # each key delivered (deduped) once
