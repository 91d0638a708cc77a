"""A full disk on real Asterisk: a caller who presses 1 in the callback menu while the disk under the
store is full (a real tmpfs, tests/store/full_disk.py) is never told "we will call you back": the
step that promised it is not stored, so nothing of it is sent to Asterisk; the service stops
loudly; the caller is not hung up on, and the store holds no callback for them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from app.core.states import RequestKind
from tests.e2e.test_callbacks import ANNA, CB1, arrive
from tests.store.full_disk import SmallDisk, mounted_disk

pytestmark = pytest.mark.e2e


@pytest.fixture
def data_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    """A 4 MiB tmpfs mounted over tmp_path, the service's data_dir: its store is on it."""
    with mounted_disk(tmp_path, "tmpfs", size=4 * 1024 * 1024, mount_point=tmp_path) as disk:
        yield disk


@pytest.fixture
def holdfast_extra_config(data_disk: SmallDisk) -> str:
    """Only so that the disk is mounted before the `holdfast` fixture opens the store on it."""
    return ""


async def wait_until(condition: Any, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_a_caller_pressing_1_while_the_disk_is_full_hears_no_confirmation(holdfast, phonesim, data_disk) -> None:
    sent_plays: list[tuple[str, Any]] = []  # every play the service asks Asterisk for
    channels = holdfast.service.ari.channels
    real_play = channels.play

    async def recorded_play(channel_id: str, media: Any, **kwargs: Any) -> Any:
        sent_plays.append((channel_id, media))
        return await real_play(channel_id, media, **kwargs)

    channels.play = recorded_play
    call, request_id = await arrive(holdfast, phonesim, CB1, ANNA)
    try:
        await holdfast.wait_activity("offered", request_id=request_id)
        await call.send_dtmf("1")
        await holdfast.wait_activity("callback_key", request_id=request_id)  # "press 1 for this number"
        await holdfast.service.wait_committed()
        plays_before = len(sent_plays)

        data_disk.fill()
        with capture_logs() as logs:
            await call.send_dtmf("1")
            # The engine took it (in memory), the store could not keep it: the service stops.
            await wait_until(lambda: holdfast.engine.requests[request_id].callback_number == ANNA, "the key")
            await wait_until(holdfast.service.fatal.is_set, "the service giving up")
        critical = [e for e in logs if e["log_level"] == "critical"]
        assert critical and "StoreFull" in str(critical[0].get("error")), critical
        assert not holdfast.service.healthy
        confirmations = [m for _, m in sent_plays[plays_before:] if "callback_confirmed" in str(m)]
        assert not confirmations, sent_plays[plays_before:]
        assert not holdfast.activities.find("callback_accepted", request_id=request_id)
        assert not call.hung_up  # nobody hung up on them after a promise
        stored = await holdfast.store.load_request(request_id)
        assert stored is not None and stored.kind is RequestKind.INBOUND and stored.callback_number is None
    finally:
        data_disk.free()
        await call.hangup()
        deadline = time.monotonic() + 15.0
        while await asyncio.to_thread(holdfast.sut.ari_get, "/channels"):  # the next test finds the SUT empty
            assert time.monotonic() < deadline, "the caller's channel stayed on the SUT"
            await asyncio.sleep(0.2)
