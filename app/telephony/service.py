"""The Stasis application: ARI events in, engine events out, engine commands carried out.

Theory of operation:
- Every ARI event is translated to at most a few engine events and fed to the one Engine
  synchronously: asyncio runs one handler at a time between awaits, so the engine needs no
  lock. Its commands go to the executor, which runs them per leg in order.
- `StasisStart` for a channel we originated means answered; the end of a leg arrives as one of
  StasisEnd / ChannelHangupRequest / ChannelDestroyed, and the registry lets only the first
  through. An originated leg that never answered is reported as failed with its mapped cause.
- A timer task sleeps until the engine's next deadline and delivers `Tick`; a step wakes it only
  when it brings an earlier deadline. Deadlines are on the service's clock (`SteadyClock`), which
  a wall clock stepped back cannot hold back.
- Agents' registrations are read every ENDPOINT_POLL seconds, not subscribed to (a subscription
  to an endpoint brings every event of the agent's calls twice).
- After every (re)connect the engine's picture is made true to that Asterisk again before its
  first event: app/telephony/resync.py (`ServerSync`, a part of this class).
- Failing: any fault the service cannot handle (the store, a background task that dies, a bug in
  an event handler) goes to `fail`: a critical log, `fatal` is set, `healthy` turns False, and
  `holdfast run` exits non-zero (a restart reconciles). Callers awaiting a commit get
  `ServiceStopping` rather than waiting forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path

import structlog

from app.ari import (
    ApplicationReplaced,
    AriClient,
    AriError,
    AriEvent,
    AriTimeout,
    Channel,
    ChannelDestroyed,
    ChannelDtmfReceived,
    ChannelHangupRequest,
    EndpointStateChange,
    PlaybackFinished,
    RecordingFailed,
    StasisEnd,
    StasisStart,
    new_id,
)
from app.config import ConfigError, HoldfastConfig, load_config
from app.config.errors import STORED_DEFINITION
from app.config.schema import AsteriskConfig, CampaignConfig
from app.core import events as ev
from app.core.agents import WRAP_UP_EXTENSION_STEP
from app.core.causes import outcome_for, silence_after_greeting
from app.core.commands import Activity, Command, Hangup, LoadContacts, Notify
from app.core.engine import Engine
from app.core.errors import CoreError, EventOvertaken
from app.core.promise_log import DAY
from app.core.request import Request
from app.core.states import AgentState
from app.notify.service import Notifier
from app.store import AgentRecord, Store, StoreError
from app.store.history import HistoryStore
from app.store.outbox import OutboxStore
from app.telephony.cli_changes import CliChanges
from app.telephony.committer import COMMIT_RETRIES, Committer, Step, step_of
from app.telephony.contacts_loader import ContactsLoader, agent_key_event
from app.telephony.errors import CommitFailed, ServiceStopping
from app.telephony.executor import RECORDING_PREFIX, CommandExecutor
from app.telephony.history import HISTORY_PRUNED, HistoryKeeper
from app.telephony.instance_lock import InstanceLock
from app.telephony.legs import Leg, LegRegistry, PlaybackTask, channel_id_for_leg
from app.telephony.metrics import Metrics
from app.telephony.prompts import PromptBook
from app.telephony.recordings import RECORDING_KINDS, RetentionKeeper, with_retention
from app.telephony.resync import RESYNC_RETRIES, UNREAD_SERVER_GRACE, ServerSync
from app.telephony.servers import AllServersRecordings, Server, ServerSet
from app.telephony.steady_clock import SteadyClock, lead_to_tell

log = structlog.get_logger("holdfast.telephony")


# For a soft hang-up ARI reports the reason flag as the cause; this one means Asterisk is
# shutting down (AST_SOFTHANGUP_SHUTDOWN), which no caller chose.
SOFTHANGUP_SHUTDOWN = 4
# ...and this one (AST_SOFTHANGUP_DEV) is how chan_pjsip cuts a leg whose phone sent no RTP for
# `rtp_timeout` (a BYE is a hard hang-up with its Q.850 cause; our own DELETE is EXPLICIT, 32).
# Verified on Asterisk 22 (tests/e2e/test_dead_leg.py): the soft request comes before StasisEnd.
SOFTHANGUP_DEV = 1

# Seconds between reads of the agents' endpoints (is their phone registered?). Polled, not
# subscribed to: an app subscribed to an endpoint gets every event of every channel on it a second
# time, the end of each of its channels (ChannelDestroyed) twice more, and an EndpointStateChange
# whenever one of its channels comes or goes: five events per agent call Asterisk encoded and sent
# and we decoded, out of eleven, for a registration that changes a few times a day. One read of
# all endpoints every few seconds costs less at any load above a call a minute, and also notices
# an agent the engine took as unreachable (a ring that failed) whose phone is registered after all.
ENDPOINT_POLL = 2.0
# Activities the shell makes itself (not an engine step's), stored through the committer.
SHELL_KINDS = RECORDING_KINDS | {HISTORY_PRUNED}
CLOCK_LEAD_CHECK = 1.0  # seconds between looks at the clock's lead over the wall clock (steady_clock.py)


class TelephonyService(ServerSync):
    def __init__(
        self,
        config: HoldfastConfig,
        ari: AriClient,
        *,
        prompts: PromptBook | None = None,
        metrics: Metrics | None = None,
        clock: Callable[[], float] | None = None,
        store: Store | None = None,
        config_path: Path | None = None,
        servers: ServerSet | None = None,
    ) -> None:
        self.config = config
        self.ari = ari  # the first server's (several servers: `servers`, app/telephony/servers.py)
        self.servers = servers or ServerSet.single(ari)
        self.clock = clock or SteadyClock()  # a wall clock stepped back must not hold the timers back
        self.engine = Engine(config.core())
        self.legs = LegRegistry()
        self.metrics = metrics or Metrics()
        self.metrics.bind(lambda: self.engine)
        self.metrics.bind_ari(ari.metrics, ari.breakdown)
        if isinstance(self.clock, SteadyClock):
            steady = self.clock
            self.metrics.bind_clock(lambda: steady.ahead)
        self.activity_listeners: list[Callable[[Activity], None]] = []
        # Called after every engine step is handed on (the live page's change stream, app/web/live_feed.py);
        # a listener only takes note: it must not feed events or block.
        self.step_listeners: list[Callable[[], None]] = []
        self.feature_codes = self._feature_code_map(config)
        asterisk = config.asterisk
        self.executor = CommandExecutor(
            ari,
            self.legs,
            prompts or PromptBook.from_config(config.prompts, config.service.language),
            app_name=asterisk.app,
            agent_endpoint=asterisk.agent_endpoint,
            customer_endpoint=lambda number: asterisk.trunk_endpoint_format.format(number=number),
            feed=self.feed,
            clock=self.clock,
            on_activity=self._on_activity,
            on_notify=self._on_notify,
            on_fatal=self.fail,
            on_leg_broken=self._leg_broken,
            language=config.service.language,
            servers=self.servers,
            peer_endpoint=asterisk.peer_endpoint,
            queue_of=self._queue_of,
            may_act=lambda: self.lock is None or self.lock.may_act(),
        )
        self.store = store
        self.config_path = config_path
        self.fatal = asyncio.Event()  # set when the service must stop (store unusable, replaced, a bug)
        self.fatal_reason: str | None = None
        self.fatal_error: BaseException | None = None  # what made it stop, when something raised
        self.contacts = ContactsLoader(store, self.feed, self.clock, self.fail)
        # `holdfast dnc import` / `contacts import` while we run: read from the admin log
        self.cli_changes = None if store is None else CliChanges(store, lambda: self.engine, self.try_feed, self.clock)
        self.committer = Committer(store, self._act, self.fail, self.metrics) if store else None
        # Notifications: planned into each step's commit (the outbox), delivered by a watched worker.
        self.notifier = Notifier(config, store, self.clock) if isinstance(store, OutboxStore) else None
        if self.notifier is not None:  # told of each stored step: a callback made supersedes its held-up confirmation
            self.activity_listeners.append(self.notifier.on_activity)
        # Recordings past their queue's retention are deleted by a watched task (the event log lists them).
        # Several servers: a recording is on the server that bridged its call; each is asked.
        self.recordings = AllServersRecordings(self.servers) if self.servers.several else ari.recordings
        self.recording_keeper = (
            RetentionKeeper(
                store, self.recordings, self._retentions, self._on_activity, self.clock, is_live=self._is_live
            )
            if store
            else None
        )
        # Ended requests, event-log lines and sent notifications past service.keep_history go (a watched task).
        self.history_keeper = (
            HistoryKeeper(store, lambda: self.config.service.keep_history, self._on_activity, self.clock)
            if isinstance(store, HistoryStore)
            else None
        )
        self.resync_retries: tuple[float | None, ...] = RESYNC_RETRIES
        self.endpoint_poll = ENDPOINT_POLL
        self.resyncs = 0  # completed resyncs (each (re)connect), for tests and debugging
        self._resyncing = 0  # resyncs under way (legs are being taken in again)
        self._stopping = False
        self._watchers: list[asyncio.Task[None]] = []
        self.lock: InstanceLock | None = None
        self._wake = asyncio.Event()
        # The deadline the timer task sleeps until (None: none, it sleeps until woken). A step
        # wakes it only when it brings an earlier deadline or one already due: most steps (an
        # answer, a hang-up) do not, and a wake-up per step was a task switch and two deadline
        # look-ups per ARI event for nothing.
        self._timer_until: float | None = None
        self.timer_wakeups = 0  # times the timer task was woken by a step (for tests and debugging)
        self._timer_task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        self.replaced = False
        self.playback_failures: deque[str] = deque(maxlen=1000)  # the latest, for tests and debugging
        self.prompts_played: deque[str] = deque(maxlen=1000)  # the latest, for tests and debugging
        self._reconciled: set[str] = set()  # servers reconciled once since start
        self._unplaced: dict[str, set[str]] = {}  # restored leg → servers read without its channel
        # Several servers: how long after the first is reconciled the others may take to be read
        # before the restored legs nobody has found are lost (a server that never comes back must
        # not keep its callers' requests, nor the end of the start-up reconcile, waiting for ever).
        self.unread_grace = UNREAD_SERVER_GRACE
        self._unread_task: asyncio.Task[None] | None = None
        self._endpoint_map: dict[str, str] | None = None  # see _agents_by_endpoint
        # Campaigns created over the API (app/web/campaign_crud.py), stored and merged with the
        # YAML's: `self.config` stays the file's settings, the engine runs `merged_config()`.
        self.api_campaigns: dict[str, CampaignConfig] = {}

    @staticmethod
    def _feature_code_map(config: HoldfastConfig) -> dict[str, str]:
        codes = config.feature_codes
        return {codes.ready: "ready", codes.pause: "pause", codes.logout: "logout", codes.extend_wrap_up: "extend"}

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Take the instance lock, bring back what was stored, then connect to Asterisk.

        Raises AnotherInstanceRunning when another service holds the lock."""
        if self.store is not None:
            if self.lock is None:  # `holdfast run` may have set a Leadership (PostgreSQL lease) already
                # The wall clock, not ours: another instance judges the lock by its own wall clock.
                self.lock = InstanceLock(self.store, time.time, lambda: self.fail("lock_lost"))
            await self.lock.acquire()
            if self.lock.task is not None:
                self._watch(self.lock.task, "instance_lock")
            await self._restore_api_campaigns()
            requests = await self.store.load_active_requests()
            agents = await self.store.load_agents()
            if isinstance(self.clock, SteadyClock):
                self.clock.not_before(_latest_stamp(requests, agents))
            now = self.clock()
            self.engine.restore(requests, [(a.agent_id, a.state, a.pause_reason) for a in agents], now)
            moves = [(a.agent_id, a.after_call, a.after_call_reason) for a in agents if a.after_call is not None]
            self.engine.restore_after_call(moves, now)
            wrapping = [a for a in agents if a.state is AgentState.WRAP_UP]
            ends = {a.agent_id: a.wrap_up_until for a in wrapping if a.wrap_up_until is not None}
            granted = {a.agent_id: a.wrap_up_extended for a in wrapping if a.wrap_up_extended is not None}
            self.engine.restore_wrap_ups([(a.agent_id, a.since) for a in wrapping], now, ends, granted)
            restored = self.engine.take_restored()  # wrap-ups the restart ended: stored and logged as live ones
            if restored and self.committer is not None:
                self.committer.put(step_of(self.engine, restored))
            self.engine.restore_promises(await self.store.recent_promises(now - DAY), now)
            log.info("state_restored", requests=len(requests), agents=len(agents))
            self._tell_clock_lead()  # before the first contact is looked at
            if self.cli_changes is not None:
                await self.cli_changes.mark()  # before the lists are read: nothing in between is missed
            await self.contacts.start_up(self.engine)
        for server in self.servers.servers:
            self._start_events(server.name, server.ari)
        self._timer_task = asyncio.create_task(self._timer_loop(), name="engine-timers")
        self._watch(self._timer_task, "engine_timers")
        poller = asyncio.create_task(self._poll_endpoints(), name="endpoint-poll")
        self._watchers.append(poller)
        self._watch(poller, "endpoint_poll")
        hangups = asyncio.create_task(self._retry_deferred_hangups(), name="deferred-hangups")
        self._watchers.append(hangups)
        self._watch(hangups, "deferred_hangups")
        if isinstance(self.clock, SteadyClock):
            clock_lead = asyncio.create_task(self._watch_clock_lead(), name="clock-lead")
            self._watchers.append(clock_lead)
            self._watch(clock_lead, "clock_lead")
        if self.committer is not None:
            self.committer.start()
            assert self.committer.task is not None
            self._watch(self.committer.task, "store_commits")
        if self.notifier is not None:
            self.notifier.worker.start()
            assert self.notifier.worker.task is not None
            self._watch(self.notifier.worker.task, "notification_outbox")
        if self.recording_keeper is not None:
            self.recording_keeper.start()
            assert self.recording_keeper.task is not None
            self._watch(self.recording_keeper.task, "recording_retention")
        if self.history_keeper is not None:
            self.history_keeper.start()
            assert self.history_keeper.task is not None
            self._watch(self.history_keeper.task, "history_keeper")
        if self.cli_changes is not None:
            self.cli_changes.start()
            assert self.cli_changes.task is not None
            self._watch(self.cli_changes.task, "cli_changes")

    # ------------------------------------------------------------------ failing

    @property
    def healthy(self) -> bool:
        """False from the moment the engine cannot move on: a fatal fault, a failed store, or
        another Holdfast took the app over. (Connected to Asterisk is `connected`, apart.)"""
        failed = self.committer is not None and self.committer.failed
        return not (self.fatal.is_set() or failed or self.replaced)

    def fail(self, reason: str, error: BaseException | None = None) -> None:
        """Stop the service: a fault it cannot handle. Logged critical once; `holdfast run` exits
        non-zero. Safe to call more than once (the first reason is kept)."""
        if self.fatal_reason is None:
            self.fatal_reason = reason
            self.fatal_error = error
            detail = f"{type(error).__name__}: {error}" if error is not None else None
            log.critical("service_stopping", reason=reason, error=detail, exc_info=error)
        self.fatal.set()

    def _watch(self, task: asyncio.Task[None], name: str) -> None:
        """A background task that ends while the service runs stops it: never a live process
        with a dead part."""

        def done(task: asyncio.Task[None]) -> None:
            if self._stopping:
                return
            if task.cancelled():
                self.fail(f"{name}_cancelled")
            elif task.exception() is not None:
                self.fail(f"{name}_died", task.exception())
            elif not self.fatal.is_set():
                self.fail(f"{name}_ended")

        task.add_done_callback(done)

    def _start_events(self, name: str, ari: AriClient) -> None:
        """One events connection per server; what it brings is marked with the server's name."""

        async def on_event(event: AriEvent) -> None:
            # The one place a fault in handling an event is caught: here, not in on_ari_event, so
            # that whatever is around it (a wrapper, a wrong signature) is caught too; the
            # dispatcher would log it and go on.
            try:
                await self.on_ari_event(event, name)
            except Exception as error:
                self.fail("ari_event_handling_crashed", error)

        async def on_connected() -> None:
            await self.resync(name)

        async def on_disconnected() -> None:
            await self._on_disconnected(name)

        ari.start_events(
            on_event,
            on_connected=on_connected,
            on_disconnected=on_disconnected,
            on_application_replaced=self._on_replaced,
        )
        if ari.events is not None:
            self._watchers.append(asyncio.create_task(self._watch_events(ari), name=f"watch-ari-events:{name}"))

    async def _watch_events(self, ari: AriClient) -> None:
        events = ari.events
        assert events is not None
        try:
            await events.wait_stopped()
        except Exception as error:
            if not self._stopping:
                self.fail("ari_events_died", error)
            return
        if not self._stopping and not self.replaced:
            self.fail("ari_events_ended")

    async def stop(self) -> None:
        self._stopping = True
        for watcher in self._watchers:
            watcher.cancel()
        await asyncio.gather(*self._watchers, return_exceptions=True)
        if self._unread_task is not None:
            self._unread_task.cancel()
            await asyncio.gather(self._unread_task, return_exceptions=True)
        if self._timer_task is not None:
            self._timer_task.cancel()
            await asyncio.gather(self._timer_task, return_exceptions=True)
        if self.committer is not None:
            await self.committer.stop()
        if self.notifier is not None:
            await self.notifier.worker.stop()
        if self.recording_keeper is not None:
            await self.recording_keeper.stop()
        if self.history_keeper is not None:
            await self.history_keeper.stop()
        await self.contacts.stop()
        if self.cli_changes is not None:
            await self.cli_changes.stop()
        # Done with Asterisk before the lease goes: a standby takes over as soon as it is released,
        # and an originate still in flight here would be one it cannot see (it would dial again).
        await self.executor.drain()
        for server in self.servers.servers:
            await server.ari.close()
        if self.lock is not None:
            await self.lock.release()

    async def admin_action(
        self,
        event: ev.CallbackRemoved | ev.CallbackMoved,
        detail: dict[str, object] | None = None,
        after: Callable[[], str] | None = None,
    ) -> None:
        """An admin's change: applied and stored, then written to the admin change log (who, when,
        why; `detail` adds to it, e.g. before; `after` says where the request is once applied).
        Returns once both are kept."""
        await self.feed_and_commit(event)
        if after is not None:
            detail = {**(detail or {}), "after": after()}
        action = "remove_callback" if isinstance(event, ev.CallbackRemoved) else "move_callback"
        logged: dict[str, object] = {"reason": event.reason}
        if isinstance(event, ev.CallbackMoved):
            logged["to_queue"] = event.to_queue
        await self.record_admin(event.now, event.by, action, event.request_id, {**logged, **(detail or {})})

    async def record_admin(
        self, at: float, who: str, action: str, request_id: str | None, detail: Mapping[str, object]
    ) -> None:
        """Append to the admin change log, retrying a busy store. A change log the store keeps
        refusing stops the service (CommitFailed is raised): an admin change nobody can account
        for is not acceptable."""
        if self.store is None:
            return
        retries = self.committer.retries if self.committer is not None else COMMIT_RETRIES
        for delay in retries:
            try:
                await self.store.append_admin(at, who, action, request_id, dict(detail))
                return
            except StoreError as error:
                if delay is None:
                    self.fail("admin_log_failed_stopping", error)
                    raise CommitFailed(f"the admin change log could not be written: {error}") from error
                log.error("admin_log_retry", error=str(error), action=action, by=who, retry_in=delay)
                await asyncio.sleep(delay)
            except Exception as error:
                self.fail("admin_log_crashed_stopping", error)
                raise CommitFailed(f"the admin change log could not be written: {error}") from error

    # ------------------------------------------------------------------ campaigns created over the API

    def merged_config(self, config: HoldfastConfig | None = None) -> HoldfastConfig:
        """The settings the engine runs: the file's campaigns, then the API's. An id in both is the
        file's (the API refuses to create or edit it); an API campaign whose queue the file no
        longer has is left out (logged) rather than refusing the whole reload."""
        config = config or self.config
        extra: dict[str, CampaignConfig] = {}
        for cid, campaign in self.api_campaigns.items():
            if cid in config.campaigns:
                log.warning("api_campaign_shadowed_by_file", campaign=cid)
            elif campaign.queue not in config.queues:
                log.error("api_campaign_without_queue", campaign=cid, queue=campaign.queue)
            else:
                extra[cid] = campaign
        return config.model_copy(update={"campaigns": {**config.campaigns, **extra}})

    async def apply_api_campaigns(self, campaigns: dict[str, CampaignConfig]) -> None:
        """Run these API campaigns: the merged settings reach the engine as a reload's do
        (SettingsChanged), stored before this returns. Raises CoreError (nothing changed) if the
        engine refuses them, ServiceStopping if the service cannot keep the step."""
        before = self.api_campaigns
        self.api_campaigns = dict(campaigns)
        try:
            await self.feed_and_commit(ev.SettingsChanged(self.clock(), self.merged_config().core()))
        except CoreError:
            self.api_campaigns = before
            raise

    async def _restore_api_campaigns(self) -> None:
        """At start-up, before the engine's state is restored: the stored API campaigns join the
        file's. A stored definition the schema now refuses stops the service (fail loudly)."""
        assert self.store is not None
        for stored in await self.store.campaign_defs():
            try:
                campaign = CampaignConfig.model_validate(stored.definition, context={STORED_DEFINITION: True})
            except ValueError as error:
                self.fail("stored_campaign_invalid", error)
                raise
            if campaign.abandons_without_caller_id:
                # stored before power and predictive campaigns needed one: kept, said at every start
                log.warning(
                    "stored_campaign_without_caller_id",
                    campaign=stored.campaign,
                    fix="give it a caller_id (PUT /api/campaigns/<id>): its abandoned calls present no number",
                )
            self.api_campaigns[stored.campaign] = campaign
        if self.api_campaigns:
            self.engine = Engine(self.merged_config().core())
            log.info("api_campaigns_restored", campaigns=sorted(self.api_campaigns))

    # ------------------------------------------------------------------ reload

    def reload(self) -> str | None:
        """Re-read the settings file and apply it without dropping calls. Returns None when applied,
        else why not (the running settings stay): an invalid file names the key path and reason."""
        if self.config_path is None:
            return "this service was not started from a settings file"
        try:
            new = load_config(self.config_path)
        except ConfigError as error:
            log.error("reload_refused", error=str(error))
            return str(error)
        # The reload's own step may notify (a lowered max_attempts ends callbacks: missed_callback):
        # its outbox rows are planned with the new routes, templates and names. A refused reload
        # leaves the running ones (a step that crashes stops the service: `feed`).
        notifier = self.notifier
        running = notifier.planner.config if notifier is not None else None
        if notifier is not None:
            notifier.planner.config = new
        try:
            self.feed(ev.SettingsChanged(self.clock(), self.merged_config(new).core()))
        except CoreError as error:
            if notifier is not None and running is not None:
                notifier.planner.config = running
            return str(error)
        asterisk = self._rehome_agents(new.asterisk)
        if new.asterisk != asterisk:
            log.warning("reload_asterisk_section_ignored", detail="asterisk: changes need a restart")
        self.config = new.model_copy(update={"asterisk": asterisk})
        self.feature_codes = self._feature_code_map(new)
        if self.notifier is not None:
            self.notifier.reload(new)
        self.executor.prompts = PromptBook.from_config(
            new.prompts, new.service.language, self.executor.prompts.shipped_dir, self.executor.prompts.asterisk_path
        )
        log.info("reloaded", path=str(self.config_path))
        return None

    def _rehome_agents(self, new: AsteriskConfig) -> AsteriskConfig:
        """Part of a reload: which agents register on which server (`asterisk.servers.*.agents`,
        `default_server`) is taken at once, so an agent added or moved is rung on or through its
        own server and its phone's state is read there. The connections stay until a restart.
        Returns the running `asterisk` section with the agent lists applied."""
        running = self.config.asterisk
        before = {agent_id: self.servers.server_of_agent(agent_id) for agent_id in self.engine.agents}
        if not self.servers.rehome(new.server_list()):
            return running  # servers added, removed or renamed: all of it waits for the restart
        agents = {s.name: s.agents for s in new.servers}
        asterisk = running.model_copy(
            update={
                "servers": [s.model_copy(update={"agents": agents[s.name]}) for s in running.servers],
                "default_server": new.default_server,
            }
        )
        # A moved agent's live legs stay on the server of their channel (Leg.server). Their phone
        # is read from now on at its new home: by the endpoint poll while that one is up; one
        # that is down has no phone to offer.
        for agent_id, home in before.items():
            now_home = self.servers.server_of_agent(agent_id)
            if now_home != home:
                log.info("agent_rehomed", agent_id=agent_id, server=now_home, was=home)
                if now_home is None or not self.servers.get(now_home).up:
                    self.try_feed(ev.AgentReachability(self.clock(), agent_id, False))
        return asterisk

    # ------------------------------------------------------------------ the engine

    def feed(self, event: ev.Event) -> list[Command]:
        started = time.perf_counter()
        if isinstance(event, ev.SettingsChanged):
            self._endpoint_map = None  # agents may come and go
        try:
            commands = self.engine.handle(event)
            if self.committer is not None:
                step = step_of(self.engine, commands)
                if self.notifier is not None:
                    step.notifications = self.notifier.plan(commands)
        except CoreError as error:  # refused: nothing changed
            log.warning("event_refused", event_type=type(event).__name__, error=str(error))
            raise
        except Exception as error:
            # A bug: the engine may have moved on with a step that will never be stored, so the
            # store and the engine now disagree. Whoever fed it (an event, a timer, a reload, an
            # HTTP request) must not go on: stop, and the restart loads what was stored.
            self.fail("engine_step_crashed", error)
            raise
        finally:
            self.metrics.event_latency.observe(time.perf_counter() - started)
        if self.committer is None:
            self._act(commands)
        elif not step.empty:  # commit before act: the committer stores the step, then hands its commands over
            self.committer.put(step)
        self._wake_timer()
        for listener in self.step_listeners:
            listener()
        return commands

    def _act(self, commands: list[Command]) -> None:
        """Carry out a stored step: contact loads go to the store's reader, the rest to Asterisk."""
        loads = [c for c in commands if isinstance(c, LoadContacts)]
        for load in loads:
            self.contacts.submit(load)
        self.executor.submit([c for c in commands if not isinstance(c, LoadContacts)] if loads else commands)

    async def wait_committed(self) -> None:
        """Until every step fed so far is stored and its commands handed to the executor.
        Raises ServiceStopping (CommitFailed if the store failed) rather than hang once the
        service cannot get there."""
        if self.committer is not None:
            await self.committer.wait_committed()
        elif self.fatal.is_set():
            raise ServiceStopping(f"the service is stopping ({self.fatal_reason})")

    async def feed_and_commit(self, event: ev.Event) -> list[Command]:
        """Feed `event` and return its commands once that step is stored and handed to the
        executor: what an HTTP handler awaits before answering that a change was made.
        Raises CoreError if the engine refuses the event (EventOvertaken if it dropped it, made
        moot by a deadline due first: what that deadline did is stored), ServiceStopping if the
        service cannot keep it (answer 503)."""
        if not self.healthy:
            raise ServiceStopping(f"the service is stopping ({self.fatal_reason or 'store failed'})")
        commands = self.feed(event)
        if self.committer is not None:
            await self.committer.wait_committed(self.committer.put_seq)
        for command in commands:  # a deadline came due first and made it moot: not done, say so
            if isinstance(command, Activity) and command.kind == "event_ignored":
                raise EventOvertaken(f"not done: {command.data.get('reason')}")
        return commands

    def try_feed(self, event: ev.Event) -> None:
        with contextlib.suppress(CoreError):  # logged in feed; a refused event changes nothing
            self.feed(event)

    def _wake_timer(self) -> None:
        deadline = self.engine.next_deadline()
        if deadline is None or self._wake.is_set():
            return
        until = self._timer_until
        if until is None or deadline < until or deadline <= self.clock():
            self.timer_wakeups += 1
            self._wake.set()

    async def _timer_loop(self) -> None:
        # No tick before the first resync: restored deadlines must not act on legs that are gone.
        await self.connected.wait()
        while True:
            deadline = self._timer_until = self.engine.next_deadline()
            delay = None if deadline is None else max(0.0, deadline - self.clock())
            # asyncio.timeout, not wait_for: wait_for can swallow a cancel that races the wake-up,
            # and stop() would then wait forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()
            self._wake.clear()
            deadline = self.engine.next_deadline()
            if deadline is not None and self.clock() >= deadline:
                # No catch: the engine refusing its own Tick is a bug, and retrying it would spin.
                # The task dies and its watcher stops the service loudly.
                self.feed(ev.Tick(self.clock()))

    def _retentions(self) -> dict[str, float]:
        """How long each queue's recordings are kept (the running settings; recordings.py)."""
        return {name: q.recording.retention for name, q in self.config.queues.items()}

    def _is_live(self, request_id: str) -> bool:
        return request_id in self.engine.requests

    def _queue_of(self, request_id: str) -> str | None:
        req = self.engine.requests.get(request_id)
        return req.queue if req is not None else None

    def _on_activity(self, activity: Activity) -> None:
        if activity.kind in SHELL_KINDS:
            activity = self._store_shell_activity(activity)
        log.info(
            "activity",
            kind=activity.kind,
            request_id=activity.request_id,
            agent_id=activity.agent_id,
            queue=activity.queue,
            **_log_fields(activity.data),
        )
        self.metrics.count_activity(activity)
        for listener in self.activity_listeners:
            listener(activity)

    def _store_shell_activity(self, activity: Activity) -> Activity:
        """A recording's activity comes from the executor or the retention keeper, and the history
        keeper's from its sweep, not from an engine step, so it is stored here (through the
        committer: one writer, in order), with the request's queue so the API can tell who may
        hear a recording and the keeper how long to keep it. The executor names the queue itself
        (looked up as it starts bridging: a short call's request may have ended by the time the
        recording has started); the engine's request fills it in for the others."""
        req = self.engine.requests.get(activity.request_id) if activity.request_id else None
        if activity.queue is None and req is not None:
            activity = dataclasses.replace(activity, queue=req.queue)
        activity = with_retention(activity, self._retentions)  # kept should its queue be removed
        if self.committer is not None:
            self.committer.put(Step([], [activity], [], []))
        return activity

    def _on_notify(self, notify: Notify) -> None:
        log.info("notify", kind=notify.kind, request_id=notify.request_id, queue=notify.queue, number=notify.number)
        # Its outbox rows are stored now: deliver without waiting for a poll. Only a routed kind has
        # rows; a wake-up for one that has none was two reads of the outbox in the store's queue,
        # behind which the next commits waited (a callback over the API took 1.6 x as long).
        if self.notifier is not None and self.notifier.routed(notify):
            self.notifier.worker.wake()

    # ------------------------------------------------------------------ ARI events

    async def on_ari_event(self, event: AriEvent, server: str = "") -> None:
        """The dispatcher's handler (`server`: the Asterisk it came from). Expected faults (a
        channel gone, an event the engine refuses) are handled inside; anything that escapes is a
        bug, and the events connection's handler (`_start_events`) stops the service with it."""
        await self._handle_ari_event(event, self.servers.get(server).name)

    async def _handle_ari_event(self, event: AriEvent, server: str) -> None:
        if isinstance(event, StasisStart):
            await self._stasis_start(event, server)
        elif isinstance(event, ChannelDtmfReceived):
            leg = self.legs.by_channel(event.channel.id)
            if leg is not None and leg.role == "inbound":
                await self._barge_in(leg)
                self.try_feed(ev.DtmfReceived(self.clock(), leg.request_id, event.digit))
            elif leg is not None and leg.role == "agent":
                self._agent_key(leg, event.digit)
        elif isinstance(event, (StasisEnd, ChannelHangupRequest, ChannelDestroyed)):
            leg = self.legs.by_channel(event.channel.id)
            shutdown = isinstance(event, ChannelHangupRequest) and event.soft and event.cause == SOFTHANGUP_SHUTDOWN
            # One Asterisk stopping: nothing new is dialled until it is back. Of several, only that
            # one's calls go (_server_down at its disconnect); the others serve on.
            if shutdown and self.engine.telephony_up and not self.servers.several:
                self.try_feed(ev.TelephonyDown(self.clock(), "asterisk_shutdown"))
            if leg is not None and not (leg.in_dialplan and isinstance(event, StasisEnd)):
                if shutdown or not self.engine.telephony_up:
                    # Ended by Asterisk's stop (its other legs' ends come in any order): nobody's doing.
                    await self._leg_lost(leg, "asterisk_shutdown")
                else:
                    no_audio = isinstance(event, ChannelHangupRequest) and event.soft and event.cause == SOFTHANGUP_DEV
                    up = event.channel.state == "Up"
                    await self._leg_ended(leg, getattr(event, "cause", None), no_audio, up)
        elif isinstance(event, PlaybackFinished):
            await self._playback_finished(event)
        elif isinstance(event, RecordingFailed):
            self._recording_failed(event)
        elif isinstance(event, EndpointStateChange):
            agent_id = self._agents_by_endpoint().get(event.endpoint.key)
            if agent_id is not None and self.servers.server_of_agent(agent_id) == server:
                # Every call of an agent brings two of these (its channel comes and goes) with the
                # state unchanged: only a change is an engine step.
                agent = self.engine.agents.get(agent_id)
                if agent is None or agent.reachable != event.endpoint.online:
                    self.try_feed(ev.AgentReachability(self.clock(), agent_id, event.endpoint.online))

    async def _watch_clock_lead(self) -> None:
        """Every CLOCK_LEAD_CHECK seconds: the engine hears how far the clock runs ahead of the
        wall clock (after a step back), so calling hours hold by the true time too."""
        while True:
            await asyncio.sleep(CLOCK_LEAD_CHECK)
            self._tell_clock_lead()

    def _tell_clock_lead(self) -> None:
        if isinstance(self.clock, SteadyClock):
            now = self.clock()
            lead = lead_to_tell(self.clock.ahead, self.engine.clock_ahead)
            if lead is not None:
                self.try_feed(ev.ClockAhead(now, lead))

    async def _poll_endpoints(self) -> None:
        """Every `endpoint_poll` seconds: each server's agents' registrations, read at once; only a
        change is fed (AgentReachability). A read that fails is logged and tried at the next poll
        (the resync after a reconnect reads them too). Then the agents on their own calls, checked
        against the live legs (_tell_own_calls)."""
        while True:
            await asyncio.sleep(self.endpoint_poll)
            for server in self.servers.servers:
                if server.up:
                    await self._read_endpoints(server)
            self._tell_own_calls()

    async def _retry_deferred_hangups(self) -> None:
        """Hang-ups Asterisk did not answer are tried again while it is connected (executor.py)."""
        while True:
            await asyncio.sleep(self.executor.deferred_hangup_every)
            if self.executor.hangups_due:  # deferred hang-ups, late originates
                await self.executor.retry_deferred_hangups()

    async def _read_endpoints(self, server: Server) -> None:
        agents = self._agents_on_server(server)
        if not agents:
            return
        try:
            online = {e.key for e in await server.ari.endpoints.list() if e.online}
        except AriError as error:
            log.info("endpoints_not_read", server=server.name, error=str(error))
            return
        if not server.up:  # went down while we read: its agents were made unreachable then
            return
        for endpoint, agent_id in agents.items():
            agent = self.engine.agents.get(agent_id)
            if agent is not None and agent.reachable != (endpoint in online):
                self.try_feed(ev.AgentReachability(self.clock(), agent_id, endpoint in online))

    def _agent_key(self, leg: Leg, digit: str) -> None:
        """Preview keys on the agent's phone while they review a contact: dial now, or skip."""
        event = agent_key_event(self.engine, leg.request_id, digit, self.clock())
        if event is not None:
            self.try_feed(event)

    async def _stasis_start(self, event: StasisStart, server: str) -> None:
        channel = event.channel
        leg = self.legs.by_channel(channel.id)
        if leg is not None:  # one of ours answered
            if self._answer_taken(leg, event.args):
                log.info("stasis_start_seen_before", leg_id=leg.leg_id, role=leg.role, args=list(event.args))
                return
            await self._originated_leg_answered(leg, event.args)
            return
        await self._new_call(channel, list(event.args), server)

    @staticmethod
    def _answer_taken(leg: Leg, args: tuple[str, ...]) -> bool:
        """Whether a StasisStart of a known leg tells nothing new. A resync after a reconnect reads
        the channel list while that connection's events wait: a channel that entered our app just
        then is acted on by the resync (an answer taken, a customer sent to answering-machine
        detection, a caller or a feature code taken in) and its StasisStart is read after. Only the
        result of detection (`amd,...`) comes for a leg already answered."""
        if leg.role not in ("agent", "customer"):
            return True  # a caller or a one-shot call: taken in already
        if args[:1] == ("amd",):
            return False
        return leg.answered or leg.in_dialplan

    def _originated_call(self, channel: Channel, args: list[str]) -> bool:
        """Whether a call that entered our app is one we originated (`agent,<leg>`, `customer,<leg>`)."""
        kind = args[0] if args else ""
        if kind not in ("agent", "customer"):
            return False
        return (len(args) > 1 and channel.id == channel_id_for_leg(args[1])) or kind not in self.engine.queues

    async def _new_call(self, channel: Channel, args: list[str], server: str) -> None:
        """A call that entered our app (its Stasis() arguments `args`): a feature code, a caller
        for a queue, or one refused. Also for a caller found unrecorded at a resync.

        A leg we originated that we no longer know (an originate Asterisk carried out after the
        service gave its leg up, or a leg forgotten since) is hung up without a word: it reaches an
        agent or a customer, to whom "not in service" would be a lie."""
        if self._originated_call(channel, args):
            found = self._leg_found_again(channel, args, server)
            if found is not None:
                await self._originated_leg_answered(found, tuple(args))
                return
            if self.executor.given_up(channel.id):
                log.info("late_originate_hung_up", channel_id=channel.id, args=args, server=server)
            else:
                log.warning("unknown_leg_hung_up", channel_id=channel.id, args=args, server=server)
            await self.executor.hang_up(Leg(f"stray:{channel.id}", channel.id, "oneshot", "", server=server))
            return
        kind = args[0] if args else ""
        if kind == "feature" and len(args) > 1:
            await self._feature_code(channel.id, channel.name, args[1], server)
            return
        queue = self._queue_for_call(args)
        if queue is None:
            log.warning("no_queue_for_call", args=args, channel_id=channel.id)
            await self._refuse(channel.id, server)
            return
        request_id = channel.id  # Asterisk's unique id: found again after a restart of the service
        up = channel.state == "Up"  # answered by the dialplan before Stasis (asterisk-conf/extensions.conf)
        leg = self.legs.add(
            Leg(request_id, channel.id, "inbound", request_id, answered=True, server=server, channel_up=up)
        )
        self._own_call_started(leg, channel.name)
        # Arrival is the service's clock, whichever server the call came to: one global order.
        log.info("call_arrived", request_id=request_id, channel_id=channel.id, queue=queue, server=server)
        number = channel.caller.number or None
        self.try_feed(ev.CallerArrived(self.clock(), request_id, queue, number))

    def _leg_found_again(self, channel: Channel, args: list[str], server: str) -> Leg | None:
        """An originated leg our registry no longer holds but the engine still waits on (an agent
        ringing, a customer being dialled): taken in again, as a resync adopts one, and its
        answer heard. Hung up as a stranger's call, the customer who had just answered a callback
        was hung up and the callback missed (seen once after a reconnect in
        test_asterisk_frozen_random, the registry's loss of the leg not understood)."""
        if len(args) < 2:
            return None
        for leg_id, request_id, role, _answered in self.engine.expected_legs():
            if leg_id == args[1] and role == args[0] and channel_id_for_leg(leg_id) == channel.id:
                log.warning("leg_found_again", leg_id=leg_id, request_id=request_id, role=role, server=server)
                amd = self.engine.dial_detects_machines(leg_id)  # a machine is never put through to an agent
                return self.legs.add(Leg(leg_id, channel.id, role, request_id, server=server, amd=amd))
        return None

    def _queue_for_call(self, args: list[str]) -> str | None:
        """The queue a call with these Stasis() arguments is for: `inbound,<dialled number>` (the
        number mapped by `inbound:`) or a queue's own name; None for any other call."""
        kind = args[0] if args else ""
        if kind == "inbound" and len(args) > 1:
            return self.config.inbound.get(args[1])
        return kind if kind in self.engine.queues else None

    async def _originated_leg_answered(self, leg: Leg, args: tuple[str, ...]) -> None:
        """Tell the engine, after answering-machine detection for callback customers that ask for it.

        AMD() runs in dialplan ([holdfast-amd], reached with `continue`), which hands the channel
        back to us as Stasis(app,amd,<status>,<cause>); we stay subscribed to the channel meanwhile
        so a hang-up during detection still reaches us."""
        if args[:1] == ("amd",):
            leg.in_dialplan = False
            leg.answered = True
            voicemail = len(args) > 1 and args[1] == "MACHINE"
            log.info("amd_result", leg_id=leg.leg_id, status=args[1:2], cause=args[2:3])
            now = self.clock()
            silence = silence_after_greeting(args[2] if len(args) > 2 else None)
            greeting_ended = None if silence is None else now - silence
            self.try_feed(ev.LegAnswered(now, leg.leg_id, voicemail=voicemail, greeting_ended=greeting_ended))
            return
        if leg.role == "customer" and leg.amd:
            if leg.in_dialplan:  # sent to detection already: its result (or its end) is on its way
                log.info("amd_already_running", leg_id=leg.leg_id)
                return
            leg.in_dialplan = True
            try:
                ari = self.servers.client(leg.server)
                await ari.applications.subscribe(self.config.asterisk.app, f"channel:{leg.channel_id}")
                await ari.channels.continue_in_dialplan(leg.channel_id, "holdfast-amd", "s", 1)
                return
            except AriTimeout as error:
                if error.path.endswith("/continue"):
                    # Asterisk may have carried it out: detection may be running. Its result, the
                    # channel's end or the customer's ring timeout settles it, never "no AMD" (an
                    # agent bridged to a machine still being listened to).
                    log.warning("amd_continue_unanswered", leg_id=leg.leg_id, error=str(error))
                    return
                log.warning("amd_unavailable", leg_id=leg.leg_id, error=str(error))
                leg.in_dialplan = False
            except AriError as error:  # refused: the channel was not sent to detection
                log.warning("amd_unavailable", leg_id=leg.leg_id, error=str(error))
                leg.in_dialplan = False
        leg.answered = True
        self.try_feed(ev.LegAnswered(self.clock(), leg.leg_id))

    async def _refuse(self, channel_id: str, server: str) -> None:
        """A call we cannot place: answered, told so, hung up when the prompt ends."""
        await self._play_then_hang_up(self._one_shot_leg(channel_id, server), "not_in_service")

    def _one_shot_leg(self, channel_id: str, server: str) -> Leg:
        """The leg of a call we only answer, play a prompt to and hang up (a refusal, a feature code)."""
        return self.legs.add(Leg(f"oneshot:{channel_id}", channel_id, "oneshot", "", server=server))

    async def _play_then_hang_up(self, leg: Leg, prompt: str) -> None:
        """Answer, play `prompt`, hang up; the leg's `after_end` is an agent change made once the call has ended."""
        if leg.ended:
            return  # the caller hung up before we got this far (e.g. while a feature code was stored)
        channel_id = leg.channel_id
        ari = self.servers.client(leg.server)
        playback_id = new_id()
        media = self.executor.prompts.named(prompt)
        self.legs.playbacks[playback_id] = PlaybackTask(leg.leg_id, True, False, tuple(media))
        leg.playbacks.add(playback_id)
        try:
            await ari.channels.answer(channel_id)
            await ari.channels.play(channel_id, media, playback_id=playback_id)
        except AriError:
            self.executor.submit([Hangup(leg.leg_id, "prompt_failed")])  # retried as any hang-up

    def _own_call_started(self, leg: Leg, channel_name: str) -> None:
        """An inbound call from an agent's own phone (on the server it is registered at): that agent
        is offered nothing until it ends (ev.AgentOwnCall), or they would be rung for it."""
        agent_id = self.agent_for_channel(channel_name)
        if agent_id is not None and self.servers.server_of_agent(agent_id) == leg.server:
            leg.own_call_of = agent_id
            self._tell_own_calls()

    def _own_call_over(self, leg: Leg) -> None:
        if leg.own_call_of is not None:
            self._tell_own_calls()

    def _tell_own_calls(self) -> None:
        """The engine hears which agents' own phones are on a call into a queue, from the live legs
        (not from the ends alone: a leg a resync forgets, or a settings reload, must not leave an
        agent offered nothing for good). Also run at every endpoint poll, but not while a resync
        takes legs in again (resync._own_calls_found told the engine of them already)."""
        if self._resyncing:
            return
        on = self.legs.own_calls()
        for agent_id, agent in list(self.engine.agents.items()):
            if agent.own_call != (agent_id in on):
                self.try_feed(ev.AgentOwnCall(self.clock(), agent_id, agent_id in on))

    async def _leg_ended(self, leg: Leg, cause: int | None, no_audio: bool = False, up: bool = False) -> None:
        """`no_audio`: Asterisk cut the leg because its phone sent no audio (a dead line). `up`:
        its channel was answered when it ended."""
        if not self.legs.mark_ended(leg):
            return
        self._own_call_over(leg)
        now = self.clock()
        if leg.role == "oneshot":
            self.legs.forget(leg)
            await self._one_shot_ended(leg)
            return
        if no_audio:  # worth a look: a carrier's media gateway, an agent's network or softphone
            log.warning("leg_cut_no_audio", leg_id=leg.leg_id, role=leg.role, request_id=leg.request_id)
        if leg.role == "inbound":
            self.try_feed(ev.CallerHungUp(now, leg.request_id, no_audio=no_audio))
        elif leg.answered:
            self.try_feed(ev.LegHungUp(now, leg.leg_id, no_audio=no_audio))
        else:
            # A customer gone while AMD listened had answered, and so had one whose channel was
            # up at its end though its StasisStart was not handled yet: the phone answered and
            # hung up at once (Asterisk reports the hang-up first when both come together, as
            # after a stall). Both heard silence: the engine counts a contact's live answer
            # abandoned and a callback's dial interrupted, not a failed dial.
            in_amd = leg.role == "customer" and leg.amd and leg.in_dialplan
            answered = in_amd or (leg.role == "customer" and up)
            self.try_feed(ev.LegFailed(now, leg.leg_id, outcome_for(cause), cause, answered=answered))
        self.legs.forget(leg)
        await self.executor.release_call_bridge(leg)

    async def _leg_lost(self, leg: Leg, reason: str) -> None:
        if not self.legs.mark_ended(leg):
            return
        self._own_call_over(leg)
        self.legs.forget(leg)
        if leg.role == "oneshot":
            await self._one_shot_ended(leg)
        else:
            self.try_feed(ev.LegLost(self.clock(), leg.leg_id, reason))

    async def _leg_broken(self, leg: Leg, reason: str) -> None:
        """A command on this leg failed and no event will explain it: report the leg lost (the
        engine ends or re-queues its request) and hang it up, so both sides agree it is over."""
        await self._leg_lost(leg, reason)
        await self.executor.hang_up(leg)
        await self.executor.release_call_bridge(leg)

    async def _barge_in(self, leg: Leg) -> None:
        """A key pressed during a prompt cuts it short, as callers expect of any menu; prompts that
        end the call (the confirmation) are left to finish."""
        for playback_id in list(leg.playbacks):
            task = self.legs.playbacks.get(playback_id)
            if task is not None and not task.hangup_after:
                with contextlib.suppress(AriError):
                    await self.servers.client(leg.server).playbacks.stop(playback_id)

    def _recording_failed(self, event: RecordingFailed) -> None:
        """A call's recording Asterisk stopped after it had started (a full disk, a spool it can no
        longer write): the call goes on (it matters more), but the recording promised by the
        queue's settings is missing, so it is said loudly and kept in the event log."""
        r = event.recording
        if not r.name.startswith(RECORDING_PREFIX):
            return
        request_id = r.name.removeprefix(RECORDING_PREFIX)
        log.error("recording_failed", request_id=request_id, name=r.name, cause=r.cause)
        data = {"name": r.name, "format": r.format, "error": r.cause or "failed"}
        self._on_activity(Activity("recording_failed", request_id=request_id, at=self.clock(), data=data))

    async def _playback_finished(self, event: PlaybackFinished) -> None:
        task = self.legs.playbacks.pop(event.playback.id, None)
        if task is None:
            return
        self.metrics.prompts.labels(event.playback.state).inc()
        if event.playback.state == "failed":  # a missing or unreadable recording: say which
            log.error("prompt_failed", media=event.playback.media_uri, leg_id=task.leg_id)
            self.playback_failures.append(event.playback.media_uri)
        else:
            self.prompts_played.extend(task.media)
        leg = self.legs.by_leg(task.leg_id)
        if leg is not None:
            leg.playbacks.discard(event.playback.id)
        if task.report_finish:
            self.try_feed(ev.PromptFinished(self.clock(), task.leg_id))
        if task.hangup_after and leg is not None:
            # A one-shot leg is forgotten at its end event (which may carry an agent change). The
            # hang-up goes through the leg's lane like the engine's own: a channel already gone is
            # fine, a refusal is retried and then stops the service, no answer is retried later;
            # swallowed, it left a caller on a silent open line after "we will call you back".
            self.executor.submit([Hangup(leg.leg_id, "prompt_ended")])

    # ------------------------------------------------------------------ agents

    def _agents_by_endpoint(self) -> dict[str, str]:
        """ "PJSIP/1001" → "1001" for every configured agent. Kept between calls (every agent call
        brings EndpointStateChange events) and made again after a change of settings."""
        if self._endpoint_map is None:
            agent_endpoint = self.config.asterisk.agent_endpoint
            self._endpoint_map = {agent_endpoint(agent_id): agent_id for agent_id in self.engine.agents}
        return self._endpoint_map

    def agent_for_channel(self, channel_name: str) -> str | None:
        """ "PJSIP/1001-0000000a" → "1001", if that is one of our agents."""
        return self._agents_by_endpoint().get(channel_name.rsplit("-", 1)[0])

    # Feature codes after which the agent may be offered calls. Their change is made only once the
    # feature-code call has ended: made at once, the next queue call would ring the agent while
    # the "you are logged in" confirmation is still playing, as call waiting.
    MAKES_AVAILABLE = frozenset({"ready", "login"})
    # What the extension code adds to a wrap-up (the API's default too); the engine caps the total.
    WRAP_UP_STEP = WRAP_UP_EXTENSION_STEP

    async def _feature_code(self, channel_id: str, channel_name: str, code: str, server: str = "") -> None:
        # Known as ours before the commit below is awaited: a resync meanwhile (a websocket gap)
        # must neither take the still-ringing call in a second time nor hang it up.
        leg = self._one_shot_leg(channel_id, server)
        agent_id = self.agent_for_channel(channel_name)
        action = self.feature_codes.get(code)
        prompt = "not_in_service"
        if agent_id is not None and action in self.MAKES_AVAILABLE:
            found = self._agent_event(agent_id, action, "break")
            if found is not None and self.healthy and self._allowed(found[0]):
                prompt, leg.after_end = found[1], (agent_id, action)
        elif agent_id is not None and action is not None:
            try:  # confirmed to the agent only once it is kept
                prompt = await self.agent_action_committed(agent_id, action) or "not_in_service"
            except ServiceStopping:
                prompt = "not_in_service"
        await self._play_then_hang_up(leg, prompt)

    def _allowed(self, event: ev.Event) -> bool:
        """Whether the engine would take `event` now; nothing changes (the engine's own check)."""
        try:
            self.engine.check(event)  # read-only: raises what `handle` would raise
        except CoreError as error:
            log.info("feature_code_refused", event_type=type(event).__name__, error=str(error))
            return False
        return True

    async def _one_shot_ended(self, leg: Leg) -> None:
        """A one-shot call is over: make the agent change it confirmed, if any. The engine may
        refuse it by now (the agent was made busy meanwhile, e.g. from the web page): a warning."""
        if leg.after_end is None:
            return
        (agent_id, action), leg.after_end = leg.after_end, None
        try:
            prompt = await self.agent_action_committed(agent_id, action)
        except ServiceStopping as error:
            log.warning("feature_code_not_applied", agent_id=agent_id, action=action, error=str(error))
            return
        if prompt is None:
            log.warning("feature_code_refused_after_call", agent_id=agent_id, action=action)
        else:
            log.info("feature_code_applied", agent_id=agent_id, action=action)

    def agent_action(self, agent_id: str, action: str, reason: str = "break") -> str | None:
        """Apply ready/pause/logout/extend for an agent; returns the prompt to confirm it, None if refused
        (an extension at the cap too: nothing was extended)."""
        found = self._agent_event(agent_id, action, reason)
        if found is None:
            return None
        try:
            commands = self.feed(found[0])
        except CoreError:
            return None
        return None if _nothing_extended(found[0], commands) else found[1]

    async def agent_action_committed(self, agent_id: str, action: str, reason: str = "break") -> str | None:
        """`agent_action`, returning once the change is stored (raises ServiceStopping if it cannot be)."""
        found = self._agent_event(agent_id, action, reason)
        if found is None:
            return None
        try:
            commands = await self.feed_and_commit(found[0])
        except CoreError:
            return None
        return None if _nothing_extended(found[0], commands) else found[1]

    def _agent_event(self, agent_id: str, action: str, reason: str) -> tuple[ev.Event, str] | None:
        now = self.clock()
        event: ev.Event
        if action == "ready":
            event, prompt = ev.AgentReady(now, agent_id), "agent_ready"
        elif action == "pause":
            event, prompt = ev.AgentPaused(now, agent_id, reason), "agent_paused"
        elif action == "logout":
            event, prompt = ev.AgentLoggedOut(now, agent_id), "agent_logged_out"
        elif action == "login":
            event, prompt = ev.AgentLoggedIn(now, agent_id), "agent_ready"
        elif action == "extend":
            event, prompt = ev.WrapUpExtended(now, agent_id, self.WRAP_UP_STEP), "wrap_up_extended"
        else:
            return None
        return event, prompt

    async def _on_replaced(self, event: ApplicationReplaced) -> None:
        self.replaced = True
        self.fail("application_replaced")  # another Holdfast took over this Stasis app


def granted_extension(commands: list[Command]) -> Activity | None:
    """The engine's `wrap_up_extended` line (seconds granted, the new end) among a step's commands;
    None when the cap was already reached: the engine takes the event and changes nothing."""
    return next((c for c in commands if isinstance(c, Activity) and c.kind == "wrap_up_extended"), None)


def _nothing_extended(event: ev.Event, commands: list[Command]) -> bool:
    return isinstance(event, ev.WrapUpExtended) and granted_extension(commands) is None


def _latest_stamp(requests: list[Request], agents: list[AgentRecord]) -> float:
    """The latest time the stored state was stamped with (deadlines excluded: they lie ahead)."""
    stamps = [a.since for a in agents]
    for r in requests:
        stamps += [r.arrived_at, r.queued_since, *(a.started_at for a in r.attempts)]
        stamps += [t for t in (r.callback_requested_at, r.service_started_at, r.first_dispatched_at) if t is not None]
    return max(stamps, default=0.0)


# What a log call takes as its own arguments: an activity's data must not clash with them (a key
# "event" made structlog raise TypeError on the commit/act path, and stopped the service).
_LOG_OWN = frozenset({"event", "kind", "request_id", "agent_id", "queue", "level", "logger", "timestamp"})


def _log_fields(data: Mapping[str, object]) -> dict[str, object]:
    return {f"data_{key}" if key in _LOG_OWN else key: value for key, value in data.items()}
