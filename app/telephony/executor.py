"""Carry out the engine's commands as ARI calls.

Commands about one leg run in order (a prompt before the hang-up that follows it); different legs
run side by side. A command that fails because the channel is already gone is not an error
worth more than a debug line: the hang-up event that explains it is on its way. An originate
that Asterisk refuses is reported back to the engine as a failed leg so the request moves on.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable

import structlog

from app.ari import AriClient, AriConflict, AriError, AriNotFound, new_id
from app.core import commands as c
from app.core.events import Event, LegFailed
from app.core.states import AttemptOutcome
from app.telephony.legs import Leg, LegRegistry, PlaybackTask, channel_id_for_leg
from app.telephony.prompts import PromptBook

log = structlog.get_logger("holdfast.executor")

HOLDING_PREFIX = "holdfast-hold-"
CALL_PREFIX = "holdfast-call-"


class CommandExecutor:
    def __init__(
        self,
        ari: AriClient,
        legs: LegRegistry,
        prompts: PromptBook,
        *,
        app_name: str,
        agent_endpoint: Callable[[str], str],
        customer_endpoint: Callable[[str], str],
        feed: Callable[[Event], None],
        clock: Callable[[], float],
        on_activity: Callable[[c.Activity], None],
        on_notify: Callable[[c.Notify], None],
        language: str = "en",
    ) -> None:
        self.ari = ari
        self.legs = legs
        self.prompts = prompts
        self.app_name = app_name
        self.agent_endpoint = agent_endpoint
        self.customer_endpoint = customer_endpoint
        self.feed = feed
        self.clock = clock
        self.on_activity = on_activity
        self.on_notify = on_notify
        self.language = language
        self._lanes: dict[str, asyncio.Queue[c.Command]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self.holding_ready: set[str] = set()  # holding bridges known to exist on this connection

    # ------------------------------------------------------------------ lanes

    def submit(self, commands: list[c.Command]) -> None:
        for command in commands:
            if isinstance(command, c.Activity):
                self.on_activity(command)
            elif isinstance(command, c.Notify):
                self.on_notify(command)
            else:
                self._enqueue(self._lane(command), command)

    @staticmethod
    def _lane(command: c.Command) -> str:
        if isinstance(command, c.BridgeLegs):
            return command.customer_leg
        return str(getattr(command, "leg_id", "misc"))

    def _enqueue(self, lane: str, command: c.Command) -> None:
        queue = self._lanes.get(lane)
        if queue is None:
            queue = self._lanes[lane] = asyncio.Queue()
            self._workers[lane] = asyncio.create_task(self._work(lane, queue), name=f"lane:{lane}")
        queue.put_nowait(command)

    async def _work(self, lane: str, queue: asyncio.Queue[c.Command]) -> None:
        try:
            while True:
                try:
                    async with asyncio.timeout(30.0):
                        command = await queue.get()
                except TimeoutError:
                    if queue.empty():
                        return  # idle lane: let it go, a new one starts on demand
                    continue
                try:
                    await self.run(command)
                except AriNotFound:
                    log.debug("channel_gone", command=type(command).__name__, lane=lane)
                except Exception:
                    log.exception("command_failed", command=repr(command), lane=lane)
        finally:
            self._lanes.pop(lane, None)
            self._workers.pop(lane, None)

    async def drain(self, timeout: float = 5.0) -> None:
        workers = list(self._workers.values())
        if not workers:
            return
        deadline = asyncio.get_running_loop().time() + timeout
        while any(not q.empty() for q in self._lanes.values()):
            if asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.05)
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)

    # ------------------------------------------------------------------ commands

    async def run(self, command: c.Command) -> None:
        handler = getattr(self, f"_{type(command).__name__}", None)
        if handler is None:
            raise TypeError(f"no executor for {type(command).__name__}")
        await handler(command)

    def _channel(self, leg_id: str) -> Leg | None:
        leg = self.legs.by_leg(leg_id)
        if leg is None:
            log.debug("unknown_leg", leg_id=leg_id)
        return leg

    async def _Answer(self, cmd: c.Answer) -> None:
        leg = self._channel(cmd.leg_id)
        if leg is not None:
            await self.ari.channels.answer(leg.channel_id)

    async def ensure_holding(self, queue: str) -> str:
        bridge_id = HOLDING_PREFIX + queue
        if bridge_id not in self.holding_ready:
            with contextlib.suppress(AriConflict):  # left by an earlier run of the service: reuse it
                await self.ari.bridges.create_with_id(bridge_id, "holding", name=f"holdfast {queue}")
            try:
                await self.ari.bridges.start_moh(bridge_id)
            except AriError as error:
                log.info("holding_moh_already_playing", bridge_id=bridge_id, error=str(error))
            self.holding_ready.add(bridge_id)
        return bridge_id

    async def _JoinHolding(self, cmd: c.JoinHolding) -> None:
        leg = self._channel(cmd.leg_id)
        if leg is None:
            return
        bridge_id = await self.ensure_holding(cmd.queue)
        await self.ari.bridges.add_channel(bridge_id, leg.channel_id, role="participant")
        leg.bridge_id = bridge_id

    async def _PlayPrompt(self, cmd: c.PlayPrompt) -> None:
        leg = self._channel(cmd.leg_id)
        if leg is None or leg.ended:
            return
        playback_id = new_id()
        media = self.prompts.media(cmd.items)
        self.legs.playbacks[playback_id] = PlaybackTask(cmd.leg_id, cmd.hangup_after, cmd.report_finish, tuple(media))
        leg.playbacks.add(playback_id)
        await self.ari.channels.play(leg.channel_id, media, playback_id=playback_id, lang=self.language)

    async def _StopPrompt(self, cmd: c.StopPrompt) -> None:
        leg = self._channel(cmd.leg_id)
        if leg is None:
            return
        for playback_id in list(leg.playbacks):
            with contextlib.suppress(AriNotFound):
                await self.ari.playbacks.stop(playback_id)

    async def _originate(
        self, leg: Leg, endpoint: str, caller_id: str, timeout: float, variables: dict[str, str]
    ) -> None:
        self.legs.add(leg)  # before the request: its StasisStart may beat the HTTP answer
        try:
            await self.ari.channels.originate(
                endpoint,
                app=self.app_name,
                app_args=[leg.role, leg.leg_id],
                caller_id=caller_id,
                timeout=max(1, math.ceil(timeout)),
                channel_id=leg.channel_id,
                variables=variables or None,
            )
        except AriError as error:
            log.warning("originate_refused", leg_id=leg.leg_id, endpoint=endpoint, error=str(error))
            if self.legs.mark_ended(leg):
                self.legs.forget(leg)
                self.feed(LegFailed(self.clock(), leg.leg_id, AttemptOutcome.FAILED))

    async def _OriginateAgent(self, cmd: c.OriginateAgent) -> None:
        leg = Leg(cmd.leg_id, channel_id_for_leg(cmd.leg_id), "agent", cmd.request_id)
        caller_id = f'"{cmd.caller_id_name}" <{cmd.caller_id_number}>' if cmd.caller_id_number else cmd.caller_id_name
        await self._originate(leg, self.agent_endpoint(cmd.agent_id), caller_id, cmd.timeout, {})

    async def _OriginateCustomer(self, cmd: c.OriginateCustomer) -> None:
        leg = Leg(cmd.leg_id, channel_id_for_leg(cmd.leg_id), "customer", cmd.request_id, amd=cmd.amd)
        await self._originate(leg, self.customer_endpoint(cmd.number), cmd.caller_id_number, cmd.timeout, {})

    async def _BridgeLegs(self, cmd: c.BridgeLegs) -> None:
        customer, agent = self.legs.by_leg(cmd.customer_leg), self.legs.by_leg(cmd.agent_leg)
        if customer is None or agent is None or customer.ended or agent.ended:
            return  # one side already hung up: its hang-up event ends the request
        bridge_id = CALL_PREFIX + cmd.request_id
        with contextlib.suppress(AriConflict):
            await self.ari.bridges.create_with_id(bridge_id, "mixing", name=bridge_id)
        if customer.bridge_id and customer.bridge_id != bridge_id:
            try:
                await self.ari.bridges.remove_channel(customer.bridge_id, customer.channel_id)
            except AriError as error:
                log.debug("leave_holding_failed", error=str(error))
        customer.bridge_id = agent.bridge_id = bridge_id
        try:
            await self.ari.bridges.add_channel(bridge_id, [customer.channel_id, agent.channel_id])
        except AriError as error:
            if error.status not in (400, 404, 422):
                raise
            log.info("bridge_leg_gone", request_id=cmd.request_id, error=str(error))

    async def _Hangup(self, cmd: c.Hangup) -> None:
        leg = self.legs.by_leg(cmd.leg_id)
        if leg is None:
            return
        with contextlib.suppress(AriNotFound):
            await self.ari.channels.hangup(leg.channel_id, reason="normal")
        await self.release_call_bridge(leg)

    async def release_call_bridge(self, leg: Leg) -> None:
        if leg.bridge_id and leg.bridge_id.startswith(CALL_PREFIX):
            bridge_id, leg.bridge_id = leg.bridge_id, None
            with contextlib.suppress(AriNotFound):
                await self.ari.bridges.destroy(bridge_id)
