"""Plays one workload against the running SUT and records what the phones and the SUT saw.

Callers are placed from the phone simulator at their pre-drawn times; each hangs up when its
patience runs out before it is bridged. Agents' phones ring, answer after ANSWER_DELAY, talk for
the talk time of the caller they got (read from the caller id on their leg) and hang up.

"Bridged" is read on the SUT with a watcher ARI application subscribed to every channel and bridge
(`subscribeAll`): the first moment one bridge holds both the caller's and an agent's channel. The
watcher sees app_queue's bridges and Holdfast's alike, so both systems are measured the same way;
its cost (a few events per call) is paid by both SUTs.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiohttp

from bench.queue.metrics import AgentLeg, CallerRecord
from bench.queue.phonesim_driver import AriError, CallEnded, MiniAri, PhoneSim, SimCall
from bench.queue.systems import QUEUE_NUMBER
from bench.queue.workload import ANSWER_DELAY, Caller, caller_index

WATCH_APP = "benchwatch"


def ts(ev: dict[str, Any]) -> float:
    """An ARI event's own timestamp (Asterisk's realtime clock, ms) as epoch seconds."""
    return datetime.strptime(ev["timestamp"], "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


class WatchAri(MiniAri):
    """MiniAri subscribed to all channels and bridges of the SUT."""

    async def connect(self, timeout: float = 10.0) -> WatchAri:
        self._session = aiohttp.ClientSession(headers=self._headers, timeout=aiohttp.ClientTimeout(total=15))
        ws_url = self.base_url.replace("http", "ws", 1) + "/events"
        self._ws = await self._session.ws_connect(
            ws_url, params={"app": self.app, "subscribeAll": "true"}, heartbeat=20
        )
        self._reader = asyncio.create_task(self._read(), name=f"ari-events-{self.app}")
        return self


@dataclass
class SutWatch:
    """Caller INVITE times and bridge moments, from the SUT's own events."""

    records: dict[int, CallerRecord]
    roles: dict[str, tuple[str, str | int]] = field(
        default_factory=dict
    )  # channel id -> ("caller", idx) | ("agent", name)
    bridged: dict[int, asyncio.Event] = field(default_factory=dict)

    def on_event(self, ev: dict[str, Any]) -> None:
        t = ev.get("type")
        ch = ev.get("channel") or {}
        if ch and ch.get("id") not in self.roles:
            self._learn(ch, ev)
        if t == "ChannelEnteredBridge":
            members = [self.roles.get(cid) for cid in (ev.get("bridge") or {}).get("channels", [])]
            callers = [int(r[1]) for r in members if r and r[0] == "caller"]
            if len(callers) == 1 and any(r and r[0] == "agent" for r in members):
                rec = self.records.get(callers[0])
                if rec is not None and rec.bridged_at is None:
                    rec.bridged_at = ts(ev)
                    self.event(callers[0]).set()
        elif t == "ChannelDestroyed":
            self.roles.pop(ch.get("id", ""), None)

    def _learn(self, ch: dict[str, Any], ev: dict[str, Any]) -> None:
        name: str = ch.get("name", "")
        if name.startswith("PJSIP/trunk-"):
            idx = caller_index((ch.get("caller") or {}).get("number", ""))
            if idx is not None:
                self.roles[ch["id"]] = ("caller", idx)
                rec = self.records.get(idx)
                if rec is not None and rec.invite_at is None and ev.get("type") == "ChannelCreated":
                    rec.invite_at = ts(ev)
        elif name.startswith("PJSIP/"):
            self.roles[ch["id"]] = ("agent", name[6:].rsplit("-", 1)[0])

    def event(self, idx: int) -> asyncio.Event:
        return self.bridged.setdefault(idx, asyncio.Event())


def _first_ts(call: SimCall, types: tuple[str, ...], pred: Any = None) -> float | None:
    for ev in call.events:
        if ev.get("type") in types and (pred is None or pred(ev)):
            return ts(ev)
    return None


def _end_ts(call: SimCall) -> float | None:
    return _first_ts(call, ("ChannelHangupRequest", "StasisEnd", "ChannelDestroyed"), lambda e: not e.get("soft"))


class Driver:
    def __init__(self, sim: PhoneSim, watch: SutWatch, workload: list[Caller], agents: list[str]) -> None:
        self.sim, self.watch, self.workload, self.agents = sim, watch, workload, agents
        self.records = watch.records
        self.talk = {c.index: c.talk for c in workload}
        self.orphan_legs: list[AgentLeg] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self.errors: list[BaseException] = []

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)

        def done(t: asyncio.Task[None]) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                self.errors.append(t.exception())  # type: ignore[arg-type]

        task.add_done_callback(done)
        return task

    async def run(self, drain_timeout: float) -> None:
        """Place every caller, then wait until all calls ended or `drain_timeout` after the last arrival."""
        self.sim.set_behaviour("agent:*", "manual")  # ring; the agent loops answer
        agent_loops = [self._spawn(self._agent_loop(a)) for a in self.agents]
        start = time.monotonic()
        callers = [self._spawn(self._caller(c, start)) for c in self.workload]
        last = max(c.at for c in self.workload)
        await asyncio.sleep(max(0.0, start + last - time.monotonic()))
        await asyncio.wait(callers, timeout=drain_timeout)
        # Agents' legs still ringing or talking get a few seconds to finish.
        deadline = time.monotonic() + 30
        while (
            any(leg.ended_at is None for r in self.records.values() for leg in r.legs) and time.monotonic() < deadline
        ):
            await asyncio.sleep(0.5)
        for t in agent_loops + callers:
            t.cancel()
        await asyncio.gather(*agent_loops, *callers, return_exceptions=True)

    async def _caller(self, c: Caller, start: float) -> None:
        rec = self.records[c.index]
        await asyncio.sleep(max(0.0, start + c.at - time.monotonic()))
        try:
            call = await self.sim.call(QUEUE_NUMBER, c.caller_id, timeout=30)
        except AriError as e:
            rec.failed = f"originate refused: {e}"
            return
        try:
            await call.wait_answered(timeout=30)
        except (CallEnded, TimeoutError) as e:
            rec.failed = f"not answered: {e}"
            with contextlib.suppress(AriError):
                await call.hangup()
            return
        rec.answered_at = _first_ts(call, ("StasisStart",))
        bridged = self.watch.event(c.index)
        ended = asyncio.ensure_future(call._ended.wait())
        got = asyncio.ensure_future(bridged.wait())
        try:
            await asyncio.wait({ended, got}, timeout=c.patience, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ended.cancel()
            got.cancel()
        if not call.hung_up and rec.bridged_at is None:
            rec.abandoned = True
            with contextlib.suppress(AriError):
                await call.hangup()
        try:
            await call.wait_hangup(timeout=3600)
        finally:
            rec.ended_at = _end_ts(call)

    async def _agent_loop(self, agent: str) -> None:
        while True:
            call = await self.sim.wait_incoming(f"agent:{agent}", timeout=3600)
            self._spawn(self._agent_leg(agent, call))

    async def _agent_leg(self, agent: str, call: SimCall) -> None:
        offered = _first_ts(call, ("StasisStart",)) or time.time()
        idx = caller_index(call.caller_number)
        leg = AgentLeg(agent, idx, offered)
        (self.records[idx].legs if idx in self.records else self.orphan_legs).append(leg)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(call._ended.wait(), max(0.0, offered + ANSWER_DELAY - time.time()))
        try:
            if not call.hung_up:
                with contextlib.suppress(AriError):
                    await call.answer()
                with contextlib.suppress(CallEnded, TimeoutError):
                    await call.wait_answered(timeout=5)
                leg.up_at = _first_ts(call, ("ChannelStateChange",), lambda e: e["channel"].get("state") == "Up")
                talk = self.talk.get(idx if idx is not None else -1, 0.0)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(call._ended.wait(), talk)
                if not call.hung_up:
                    leg.hung_up_by_agent = True
                    with contextlib.suppress(AriError):
                        await call.hangup()
            await call.wait_hangup(timeout=60)
        finally:
            leg.ended_at = _end_ts(call)
