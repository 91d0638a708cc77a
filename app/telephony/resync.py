"""Keeping the engine's picture true to each Asterisk server across (re)connects.

Theory of operation:
- After every (re)connect Asterisk has dropped the events of the gap. `resync` runs before that
  connection's first event: it sets the app's event filter and reads what the server has (is it
  the same Asterisk, which agents' phones are registered there, which channels exist), retrying
  a failed read as a whole; only then does it reconcile.
- Reachability before legs: reconciling may free an agent or put a request back, and the engine
  dispatches at once; after an Asterisk restart phones have not registered again yet.
- `_reconcile` adopts legs whose channels still exist (a caller on hold goes back into the holding
  bridge), reports the others lost ("asterisk_restarted" or "channel_vanished"; only legs the
  channel list can judge: not one placed, or whose originate was unanswered, when it was read),
  tells the engine of agents and dialled customers who answered unseen, takes in callers waiting
  in our app that were never recorded (the service stopped before their arrival was stored), hangs
  up answered calls in our app it had finished with (a prompt before a hang-up that never came),
  and re-creates holding bridges. Call bridges are then tidied: one no live leg holds is
  destroyed, one holding an adopted call is taken back, a connected call found apart is bridged
  again (`CallFoundUnbridged`) and one found bridged with nothing recording it is told to the core
  (`CallFoundUnrecorded`): we stopped between those steps and their next one. A channel that
  entered our app while the list was read is acted on here and its StasisStart, held back on the
  new connection, is read after: that StasisStart is ignored (TelephonyService._answer_taken), so
  an answer is never taken twice (a second `continue` to detection, refused, once connected a
  customer still being listened to by AMD). A leg restored from the store is lost only once every
  server was read without it, or `unread_grace` after the first one was (a server that never comes
  back).
- A read that keeps failing stops the service when no other server is up (never "connected" on a
  picture we did not reconcile); with several servers that one is treated as down: its legs are
  lost now, its agents unreachable, the others serve on.

`ServerSync` is a part of `TelephonyService` (app/telephony/service.py), split out to keep each
file about one thing; it uses the service's engine, executor, legs, servers and metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import structlog

from app.ari import AriClient, AriConflict, AriError, AriNotFound, Channel
from app.core import events as ev
from app.core.commands import JoinHolding
from app.core.states import RequestKind, RequestState
from app.telephony.executor import RECORDING_PREFIX, call_bridge_request
from app.telephony.legs import Leg, channel_id_for_leg
from app.telephony.servers import Server

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from app.config import HoldfastConfig
    from app.core.engine import Engine
    from app.store import Store
    from app.telephony.executor import CommandExecutor
    from app.telephony.legs import LegRegistry
    from app.telephony.metrics import Metrics
    from app.telephony.servers import ServerSet

log = structlog.get_logger("holdfast.telephony")

T = TypeVar("T")

UNREAD_SERVER_GRACE = 30.0  # seconds; see TelephonyService.unread_grace

RESYNC_RETRIES = (0.5, 1.0, 2.0, 4.0, None)  # seconds between tries of a resync; None: stop

# The ARI event types the service acts on (see TelephonyService._handle_ari_event;
# ApplicationReplaced is read by the connection). Asterisk is asked to send only these (the app's
# event filter): a call in Stasis otherwise brings dozens of events nobody here reads
# (ChannelVarset, ChannelDialplan, ChannelStateChange, bridge enter/leave carrying every member of
# the holding bridge...), each encoded and sent by Asterisk and decoded and dispatched by us.
EVENTS_USED = (
    "StasisStart",
    "StasisEnd",
    "ChannelHangupRequest",
    "ChannelDestroyed",
    "ChannelDtmfReceived",
    "PlaybackFinished",
    "EndpointStateChange",
    "RecordingFailed",
    "ApplicationReplaced",
)


@dataclass(frozen=True, slots=True)
class AsteriskRead:
    """What a resync read from one server, and what we knew when its channels were read."""

    channels: dict[str, Channel]
    startup_time: object
    online: set[str]  # endpoints registered
    expected: set[str]  # legs the engine expected
    known: set[str]  # legs in our registry
    in_flight: set[str]  # legs whose originate was on its way: their channel may be newer than the list
    connected: set[str]  # requests whose call was connected (bridged, or about to be) by then

    def judges(self, leg: Leg) -> bool:
        """Whether this list can tell that `leg`'s channel is gone: the leg was ours before the
        channels were read, and its channel was made by then (its originate had been answered)."""
        return leg.leg_id in self.known and leg.leg_id not in self.in_flight and not leg.originating


class ServerSync:
    """The resync and reconcile half of TelephonyService (see the module's docstring)."""

    # Set by TelephonyService.__init__.
    config: HoldfastConfig
    engine: Engine
    executor: CommandExecutor
    legs: LegRegistry
    servers: ServerSet
    metrics: Metrics
    store: Store | None
    clock: Callable[[], float]
    connected: asyncio.Event
    resync_retries: tuple[float | None, ...]
    resyncs: int
    _resyncing: int
    unread_grace: float
    _stopping: bool
    _reconciled: set[str]
    _unplaced: dict[str, set[str]]
    _unread_task: asyncio.Task[None] | None

    if TYPE_CHECKING:  # TelephonyService's own methods these call

        def fail(self, reason: str, error: BaseException | None = None) -> None: ...
        def try_feed(self, event: ev.Event) -> None: ...
        def _agents_by_endpoint(self) -> dict[str, str]: ...
        async def _leg_lost(self, leg: Leg, reason: str) -> None: ...
        async def _one_shot_ended(self, leg: Leg) -> None: ...
        async def _originated_leg_answered(self, leg: Leg, args: tuple[str, ...]) -> None: ...
        async def _new_call(self, channel: Channel, args: list[str], server: str) -> None: ...
        def _own_call_started(self, leg: Leg, channel_name: str) -> None: ...
        def agent_for_channel(self, channel_name: str) -> str | None: ...
        def _tell_own_calls(self) -> None: ...
        def _queue_for_call(self, args: list[str]) -> str | None: ...

    async def resync(self, server: str = "") -> None:
        """Runs after every (re)connect to a server, before that connection's first event.

        Reads what that Asterisk has (is it the same Asterisk, which agents' phones are registered
        there, which channels exist), retrying a failed read; only then reconciles. If it cannot
        be read after the retries: with one server the service stops (reporting "connected" over
        a picture that was never reconciled would dial on stale legs); with several, that server
        is treated as down (its connection is dropped and tried again later) while the others
        serve, and the service stops only when no other server is up either."""
        self._resyncing += 1
        try:
            await self._resync(self.servers.get(server))
        except Exception as error:  # a bug: the connection would log it and serve on, unreconciled
            self.fail("resync_crashed", error)
        finally:
            self._resyncing -= 1
        self._tell_own_calls()  # what the reconcile took in or let go

    async def _resync(self, server: Server) -> None:
        self.executor.holding_ready -= {key for key in self.executor.holding_ready if key[0] == server.name}
        if server.connected_before:
            self.metrics.ari_reconnects.inc()
        server.connected_before = True

        async def read() -> AsteriskRead:
            snapshot = await self._read_asterisk(server)
            await self.executor.retry_hangups(set(snapshot.channels), server.name)
            return snapshot

        try:
            snapshot = await self._tried_again(read, self.resync_retries, log.error, "resync_retry", server)
        except AriError as error:
            await self._resync_failed(server, error)
            return
        channels, startup_time, online = snapshot.channels, snapshot.startup_time, snapshot.online
        clash = self.servers.system_name_problem(server)
        if clash is not None:  # ids could collide: one caller mistaken for another; nothing to serve on
            self.fail("asterisk_system_names_clash", ValueError(clash))
            return
        restarted = server.started is not None and startup_time != server.started
        server.started = startup_time
        if restarted:  # its bridges went with it (legs lost at its shutdown never released theirs)
            for bridge_id, members in list(self.executor.call_bridges.items()):
                if any(self.servers.get(leg.server) is server for leg in members):
                    del self.executor.call_bridges[bridge_id]
        await self._hang_up_orphans(server, channels)
        self._own_calls_found(channels, server)
        # Reachability before legs: reconciling may free an agent or put a request back, and the
        # engine dispatches at once; after an Asterisk restart phones have not registered again
        # yet, and ringing one would pause an innocent agent as not responding.
        for endpoint, agent_id in self._agents_by_endpoint().items():
            if self.servers.server_of_agent(agent_id) == server.name:
                self.try_feed(ev.AgentReachability(self.clock(), agent_id, endpoint in online))
            elif not self.servers.get(self.servers.server_of_agent(agent_id) or "").up:
                # Several servers: one not reached yet (e.g. down at start-up) has no agents to offer.
                self.try_feed(ev.AgentReachability(self.clock(), agent_id, False))
        server.up = True  # before reconciling: what it frees may be placed on this server
        self.metrics.asterisk_server_up.labels(server.name).set(1)
        adopted = await self._reconcile(snapshot, restarted, server)
        await self._tidy_call_bridges(server, self._may_be_unbridged(snapshot, adopted))
        for queue in self.engine.queues:
            try:
                await self.executor.ensure_holding(queue, server.name)
            except AriError as error:  # made again on demand by the next caller's JoinHolding
                log.warning("holding_bridge_failed", queue=queue, server=server.name, error=str(error))
        if not self.engine.telephony_up:  # reconciled: what waited for Asterisk is dispatched now
            self.try_feed(ev.TelephonyUp(self.clock()))
        self.resyncs += 1
        self.metrics.ari_connected.set(1)
        self.connected.set()
        log.info("ari_connected", app=self.config.asterisk.app, server=server.name, asterisk_restarted=restarted)

    @staticmethod
    async def _tried_again(
        read: Callable[[], Awaitable[T]],
        retries: tuple[float | None, ...],
        log_retry: Callable[..., object],
        event: str,
        server: Server,
    ) -> T:
        """`read()`, tried again after each delay of `retries` while Asterisk refuses it (each
        refusal logged as `event`); the refusal that has no delay left (None) is raised, as is an
        AriError when the table is empty (nothing tried)."""
        for delay in retries:
            try:
                return await read()
            except AriError as error:
                if delay is None:
                    raise
                log_retry(event, server=server.name, error=str(error), retry_in=delay)
                await asyncio.sleep(delay)
        raise AriError(None, "", "", "not tried: the retry table is empty")

    def _own_calls_found(self, channels: dict[str, Channel], server: Server) -> None:
        """Agents whose own phone is in a queue on this server (a caller the engine has, whose
        channel is the agent's): told before reachability, which dispatches at once, or they would
        be rung for their own call before the reconcile takes that caller in again."""
        for channel in channels.values():
            request = self.engine.requests.get(channel.id)
            agent_id = self.agent_for_channel(channel.name)
            if (
                request is not None
                and request.kind is RequestKind.INBOUND
                and agent_id is not None
                and self.servers.server_of_agent(agent_id) == server.name
                and not self.engine.agents[agent_id].own_call
            ):
                self.try_feed(ev.AgentOwnCall(self.clock(), agent_id, True))

    async def _resync_failed(self, server: Server, error: AriError) -> None:
        others_up = [s.name for s in self.servers.servers if s is not server and s.up]
        if not others_up:  # one server, or every server down: nothing can serve (fail loudly)
            self.fail("resync_failed_stopping", error)
            return
        log.error("asterisk_server_unusable", server=server.name, error=str(error), serving=others_up)
        await self._server_down(server, "asterisk_unreachable")
        if server.ari.events is not None:  # its next connect resyncs again
            await server.ari.events.drop()

    async def _server_down(self, server: Server, reason: str) -> None:
        """Several servers: one is gone. Its legs are reported lost now (nothing can be done with
        them through it; a caller on hold there would otherwise be given an agent who cannot be
        reached) and its agents are unreachable until it is back; the others serve on."""
        server.up = False
        self.metrics.asterisk_server_up.labels(server.name).set(0)
        for leg in self.legs.live():
            if self.servers.get(leg.server) is server and leg.role != "oneshot":
                server.lost_channels.add(leg.channel_id)  # hung up at its return if still there
                log.info("leg_lost_with_server", leg_id=leg.leg_id, server=server.name, reason=reason)
                await self._leg_lost(leg, reason)
        for agent_id in self.servers.agents_on(server.name, list(self.engine.agents)):
            self.try_feed(ev.AgentReachability(self.clock(), agent_id, False))
        if not self.servers.up():
            self.connected.clear()
            self.metrics.ari_connected.set(0)

    async def _hang_up_orphans(self, server: Server, channels: dict[str, Channel]) -> None:
        """Channels of legs reported lost when the server went away, still there at its return:
        nobody is served on them any more."""
        for channel_id in sorted(server.lost_channels & channels.keys()):
            with contextlib.suppress(AriError):
                await server.ari.channels.hangup(channel_id, reason="normal")
            log.info("orphan_hung_up", server=server.name, channel_id=channel_id)
        server.lost_channels.clear()

    def _may_be_unbridged(self, snapshot: AsteriskRead, adopted: set[str]) -> dict[str, tuple[Leg, Leg]]:
        """Connected calls (when the channels were read) whose customer and agent were both taken
        in again by this reconcile: after our restart, nothing of ours is on its way to bridge
        them, so if Asterisk has them apart, they stay apart. Request id -> (customer, agent)."""
        calls: dict[str, tuple[Leg, Leg]] = {}
        for request_id in snapshot.connected:
            request = self.engine.requests.get(request_id)
            if request is None or request.customer_leg not in adopted or request.agent_leg not in adopted:
                continue
            customer, agent = self.legs.by_leg(request.customer_leg), self.legs.by_leg(request.agent_leg)
            if customer is not None and agent is not None and not customer.ended and not agent.ended:
                calls[request_id] = (customer, agent)
        return calls

    async def _tidy_call_bridges(self, server: Server, may_be_unbridged: dict[str, tuple[Leg, Leg]]) -> None:
        """Call bridges on this server that no live leg of ours holds are destroyed: a call that
        ended while the service was stopped (or crashed), or an orphan just hung up, left its
        bridge, and nothing else would ever destroy it. One that holds an adopted call is taken
        back, so that the call's end destroys it as usual. A bridge prepared since (for an agent
        rung meanwhile) is already the executor's and is left alone. Not being able to read them
        costs an empty bridge, not a call: a warning.

        A connected call taken in again whose two legs are in no bridge together (we stopped
        after storing `connected`, before Asterisk had added them) is bridged again: its empty
        bridge is kept for that. While there are such calls to look at, a refused read is tried
        again as the resync's own reads are: given up, they may be left in silence."""
        retries = self.resync_retries if may_be_unbridged else (None,)
        try:
            bridges = await self._tried_again(
                server.ari.bridges.list, retries, log.info, "call_bridges_read_retry", server
            )
        except AriError as error:
            log.warning("call_bridges_not_read", server=server.name, error=str(error), unbridged=len(may_be_unbridged))
            return
        unbridged = {
            request_id
            for request_id, (customer, agent) in may_be_unbridged.items()
            if not any({customer.channel_id, agent.channel_id} <= set(bridge.channels) for bridge in bridges)
        }
        live: dict[str, list[Leg]] = {}
        for leg in self.legs.live():
            if self.servers.get(leg.server) is server:
                live.setdefault(leg.request_id, []).append(leg)
        calls_taken_back: list[str] = []
        for bridge in bridges:
            bridge_id = bridge.id
            request_id = call_bridge_request(bridge_id)
            if request_id is None or bridge_id in self.executor.call_bridges:
                continue
            held = [leg for leg in live.get(request_id, ()) if leg.channel_id in bridge.channels]
            if held:
                self.executor.call_bridges[bridge_id] = held
                for leg in held:
                    leg.bridge_id = bridge_id
                if len(held) > 1:
                    calls_taken_back.append(request_id)
                continue
            if request_id in unbridged:
                continue  # bridged again below, into this bridge
            log.info("call_bridge_left_over", bridge_id=bridge_id, server=server.name, channels=len(bridge.channels))
            try:
                await server.ari.bridges.destroy(bridge_id)
            except (AriNotFound, AriConflict):
                pass  # gone meanwhile
            except AriError as error:
                log.warning("call_bridge_not_destroyed", bridge_id=bridge_id, server=server.name, error=str(error))
        for request_id in sorted(unbridged):
            log.warning("call_found_unbridged", request_id=request_id, server=server.name)
            self.try_feed(ev.CallFoundUnbridged(self.clock(), request_id))
        await self._check_recordings(server, calls_taken_back)

    async def _check_recordings(self, server: Server, request_ids: list[str]) -> None:
        """Connected calls taken back in their bridge that their settings record, with nothing
        recording them (we stopped between bridging and starting the recording), are told to the
        core, which records them. Only those the core would record are looked at (no request to
        Asterisk for a centre that records nothing). A recording that cannot be looked at is left
        as it is: a warning."""
        for request_id in sorted(request_ids):
            if self.engine.recording_due(request_id) is None:
                continue
            try:
                recording = await server.ari.recordings.is_live(RECORDING_PREFIX + request_id)
            except AriError as error:
                log.warning("call_recording_not_checked", request_id=request_id, server=server.name, error=str(error))
                continue
            if not recording:
                log.warning("call_found_unrecorded", request_id=request_id, server=server.name)
                self.try_feed(ev.CallFoundUnrecorded(self.clock(), request_id))

    async def _read_asterisk(self, server: Server) -> AsteriskRead:
        """Channels, Asterisk's start time and the online endpoints, all read before anything is fed
        (so a failed read can be retried as a whole), and what we knew when the channels were read
        (the legs the engine expected, the legs in our registry): only those can be judged by that
        list. Sets the app's event filter. (Agents' endpoints are read, not subscribed to: see
        ENDPOINT_POLL.)"""
        ari = server.ari
        await self._filter_events(ari)
        expected = {leg_id for leg_id, *_ in self.engine.expected_legs()}
        known = {leg.leg_id for leg in self.legs.all()}
        in_flight = {leg.leg_id for leg in self.legs.all() if leg.originating}
        connected = {r.id for r in self.engine.requests.values() if r.state is RequestState.CONNECTED}
        channels = {c.id: c for c in await ari.channels.list()}
        info = await ari.asterisk.info()
        config = info.raw.get("config")
        server.system_name = str(config.get("name") or "") if isinstance(config, dict) else ""
        online: set[str] = set()
        if self._agents_on_server(server):
            online = {e.key for e in await ari.endpoints.list() if e.online}
        return AsteriskRead(channels, info.startup_time, online, expected, known, in_flight, connected)

    def _agents_on_server(self, server: Server) -> dict[str, str]:
        """Endpoint -> agent id of the agents whose phones register on `server`."""
        return {
            endpoint: agent_id
            for endpoint, agent_id in self._agents_by_endpoint().items()
            if self.servers.server_of_agent(agent_id) == server.name
        }

    async def _filter_events(self, ari: AriClient) -> None:
        """Ask Asterisk for the events we use only. An Asterisk that refuses (no such resource
        before 13.26/16.3) costs CPU, not correctness: every event is still handled by type. One
        that does not answer fails the read (retried like the others)."""
        try:
            await ari.applications.set_event_filter(self.config.asterisk.app, allowed=EVENTS_USED)
        except AriError as error:
            if error.status is None:
                raise
            log.warning("event_filter_refused", error=str(error))

    async def _reconcile(self, snapshot: AsteriskRead, restarted: bool, server: Server) -> set[str]:
        """Match the legs the engine expects on this server with the channels it has; returns the
        legs taken in again.

        A leg whose channel still exists is adopted again (after a restart of the service) and a
        caller on hold goes back into the holding bridge. A leg whose channel is gone is reported
        as `LegLost`: "asterisk_restarted" after an Asterisk restart, "channel_vanished" after a
        mere websocket gap (its hang-up event was lost with the gap); the engine decides what
        that means for the request and the agent. A leg made after the channels were read (the
        engine dispatches as soon as the agents' reachability is fed), or one whose originate was
        not answered yet when it was read, is newer than that list and is left alone: its own
        events tell what becomes of it. Legs of another server are that server's to judge; a leg
        restored from the store (its server unknown) is lost only once every server has been read
        without it.
        """
        channels, expected = snapshot.channels, snapshot.expected
        adopted: set[str] = set()
        for leg_id, request_id, role, answered in self.engine.expected_legs():
            if leg_id not in expected:
                continue
            inbound = role == "customer" and leg_id == request_id
            channel_id = channel_id_for_leg(leg_id)
            leg = self.legs.by_leg(leg_id)
            if leg is not None and self.servers.get(leg.server) is not server:
                continue
            channel = channels.get(channel_id)
            if channel is not None:
                self._unplaced.pop(leg_id, None)
                if leg is None:
                    up = answered or channel.state == "Up"
                    leg = self.legs.add(
                        Leg(
                            leg_id,
                            channel_id,
                            "inbound" if inbound else role,
                            request_id,
                            up,
                            adopted=True,
                            server=server.name,
                            amd=self.engine.dial_detects_machines(leg_id),
                        )
                    )
                    log.info("leg_adopted", leg_id=leg_id, request_id=request_id, role=leg.role, server=server.name)
                    adopted.add(leg_id)
                    if inbound:  # a caller from an agent's own phone, taken in again after our restart
                        self._own_call_started(leg, channel.name)
                    request = self.engine.requests.get(request_id)
                    if inbound and request is not None and request.state is RequestState.WAITING:
                        self.executor.submit([JoinHolding(leg_id, request.queue)])
                args = None if answered else self._answered_unseen(leg, role, channel)
                if args is not None:
                    # The agent (or the customer we dial) answered while nobody listened (its
                    # StasisStart went with the gap or the restart): without this the engine would
                    # wait for it and, at the ring timeout, pause an agent who did answer as not
                    # responding, or hang up a customer who did answer and dial them again later.
                    # Handled as that StasisStart would have been (a customer's AMD included).
                    log.info("leg_answered_unseen", leg_id=leg_id, request_id=request_id, args=args)
                    await self._originated_leg_answered(leg, args)
                continue
            if leg is not None and not snapshot.judges(leg):
                # Its originate was not answered when the channels were read: Asterisk may have made
                # the channel since. Its own events (or the originate's outcome, or its ring
                # timeout) tell what becomes of it; judged gone, the agent was rung twice.
                log.info("leg_in_flight_at_resync", leg_id=leg_id, request_id=request_id, server=server.name)
                continue
            if leg is None and self.servers.several:
                read_without = self._unplaced.setdefault(leg_id, set())
                read_without.add(server.name)
                if len(read_without) < len(self.servers.servers):
                    continue  # may be on a server not read yet
                del self._unplaced[leg_id]
            log.info("leg_vanished", leg_id=leg_id, request_id=request_id, role=role, asterisk_restarted=restarted)
            reason = "asterisk_restarted" if restarted else "channel_vanished"
            if leg is None:
                self.try_feed(ev.LegLost(self.clock(), leg_id, reason))
            else:
                await self._leg_lost(leg, reason)
                await self.executor.release_call_bridge(leg)
        await self._settle_unknown_calls(channels, server)
        await self._forget_gone_legs(snapshot, server)
        # The first time every server was read after a restore: what waited may go on.
        first = not self._reconciled.issuperset(self.servers.by_name)
        self._reconciled.add(server.name)
        if first and self._reconciled.issuperset(self.servers.by_name):
            self.try_feed(ev.LegsReconciled(self.clock()))
        elif first and self._unread_task is None:
            self._unread_task = asyncio.create_task(self._give_up_unread_servers(), name="unread-servers")
        return adopted

    def _answered_unseen(self, leg: Leg, role: str, channel: Channel) -> tuple[str, ...] | None:
        """If a leg the engine still rings is answered in Asterisk, the arguments of the StasisStart
        that said so (lost): an agent's channel is Up; a customer we dial is Up in our app, back
        from answering-machine detection (`amd,<status>,<cause>`) or, not sent there yet, as
        originated (then AMD, if asked for, starts now). None: not answered (yet)."""
        if channel.state != "Up":
            return None
        if role == "agent":
            return ()
        request = self.engine.requests.get(leg.request_id)
        if (
            role != "customer"
            or request is None
            or request.state is not RequestState.DIALLING_CUSTOMER
            or request.customer_leg != leg.leg_id
            or channel.dialplan.app_name != "Stasis"
        ):
            return None
        app, *args = (arg.strip() for arg in channel.dialplan.app_data.split(","))
        if app != self.config.asterisk.app:
            return None
        if args[:1] == ["amd"]:
            return tuple(args)
        return None if leg.in_dialplan else tuple(args)  # sent to AMD: still there

    async def _forget_gone_legs(self, snapshot: AsteriskRead, server: Server) -> None:
        """Legs the engine does not judge whose channel is gone (their end went with the gap): our
        own one-shot legs (a prompt before a hang-up; the agent change they confirm is made now),
        and legs the engine has finished with whose end never came. Only legs we had when the
        channels were read: one placed since (the engine dispatches during the resync) is newer
        than that list, and forgetting it would refuse its answer as an unknown call."""
        judged = {leg_id for leg_id, *_ in self.engine.expected_legs()}
        for leg in self.legs.live():
            if self.servers.get(leg.server) is not server or not snapshot.judges(leg):
                continue
            if leg.channel_id in snapshot.channels:
                continue
            if leg.role == "oneshot":
                if self.legs.mark_ended(leg):
                    self.legs.forget(leg)
                    await self._one_shot_ended(leg)
            elif leg.leg_id not in judged and self.legs.mark_ended(leg):
                log.info("finished_leg_forgotten", leg_id=leg.leg_id, request_id=leg.request_id, server=server.name)
                self.legs.forget(leg)
                await self.executor.release_call_bridge(leg)

    async def _settle_unknown_calls(self, channels: dict[str, Channel], server: Server) -> None:
        """Calls in our app that no leg or request knows: callers taken in, finished calls hung up.

        Callers waiting in our app that the service never acted on: it stopped (a crash, a
        kill -9, the host's power) between their StasisStart and the commit of their arrival, or
        their StasisStart went with a websocket gap. Such a caller would wait, ringing or (answered
        by the dialplan) in silence, until they give up; they are taken in now as if they had just
        arrived.
        - Unanswered: the service answers a caller only once their arrival is stored, so any call
          of ours still ringing is one (a refused number is refused again).
        - Answered: a caller for a queue whose request the store never had. Any other answered
          channel in our app that the service does not know has nothing left to wait for: the
          prompt of a refused call or a feature code, or a caller whose request ended (its end was
          stored, its hang-up never made). It is hung up, not left in silence until the caller
          gives up."""
        for channel in channels.values():
            if channel.dialplan.app_name != "Stasis":
                continue
            app, *args = channel.dialplan.app_data.split(",")
            if app != self.config.asterisk.app or self.legs.by_channel(channel.id) is not None:
                continue
            if channel.id in self.engine.requests:  # known, its leg adopted or lost above
                continue
            if channel.state == "Up" and not await self._never_stored_caller(channel.id, args):
                log.warning("finished_call_hung_up", channel_id=channel.id, server=server.name, args=args)
                with contextlib.suppress(AriError):  # gone meanwhile; or the next resync finds it again
                    await server.ari.channels.hangup(channel.id, reason="normal")
                continue
            log.warning("unrecorded_caller_taken_in", channel_id=channel.id, server=server.name, args=args)
            await self._new_call(channel, args, server.name)

    async def _never_stored_caller(self, channel_id: str, args: list[str]) -> bool:
        """An answered channel in our app is a caller to take in: it is for a queue, and no
        request of that id (a caller's request id is their channel's) was ever stored."""
        if self._queue_for_call(args) is None or self.store is None:
            return False
        return await self.store.load_request(channel_id) is None

    async def _give_up_unread_servers(self) -> None:
        """Several servers, at start-up: those still not read after `unread_grace` may never come
        back; the restored legs no server has are lost with them ("asterisk_unreachable": nobody's
        doing), their channels hung up if the server returns, and what waited goes on."""
        try:
            await asyncio.sleep(self.unread_grace)
            unread = [s for s in self.servers.servers if s.name not in self._reconciled]
            if not unread or self._stopping:
                return
            log.error("servers_not_reached", servers=[s.name for s in unread], legs_lost=len(self._unplaced))
            for leg_id in sorted(self._unplaced):
                for server in unread:
                    server.lost_channels.add(channel_id_for_leg(leg_id))
                self.try_feed(ev.LegLost(self.clock(), leg_id, "asterisk_unreachable"))
            self._unplaced.clear()
            self._reconciled.update(s.name for s in unread)
            self.try_feed(ev.LegsReconciled(self.clock()))
        except Exception as error:  # a bug: fail loudly rather than leave requests waiting
            self.fail("unread_servers_crashed", error)

    async def _on_disconnected(self, server: str = "") -> None:
        """A server's events connection dropped: its calls are judged now (several servers) or at
        the resync after the reconnect (one). A bug here would leave the connection logging it and
        reconnecting over a picture nobody judged, so it stops the service."""
        try:
            await self._judge_disconnected(self.servers.get(server))
        except Exception as error:
            self.fail("disconnect_handling_crashed", error)

    async def _judge_disconnected(self, lost: Server) -> None:
        log.warning("ari_disconnected", server=lost.name)
        if self.servers.several and not self._stopping:  # a stop keeps its calls for the next start
            await self._server_down(lost, "asterisk_disconnected")
            return
        lost.up = False  # one server: its legs are judged at the resync after the reconnect, as ever
        self.metrics.asterisk_server_up.labels(lost.name).set(0)
        if not self._stopping:  # the gap's events are lost: dial nothing until the resync
            self.try_feed(ev.TelephonyDown(self.clock(), "ari_disconnected"))
        self.connected.clear()
        self.metrics.ari_connected.set(0)
