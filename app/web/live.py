"""The live picture: every ongoing request, every agent, every queue, as plain rows.

Theory of operation: `live_snapshot` reads the engine in one go on the event loop (no event can
change it half-way) and returns rows for everything; `app/web/access.py` then cuts them down to
what each user may see (`filter_live`). Instants are epoch seconds so the page ticks waits and
durations itself between changes. "Today" counts (answered, abandoned, SLA, calls handled per
agent) come from the activities the service hands over after each stored step (`TodayCounts`),
reset at each queue's midnight in its hours' time zone; at start they are first read back from the store's event log
(`seed_today`), so a restart does not zero them.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, time
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from app.core.commands import Activity
from app.core.request import IN_SERVICE, Request
from app.core.states import AgentState, RequestState
from app.store import Store
from app.store.contact_records import CampaignFigures
from app.telephony.service import TelephonyService
from app.web.access import campaign_of_event, is_dialler_request
from app.web.times import known_estimate

AGENT_COUNTS = ("ready", "ringing", "busy", "wrap_up", "paused")


class TodayCounts:
    """Counts of the current day, fed with the service's activities (after they are stored).

    Each queue's day is its own, in the time zone of its hours (`zone_of`): a centre in Copenhagen
    starts its day at its own midnight, whatever zone the host runs in. A campaign's calls count in
    the day of the queue they were placed for."""

    def __init__(self, zone_of: Callable[[str], str] = lambda queue: "UTC") -> None:
        self.zone_of = zone_of  # queue name -> time zone name
        self.days: dict[tuple[str, str], tuple[date, str]] = {}  # ("queue"|"campaign", name) -> (day, zone)
        self.answered: Counter[str] = Counter()
        self.abandoned: Counter[str] = Counter()
        self.within_sla: Counter[str] = Counter()
        self.handled: Counter[tuple[str, str]] = Counter()  # (agent, queue)
        self.handled_campaign: Counter[tuple[str, str]] = Counter()  # (agent, campaign): dialler calls

    def __call__(self, activity: Activity) -> None:
        if activity.kind not in ("connected", "ended"):
            return
        queue = activity.queue or ""
        zone = self.zone_of(queue)
        campaign = campaign_of_event(activity.request_id, activity.data)
        if campaign is not None or is_dialler_request(activity.request_id):
            # a dialler call is its campaign's, not its queue's: it stays out of the queue's counts
            if activity.kind == "connected" and activity.agent_id and campaign:
                if self._today(("campaign", campaign), activity.at, zone):
                    self.handled_campaign[(activity.agent_id, campaign)] += 1
            return
        if not self._today(("queue", queue), activity.at, zone):
            return  # a late activity of the day before
        if activity.kind == "connected":
            self.answered[queue] += 1
            if activity.data.get("within_sla"):
                self.within_sla[queue] += 1
            if activity.agent_id:
                self.handled[(activity.agent_id, queue)] += 1
        elif activity.data.get("outcome") == "abandoned":
            self.abandoned[queue] += 1

    def rolled(self, now: float) -> TodayCounts:
        """Itself, without the counts of any queue or campaign whose day has ended by `now`."""
        for key, (day, zone) in list(self.days.items()):
            if local_day(now, zone) > day:
                self._forget(key)
        return self

    def _today(self, key: tuple[str, str], at: float, zone: str) -> bool:
        """Whether `at` falls in `key`'s current day; a later day starts afresh."""
        day = local_day(at, zone)
        current = self.days.get(key)
        if current is not None and day < current[0]:
            return False
        if current is not None and day > current[0]:
            self._forget(key)
        self.days[key] = (day, zone)
        return True

    def _forget(self, key: tuple[str, str]) -> None:
        kind, name = key
        del self.days[key]
        if kind == "queue":
            for counter in (self.answered, self.abandoned, self.within_sla):
                counter.pop(name, None)
            for pair in [p for p in self.handled if p[1] == name]:
                del self.handled[pair]
        else:
            for pair in [p for p in self.handled_campaign if p[1] == name]:
                del self.handled_campaign[pair]


def local_day(at: float, zone: str) -> date:
    return datetime.fromtimestamp(at, _zone(zone)).date()


def day_start(at: float, zone: str) -> float:
    """The instant `at`'s day began in `zone` (its local midnight, or the first instant after it)."""
    tz = _zone(zone)
    return datetime.combine(local_day(at, zone), time.min, tzinfo=tz).timestamp()


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


COUNTED = ("connected", "ended")


def activity_key(a: Activity) -> tuple[str, str | None, str | None, float]:
    return (a.kind, a.request_id, a.agent_id, a.at)


async def events_since(store: Store, start: float) -> list[Activity]:
    """The stored activities of kinds `TodayCounts` counts, at or after `start` (the log is read
    from the first event at `start`, found by a binary search over ids: not the whole month)."""
    from app.web.export import events_between  # export imports the web layer; this stays light

    return [e.activity() async for e in events_between(store, start, math.inf) if e.kind in COUNTED]


def seed_today(counts: TodayCounts, stored: Iterable[Activity], live: list[Activity]) -> None:
    """Count the stored activities, then those that arrived live meanwhile, each once (an
    activity committed while the log was being read is in both)."""
    seen = {activity_key(a) for a in live}
    for activity in stored:
        if activity_key(activity) not in seen:
            counts(activity)
    for activity in live:
        counts(activity)


def _state(r: Request, now: float) -> str:
    if r.state is RequestState.WAITING and r.is_callback and r.not_before > now:
        return "scheduled"
    return r.state.value


def live_snapshot(
    service: TelephonyService,
    today: TodayCounts,
    now: float | None = None,
    figures: Mapping[str, CampaignFigures] | None = None,
) -> dict[str, Any]:
    """Rows for every ongoing request, agent, queue and campaign (unfiltered: see
    access.filter_live). `figures` are the store's campaign figures, read beforehand (the store
    is asynchronous; this reads the engine in one go)."""
    engine = service.engine
    now = service.clock() if now is None else now
    today = today.rolled(now)
    requests = []
    for r in engine.requests.values():
        if r.state is RequestState.ENDED:
            continue
        in_service = r.state in IN_SERVICE
        agent = engine.agents.get(r.agent_id or "") if in_service else None
        timed = r.state is RequestState.QUARANTINE or (r.state is RequestState.WAITING and r.not_before > now)
        requests.append(
            {
                "id": r.id,
                "queue": r.queue,
                "kind": r.kind.value,
                "state": _state(r, now),
                "position": engine.position(r.id),
                "number": r.callback_number or r.caller_number,
                "agent_id": agent.id if agent else None,
                "agent_name": agent.settings.name if agent else None,
                "arrived_at": r.arrived_at,
                "queued_since": r.queued_since,
                "talking_since": r.service_started_at if r.state is RequestState.CONNECTED else None,
                "until": r.not_before if timed else None,
                "attempts": r.counted_attempts,
                "priority": r.priority,
                "campaign": r.campaign,
            }
        )
    agents = []
    for a in engine.agents.values():
        current = engine.requests.get(a.request_id) if a.request_id else None
        agents.append(
            {
                "id": a.id,
                "name": a.settings.name,
                "state": a.state.value,
                "state_since": a.state_since or None,
                # in wrap-up: its end, extensions included (the page counts down to it)
                "wrap_up_until": a.wrap_up_until if a.state is AgentState.WRAP_UP else None,
                "pause_reason": a.pause_reason,
                "reachable": a.reachable,
                "request_id": current.id if current else None,
                "request_queue": current.queue if current else None,
                "request_campaign": current.campaign if current else None,
                "queues": [q for q, _ in a.settings.skills],
                "groups": sorted(g for g, members in service.config.agent_groups.items() if a.id in members),
                "handled_by_queue": {q: n for (agent, q), n in today.handled.items() if agent == a.id},
                "handled_by_campaign": {c: n for (agent, c), n in today.handled_campaign.items() if agent == a.id},
            }
        )
    queues = []
    for name, q in engine.queues.items():
        held = engine.waiting(name)
        quarantined = sum(1 for r in engine.requests.values() if r.queue == name and r.state is RequestState.QUARANTINE)
        callers = engine.callers_waiting(name)
        counts = {s: 0 for s in AGENT_COUNTS}
        for a in engine.agents.values():
            if a.serves(name) and a.state is not AgentState.LOGGED_OFF:
                counts[a.state.value] += 1
        serving = engine.agents_serving(name)
        estimate = None
        if serving:
            estimate = known_estimate(engine.estimator.estimate(name, len(held), serving, engine.ready_agents(name)))
        answered = today.answered[name]
        queues.append(
            {
                "name": name,
                "label": q.label,
                "open": engine.is_open(name),
                "waiting": len(held),
                "callers_waiting": callers,
                "callbacks_waiting": len(held) - callers,
                "callbacks_quarantine": quarantined,
                "oldest_arrived_at": min((r.arrived_at for r in held), default=None),
                "estimated_wait": estimate,
                "agents": counts,
                "answered_today": answered,
                "abandoned_today": today.abandoned[name],
                "sla_today": round(100.0 * today.within_sla[name] / answered, 1) if answered else None,
                "service_level": q.service_level,
            }
        )
    return {
        "now": now,
        "requests": requests,
        "agents": agents,
        "queues": queues,
        "campaigns": _campaigns(service, figures),
    }


def _campaigns(service: TelephonyService, figures: Mapping[str, CampaignFigures] | None) -> list[dict[str, Any]]:
    rows = []
    engine = service.engine
    for c in engine.settings.campaigns:
        state = engine.campaign_state.get(c.id, c.state)
        f = (figures or {}).get(c.id)
        rate = f.last_24h.abandon_rate if f is not None else None
        rows.append(
            {
                "name": c.id,
                "label": c.name or c.id,
                "queue": c.queue,
                "mode": c.mode.value,
                "state": state.value,
                "left": f.left if f is not None else None,
                "dialled_24h": f.last_24h.attempts if f is not None else None,
                "connects_24h": f.last_24h.connects if f is not None else None,
                "abandon_rate_24h": round(100.0 * rate, 1) if rate is not None else None,
                "dialling": sum(
                    1 for r in engine.requests.values() if r.campaign == c.id and r.state is not RequestState.ENDED
                ),
            }
        )
    return rows
