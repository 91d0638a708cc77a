"""Commit before act: each engine step is stored, and only then are its commands carried out.

Theory of operation: `step_of` copies what one engine step changed (the touched requests, its
activities, the agents whose state moved or who asked for a move after their call) at once, because
the engine moves on before the commit runs. Group commit: the committer takes every step queued at
that moment (up to `max_batch`) and stores them in ONE transaction (`Store.commit_many`, one
fsync), then acts on each step's commands in order; a step is still stored before any of its commands is acted on
(one exception, below), and a burst of API calls costs one fsync instead of one each. `max_batch=1` commits steps one at
a time (`Store.commit`, as before group commit). A commit refused with `StoreError` is retried a
few times (a busy database); a batch is retried whole. If the store still refuses, or anything else goes wrong
on the way from a batch to its commands (an OverflowError from the database driver, a bug in
`act`), nothing more is acted on and `on_fatal` stops the service: acting on a change we could
not keep could forget a promised callback, and a committer that died quietly would leave a
service that looks alive but keeps nothing.

One kind of step is acted on as it is put, before it is stored: an inbound caller's agent has
answered, and the step only bridges the two legs (`acts_before_stored`). It promises nothing (no
callback, no call placed, nobody answered), and losing it in a crash leaves exactly what the
reconcile after a restart already handles: an agent leg found up that the store says still rings
(the engine is told it answered and bridges again). Waiting for its fsync was most of the way
from the agent's "hello" to the caller hearing them. It is taken only when no step still waiting
for the store has a command for either of its two legs (`_pending_legs`), so every leg's
commands still reach the executor in the order they were made (the executor keeps that order
per leg; steps about other calls have no order to keep with it). It is stored like any other
step, and `wait_committed` still means stored.

Steps are numbered as they are put; `wait_committed(upto)` returns once step `upto` is stored and
its commands handed over, and raises `CommitFailed` / `ServiceStopping` instead of hanging once
that can no longer happen.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from app.core.agents import Agent
from app.core.commands import Activity, BridgeLegs, Command
from app.core.contacts import ContactProgress
from app.core.engine import Engine
from app.core.request import Request
from app.core.states import RequestKind
from app.store import AgentRecord, Change, Store, StoreError
from app.store.lease import FencedOut
from app.store.outbox_records import Notification
from app.telephony.errors import CommitFailed, ServiceStopping
from app.telephony.metrics import Metrics

log = structlog.get_logger("holdfast.committer")

COMMIT_RETRIES = (0.2, 0.5, 1.0, 2.0, None)  # seconds between tries; None: give up
MAX_BATCH = 256  # steps per transaction: bounds one commit's size and the latency of its first step

FatalHandler = Callable[[str, BaseException | None], None]


@dataclass(slots=True)
class Step:
    requests: list[Request]
    activities: list[Activity]
    agents: list[AgentRecord]
    commands: list[Command]
    contacts: list[ContactProgress] = field(default_factory=list)  # dialler contacts' progress
    notifications: list[Notification] = field(default_factory=list)  # outbox rows caused by this step
    acted: bool = False  # its commands were handed over before it was stored (acts_before_stored)

    @property
    def empty(self) -> bool:
        """Nothing to store and nothing to do (e.g. a Tick before any deadline was due)."""
        return not (
            self.commands or self.requests or self.activities or self.agents or self.contacts or self.notifications
        )

    def change(self) -> Change:
        return Change(self.requests, self.activities, self.agents, self.contacts, self.notifications)


def acts_before_stored(step: Step) -> bool:
    """Whether `step` may be acted on before it is stored: it bridges an inbound caller with the
    agent who just answered, and does nothing else (activities aside). Not a callback's or a
    dialler contact's bridge (their attempts' outcomes are part of the promise), nor a step that
    places a call, plays, hangs up or writes dialler or outbox rows."""
    if step.contacts or step.notifications or not step.requests:
        return False
    if not any(isinstance(c, BridgeLegs) for c in step.commands):
        return False
    if not all(isinstance(c, BridgeLegs | Activity) for c in step.commands):
        return False
    return all(r.kind is RequestKind.INBOUND and r.callback_number is None for r in step.requests)


def legs_of(commands: list[Command]) -> list[str]:
    """The legs these commands are about (the executor's lanes, a bridge's two legs)."""
    legs: list[str] = []
    for command in commands:
        if isinstance(command, BridgeLegs):
            legs += (command.customer_leg, command.agent_leg)
        else:
            leg = getattr(command, "leg_id", None)
            if isinstance(leg, str):
                legs.append(leg)
    return legs


_REQUEST_SLOTS = tuple(Request.__slots__)


def snapshot(request: Request) -> Request:
    """A copy of `request` the engine's later changes cannot reach, for the store. The same as a
    deep copy, at a fifth of its cost (a copy per request per step, on every event's way): every
    field is immutable but the attempts, the menu and a dialler contact's card, copied here."""
    copy_ = object.__new__(Request)
    for name in _REQUEST_SLOTS:
        object.__setattr__(copy_, name, getattr(request, name))
    copy_.attempts = [copy.copy(a) for a in request.attempts]
    if request.menu is not None:
        copy_.menu = copy.copy(request.menu)
    if request.contact is not None:
        copy_.contact = copy.deepcopy(request.contact)
    return copy_


# The activities that mark a change of what is stored of an agent: its state, the pause or
# log-out it asked for during a call (made at the call's end, so it must survive a restart), or
# its wrap-up's end moved by an extension (a restart must not cut the wrap-up short).
AGENT_RECORD_KINDS = frozenset({"agent_state", "agent_state_requested", "wrap_up_extended", "agent_line_dead"})


def agent_record(agent: Agent) -> AgentRecord:
    return AgentRecord(
        agent.id,
        agent.state,
        agent.pause_reason,
        agent.state_since,
        agent.after_call,
        agent.after_call_reason,
        agent.wrap_up_until,
        # the cap a restart restores is the one the agent has: the call's queue (its wrap-up) is not stored
        agent.wrap_up_extended if agent.wrap_up_until is not None else None,
    )


def step_of(engine: Engine, commands: list[Command]) -> Step:
    activities = [c for c in commands if isinstance(c, Activity)]
    moved = sorted({a.agent_id for a in activities if a.kind in AGENT_RECORD_KINDS and a.agent_id})
    return Step(
        requests=[snapshot(r) for r in engine.take_touched()],
        activities=activities,
        agents=[agent_record(engine.agents[agent_id]) for agent_id in moved],
        commands=commands,
        contacts=engine.take_contact_progress(),
    )


class Committer:
    def __init__(
        self,
        store: Store,
        act: Callable[[list[Command]], None],
        on_fatal: FatalHandler,
        metrics: Metrics,
        *,
        max_batch: int = MAX_BATCH,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch is {max_batch}; it must be at least 1")
        self.store = store
        self.max_batch = max_batch
        self.act = act
        self.on_fatal = on_fatal
        self.metrics = metrics
        self.retries: tuple[float | None, ...] = COMMIT_RETRIES
        self.failed = False
        self.stopped = False
        self.put_seq = 0  # number of the last step put
        self.done_seq = 0  # number of the last step stored and handed to `act`
        self._steps: asyncio.Queue[Step] = asyncio.Queue()
        # Legs named by the commands of steps put but not yet handed over: a step acted on before
        # it is stored must not overtake a command for one of its legs.
        self._pending_legs: Counter[str] = Counter()
        self._progress = asyncio.Event()  # replaced by a fresh one at every change (wakes all waiters)
        self._task: asyncio.Task[None] | None = None

    @property
    def task(self) -> asyncio.Task[None] | None:
        return self._task

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="store-commits")

    def put(self, step: Step) -> int:
        """Queue a step; returns its number for `wait_committed`. A step that `acts_before_stored`
        is handed over now, unless a step still waiting for the store has a command for its legs."""
        self.put_seq += 1
        legs = legs_of(step.commands)
        if not (self.failed or self.stopped) and acts_before_stored(step):
            if not any(leg in self._pending_legs for leg in legs):
                step.acted = True
                self.metrics.acted_before_stored.inc()
                self.act(step.commands)
        if not step.acted:
            self._pending_legs.update(legs)
        self._steps.put_nowait(step)
        return self.put_seq

    async def wait_committed(self, upto: int | None = None) -> None:
        """Until step `upto` (default: every step put so far) is stored and its commands handed
        over. Raises CommitFailed if the store failed first, ServiceStopping if stopped first."""
        target = self.put_seq if upto is None else upto
        while self.done_seq < target:
            if self.failed:
                raise CommitFailed("the store could not keep a change; the service is stopping")
            if self.stopped:
                raise ServiceStopping("the service stopped before the change was stored")
            await self._progress.wait()

    async def stop(self, timeout: float = 5.0) -> None:
        if self._task is not None:
            if not self.failed:
                with contextlib.suppress(TimeoutError, ServiceStopping):
                    async with asyncio.timeout(timeout):
                        await self.wait_committed()
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self.stopped = True
        self._changed()

    def _changed(self) -> None:
        progress, self._progress = self._progress, asyncio.Event()
        progress.set()

    async def _run(self) -> None:
        while True:
            batch = [await self._steps.get()]
            while len(batch) < self.max_batch and not self._steps.empty():
                batch.append(self._steps.get_nowait())
            try:
                stored = await self._commit(batch)
                if stored:
                    self.metrics.commit_batch.observe(len(batch))
                    for step in batch:  # in order; done_seq counts each step once it is handed over
                        if not step.acted:
                            self.act(step.commands)
                            self._handed_over(step)
                        self.done_seq += 1
            except Exception as error:  # not a refusal we know how to wait out: a bug or bad data
                self._fail("commit_crashed_stopping", error)
                return
            if not stored:
                return  # _commit reported it
            self._changed()

    def _handed_over(self, step: Step) -> None:
        for leg in legs_of(step.commands):
            left = self._pending_legs[leg] - 1
            if left > 0:
                self._pending_legs[leg] = left
            else:
                del self._pending_legs[leg]

    def _fail(self, event: str, error: BaseException) -> None:
        self.failed = True
        log.critical(event, error=f"{type(error).__name__}: {error}", exc_info=error)
        self._changed()
        self.on_fatal(event, error)

    async def _commit(self, batch: list[Step]) -> bool:
        for delay in self.retries:
            try:
                plain = not (batch[0].contacts or batch[0].notifications)
                if len(batch) == 1 and plain:  # the plain commit (tests' wrappers see it)
                    step = batch[0]
                    await self.store.commit(step.requests, step.activities, step.agents)
                else:
                    await self.store.commit_many([step.change() for step in batch])
                return True
            except FencedOut as error:  # another node leads now: never retried, never acted on
                self.metrics.store_failures.inc()
                self._fail("fenced_out_stopping", error)
                return False
            except StoreError as error:
                self.metrics.store_failures.inc()
                if delay is None:
                    self._fail("store_failed_stopping", error)
                    return False
                log.error("store_commit_retry", error=str(error), retry_in=delay, steps=len(batch))
                await asyncio.sleep(delay)
        return False
