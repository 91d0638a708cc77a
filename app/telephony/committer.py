"""Commit before act: each engine step is stored, and only then are its commands carried out.

Theory of operation: `step_of` copies what one engine step changed (the touched requests, its
activities, the agents whose state moved) at once, because the engine moves on before the
commit runs. Steps are committed one at a time, in order; a failed commit is retried a few times
(a busy database), and if the store still refuses, nothing more is acted on and `on_fatal` asks
the service to stop: acting on a change we could not keep could forget a promised callback.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from app.core.commands import Activity, Command
from app.core.engine import Engine
from app.core.request import Request
from app.store import AgentRecord, Store, StoreError
from app.telephony.metrics import Metrics

log = structlog.get_logger("holdfast.committer")

COMMIT_RETRIES = (0.2, 0.5, 1.0, 2.0, None)  # seconds between tries; None: give up


@dataclass(slots=True)
class Step:
    requests: list[Request]
    activities: list[Activity]
    agents: list[AgentRecord]
    commands: list[Command]


def step_of(engine: Engine, commands: list[Command]) -> Step:
    activities = [c for c in commands if isinstance(c, Activity)]
    moved = sorted({a.agent_id for a in activities if a.kind == "agent_state" and a.agent_id})
    agents = [engine.agents[agent_id] for agent_id in moved]
    return Step(
        requests=[copy.deepcopy(r) for r in engine.take_touched()],
        activities=activities,
        agents=[AgentRecord(a.id, a.state, a.pause_reason, a.state_since) for a in agents],
        commands=commands,
    )


class Committer:
    def __init__(
        self, store: Store, act: Callable[[list[Command]], None], on_fatal: Callable[[], None], metrics: Metrics
    ) -> None:
        self.store = store
        self.act = act
        self.on_fatal = on_fatal
        self.metrics = metrics
        self.retries: tuple[float | None, ...] = COMMIT_RETRIES
        self.failed = False
        self._steps: asyncio.Queue[Step] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="store-commits")

    def put(self, step: Step) -> None:
        self._steps.put_nowait(step)

    async def wait_committed(self) -> None:
        """Until every step put so far is stored and its commands handed over."""
        await self._steps.join()

    async def stop(self, timeout: float = 5.0) -> None:
        if self._task is None:
            return
        if not self.failed:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self.wait_committed()
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            step = await self._steps.get()
            try:
                if not await self._commit(step):
                    self.failed = True
                    self.on_fatal()
                    return
                self.act(step.commands)
            finally:
                self._steps.task_done()

    async def _commit(self, step: Step) -> bool:
        for delay in self.retries:
            try:
                await self.store.commit(step.requests, step.activities, step.agents)
                return True
            except StoreError as error:
                self.metrics.store_failures.inc()
                if delay is None:
                    log.critical("store_failed_stopping", error=str(error))
                    return False
                log.error("store_commit_retry", error=str(error), retry_in=delay)
                await asyncio.sleep(delay)
        return False
