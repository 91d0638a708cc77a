"""`PromptItem("tone", "ring")` on real Asterisk: ARI plays the indication until it is stopped."""

from __future__ import annotations

import asyncio
import time

import pytest

from app.core.commands import PlayPrompt, PromptItem, StopPrompt

pytestmark = pytest.mark.e2e


async def test_a_ring_tone_plays_until_stopped(holdfast, phonesim):
    call = await phonesim.call("4000", "+4520123491")
    arrived = await holdfast.wait_activity("arrived", caller="+4520123491")
    await call.wait_answered()
    leg = holdfast.service.legs.by_leg(arrived.request_id)
    holdfast.service.executor.submit([PlayPrompt(leg.leg_id, (PromptItem("tone", "ring"),))])
    deadline = time.monotonic() + 5
    while not leg.playbacks:
        assert time.monotonic() < deadline, "the tone was never started"
        await asyncio.sleep(0.05)
    (playback_id,) = leg.playbacks
    playback = holdfast.sut.ari_get(f"/playbacks/{playback_id}")
    assert (playback["media_uri"], playback["state"]) == ("tone:ring", "playing")
    await call.wait_audio_flowing()  # the ring tone is heard
    holdfast.service.executor.submit([StopPrompt(leg.leg_id)])
    while leg.playbacks:  # PlaybackFinished came
        assert time.monotonic() < deadline + 5, "the tone did not stop"
        await asyncio.sleep(0.05)
    assert not holdfast.service.playback_failures
    await call.hangup()
