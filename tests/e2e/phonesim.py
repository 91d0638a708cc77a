"""Phone simulator driver for end-to-end tests.

A second Asterisk (config in tests/e2e/phonesim-conf/) plays the phone network and the agents'
softphones against the system under test (SUT). This module drives it over ARI:

- customers call the SUT:        `call = await sim.call("5551000", caller_id="0611223344")`
- the SUT calls an agent/customer: `call = await sim.wait_incoming("agent:1001")`; what the
  simulator does with such calls is chosen per destination with `sim.set_behaviour(...)`
- on every call: wait_answered / wait_hangup / send_dtmf / wait_dtmf / hangup / rtp_stats /
  wait_audio_flowing. Answered calls get music on hold so RTP flows both ways.

Destinations are written "agent:<username>" or "customer:<number>"; "agent:*" and "customer:*" set
the behaviour for all others of that kind.

`MiniAri` is a deliberately small ARI client (REST + events websocket) used by the simulator and by
tests that need a throwaway Stasis app on the SUT; it does not depend on app/ari.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp

from app.sandbox import AgentEndpoint

log = logging.getLogger("phonesim")

Event = dict[str, Any]
BehaviourName = Literal["answer", "ignore", "manual", "busy", "congestion", "decline"]
Behaviour = (
    BehaviourName
    | tuple[Literal["answer_after"], float]
    | tuple[Literal["hangup"], str]
    | tuple[Literal["talk"], float]  # answer, then hang up after that many seconds (if still up)
    | tuple[Literal["talk"], float, float]  # the same after ringing for the second number of seconds
)

SIM_APP = "phonesim"
AGENT_CONTACT_PREFIX = "agt"  # must match [from-sut] in phonesim-conf/extensions.conf


class AriError(Exception):
    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        super().__init__(f"ARI {method} {path} -> {status}: {body[:300]}")
        self.status = status
        self.body = body


class CallEnded(AssertionError):
    """The call hung up while a test waited for something else."""

    def __init__(self, call: SimCall, waited_for: str) -> None:
        super().__init__(
            f"call {call.describe()} ended (cause {call.cause} {call.cause_txt or ''}) while waiting for {waited_for}"
        )
        self.cause = call.cause


# ---------------------------------------------------------------------------------------------
# minimal ARI client
# ---------------------------------------------------------------------------------------------
class MiniAri:
    """REST calls plus the events websocket of one Stasis application.

    All events are kept in `events` (in arrival order); `wait_for(pred, since=mark)` finds the first
    matching event at or after index `mark` (see `mark()`), waiting for it if needed.
    """

    def __init__(self, base_url: str, user: str, password: str, app: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.app = app
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self._headers = {"Authorization": f"Basic {token}"}
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._changed = asyncio.Condition()
        self.events: list[Event] = []
        self.listeners: list[Callable[[Event], None]] = []
        self.closed_error: BaseException | None = None

    async def connect(self, timeout: float = 10.0) -> MiniAri:
        self._session = aiohttp.ClientSession(headers=self._headers, timeout=aiohttp.ClientTimeout(total=15))
        ws_url = self.base_url.replace("http", "ws", 1) + "/events"
        self._ws = await self._session.ws_connect(
            ws_url, params={"app": self.app, "subscribeAll": "false"}, heartbeat=20
        )
        self._reader = asyncio.create_task(self._read(), name=f"ari-events-{self.app}")
        deadline = time.monotonic() + timeout
        while True:  # the application exists once the websocket is registered
            try:
                await self.get(f"/applications/{self.app}")
                return self
            except AriError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.05)

    async def stop_events(self) -> None:
        """Stop reading events (nothing new is dispatched); REST calls still work."""
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def close(self) -> None:
        await self.stop_events()
        if self._session is not None:
            await self._session.close()

    async def _read(self) -> None:
        assert self._ws is not None
        try:
            async for msg in self._ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                ev: Event = json.loads(msg.data)
                self.events.append(ev)
                for listener in list(self.listeners):
                    try:
                        listener(ev)
                    except Exception:
                        log.exception("listener failed on %s", ev.get("type"))
                async with self._changed:
                    self._changed.notify_all()
        except Exception as e:
            self.closed_error = e
            log.exception("ARI events websocket of %s failed", self.app)
        finally:
            if self.closed_error is None:
                self.closed_error = ConnectionError(f"ARI events websocket of {self.app} closed")
            async with self._changed:
                self._changed.notify_all()

    def mark(self) -> int:
        """Index of the next event to arrive; pass as `since` to ignore earlier events."""
        return len(self.events)

    async def wait_for(
        self, pred: Callable[[Event], bool], timeout: float = 10.0, since: int = 0, what: str = "event"
    ) -> Event:
        idx = since

        def scan() -> Event | None:
            nonlocal idx
            while idx < len(self.events):
                ev = self.events[idx]
                idx += 1
                if pred(ev):
                    return ev
            return None

        async def waiter() -> Event:
            async with self._changed:
                while True:
                    found = scan()
                    if found is not None:
                        return found
                    if self.closed_error is not None:
                        raise ConnectionError(f"{self.app}: websocket closed while waiting for {what}")
                    await self._changed.wait()

        try:
            return await asyncio.wait_for(waiter(), timeout)
        except TimeoutError:
            recent = [e.get("type") for e in self.events[since:]][-15:]
            raise TimeoutError(f"{self.app}: no {what} within {timeout}s (events since: {recent})") from None

    async def wait_type(
        self, type_: str, channel_id: str | None = None, timeout: float = 10.0, since: int = 0
    ) -> Event:
        def pred(ev: Event) -> bool:
            return ev.get("type") == type_ and (channel_id is None or (ev.get("channel") or {}).get("id") == channel_id)

        return await self.wait_for(pred, timeout, since, what=f"{type_} for {channel_id or 'any channel'}")

    async def request(self, method: str, path: str, params: dict[str, Any] | None = None, body: Any = None) -> Any:
        assert self._session is not None, "call connect() first"
        clean = {k: _param(v) for k, v in (params or {}).items() if v is not None}
        async with self._session.request(method, self.base_url + path, params=clean, json=body) as resp:
            text = await resp.text()
            if resp.status >= 300:
                raise AriError(method, path, resp.status, text)
            return json.loads(text) if text else None

    async def get(self, path: str, **params: Any) -> Any:
        return await self.request("GET", path, params)

    async def post(self, path: str, body: Any = None, **params: Any) -> Any:
        return await self.request("POST", path, params, body)

    async def delete(self, path: str, **params: Any) -> Any:
        return await self.request("DELETE", path, params)


def _param(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list | tuple):
        return ",".join(map(str, v))
    return str(v)


# ---------------------------------------------------------------------------------------------
# calls
# ---------------------------------------------------------------------------------------------
@dataclass
class SimCall:
    """One channel of the simulator: a customer's call into the SUT, or a call the SUT sent here."""

    sim: PhoneSim
    id: str
    direction: Literal["outgoing", "incoming"]
    kind: Literal["customer", "agent"]
    dest: str  # dialled number (outgoing), agent username or customer number (incoming)
    caller_number: str = ""
    caller_name: str = ""
    events: list[Event] = field(default_factory=list)
    dtmf_received: list[str] = field(default_factory=list)
    cause: int | None = None
    cause_txt: str | None = None
    hangup_sent: bool = False  # this side hung up: its Hangup event may not have come back yet
    _answered: asyncio.Event = field(default_factory=asyncio.Event)
    _ended: asyncio.Event = field(default_factory=asyncio.Event)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def answered(self) -> bool:
        return self._answered.is_set()

    @property
    def hung_up(self) -> bool:
        return self._ended.is_set()

    @property
    def going(self) -> bool:
        """Hung up, or being hung up by this side: a 404 from Asterisk for it is no error."""
        return self.hung_up or self.hangup_sent

    @property
    def address(self) -> str:
        return f"{self.kind}:{self.dest}"

    def describe(self) -> str:
        arrow = "->" if self.direction == "outgoing" else "<-"
        return f"{arrow}{self.address} ({self.id})"

    # -- event intake (called by PhoneSim) --
    def _on_event(self, ev: Event) -> None:
        self.events.append(ev)
        t = ev.get("type")
        ch = ev.get("channel") or {}
        if t == "StasisStart" and self.direction == "outgoing":
            self._answered.set()  # originate + app: entering Stasis means the far end answered
        elif t == "ChannelStateChange" and ch.get("state") == "Up" and self.direction == "incoming":
            self._answered.set()  # (an outgoing channel is Up slightly before it enters Stasis)
        elif t == "ChannelDtmfReceived":
            self.dtmf_received.append(ev["digit"])
        elif t in ("ChannelHangupRequest", "ChannelDestroyed", "StasisEnd"):
            if self.cause is None and "cause" in ev:
                self.cause = ev["cause"]
                self.cause_txt = ev.get("cause_txt")
            if t != "ChannelHangupRequest" or not ev.get("soft"):
                self._ended.set()
        self._changed.set()

    async def _wait_flag(self, flag: asyncio.Event, timeout: float, what: str) -> None:
        try:
            await asyncio.wait_for(flag.wait(), timeout)
        except TimeoutError:
            raise TimeoutError(f"call {self.describe()}: not {what} within {timeout}s") from None

    # -- waiting --
    async def wait_answered(self, timeout: float = 10.0) -> None:
        """Until the call is answered; raises CallEnded if it hangs up first."""
        ended = asyncio.ensure_future(self._ended.wait())
        answered = asyncio.ensure_future(self._answered.wait())
        try:
            await asyncio.wait({ended, answered}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ended.cancel()
            answered.cancel()
        if self.answered:
            return
        if self.hung_up:
            raise CallEnded(self, "answer")
        raise TimeoutError(f"call {self.describe()}: not answered within {timeout}s")

    async def wait_hangup(self, timeout: float = 10.0) -> int | None:
        """Until the call has ended; returns the hangup cause (e.g. 16 normal, 17 busy, 19 no answer)."""
        await self._wait_flag(self._ended, timeout, "hung up")
        return self.cause

    async def wait_dtmf(self, digits: str = "", timeout: float = 10.0) -> str:
        """Until the DTMF received so far ends with `digits` (or any digit when empty); returns all."""
        deadline = time.monotonic() + timeout
        while True:
            got = "".join(self.dtmf_received)
            if (digits and got.endswith(digits)) or (not digits and got):
                return got
            if self.hung_up:
                raise CallEnded(self, f"DTMF {digits!r}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"call {self.describe()}: DTMF {digits!r} not received (got {got!r})")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def wait_event(self, type_: str, timeout: float = 10.0, pred: Callable[[Event], bool] | None = None) -> Event:
        """The first event of this call of `type_` (matching `pred`), already received or coming."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for ev in self.events[seen:]:
                if ev.get("type") == type_ and (pred is None or pred(ev)):
                    return ev
            seen = len(self.events)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"call {self.describe()}: no {type_} within {timeout}s")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    # -- actions --
    async def answer(self, moh: bool | None = None) -> None:
        """Answer an incoming call (and start music on hold so media flows, unless moh=False)."""
        await self.sim.ari.post(f"/channels/{self.id}/answer")
        if moh if moh is not None else self.sim.moh_on_answer:
            try:
                await self.start_moh()
            except AriError as error:
                if not self.hung_up and error.status not in (404, 409):
                    raise  # a call the SUT ended right after the answer has no use for music

    async def ring(self) -> None:
        """Send ringing (180) to the SUT for an incoming call."""
        await self.sim.ari.post(f"/channels/{self.id}/ring")

    async def reject(self, reason: str = "busy") -> None:
        """Refuse an unanswered incoming call: busy -> cause 17, congestion -> 34, decline -> 21."""
        await self.hangup(reason)

    async def hangup(self, reason: str = "normal") -> None:
        if self.hung_up:
            return
        self.hangup_sent = True
        try:
            await self.sim.ari.delete(f"/channels/{self.id}", reason=reason)
        except AriError as e:
            if e.status != 404:  # already gone
                raise

    async def send_dtmf(self, digits: str, duration_ms: int = 120, between_ms: int = 120) -> None:
        """Send DTMF to the SUT (RFC 4733 over RTP)."""
        await self.sim.ari.post(f"/channels/{self.id}/dtmf", dtmf=digits, duration=duration_ms, between=between_ms)

    async def start_moh(self, moh_class: str | None = None) -> None:
        await self.sim.ari.post(f"/channels/{self.id}/moh", mohClass=moh_class or self.sim.moh_class)

    async def stop_moh(self) -> None:
        await self.sim.ari.delete(f"/channels/{self.id}/moh")

    async def rtp_stats(self) -> dict[str, Any]:
        """ARI GET /channels/{id}/rtp_statistics (txcount, rxcount, rxjitter, …)."""
        stats: dict[str, Any] = await self.sim.ari.get(f"/channels/{self.id}/rtp_statistics")
        return stats

    async def wait_audio_flowing(
        self, timeout: float = 5.0, min_packets: int = 25, interval: float = 0.2
    ) -> dict[str, Any]:
        """Until both sent and received RTP packet counts grew by `min_packets` (20 ms each) since the
        call; returns the last statistics. Polling with a deadline is the only way to watch counters."""
        deadline = time.monotonic() + timeout
        await self.wait_answered(timeout)
        first = await self._stats_or_wait(deadline)
        last = first
        while True:
            tx = last["txcount"] - first["txcount"]
            rx = last["rxcount"] - first["rxcount"]
            if tx >= min_packets and rx >= min_packets:
                return last
            if self.hung_up:
                raise CallEnded(self, "audio")
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"call {self.describe()}: audio not flowing both ways within {timeout}s:"
                    f" sent +{tx}, received +{rx} packets (wanted {min_packets})"
                )
            await asyncio.sleep(interval)
            last = await self._stats_or_wait(deadline)

    async def wait_audio_received(
        self, timeout: float = 5.0, min_packets: int = 25, interval: float = 0.2
    ) -> dict[str, Any]:
        """Until the received RTP packet count grew by `min_packets` (20 ms each): what this phone
        hears, whatever it sends (sending DTMF stops the simulator's own music, so tx may stall)."""
        deadline = time.monotonic() + timeout
        await self.wait_answered(timeout)
        first = await self._stats_or_wait(deadline)
        last = first
        while last["rxcount"] - first["rxcount"] < min_packets:
            if self.hung_up:
                raise CallEnded(self, "audio")
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"call {self.describe()}: received +{last['rxcount'] - first['rxcount']} RTP packets"
                    f" within {timeout}s (wanted {min_packets})"
                )
            await asyncio.sleep(interval)
            last = await self._stats_or_wait(deadline)
        return last

    async def _stats_or_wait(self, deadline: float) -> dict[str, Any]:
        """RTP statistics; ARI answers 404 while the channel has no media (being set up or torn down)."""
        while True:
            try:
                return await self.rtp_stats()
            except AriError as e:
                if e.status != 404:
                    raise
                if self.hung_up:
                    raise CallEnded(self, "audio") from None
                if time.monotonic() > deadline:
                    raise AssertionError(f"call {self.describe()}: no RTP statistics ({e})") from None
            await asyncio.sleep(0.05)


# ---------------------------------------------------------------------------------------------
# the simulator
# ---------------------------------------------------------------------------------------------
_BEHAVIOURS = {"answer", "ignore", "manual", "busy", "congestion", "decline"}


def _check_behaviour(b: Behaviour) -> Behaviour:
    if isinstance(b, str) and b in _BEHAVIOURS:
        return b
    if isinstance(b, tuple) and len(b) == 2 and b[0] in ("answer_after", "talk") and float(b[1]) >= 0:
        return b
    if isinstance(b, tuple) and len(b) == 3 and b[0] == "talk" and min(float(b[1]), float(b[2])) >= 0:
        return b
    if isinstance(b, tuple) and len(b) == 2 and b[0] == "hangup" and isinstance(b[1], str):
        return b
    raise ValueError(
        f"unknown behaviour {b!r}: use one of {sorted(_BEHAVIOURS)}, ('answer_after', seconds),"
        " ('talk', seconds[, ring seconds]) or ('hangup', reason)"
    )


class PhoneSim:
    """Drives the simulator Asterisk. Create with `await PhoneSim.connect(...)`, end with `close()`."""

    def __init__(self, ari: MiniAri, trunk_endpoint: str = "sut-trunk", moh_class: str = "default") -> None:
        self.ari = ari
        self.trunk_endpoint = trunk_endpoint
        self.moh_class = moh_class
        self.moh_on_answer = True
        self.calls: dict[str, SimCall] = {}
        self._behaviours: dict[str, Behaviour] = {"agent:*": "answer", "customer:*": "answer"}
        self._incoming: dict[str, asyncio.Queue[SimCall]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.errors: list[BaseException] = []
        ari.listeners.append(self._on_event)

    @classmethod
    async def connect(cls, ari_url: str, user: str, password: str, app: str = SIM_APP) -> PhoneSim:
        ari = await MiniAri(ari_url, user, password, app).connect()
        return cls(ari)

    async def close(self) -> None:
        """Hang up every call still up, wait for them to end, stop background tasks. Events stop
        before the tasks are cancelled: a call the SUT places meanwhile (an agent rung for the
        next caller while the others hang up) would otherwise start a task after the cancel,
        whose request then meets the closed session."""
        await self.hangup_all()
        await self.ari.stop_events()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.ari.close()

    async def hangup_all(self, timeout: float = 5.0) -> None:
        live = [c for c in self.calls.values() if not c.hung_up]
        for c in live:
            with contextlib.suppress(AriError):
                await c.hangup()
        for c in live:
            with contextlib.suppress(TimeoutError):
                await c.wait_hangup(timeout)

    # -- behaviour of incoming calls --
    def set_behaviour(self, dest: str, behaviour: Behaviour) -> None:
        """What to do with the SUT's calls to `dest` ("agent:1001", "customer:0611…", "agent:*")."""
        if ":" not in dest:
            raise ValueError(f"destination {dest!r}: write 'agent:<username>' or 'customer:<number>'")
        self._behaviours[dest] = _check_behaviour(behaviour)

    def behaviour_for(self, dest: str) -> Behaviour:
        kind = dest.split(":", 1)[0]
        return self._behaviours.get(dest) or self._behaviours.get(f"{kind}:*") or "answer"

    async def wait_incoming(self, dest: str, timeout: float = 10.0) -> SimCall:
        """The next call the SUT sent to `dest` (calls are queued, so one that already came counts)."""
        try:
            return await asyncio.wait_for(self._queue(dest).get(), timeout)
        except TimeoutError:
            raise TimeoutError(f"phonesim: no call to {dest} within {timeout}s") from None

    def _queue(self, dest: str) -> asyncio.Queue[SimCall]:
        return self._incoming.setdefault(dest, asyncio.Queue())

    # -- placing calls --
    async def call(
        self,
        number: str,
        caller_id: str,
        caller_name: str = "",
        timeout: float = 30,
        variables: dict[str, str] | None = None,
    ) -> SimCall:
        """A customer with `caller_id` dials `number` at the SUT. Returns at once; use wait_answered()."""
        channel_id = f"sim-{uuid.uuid4().hex[:12]}"
        call = SimCall(self, channel_id, "outgoing", "customer", number, caller_id, caller_name)
        self.calls[channel_id] = call
        cid = f'"{caller_name}" <{caller_id}>' if caller_name else caller_id
        try:
            await self.ari.post(
                "/channels",
                {"variables": variables} if variables else None,
                endpoint=f"PJSIP/{number}@{self.trunk_endpoint}",
                app=self.ari.app,
                appArgs="outgoing",
                channelId=channel_id,
                callerId=cid,
                timeout=int(timeout),
            )
        except BaseException:
            del self.calls[channel_id]
            raise
        return call

    async def agent_dials(self, username: str, number: str, timeout: float = 30) -> SimCall:
        """Agent `username` dials `number` (e.g. a feature code "*21") from their phone."""
        channel_id = f"sim-{uuid.uuid4().hex[:12]}"
        call = SimCall(self, channel_id, "outgoing", "agent", number, username)
        self.calls[channel_id] = call
        try:
            await self.ari.post(
                "/channels",
                endpoint=f"PJSIP/{number}@phone-{username}",
                app=self.ari.app,
                appArgs="outgoing",
                channelId=channel_id,
                timeout=int(timeout),
            )
        except BaseException:
            del self.calls[channel_id]
            raise
        return call

    # -- agents' registrations (needs the simulator's AsteriskInstance for CLI access) --
    @staticmethod
    def unregister_command(username: str) -> str:
        return f"pjsip send unregister reg-{username}"

    @staticmethod
    def register_command(username: str) -> str:
        return f"pjsip send register reg-{username}"

    # -- events --
    def _on_event(self, ev: Event) -> None:
        ch = ev.get("channel")
        if not ch:
            return
        call = self.calls.get(ch["id"])
        if call is None:
            if ev.get("type") != "StasisStart":
                return
            call = self._new_incoming(ev)
            if call is None:
                return
        call._on_event(ev)
        if ev["type"] == "StasisStart" and call.direction == "outgoing" and self.moh_on_answer:
            self._spawn(self._ignore_gone(call, call.start_moh()))

    async def _ignore_gone(self, call: SimCall, action: Any) -> None:
        try:
            await action
        except AriError as e:
            if not (e.status in (404, 409) and call.going):
                raise

    def _new_incoming(self, ev: Event) -> SimCall | None:
        args = ev.get("args") or []
        ch = ev["channel"]
        if len(args) < 2 or args[0] not in ("agent", "customer"):
            log.warning("phonesim: unexpected StasisStart args %s on %s", args, ch["id"])
            return None
        caller = ch.get("caller") or {}
        call = SimCall(self, ch["id"], "incoming", args[0], args[1], caller.get("number", ""), caller.get("name", ""))
        self.calls[call.id] = call
        self._queue(call.address).put_nowait(call)
        self._spawn(self._apply_behaviour(call, self.behaviour_for(call.address)))
        return call

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)

        def done(t: asyncio.Task[None]) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                self.errors.append(t.exception())  # type: ignore[arg-type]
                log.error("phonesim task failed", exc_info=t.exception())

        task.add_done_callback(done)

    async def _apply_behaviour(self, call: SimCall, behaviour: Behaviour) -> None:
        try:
            if behaviour == "answer":
                await call.answer()
            elif behaviour in ("ignore", "manual"):
                await call.ring()
            elif behaviour in ("busy", "congestion", "decline"):
                await call.reject(str(behaviour))
            elif isinstance(behaviour, tuple) and behaviour[0] == "answer_after":
                await call.ring()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(call._ended.wait(), float(behaviour[1]))
                if not call.hung_up:
                    await call.answer()
            elif isinstance(behaviour, tuple) and behaviour[0] == "hangup":
                await call.hangup(behaviour[1])
            elif isinstance(behaviour, tuple) and behaviour[0] == "talk":
                if len(behaviour) == 3:
                    await call.ring()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(call._ended.wait(), float(behaviour[2]))
                    if call.hung_up:
                        return
                await call.answer()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(call._ended.wait(), float(behaviour[1]))
                await call.hangup()
        except AriError as e:
            # The SUT may hang up first, or the test while a behaviour was under way: not an error.
            # (Asterisk answers 404 once the channel is gone, 409 while it is leaving the app.)
            if not (e.status in (404, 409) and call.going) and not call.hung_up:
                raise


# ---------------------------------------------------------------------------------------------
# configuration for the simulator Asterisk
# ---------------------------------------------------------------------------------------------
def render_agent_registrations(
    agents: Iterable[AgentEndpoint], sut_host: str = "127.0.0.1", sut_port: int | str = 5060
) -> str:
    """pjsip_agents.conf for the simulator: each agent's phone registers to the SUT with its credentials
    and contact user agt<username>, so the SUT's calls to it land in [from-sut] as agent calls."""
    out = ["; Generated by tests/e2e/phonesim.py: agents' phones registering to the SUT.", ""]
    for a in agents:
        u = a.username
        password = a.password.replace(";", "\\;")  # ';' starts a comment; only "\\;" is unescaped
        out += [
            f"[auth-{u}]",
            "type = auth",
            "auth_type = userpass",
            f"username = {u}",
            f"password = {password}",
            "",
            f"[reg-{u}]",
            "type = registration",
            "transport = transport-udp",
            f"outbound_auth = auth-{u}",
            f"server_uri = sip:{sut_host}:{sut_port}",
            f"client_uri = sip:{u}@{sut_host}:{sut_port}",
            f"contact_user = {AGENT_CONTACT_PREFIX}{u}",
            "expiration = 300",
            "retry_interval = 1",
            "forbidden_retry_interval = 2",
            "fatal_retry_interval = 2",
            "max_retries = 1000",
            "auth_rejection_permanent = no",
            "",
            # The agent's phone placing calls (feature codes, test calls) into the SUT.
            f"[phone-{u}]",
            "type = endpoint",
            "transport = transport-udp",
            "context = from-sut",
            "disallow = all",
            "allow = ulaw,alaw",
            "direct_media = no",
            "dtmf_mode = rfc4733",
            f"outbound_auth = auth-{u}",
            f"from_user = {u}",
            f"aors = phone-{u}",
            "",
            f"[phone-{u}]",
            "type = aor",
            f"contact = sip:{sut_host}:{sut_port}",
            "",
        ]
    return "\n".join(out)
