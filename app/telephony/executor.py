"""Carry out the engine's commands as ARI calls.

Commands about one leg run in order (a prompt before the hang-up that follows it); different legs
run side by side. What a failed command means is decided per command, so the engine's picture
stays true:
- the channel is already gone (404, or 409: it left our app): a debug line, the hang-up event
  that explains it is on its way;
- an originate that Asterisk refused (4xx) is a failed leg at once; one whose answer was lost
  (timeout, 5xx, connection reset) is looked up by the channel id we chose: the channel exists
  (the leg goes on, its events follow) or it does not (a failed leg, its channel id remembered for
  GIVEN_UP_KEEP seconds: Asterisk may still carry the originate out, and the service then hangs
  that channel up without a word: looked for while its ring timeout runs, so that it does not
  ring on unanswered, then more seldom until it is forgotten (made later still), and at its
  StasisStart if answered). Asterisk not answering even
  that (frozen, overloaded): it is looked at every UNANSWERED_LOOK_EVERY seconds until it answers
  (or the leg's end is reported). Until then the leg is `originating`: a resync meanwhile cannot
  tell from the channel list whether its channel is gone or not made yet, and leaves it alone;
- a prompt that cannot be played counts as played (the engine moves on; a hang-up after it
  still happens); a prompt that cannot be stopped ends by itself;
- a hang-up Asterisk refuses is retried, then stops the service (a line left open forever); one
  Asterisk does not answer at all (busy, down, restarting) is tried again every
  DEFERRED_HANGUP_EVERY seconds while its server is up, and at its next resync; one that still
  fails DEFERRED_HANGUP_GIVE_UP seconds on stops the service;
- any other refused command (answer, hold, bridge) drops the leg: it is hung up and reported
  lost, so the engine ends or re-queues its request instead of waiting on a call that is stuck.
  One whose answer was lost (a stalled Asterisk carries it out when it resumes) is first looked
  at once Asterisk answers again: done late, the leg goes on; else it is sent again
  (`_settled_late`); a caller is not hung up for Asterisk's stall;
- anything that is not an ARI error is a bug: the service stops (critical log, non-zero exit).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable

import structlog

from app.ari import AriClient, AriConflict, AriError, AriNotFound, new_id
from app.config.amd import amd_variables
from app.core import commands as c
from app.core.errors import CoreError
from app.core.events import Event, LegFailed, PromptFinished, RingUnconfirmed
from app.core.states import AttemptOutcome
from app.telephony.legs import Leg, LegRegistry, PlaybackTask, channel_id_for_leg
from app.telephony.prompts import PromptBook
from app.telephony.routing import Router
from app.telephony.servers import ServerSet

log = structlog.get_logger("holdfast.executor")

HOLDING_PREFIX = "holdfast-hold-"
CALL_PREFIX = "holdfast-call-"
RECORDING_PREFIX = "holdfast-"  # a call's recording: holdfast-<request id>.<format> in Asterisk's recording spool


def call_bridge_id(request_id: str) -> str:
    """The bridge a request's call is made in: named after the request, so a restart finds it."""
    return CALL_PREFIX + request_id


def call_bridge_request(bridge_id: str) -> str | None:
    """The request a call bridge was made for; None for any other bridge."""
    return bridge_id[len(CALL_PREFIX) :] if bridge_id.startswith(CALL_PREFIX) else None


# Looking up an originated channel whose originate answer was lost: seconds before each try.
RESOLVE_DELAYS = (0.0, 0.25, 0.5, 1.0)
# Then, while Asterisk answers none of those looks (each one waits out the request timeout), one
# look this often (seconds) until it does.
UNANSWERED_LOOK_EVERY = 2.0
# An originate ringing an agent that Asterisk answers only this late (seconds; it answers in
# milliseconds when well) was taken by a stalled Asterisk: the ring is unconfirmed, as for one never
# answered (events.RingUnconfirmed), and its running out counts as no refusal.
SLOW_ORIGINATE = 2.0
# A leg failed after those looks found no channel: how long (seconds) and how many of them its
# channel id is remembered, so that an originate Asterisk carries out later still (its StasisStart
# comes when the person answers, up to the ring timeout after that) is hung up silently.
GIVEN_UP_KEEP = 600.0
GIVEN_UP_MAX = 1000
# Past its ring timeout a given-up channel is looked for this often (seconds), one channel list per
# server for all of them, until forgotten: one made then rings at most about this long for nobody.
LATE_LOOK_EVERY = 2.0
# A command (answer, hold, bridge) whose answer was lost: seconds before each look at whether a
# stalled Asterisk carried it out (then it is sent again if not), before the leg is dropped.
SETTLE_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0)
HANGUP_RETRIES = (0.5, 1.0, None)  # seconds between tries of a failed hang-up; None: give up
# A hang-up Asterisk did not answer: tried again this often (seconds) while its server is up; the
# next resync may be far off (a REST timeout does not drop the events websocket). Still failing
# after DEFERRED_HANGUP_GIVE_UP seconds, a line is left open on a finished call: the service stops.
DEFERRED_HANGUP_EVERY = 1.0
DEFERRED_HANGUP_GIVE_UP = 60.0


def tone_playback_id(channel_id: str) -> str:
    """The one tone a channel may be hearing (e.g. ringback) has an id derived from the channel."""
    return f"tone-{channel_id}"


def _is_tone(media: list[str]) -> bool:
    return any(uri.startswith("tone:") for uri in media)


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
        feed: Callable[[Event], object],
        clock: Callable[[], float],
        on_activity: Callable[[c.Activity], None],
        on_notify: Callable[[c.Notify], None],
        on_fatal: Callable[[str, BaseException | None], None],
        on_leg_broken: Callable[[Leg, str], Awaitable[None]],
        language: str = "en",
        servers: ServerSet | None = None,
        peer_endpoint: Callable[[str, str], str] | None = None,
        queue_of: Callable[[str], str | None] | None = None,
        may_act: Callable[[], bool] = lambda: True,
    ) -> None:
        self.ari = ari
        # False once this node may no longer be the only one acting (its lease is not surely its
        # own): a command is then dropped, not sent, and the lease keeper stops the service.
        self.may_act = may_act
        # Several Asterisk servers: each command goes to its leg's server (app/telephony/routing.py).
        self.servers = servers or ServerSet.single(ari)
        self.router = Router(
            self.servers,
            legs,
            agent_endpoint=agent_endpoint,
            customer_endpoint=customer_endpoint,
            peer_endpoint=peer_endpoint or (lambda username, _server: agent_endpoint(username)),
        )
        self.legs = legs
        self.prompts = prompts
        self.app_name = app_name
        self.agent_endpoint = agent_endpoint
        self.customer_endpoint = customer_endpoint
        self.feed = feed
        self.clock = clock
        self.on_activity = on_activity
        self.on_notify = on_notify
        self.on_fatal = on_fatal
        self.on_leg_broken = on_leg_broken  # hang the leg up and report it lost
        # A request's queue while the engine has it (BridgeLegs carries none; a recording's
        # activity needs it for its retention and for who may hear it).
        self.queue_of: Callable[[str], str | None] = queue_of or (lambda _request_id: None)
        self.resolve_delays: tuple[float, ...] = RESOLVE_DELAYS
        self.unanswered_look_every = UNANSWERED_LOOK_EVERY
        self.slow_originate = SLOW_ORIGINATE
        self.hangup_retries: tuple[float | None, ...] = HANGUP_RETRIES
        self.settle_delays: tuple[float, ...] = SETTLE_DELAYS
        self.pending_hangups: dict[str, str] = {}  # channel id → server: hang-ups Asterisk did not answer
        self._pending_since: dict[str, float] = {}  # channel id → when it was put off (the loop's clock)
        self.deferred_hangup_every = DEFERRED_HANGUP_EVERY
        self.deferred_hangup_give_up = DEFERRED_HANGUP_GIVE_UP
        # Channel ids of legs failed after a lost originate answer → until when (the loop's clock).
        self._given_up: OrderedDict[str, float] = OrderedDict()
        self.given_up_keep = GIVEN_UP_KEEP
        self.given_up_max = GIVEN_UP_MAX
        # The same channels while their originate's ring timeout runs: made late, such a channel
        # rings the agent's or customer's phone for a call the engine has moved on from, and
        # nothing tells us (no event before an answer passes our event filter). Each
        # `deferred_hangup_every` seconds it is hung up if Asterisk has it by now.
        # Channel id → (server, watched until on the loop's clock).
        self.late_originates: dict[str, tuple[str, float]] = {}
        # Then, until forgotten (given_up), the same channels → server, looked for every
        # `late_look_every` seconds: a stalled Asterisk may carry the POST out any time later; one
        # DELETE a second for each would load the very Asterisk whose stall failed the originates.
        self.later_originates: dict[str, str] = {}
        self.late_look_every = LATE_LOOK_EVERY
        self._next_late_look = 0.0
        self.language = language
        # A lane per leg: its commands in order, run by one task that ends when the lane is empty
        # (a later command starts a new one), so a call's lanes go when its last command is done.
        self._lanes: dict[str, deque[c.Command]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self.holding_ready: set[tuple[str, str]] = set()  # (server, bridge id): known to exist on this connection
        # Call bridges we made, and the legs they were made for: prepared for an agent leg while it
        # rings, then holding both legs once bridged. Its last leg to end destroys it.
        self.call_bridges: dict[str, list[Leg]] = {}

    def _ari(self, leg: Leg) -> AriClient:
        return self.servers.client(leg.server)

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
        if queue is not None:
            queue.append(command)
            return
        self._lanes[lane] = deque([command])
        worker = self._workers[lane] = asyncio.create_task(self._work(lane), name=f"lane:{lane}")
        worker.add_done_callback(self._lane_ended)

    def _lane_ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:  # _work lets nothing out; if it did
            self.on_fatal("executor_lane_died", task.exception())

    async def _work(self, lane: str) -> None:
        queue = self._lanes[lane]
        try:
            while queue:
                command = queue.popleft()
                if not self.may_act():
                    log.critical("command_not_sent", command=type(command).__name__, lane=lane, reason="lease not ours")
                    self.on_fatal("lease_not_ours", None)
                    continue
                try:
                    await self.run(command)
                except (AriNotFound, AriConflict) as error:
                    log.debug("channel_gone", command=type(command).__name__, lane=lane, error=str(error))
                except AriError as error:
                    await self._failed(command, error)
                except Exception as error:  # a bug: acting on and on could forget or double a call
                    self.on_fatal("command_crashed", error)
        finally:
            # No await between the emptiness check above and this removal: a command submitted
            # from now on starts a new lane, after everything this one ran.
            self._lanes.pop(lane, None)
            self._workers.pop(lane, None)

    async def drain(self, timeout: float = 5.0) -> None:
        """Let the lanes run what they hold (and lanes started meanwhile), then cancel what is
        still running after `timeout`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._workers and (left := deadline - loop.time()) > 0:
            await asyncio.wait(list(self._workers.values()), timeout=left)
        workers = list(self._workers.values())
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        # A lane cancelled before its task ever ran never reached its own clean-up: drop it, or a
        # later command would be queued behind a task that is gone.
        for lane in [lane for lane, task in self._workers.items() if task.done()]:
            self._workers.pop(lane, None)
            self._lanes.pop(lane, None)

    async def _failed(self, command: c.Command, error: AriError) -> None:
        """Asterisk refused a command (or its answer was lost): keep the engine's picture true."""
        name = type(command).__name__
        if isinstance(command, c.PlayPrompt):
            log.warning("prompt_not_played", leg_id=command.leg_id, error=str(error))
            leg = self.legs.by_leg(command.leg_id)
            if command.report_finish:  # as if it had been heard: the engine moves on
                self._feed(PromptFinished(self.clock(), command.leg_id))
            if command.hangup_after and leg is not None:
                await self.hang_up(leg)
        elif isinstance(command, c.StopPrompt):
            log.warning("prompt_not_stopped", leg_id=command.leg_id, error=str(error))  # it ends by itself
        elif isinstance(command, c.Hangup):
            leg = self.legs.by_leg(command.leg_id)
            if leg is not None:
                await self.hang_up(leg, first_error=error)
        else:
            lane = self._lane(command)
            leg = self.legs.by_leg(lane)
            if error.status is None and leg is not None and await self._settled_late(command, leg):
                return
            if leg is None or leg.ended or await self._look(leg, "command") is False:
                # The caller hung up in the instant the command was on its way (Asterisk: 422
                # "Channel not found"): a race of every busy day, and its end event tells the rest.
                log.info("command_on_ended_channel", command=name, leg_id=lane, error=str(error))
            else:
                log.error("command_failed_leg_dropped", command=name, leg_id=lane, error=str(error))
            if leg is not None:
                await self.on_leg_broken(leg, "command_failed")

    async def _settled_late(self, command: c.Command, leg: Leg) -> bool:
        """A command whose answer was lost (a stalled Asterisk carries it out when it resumes):
        once Asterisk answers again, whether it took effect, else it is sent again. True: done (the
        leg goes on); False: the channel is gone, the retry was refused, or Asterisk still does not
        answer after `settle_delays`: the leg is dropped as for a refusal."""
        if not isinstance(command, c.Answer | c.JoinHolding | c.BridgeLegs):
            return False
        # Asterisk runs the resumed requests side by side: the first look answered may come before
        # the late command itself. Sent again only when a second look agrees it did not take effect.
        looks_not_done = 0
        for delay in self.settle_delays:
            await asyncio.sleep(delay)
            if leg.ended:
                return False  # its end was reported meanwhile
            try:
                done = await self._took_effect(command, leg)
                if not done:
                    looks_not_done += 1
                    if looks_not_done < 2:
                        continue
                    await self.run(command)
            except AriNotFound:
                return False  # the channel (or the bridge) is gone
            except AriError as error:
                if error.status is not None:
                    return False  # answered, and refused
                continue  # still no answer
            log.info("command_settled_late", command=type(command).__name__, leg_id=leg.leg_id, sent_again=not done)
            return True
        return False

    async def _took_effect(self, command: c.Command, leg: Leg) -> bool:
        """Whether Asterisk carried out an Answer, JoinHolding or BridgeLegs whose answer was lost."""
        ari = self._ari(leg)
        if isinstance(command, c.Answer):
            leg.channel_up = (await ari.channels.get(leg.channel_id)).state == "Up"
            return leg.channel_up
        if isinstance(command, c.JoinHolding):
            bridge_id = HOLDING_PREFIX + command.queue
            if leg.channel_id not in (await ari.bridges.get(bridge_id)).channels:
                return False
            leg.bridge_id = bridge_id
            return True
        assert isinstance(command, c.BridgeLegs)
        bridge_id = call_bridge_id(command.request_id)
        members = self.call_bridges.get(bridge_id, [])
        present = (await ari.bridges.get(bridge_id)).channels
        if not members or not all(member.channel_id in present for member in members):
            return False
        await self._bridged(command, bridge_id, members, ari, self.queue_of(command.request_id))
        return True

    async def hang_up(self, leg: Leg, first_error: AriError | None = None) -> None:
        """Hang a leg up, retrying a failure. Asterisk answering "no" every time stops the service
        (a line left open for ever); Asterisk not answering at all (down, restarting) leaves the
        hang-up to the next resync, which closes the channel if it still exists."""
        error = first_error
        for delay in self.hangup_retries:
            if error is not None:
                if delay is None:
                    break
                log.warning("hangup_retry", leg_id=leg.leg_id, error=str(error), retry_in=delay)
                await asyncio.sleep(delay)
            try:
                await self._ari(leg).channels.hangup(leg.channel_id, reason="normal")
                return
            except (AriNotFound, AriConflict):
                return  # gone already
            except AriError as failed:
                error = failed
        if error is None:
            return
        if error.status is None:
            log.error("hangup_deferred", leg_id=leg.leg_id, channel_id=leg.channel_id, error=str(error))
            self.pending_hangups[leg.channel_id] = leg.server
            self._pending_since.setdefault(leg.channel_id, asyncio.get_running_loop().time())
        else:
            self.on_fatal("hangup_failed_stopping", error)

    async def retry_hangups(self, channels: set[str], server: str = "") -> None:
        """At a resync of `server`: close its channels whose hang-up Asterisk did not answer, if
        they still exist. An ARI error here propagates: the resync retries, then stops the service."""
        here = self.servers.get(server)
        for channel_id, where in sorted(self.pending_hangups.items()):
            if self.servers.get(where) is not here:
                continue
            if channel_id in channels:
                with contextlib.suppress(AriNotFound, AriConflict):
                    await here.ari.channels.hangup(channel_id, reason="normal")
                log.info("hangup_done_at_resync", channel_id=channel_id)
            self._hangup_done(channel_id)

    async def retry_deferred_hangups(self) -> None:
        """Every `deferred_hangup_every` seconds (a watched task of the service): try again the
        hang-ups Asterisk did not answer, on servers that are up (one that is down does them at its
        resync). One still failing `deferred_hangup_give_up` seconds after it was put off stops the
        service: a line left open on a finished call, while the agent is offered the next one.
        Then the late originates (hang_up_late_originates)."""
        for channel_id, where in sorted(self.pending_hangups.items()):
            server = self.servers.get(where)
            if not server.up or channel_id not in self.pending_hangups:  # done by a resync meanwhile
                continue
            try:
                await server.ari.channels.hangup(channel_id, reason="normal")
            except (AriNotFound, AriConflict):
                pass  # gone already
            except AriError as error:
                since = self._pending_since.get(channel_id, asyncio.get_running_loop().time())
                if asyncio.get_running_loop().time() - since >= self.deferred_hangup_give_up:
                    self.on_fatal("deferred_hangup_failed_stopping", error)
                    return
                log.warning("deferred_hangup_failed", channel_id=channel_id, server=server.name, error=str(error))
                continue
            log.info("deferred_hangup_done", channel_id=channel_id, server=server.name)
            self._hangup_done(channel_id)
        await self.hang_up_late_originates()

    def _hangup_done(self, channel_id: str) -> None:
        self.pending_hangups.pop(channel_id, None)
        self._pending_since.pop(channel_id, None)

    def _feed(self, event: Event) -> None:
        with contextlib.suppress(CoreError):  # refused: logged by feed, and it changed nothing
            self.feed(event)

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
        if leg is not None and not leg.channel_up:
            await self._ari(leg).channels.answer(leg.channel_id)
            leg.channel_up = True

    # Music on hold is each caller's own, not the bridge's. Asterisk's holding bridge plays music
    # to every channel that joins with the role "holding_participant" (and no idle_mode option)
    # whenever no announcer is in the bridge; a prompt played to the channel suspends it and the
    # music resumes after (bridge_holding.c). Joined as a plain "participant", ARI gives the
    # channel idle_mode "none" (stasis_bridge.c), and then only bridge music (POST
    # /bridges/{id}/moh) is heard: that is played by an announcer channel Asterisk removes as
    # soon as the bridge empties, after which every later caller heard dead air between prompts.
    # Why not keep the shared announcer and restart it when it is gone: one music stream for the
    # whole queue is cheaper, but it is a single point of silence, and restarting it means
    # tracking its channel through ChannelLeftBridge races (a caller joining while it leaves),
    # plus one more channel in the bridge's event fan-out, which already costs events
    # quadratically in a large holding bridge. Per-caller music cannot go missing, keeps its
    # place in the music across prompts, and is the load measured on this kind of machine (200
    # callers each with their own music on hold: about half a core). So no bridge music is
    # started; a bridge left by an older version with its announcer still playing is harmless
    # (callers hear the announcer, and their own music once it leaves).
    # Measured and not taken (issue 13, fourth round): the bridge's one stream heard by holding
    # participants, with their own music as the fallback, costs the SUT 18 % less with 100
    # callers held and nothing at 300-500 (the announcer's thread writes every frame to every
    # caller), and no difference was measurable at the queue benchmark's load b
    # (docs/bench-queue-music.md, docs/bench-scale.md).
    HOLDING_ROLE = "holding_participant"

    async def ensure_holding(self, queue: str, server: str = "") -> str:
        """The queue's holding bridge on `server` (every server has its own)."""
        bridge_id = HOLDING_PREFIX + queue
        where = self.servers.get(server)
        if (where.name, bridge_id) not in self.holding_ready:
            with contextlib.suppress(AriConflict):  # left by an earlier run of the service: reuse it
                await where.ari.bridges.create_with_id(bridge_id, "holding", name=f"holdfast {queue}")
            self.holding_ready.add((where.name, bridge_id))
        return bridge_id

    async def _JoinHolding(self, cmd: c.JoinHolding) -> None:
        leg = self._channel(cmd.leg_id)
        if leg is None:
            return
        bridge_id = await self.ensure_holding(cmd.queue, leg.server)
        await self._ari(leg).bridges.add_channel(bridge_id, leg.channel_id, role=self.HOLDING_ROLE)
        leg.bridge_id = bridge_id

    async def _PlayPrompt(self, cmd: c.PlayPrompt) -> None:
        leg = self._channel(cmd.leg_id)
        if leg is None or leg.ended:
            return
        media = self.prompts.media(cmd.items)
        playback_id = tone_playback_id(leg.channel_id) if _is_tone(media) else new_id()
        self.legs.playbacks[playback_id] = PlaybackTask(cmd.leg_id, cmd.hangup_after, cmd.report_finish, tuple(media))
        leg.playbacks.add(playback_id)
        try:
            await self._ari(leg).channels.play(leg.channel_id, media, playback_id=playback_id, lang=self.language)
        except AriError:
            self.legs.playbacks.pop(playback_id, None)  # no PlaybackFinished will come for it
            leg.playbacks.discard(playback_id)
            raise

    async def _StopPrompt(self, cmd: c.StopPrompt) -> None:
        leg = self._channel(cmd.leg_id)
        if leg is None:
            return
        for playback_id in list(leg.playbacks):
            with contextlib.suppress(AriNotFound):
                await self._ari(leg).playbacks.stop(playback_id)
        if leg.adopted:
            await self._stop_tones(leg)

    async def _originate(
        self, leg: Leg, endpoint: str, caller_id: str, timeout: float, variables: dict[str, str]
    ) -> None:
        leg.originating = True  # until Asterisk tells (or is asked) whether the channel exists
        self.legs.add(leg)  # before the request: its StasisStart may beat the HTTP answer
        try:
            await self._dial(leg, endpoint, caller_id, timeout, variables)
        finally:
            leg.originating = False

    async def _dial(self, leg: Leg, endpoint: str, caller_id: str, timeout: float, variables: dict[str, str]) -> None:
        sent = asyncio.get_running_loop().time()
        try:
            await self._ari(leg).channels.originate(
                endpoint,
                app=self.app_name,
                app_args=[leg.role, leg.leg_id],
                caller_id=caller_id,
                timeout=max(1, math.ceil(timeout)),
                channel_id=leg.channel_id,
                variables=variables or None,
            )
        except AriError as error:
            # Only a 4xx is a definite "no". A timeout, a 5xx or a reset connection may hide a
            # dial in progress (and 409 says a channel with our id exists): look before deciding,
            # or an answered customer would hear "not in service" and be dialled again.
            if error.status is not None and 400 <= error.status < 500 and error.status != 409:
                log.warning("originate_refused", leg_id=leg.leg_id, endpoint=endpoint, error=str(error))
                self._originate_failed(leg)
                return
            if error.status is None and leg.role == "agent":  # no answer at all: Asterisk stalled
                self._feed(RingUnconfirmed(self.clock(), leg.leg_id))  # its ring out is no refusal
            exists = await self._channel_exists(leg)
            if exists is False:
                # Never answered at all (a frozen or overloaded Asterisk): the phone was not rung,
                # or only after we gave up (the late channel is hung up): not the customer's
                # doing, so not counted against them. An error status is Asterisk's verdict.
                outcome = AttemptOutcome.INTERRUPTED if error.status is None else AttemptOutcome.FAILED
                log.warning(
                    "originate_failed_no_channel",
                    leg_id=leg.leg_id,
                    endpoint=endpoint,
                    error=str(error),
                    outcome=outcome.value,
                )
                self._remember_given_up(leg.channel_id)
                self._watch_late(leg, timeout)
                self._originate_failed(leg, outcome)
                return
            # The leg stays: the channel exists (its StasisStart or end follows), or its end was
            # reported while Asterisk answered no look.
            log.warning("originate_answer_lost", leg_id=leg.leg_id, channel_exists=exists, error=str(error))
            return
        late = asyncio.get_running_loop().time() - sent
        if leg.role == "agent" and late > self.slow_originate:
            # Asterisk stalled as it took the ring: the phone rang for less than the ring timeout
            # (perhaps not at all before it ran out), so its running out is no refusal either
            log.info("originate_answered_late", leg_id=leg.leg_id, seconds=round(late, 1))
            self._feed(RingUnconfirmed(self.clock(), leg.leg_id))

    def _remember_given_up(self, channel_id: str) -> None:
        now = asyncio.get_running_loop().time()
        self._given_up.pop(channel_id, None)
        self._given_up[channel_id] = now + self.given_up_keep
        while len(self._given_up) > self.given_up_max:
            self._given_up.popitem(last=False)  # the oldest: bounded whatever the failure rate

    def _watch_late(self, leg: Leg, ring_timeout: float) -> None:
        until = asyncio.get_running_loop().time() + max(1, math.ceil(ring_timeout))
        self.late_originates[leg.channel_id] = (leg.server, until)
        while len(self.late_originates) > self.given_up_max:
            del self.late_originates[next(iter(self.late_originates))]  # the oldest

    @property
    def hangups_due(self) -> bool:
        """Whether retry_deferred_hangups has anything to do."""
        return bool(self.pending_hangups or self.late_originates or self.later_originates)

    async def hang_up_late_originates(self) -> None:
        """Hang up the channels of given-up legs that Asterisk has made after all (one DELETE
        each: 404 while it has not), every round while the originate's ring timeout runs after the
        leg was given up; then more seldom (_look_for_later_originates). One that is answered
        first is hung up at its StasisStart."""
        now = asyncio.get_running_loop().time()
        for channel_id, (where, until) in list(self.late_originates.items()):
            if until <= now:
                self.late_originates.pop(channel_id, None)
                if self.given_up(channel_id):
                    self.later_originates[channel_id] = where
                continue
            server = self.servers.get(where)
            if not server.up:
                continue
            try:
                await server.ari.channels.hangup(channel_id, reason="normal")
            except AriNotFound:
                continue  # not made (yet)
            except AriError as error:  # Asterisk still busy: the next round tries again
                log.info("late_originate_hangup_failed", channel_id=channel_id, server=server.name, error=str(error))
                continue
            log.info("late_originate_hung_up", channel_id=channel_id, server=server.name, answered=False)
            self.late_originates.pop(channel_id, None)
        await self._look_for_later_originates(now)

    async def _look_for_later_originates(self, now: float) -> None:
        """Given-up channels past their ring timeout, until forgotten: every `late_look_every`
        seconds one channel list of each server that has some; those found are hung up."""
        for channel_id in list(self.later_originates):
            if not self.given_up(channel_id):  # forgotten: expired, or pushed out by newer ones
                del self.later_originates[channel_id]
        if not self.later_originates or now < self._next_late_look:
            return
        self._next_late_look = now + self.late_look_every
        for where in sorted(set(self.later_originates.values())):
            server = self.servers.get(where)
            if not server.up:
                continue
            try:
                present = {channel.id for channel in await server.ari.channels.list()}
            except AriError as error:  # looked for again at the next look
                log.info("late_originates_not_listed", server=server.name, error=str(error))
                continue
            for channel_id in [i for i, w in self.later_originates.items() if w == where and i in present]:
                try:
                    await server.ari.channels.hangup(channel_id, reason="normal")
                except (AriNotFound, AriConflict):
                    pass  # ended meanwhile
                except AriError as error:  # tried again at the next look
                    log.info("late_originate_hangup_failed", channel_id=channel_id, error=str(error))
                    continue
                else:
                    log.info("late_originate_hung_up", channel_id=channel_id, server=server.name, answered=False)
                self.later_originates.pop(channel_id, None)

    def given_up(self, channel_id: str) -> bool:
        """Whether `channel_id` is the channel of a leg failed after a lost originate answer
        (within GIVEN_UP_KEEP seconds): a late originate, to hang up without a word."""
        now = asyncio.get_running_loop().time()
        while self._given_up and next(iter(self._given_up.values())) <= now:
            self._given_up.popitem(last=False)  # expired (kept in the order they were added)
        until = self._given_up.get(channel_id)
        return until is not None and until > now

    def _originate_failed(self, leg: Leg, outcome: AttemptOutcome = AttemptOutcome.FAILED) -> None:
        if self.legs.mark_ended(leg):
            self.legs.forget(leg)
            self._feed(LegFailed(self.clock(), leg.leg_id, outcome))

    async def _channel_exists(self, leg: Leg) -> bool | None:
        """Whether Asterisk has the leg's channel: True, False (404 at the last look), or None
        (its end was reported before any look was answered)."""
        found: bool | None = None
        for delay in self.resolve_delays:
            if leg.ended:
                return True  # its end was reported meanwhile: nothing more to decide here
            await asyncio.sleep(delay)
            found = await self._look(leg, "originate")
            if found:
                return True
            # a 404: the originate may still be on its way; no answer: Asterisk may be busy. Look again.
        while found is None and not leg.ended:
            # Asterisk answers nothing (frozen, overloaded): looked at until it does. A channel it
            # never made is a leg no event would ever end, and the resync leaves an `originating`
            # leg alone, so only this look can settle it.
            await asyncio.sleep(self.unanswered_look_every)
            found = await self._look(leg, "originate")
        return found

    async def _look(self, leg: Leg, purpose: str) -> bool | None:
        """One look at the leg's channel: True (Asterisk has it), False (404), None (no answer)."""
        try:
            await self._ari(leg).channels.get(leg.channel_id)
        except AriNotFound:
            return False
        except AriError as error:
            log.info(f"{purpose}_lookup_failed", leg_id=leg.leg_id, error=str(error))
            return None
        return True

    async def _OriginateAgent(self, cmd: c.OriginateAgent) -> None:
        leg = Leg(cmd.leg_id, channel_id_for_leg(cmd.leg_id), "agent", cmd.request_id)
        caller_id = f'"{cmd.caller_id_name}" <{cmd.caller_id_number}>' if cmd.caller_id_number else cmd.caller_id_name
        variables: dict[str, str] = {}
        if cmd.auto_answer:  # the phone answers by itself: Call-Info (most softphones), Alert-Info (some desk phones)
            variables["PJSIP_HEADER(add,Call-Info)"] = "<sip:holdfast>;answer-after=0"
            variables["PJSIP_HEADER(add,Alert-Info)"] = "<http://holdfast>;info=alert-autoanswer;delay=0"
        leg.server, endpoint = self.router.agent_leg(cmd.agent_id, cmd.request_id)
        await self._originate(leg, endpoint, caller_id, cmd.timeout, variables)
        if not leg.ended:
            await self._prepare_call_bridge(leg)

    async def _prepare_call_bridge(self, agent: Leg) -> None:
        """Make the call bridge while the agent's phone rings, so that once the agent answers only
        the channels need adding (one REST call on the way to "bridged" instead of three). If it
        cannot be made now, `_BridgeLegs` makes it then."""
        bridge_id = call_bridge_id(agent.request_id)
        current = self.call_bridges.get(bridge_id)
        if current is not None and any(m is not agent and m.role != "agent" and not m.ended for m in current):
            # The request's call is bridged already: this originate came back after a later agent
            # of the request answered (Asterisk stalled). Taken over, its end would destroy that call.
            log.info("call_bridge_in_use", bridge_id=bridge_id, leg_id=agent.leg_id)
            return
        self.call_bridges[bridge_id] = [agent]  # before the await: the older leg's release sees it
        agent.bridge_id = bridge_id
        try:
            await self._ari(agent).bridges.create_with_id(bridge_id, "mixing", name=bridge_id)
        except AriConflict:
            pass  # still there from an earlier agent of this request: it is this leg's now
        except AriError as error:
            log.info("call_bridge_not_prepared", bridge_id=bridge_id, error=str(error))

    async def _OriginateCustomer(self, cmd: c.OriginateCustomer) -> None:
        leg = Leg(cmd.leg_id, channel_id_for_leg(cmd.leg_id), "customer", cmd.request_id, amd=cmd.amd)
        variables = amd_variables(cmd.amd, cmd.amd_args)  # AMD() tuning for [holdfast-amd]
        leg.server, endpoint = self.router.customer_leg(cmd.number, cmd.request_id)
        await self._originate(leg, endpoint, cmd.caller_id_number, cmd.timeout, variables)

    async def _BridgeLegs(self, cmd: c.BridgeLegs) -> None:
        customer, agent = self.legs.by_leg(cmd.customer_leg), self.legs.by_leg(cmd.agent_leg)
        if customer is None or agent is None or customer.ended or agent.ended:
            return  # one side already hung up: its hang-up event ends the request
        # Before any await: a short call may end, and its request leave the engine, while the
        # bridge is made and the recording started; the recording keeps the call's queue.
        queue = self.queue_of(cmd.request_id) if cmd.record else None
        # A tone (ringing to the agent while the customer is dialled) never ends by itself, and a
        # playback that does not end holds up the channel's later commands, the bridging too.
        # Only legs that may hear one: gathering two no-op stops cost two tasks on the way to "bridged".
        stops = [self._stop_tones(leg) for leg in (customer, agent) if self._may_hear_tone(leg)]
        if stops:
            await asyncio.gather(*stops)
        bridge_id = call_bridge_id(cmd.request_id)
        prepared = bridge_id in self.call_bridges
        members = self.call_bridges[bridge_id] = [customer, agent]
        customer.bridge_id = agent.bridge_id = bridge_id
        # Adding a channel takes it out of the Stasis bridge it is in (the caller's holding bridge)
        # in the same step (res_stasis control.c), so no removeChannel first.
        channels = [customer.channel_id, agent.channel_id]
        ari = self._ari(customer)  # the call's server: the agent leg was placed there too (routing.py)
        try:
            if not prepared:
                with contextlib.suppress(AriConflict):
                    await ari.bridges.create_with_id(bridge_id, "mixing", name=bridge_id)
            try:
                await ari.bridges.add_channel(bridge_id, channels)
            except AriNotFound:  # the prepared bridge is gone (destroyed by an earlier leg's end)
                with contextlib.suppress(AriConflict):
                    await ari.bridges.create_with_id(bridge_id, "mixing", name=bridge_id)
                await ari.bridges.add_channel(bridge_id, channels)
        except AriError as error:
            if error.status not in (400, 404, 422):
                raise
            log.info("bridge_leg_gone", request_id=cmd.request_id, error=str(error))
            await self._destroy_if_released(bridge_id, members, ari)
            return
        await self._bridged(cmd, bridge_id, members, ari, queue)

    async def _bridged(
        self, cmd: c.BridgeLegs, bridge_id: str, members: list[Leg], ari: AriClient, queue: str | None
    ) -> None:
        """Both legs are in the call bridge: it is destroyed if their end released it meanwhile,
        else recorded when the call is to be."""
        if not await self._destroy_if_released(bridge_id, members, ari) and cmd.record:
            await self._record_bridge(cmd, bridge_id, ari, queue)

    async def _destroy_if_released(self, bridge_id: str, members: list[Leg], ari: AriClient) -> bool:
        """Whether a leg's end released the call bridge while it was being made (made again after
        the release's destroy, it would carry no call and be left behind): then destroyed here. One
        prepared meanwhile for a later agent of the request is theirs and kept."""
        if bridge_id in self.call_bridges:  # still these legs' (their end destroys it), or a later leg's
            return False
        log.info("call_bridge_released_while_made", bridge_id=bridge_id, legs=[leg.leg_id for leg in members])
        await self._destroy_call_bridge(ari, bridge_id)
        return True

    async def _RecordCall(self, cmd: c.RecordCall) -> None:
        """A call found bridged and unrecorded at a restart: recorded from now on, added to any
        file of its name (whatever was recorded before is kept). Not if it ended meanwhile."""
        customer = self.legs.by_leg(cmd.leg_id)
        bridge_id = call_bridge_id(cmd.request_id)
        if customer is None or customer.ended or bridge_id not in self.call_bridges:
            return
        queue = self.queue_of(cmd.request_id)
        await self._record_bridge(cmd, bridge_id, self._ari(customer), queue, if_exists="append")

    async def _record_bridge(
        self,
        cmd: c.BridgeLegs | c.RecordCall,
        bridge_id: str,
        ari: AriClient,
        queue: str | None,
        if_exists: str = "fail",
    ) -> None:
        """Record the call bridge, started only now that both legs are in it (so nothing before,
        a whisper included, is in the file). A recording that cannot start does not end the call:
        the call matters more than its recording, so it is logged, not fatal."""
        name = RECORDING_PREFIX + cmd.request_id
        data: dict[str, str] = {"name": name, "format": cmd.record_format}
        try:
            await ari.bridges.record(bridge_id, name, cmd.record_format, if_exists=if_exists)
        except AriError as error:
            # e.g. 500 "No such file or directory": the spool's recording directory is missing
            log.warning("recording_not_started", request_id=cmd.request_id, name=name, error=str(error))
            kind, data = "recording_failed", {**data, "error": str(error)}
        else:
            kind = "recording_started"
        self.on_activity(c.Activity(kind, request_id=cmd.request_id, queue=queue, at=self.clock(), data=data))

    @staticmethod
    def _may_hear_tone(leg: Leg) -> bool:
        # A tone's playback id is known from the channel alone, so a tone started before a restart
        # of the service (which forgot its playbacks) is stopped all the same.
        return tone_playback_id(leg.channel_id) in leg.playbacks or leg.adopted

    async def _stop_tones(self, leg: Leg) -> None:
        if self._may_hear_tone(leg):
            with contextlib.suppress(AriNotFound):
                await self._ari(leg).playbacks.stop(tone_playback_id(leg.channel_id))

    async def _Hangup(self, cmd: c.Hangup) -> None:
        leg = self.legs.by_leg(cmd.leg_id)
        if leg is None:
            return
        try:
            await self._ari(leg).channels.hangup(leg.channel_id, reason="normal")
        except (AriNotFound, AriConflict):
            pass  # gone already
        except AriError as error:
            await self.hang_up(leg, first_error=error)
        await self.release_call_bridge(leg)

    async def release_call_bridge(self, leg: Leg) -> None:
        """Destroy the call bridge of a leg that ended, unless it is now another leg's (prepared
        again for the next agent rung for the same request). The other leg of a bridged call
        forgets it too: one destroy per call. When both legs end at once the loser may still get
        404 or 409 (being destroyed already), which is expected. Any other refusal leaves an empty
        bridge behind, which costs nothing and carries no call: a warning, not a stop."""
        if not (leg.bridge_id and call_bridge_request(leg.bridge_id) is not None):
            return
        bridge_id, leg.bridge_id = leg.bridge_id, None
        members = self.call_bridges.get(bridge_id)
        if members is not None:
            if not any(member is leg for member in members):
                return  # prepared for a later leg of the request meanwhile: that leg's now
            del self.call_bridges[bridge_id]
            for member in members:
                if member.bridge_id == bridge_id:
                    member.bridge_id = None
        await self._destroy_call_bridge(self._ari(leg), bridge_id)

    @staticmethod
    async def _destroy_call_bridge(ari: AriClient, bridge_id: str) -> None:
        """404 or 409 (gone, or being destroyed) are expected; any other refusal leaves an empty
        bridge behind, which carries no call: a warning, not a stop."""
        try:
            await ari.bridges.destroy(bridge_id)
        except (AriNotFound, AriConflict) as error:
            log.debug("call_bridge_gone", bridge_id=bridge_id, status=error.status)
        except AriError as error:
            log.warning("call_bridge_left", bridge_id=bridge_id, error=str(error))
