"""The fake ARI itself: what tests rely on when they wait for a call."""

from __future__ import annotations

import asyncio

from app.ari import AriClient, AriError
from tests.ari.fake_ari import FakeAri, RecordedCall


async def test_a_waited_call_has_had_its_hooks_run(fake_ari: FakeAri, ari_client: AriClient) -> None:
    """wait_for_call returns only once the call's on_request hooks are done, even slow ones."""
    seen: list[str] = []

    async def slow_hook(call: RecordedCall) -> None:
        await asyncio.sleep(0.05)  # e.g. reading the store
        seen.append(call.path)

    fake_ari.on_request.append(slow_hook)
    chan = fake_ari.add_channel()
    waiter = asyncio.create_task(fake_ari.wait_for_call("POST", f"/channels/{chan['id']}/answer"))
    await asyncio.sleep(0)  # the waiter is waiting before the call arrives
    answer = asyncio.create_task(ari_client.channels.answer(chan["id"]))
    await waiter
    assert seen == [f"/channels/{chan['id']}/answer"]
    await answer


async def test_another_calls_wake_up_does_not_return_a_call_whose_hooks_still_run(
    fake_ari: FakeAri, ari_client: AriClient
) -> None:
    entered, release = asyncio.Event(), asyncio.Event()

    async def held_hook(call: RecordedCall) -> None:
        if call.path.endswith("/answer"):
            entered.set()
            await release.wait()

    fake_ari.on_request.append(held_hook)
    chan = fake_ari.add_channel()
    answer = asyncio.create_task(ari_client.channels.answer(chan["id"]))
    await asyncio.wait_for(entered.wait(), 2.0)  # the answer is recorded, its hook still runs
    try:
        waiter = asyncio.create_task(fake_ari.wait_for_call("POST", r".*/answer", timeout=2.0))
        await ari_client.asterisk.ping()  # another call wakes every waiter
        assert not waiter.done()
    finally:
        release.set()
    assert (await waiter).status == 204
    await answer


async def test_a_failure_with_apply_still_takes_effect(fake_ari: FakeAri, ari_client: AriClient) -> None:
    fake_ari.fail("POST", r"/channels", status=500, apply=True)
    try:
        await ari_client.channels.originate("PJSIP/1001", app="holdfast", channel_id="chan-1")
    except AriError as error:
        assert error.status == 500
    else:
        raise AssertionError("the originate should have failed")
    assert "chan-1" in fake_ari.channels
