"""What every store does the same way: the one-purpose writes are commits of one kind of row,
and a batch of changes is merged into the rows one transaction writes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from app.core.commands import Activity
from app.core.contacts import ContactProgress
from app.core.request import Request
from app.core.states import AgentState
from app.store.outbox_records import Notification
from app.store.records import AgentRecord, Change


@dataclass(slots=True)
class Merged:
    """The rows a batch of changes leaves behind: each request's and agent's LAST state in the
    batch (a request's full state is written, so its earlier states in the same transaction would
    be overwritten anyway) and every activity, in order."""

    requests: list[Request]
    activities: list[Activity]
    agents: list[AgentRecord]
    contacts: list[ContactProgress] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.requests or self.activities or self.agents or self.contacts or self.notifications)


def merge(changes: Iterable[Change]) -> Merged:
    """Same end state as committing `changes` one by one, in order."""
    requests: dict[str, Request] = {}
    agents: dict[str, AgentRecord] = {}
    activities: list[Activity] = []
    contacts: dict[tuple[str, int], ContactProgress] = {}
    notifications: list[Notification] = []
    for change in changes:
        for req in change.requests:
            requests.pop(req.id, None)  # re-insert: rows keep the order of the last change
            requests[req.id] = req
        for agent in change.agents:
            agents.pop(agent.agent_id, None)
            agents[agent.agent_id] = agent
        activities.extend(change.activities)
        for progress in change.contacts:
            contacts[(progress.campaign, progress.contact_id)] = progress  # a contact's last state wins
        notifications.extend(change.notifications)
    return Merged(list(requests.values()), activities, list(agents.values()), list(contacts.values()), notifications)


class CommitShortcuts:
    """Mixed into a store that implements `commit_many(changes)` and `close()`."""

    async def commit_many(self, changes: Iterable[Change]) -> None:
        raise NotImplementedError

    async def commit(
        self, requests: Iterable[Request], activities: Iterable[Activity], agents: Iterable[AgentRecord] = ()
    ) -> None:
        await self.commit_many([Change(list(requests), list(activities), list(agents))])

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


def rows_affected(status: str) -> int:
    """Rows a PostgreSQL write touched, from asyncpg's command status ("DELETE 12", "INSERT 0 3")."""
    return int(status.rsplit(" ", 1)[-1])
