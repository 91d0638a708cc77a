"""`python -m bench.queue.hold_experiment [N] [SECONDS] [REPEATS]`: what holding N callers costs the
SUT Asterisk, four ways: "bridge", a holding bridge with each caller's own music on hold (role
holding_participant); "channel", music on hold started straight on each caller's channel (`POST
/channels/{id}/moh`, no bridge), the way app_queue holds its callers; "shared", one music stream for
the bridge (`POST /bridges/{id}/moh`, an announcer channel) heard by plain participants; "hybrid",
the bridge's stream heard by holding participants, whose own music takes over if the announcer goes
(tried in the fourth round of issue 13 and not taken: 18 % less with 100 held, nothing at 300-500 in
the scale benchmark, docs/bench-scale.md). The packets per second a few callers receive are
printed too: a way that saves CPU by not sending music would show there.

The SUT (asterisk-conf/, Stasis app "holdfast") and the phone simulator are the queue benchmark's.
A small ARI app on the SUT plays Holdfast's part: it answers each caller and holds them one way or
the other; once all N are held, the SUT's CPU (utime+stime from /proc) is read over SECONDS. The
ways alternate, REPEATS times each, each on a fresh SUT. Prints CPU in cores (CPU s per s).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from typing import Any

from app.sandbox import AsteriskInstall, AsteriskInstance, find_asterisk
from bench.queue import systems
from bench.queue.phonesim_driver import AriError, MiniAri, PhoneSim

BRIDGE = "hold-experiment"


async def held_cpu(
    way: str, n: int, seconds: float, install: AsteriskInstall, ports: systems.Ports, phonesim: AsteriskInstance
) -> float:
    """SUT CPU in cores while `n` callers are held `way` ("bridge" or "channel")."""
    sut = systems.start_sut("holdfast", install, ports, [])
    try:
        ari = await MiniAri(sut.ari_url, *sut.ari_auth, systems.ARI_APP).connect()
        sim = PhoneSim(await MiniAri(phonesim.ari_url, *phonesim.ari_auth, "phonesim").connect())
        if way in ("bridge", "shared", "hybrid"):
            await ari.post(f"/bridges/{BRIDGE}", type="holding", name=BRIDGE)
        held: set[str] = set()
        tasks: set[asyncio.Task[None]] = set()

        async def hold(channel_id: str) -> None:
            await ari.post(f"/channels/{channel_id}/answer")
            if way == "bridge":
                await ari.post(f"/bridges/{BRIDGE}/addChannel", channel=channel_id, role="holding_participant")
            elif way in ("shared", "hybrid"):
                role = "participant" if way == "shared" else "holding_participant"
                await ari.post(f"/bridges/{BRIDGE}/addChannel", channel=channel_id, role=role)
                if not held:
                    await ari.post(f"/bridges/{BRIDGE}/moh")
            else:
                await ari.post(f"/channels/{channel_id}/moh")
            held.add(channel_id)

        def on_event(ev: dict[str, Any]) -> None:
            if ev.get("type") == "StasisStart":
                task = asyncio.ensure_future(hold(ev["channel"]["id"]))
                tasks.add(task)

        ari.listeners.append(on_event)
        calls = []
        for i in range(n):
            calls.append(await sim.call(systems.QUEUE_NUMBER, f"0612{i:06d}"))
            await asyncio.sleep(0.05)
        deadline = time.monotonic() + 60
        while len(held) < n:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(held)} of {n} callers held after 60 s")
            await asyncio.sleep(0.1)
        await asyncio.sleep(2.0)  # let the last joins settle
        assert sut.pid is not None
        watched = calls[:: max(1, n // 5)]  # a few callers, old and new: is music heard by all?
        rx0 = [(await call.rtp_stats())["rxcount"] for call in watched]
        cpu0, t0 = systems.cpu_seconds(sut.pid), time.monotonic()
        await asyncio.sleep(seconds)
        cores = (systems.cpu_seconds(sut.pid) - cpu0) / (time.monotonic() - t0)
        elapsed = time.monotonic() - t0
        heard = [((await call.rtp_stats())["rxcount"] - r) / elapsed for call, r in zip(watched, rx0, strict=True)]
        print(f"  {way}: packets/s received by {len(heard)} callers: " + ", ".join(f"{h:.1f}" for h in heard))
        for call in calls:
            with contextlib.suppress(AriError):
                await call.hangup()
        await sim.close()
        await ari.close()
        return cores
    finally:
        sut.stop()
        sut.remove()


async def main_async(n: int, seconds: float, repeats: int) -> dict[str, list[float]]:
    install, ports = find_asterisk(), systems.Ports.pick()
    phonesim = systems.start_phonesim(install, ports, [])
    ways = ("bridge", "channel", "shared", "hybrid")
    results: dict[str, list[float]] = {way: [] for way in ways}
    try:
        for r in range(repeats):
            for way in ways if r % 2 == 0 else tuple(reversed(ways)):
                cores = await held_cpu(way, n, seconds, install, ports, phonesim)
                results[way].append(cores)
                print(f"repeat {r}: {n} callers held by {way}: SUT {cores:.3f} cores", flush=True)
    finally:
        phonesim.stop()
        phonesim.remove()
    return results


def main(argv: list[str]) -> int:
    n = int(argv[0]) if argv else 60
    seconds = float(argv[1]) if len(argv) > 1 else 30.0
    repeats = int(argv[2]) if len(argv) > 2 else 2
    results = asyncio.run(main_async(n, seconds, repeats))
    for way, values in results.items():
        print(f"{way}: " + ", ".join(f"{v:.3f}" for v in values) + " cores")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
