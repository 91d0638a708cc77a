"""Which request of a queue gets the next free agent.

Theory of operation:
- Callers on the line are always dispatchable. A callback is dispatchable when the queue is
  open, its `callback_delay` / quarantine is over, its caller's own call has ended (while the
  confirmation plays, their line is busy with us: dialling them then would ring a busy phone and
  spend an attempt), no campaign's dial nor other callback in service holds its number (the same
  reason), and the queue's policy allows callbacks now:
  `always`; `when_agents_free` (enough ready agents remain for every caller on the line);
  `when_no_callers_waiting`. On top, `max_callback_agent_share` caps the agents busy with
  callbacks at that share of the queue's logged-in agents, never below one.
- `keep_place` (default): the first dispatchable request in place order wins, so a callback is
  served exactly where its caller would have been. Other orders pick one callback among the
  dispatchable ones (oldest / newest request, or seeded random) which then competes with the
  first caller on the line by its place.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from app.core.request import Request
from app.core.settings import CallbackOrder, DispatchPolicy, QueueSettings

if TYPE_CHECKING:
    from app.core.engine_base import EngineBase


def callbacks_may_go(engine: EngineBase, q: QueueSettings, callers_waiting: int) -> bool:
    cb = q.callback
    if not engine.is_open(q.name):
        return False
    if cb.dispatch is DispatchPolicy.WHEN_NO_CALLERS_WAITING and callers_waiting > 0:
        return False
    if cb.dispatch is DispatchPolicy.WHEN_AGENTS_FREE and engine.ready_agents(q.name) - 1 < callers_waiting:
        return False
    cap = max(1, math.floor(cb.max_callback_agent_share * engine.agents_logged_in(q.name) + 1e-9))
    return engine.callbacks_in_service(q.name) < cap


def _due(engine: EngineBase, callback: Request, now: float) -> bool:
    return (
        callback.not_before <= now
        and callback.caller_line is None
        # a campaign's dial, or another queue's callback, rings the number now: the callback keeps
        # its place, dialled after it (else the customer's phone is busy and that counts as an attempt)
        and not (
            callback.callback_number is not None
            and (
                engine.number_in_dial(callback.callback_number)
                or engine.callback_in_service_to(callback.callback_number)
            )
        )
    )


def candidate(engine: EngineBase, queue: str) -> Request | None:
    q = engine.queues[queue]
    now = engine.dispatch_now()
    callers = engine.callers_waiting(queue)
    gate: bool | None = None  # computed only when a callback is met: it costs a scan of the agents
    if q.callback.order is CallbackOrder.KEEP_PLACE:
        for req in engine.iter_waiting(queue):
            if not req.is_callback:
                return req
            if gate is None:
                gate = callbacks_may_go(engine, q, callers)
            if gate and _due(engine, req, now):
                return req
            if callers == 0 and not gate:
                return None  # only held-back callbacks remain
        return None
    first_caller: Request | None = None
    ready: list[Request] = []
    for req in engine.iter_waiting(queue):
        if not req.is_callback:
            first_caller = first_caller or req
            continue
        if gate is None:
            gate = callbacks_may_go(engine, q, callers)
        if gate and _due(engine, req, now):
            ready.append(req)
    chosen: Request | None = None
    if ready:
        if q.callback.order is CallbackOrder.OLDEST_FIRST:
            chosen = min(ready, key=lambda r: (r.callback_requested_at or 0.0, r.place))
        elif q.callback.order is CallbackOrder.NEWEST_FIRST:
            chosen = max(ready, key=lambda r: (r.callback_requested_at or 0.0, r.place))
        else:
            chosen = engine.random_for(queue).choice(ready)
    pool = [r for r in (chosen, first_caller) if r is not None]
    return min(pool, key=lambda r: r.place) if pool else None
