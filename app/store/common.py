"""What every store does the same way: the one-purpose writes are commits of one kind of row."""

from __future__ import annotations

from collections.abc import Iterable

from app.core.commands import Activity
from app.core.request import Request
from app.core.states import AgentState
from app.store.records import AgentRecord


class CommitShortcuts:
    """Mixed into a store that implements `commit(requests, activities, agents)` and `close()`."""

    async def commit(
        self, requests: Iterable[Request], activities: Iterable[Activity], agents: Iterable[AgentRecord] = ()
    ) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def save_requests(self, requests: Iterable[Request]) -> None:
        await self.commit(requests, ())

    async def append_events(self, activities: Iterable[Activity]) -> None:
        await self.commit((), activities)

    async def save_agent(self, agent_id: str, state: AgentState, reason: str | None, since: float) -> None:
        await self.commit((), (), [AgentRecord(agent_id, AgentState(state), reason, since)])

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
