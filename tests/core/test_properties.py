"""Hypothesis properties over random event sequences driven against the engine.

Each example draws a configuration, then up to STEPS events chosen from what is possible at that
moment: arrivals (priorities, hidden and ineligible numbers), DTMF and keyed numbers, hang-ups,
agent state changes (legal and illegal), answers / failures / hang-ups of the legs the engine
actually originated (and stale ones), whisper ends, ticks at deadlines and at random times, admin
removals, moves and repositions. After every event the invariants below are checked; after every refused event
the engine's state must be exactly what it was before.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core import commands as c
from app.core import events as ev
from app.core.engine import Engine
from app.core.errors import CoreError
from app.core.settings import (
    AgentSettings,
    CallbackOrder,
    CallbackSettings,
    CoreSettings,
    DispatchPolicy,
    OfferMode,
    OpeningHours,
    QueueSettings,
    TimeRange,
)
from app.core.states import AgentState, AttemptOutcome, RequestKind, RequestState

STEPS = 70
QUEUES = ("support", "sales")
AGENTS = ("a1", "a2", "a3")
NUMBERS = (
    "+4520123456",
    "+4530123456",
    "+4532123456",
    "20123456",
    None,
    "anonymous",
    "+4590123456",  # premium rate
    "+46701234567",  # foreign
    "12",  # invalid
)
KEYED = ("30123456", "90123456", "123", "4520123456")
START = 1_767_027_000.0  # 2025-12-29 16:50 UTC, a Monday: ten minutes before closing
# open 08:00-17:00 UTC every day: a run that lasts hours crosses closing time
DAY_HOURS = OpeningHours(timezone="UTC", weekly=tuple((TimeRange(8 * 3600, 17 * 3600),) for _ in range(7)))


# ------------------------------------------------------------------------- configuration


@st.composite
def configs(draw: st.DrawFn) -> tuple[CoreSettings, bool]:
    fifo = draw(st.booleans())  # the configuration under which keep-place order is checked
    cb = CallbackSettings(
        enabled=draw(st.sampled_from([True, True, True, False])),
        offer_mode=draw(st.sampled_from(list(OfferMode))),
        min_wait_before_offer=draw(st.sampled_from([0.0, 20.0])),
        offer_threshold=draw(st.sampled_from([0.0, 60.0])),
        reoffer_interval=30.0,
        allow_other_number=draw(st.booleans()),
        abandon_callback_after=draw(st.sampled_from([None, 0.0, 30.0])),
        callback_delay=0.0 if fifo else draw(st.sampled_from([0.0, 0.0, 60.0])),
        max_attempts=draw(st.integers(1, 3)),
        sec_between_retries=draw(st.sampled_from([30.0, 300.0])),
        give_up_on_busy=draw(st.booleans()),
        vip_on_retry=draw(st.sampled_from([0, 0, 1])),
        max_age=draw(st.sampled_from([600.0, 3600.0, 72 * 3600.0])),
        dispatch=DispatchPolicy.ALWAYS if fifo else draw(st.sampled_from(list(DispatchPolicy))),
        max_callback_agent_share=1.0 if fifo else draw(st.sampled_from([0.34, 0.5, 1.0])),
        order=CallbackOrder.KEEP_PLACE if fifo else draw(st.sampled_from(list(CallbackOrder))),
        random_seed=draw(st.integers(0, 3)),
        customer_ring_timeout=30.0,
        voicemail_message=draw(st.sampled_from([None, "vm"])),
    )
    hours = None if fifo else draw(st.sampled_from([None, DAY_HOURS]))
    queues = tuple(
        QueueSettings(
            name=name,
            ring_timeout=15.0,
            wrap_up=draw(st.sampled_from([0.0, 10.0])),
            max_wait_after_close=draw(st.sampled_from([600.0, 3600.0])),
            hours=hours if name == "support" else None,
            callback=cb,
            record_calls=name == "sales",  # a recorded queue: calls found unrecorded are recorded again
        )
        for name in QUEUES
    )
    skills = (
        (("support", 0), ("sales", 1)),
        (("support", draw(st.integers(0, 1))),),
        (("sales", 0), ("support", draw(st.integers(0, 2)))),
    )
    agents = tuple(AgentSettings(id=a, skills=s) for a, s in zip(AGENTS, skills, strict=True))
    core = CoreSettings(queues=queues, agents=agents, menu_timeout=10.0, max_wrap_up_extension=30.0)
    return core, fifo


# ------------------------------------------------------------------------- the model


@dataclass
class Model:
    engine: Engine
    max_attempts: int
    now: float = START
    next_id: int = 0
    agent_legs: dict[str, str] = field(default_factory=dict)  # live originated agent leg -> request
    customer_legs: dict[str, str] = field(default_factory=dict)  # live originated customer leg -> request
    lines: set[str] = field(default_factory=set)  # live inbound callers' own lines (leg id = request id)
    confirming: set[str] = field(default_factory=set)  # lines hearing a confirmation the shell hangs up after
    dead_legs: list[str] = field(default_factory=list)
    whisper_legs: set[str] = field(default_factory=set)
    answered: set[str] = field(default_factory=set)  # a leg that answered can hang up, never fail
    activities: list[tuple[int, c.Activity]] = field(default_factory=list)
    index: int = 0
    arrival: dict[str, tuple[int, float, str, int]] = field(default_factory=dict)  # id -> (index, at, queue, prio)
    first_ring: dict[str, int] = field(default_factory=dict)
    ended: dict[str, int] = field(default_factory=dict)
    became_callback: set[str] = field(default_factory=set)
    moved: set[str] = field(default_factory=set)
    # a caller who took a merged callback's place -> (index of the merge, their own arrival)
    before_merge: dict[str, tuple[int, tuple[int, float, str, int]]] = field(default_factory=dict)
    line_up: set[str] = field(default_factory=set)  # callbacks whose caller is still on their own line
    line_ended: dict[str, int] = field(default_factory=dict)  # callback -> index its caller's line ended

    def fresh_id(self) -> str:
        self.next_id += 1
        return f"r{self.next_id}"

    def kill(self, leg: str) -> None:
        for legs in (self.agent_legs, self.customer_legs):
            if legs.pop(leg, None) is not None:
                self.dead_legs.append(leg)
        self.lines.discard(leg)
        self.whisper_legs.discard(leg)

    def send(self, event: ev.Event) -> list[c.Command] | None:
        """Deliver one event; a refusal must leave the state exactly as it was."""
        before = snapshot(self.engine)
        try:
            out = self.engine.handle(event)
        except CoreError:
            assert snapshot(self.engine) == before, f"state changed by refused {event}"
            return None
        if isinstance(event, (ev.LegFailed, ev.LegHungUp)):
            self.kill(event.leg_id)
        if isinstance(event, ev.CallerHungUp):
            self.lines.discard(event.request_id)
            self.confirming.discard(event.request_id)
        for cmd in out:
            self.index += 1
            self.record(cmd)
        return out

    def record(self, cmd: c.Command) -> None:
        if isinstance(cmd, c.OriginateAgent):
            assert cmd.leg_id not in self.agent_legs
            self.agent_legs[cmd.leg_id] = cmd.request_id
        elif isinstance(cmd, c.OriginateCustomer):
            self.customer_legs[cmd.leg_id] = cmd.request_id
        elif isinstance(cmd, c.JoinHolding):
            self.lines.add(cmd.leg_id)
        elif isinstance(cmd, c.PlayPrompt):
            if cmd.report_finish:
                self.whisper_legs.add(cmd.leg_id)
            if cmd.hangup_after:
                self.kill(cmd.leg_id)
                self.confirming.add(cmd.leg_id)
        elif isinstance(cmd, c.Hangup):
            self.kill(cmd.leg_id)
        elif isinstance(cmd, c.BridgeLegs):  # only a connected call's own two live legs are bridged
            req = self.engine.requests[cmd.request_id]
            assert req.state is RequestState.CONNECTED, f"bridged in {req.state}: {cmd}"
            assert (cmd.customer_leg, cmd.agent_leg) == (req.customer_leg, req.agent_leg), cmd
            assert cmd.customer_leg not in self.dead_legs and cmd.agent_leg not in self.dead_legs, cmd
        elif isinstance(cmd, c.RecordCall):  # only a connected call of a recorded queue, once told
            req = self.engine.requests[cmd.request_id]
            assert req.state is RequestState.CONNECTED and req.queue == "sales", f"recorded in {req.state}: {cmd}"
            assert cmd.leg_id == req.customer_leg and cmd.leg_id not in self.dead_legs, cmd
        elif isinstance(cmd, c.Activity):
            self.activities.append((self.index, cmd))
            rid = cmd.request_id
            if rid is None:
                return
            if cmd.kind == "arrived":
                req = self.engine.requests[rid]
                self.arrival[rid] = (self.index, req.arrived_at, req.queue, req.priority)
            elif cmd.kind == "agent_ringing":
                self.first_ring.setdefault(rid, self.index)
            elif cmd.kind == "callback_accepted":
                self.became_callback.add(rid)
                req = self.engine.requests.get(rid)
                if req is not None and req.caller_line is not None:
                    self.line_up.add(rid)
            elif cmd.kind == "caller_line_ended":
                self.line_up.discard(rid)
                self.line_ended[rid] = self.index
            elif cmd.kind in ("moved", "repositioned"):
                self.moved.add(rid)
            elif cmd.kind == "callback_merged" and cmd.data["place_taken"]:  # the merged one's place, as if theirs
                self.before_merge.setdefault(rid, (self.index, self.arrival[rid]))
                self.arrival[rid] = self.arrival[str(cmd.data["merged"])]
            elif cmd.kind == "ended":
                assert rid not in self.ended, f"{rid} ended twice"
                assert cmd.data.get("outcome"), f"ended without outcome: {cmd}"
                self.ended[rid] = self.index


def snapshot(engine: Engine) -> str:
    return repr(
        (
            engine.requests,
            engine.agents,
            {q: [(k, o._ids[k]) for k in o._keys] for q, o in engine.orders.items()},
            engine._callers_waiting,
            sorted(engine._timers._due.items()),
            engine._legs,
            engine._seq,
            engine._leg_seq,
            engine.closed_since,
            engine._started,
            getattr(engine.estimator, "_stats", None),
            {q: r.getstate() for q, r in engine._random.items()},
        )
    )


# ------------------------------------------------------------------------- invariants


def check_invariants(m: Model) -> None:
    e = m.engine
    # the duplicate-number index is exactly the active callbacks by (queue, number)
    scanned: dict[tuple[str, str], set[str]] = {}
    for r in e.requests.values():
        if r.is_callback and r.callback_number is not None:
            scanned.setdefault((r.queue, r.callback_number), set()).add(r.id)
    assert e._callback_numbers == scanned
    for (queue, number), ids in scanned.items():  # one callback per number, however the second was asked
        assert len(ids) == 1 or e.queues[queue].callback.allow_duplicate_numbers, f"{number} twice in {queue}: {ids}"
    due = e._timers._due
    for q in QUEUES:
        order = e.orders[q]
        ids = list(order)
        waiting = sorted(
            (r for r in e.requests.values() if r.queue == q and r.state is RequestState.WAITING),
            key=lambda r: r.place,
        )
        assert ids == [r.id for r in waiting], "the order holds exactly the waiting requests, in place order"
        assert [e.position(rid) for rid in ids] == list(range(1, len(ids) + 1))
        assert e.callers_waiting(q) == sum(1 for r in waiting if r.kind is RequestKind.INBOUND)
    for rid, req in e.requests.items():
        assert req.id == rid and req.state is not RequestState.ENDED
        assert rid not in m.ended
        assert req.queued_since >= req.arrived_at, "net wait <= gross wait"
        assert req.net_wait(m.now) <= req.gross_wait(m.now)
        assert req.counted_attempts <= m.max_attempts
        if req.state is not RequestState.WAITING:
            assert e.position(rid) is None
        if req.agent_id is not None:
            agent = e.agents[req.agent_id]
            assert agent.request_id == rid, "request and agent agree"
            expected = AgentState.RINGING if req.state is RequestState.RINGING_AGENT else AgentState.BUSY
            assert agent.state is expected
            assert req.agent_leg is not None and req.agent_leg in m.agent_legs
        else:
            assert req.state in (RequestState.WAITING, RequestState.QUARANTINE)
            assert req.agent_leg is None
        if req.state is RequestState.RINGING_AGENT:
            assert ("ring", rid) in due
        if req.state is RequestState.DIALLING_CUSTOMER:
            assert ("customer", rid) in due and req.customer_leg in m.customer_legs
        if req.state is RequestState.CONNECTED:
            assert req.customer_leg in m.customer_legs or req.customer_leg in m.lines
        if req.is_callback:
            assert req.callback_number is not None and req.callback_number.startswith("+")
            if req.state in (RequestState.WAITING, RequestState.QUARANTINE):
                assert ("expire", rid) in due, "a queued callback always has its expiry ahead"
            if req.state is RequestState.QUARANTINE:
                assert ("not_before", rid) in due, "a quarantined callback always comes back"
        else:
            if req.state is RequestState.WAITING and req.customer_leg is not None:
                assert req.customer_leg in m.lines
        if req.menu is not None:
            assert ("menu", rid) in due
        if req.caller_line is not None:  # only a callback's caller still hearing the confirmation
            assert req.is_callback and req.caller_line == rid
    for agent in e.agents.values():
        if agent.request_id is not None:
            req = e.requests[agent.request_id]
            assert req.agent_id == agent.id, "agent and request agree"
        else:
            assert agent.state not in (AgentState.RINGING, AgentState.BUSY)
        if agent.state is AgentState.WRAP_UP:
            assert due.get(("wrap_up", agent.id)) == agent.wrap_up_until, "a wrap-up always ends"
        assert (
            sum(1 for rid in m.agent_legs.values() if e.requests.get(rid) and e.requests[rid].agent_id == agent.id) <= 1
        )
    # every leg the shell still has open is one the engine still owns: nothing orphaned, nothing twice
    for leg, rid in m.agent_legs.items():
        req = e.requests.get(rid)
        assert req is not None and req.agent_leg == leg, f"orphaned agent leg {leg}"
    for leg, rid in m.customer_legs.items():
        req = e.requests.get(rid)
        assert req is not None and req.customer_leg == leg, f"orphaned customer leg {leg}"
    for line in m.lines:
        req = e.requests.get(line)
        assert req is not None and req.customer_leg == line, f"caller {line} left on the line"
    # a callback is never lost
    for rid in m.became_callback:
        if rid in e.requests:
            assert e.requests[rid].is_callback
        else:
            assert rid in m.ended, f"callback {rid} vanished without an ended activity"


def check_keep_place_order(m: Model) -> None:
    """Policy always / keep_place / no delay / no hours: nobody later of the same priority goes first."""

    def arrival_at(rid: str, index: int) -> tuple[int, float, str, int]:
        # a caller who took a merged callback's place has it from the merge on, not before
        merged = m.before_merge.get(rid)
        return merged[1] if merged is not None and index < merged[0] else m.arrival[rid]

    for b, b_ring in m.first_ring.items():
        if b in m.moved:
            continue
        _, b_at, b_queue, b_prio = arrival_at(b, b_ring)
        for a in m.became_callback:
            if a == b or a in m.moved or a not in m.arrival:
                continue
            a_idx, a_at, a_queue, a_prio = arrival_at(a, b_ring)
            if a_queue != b_queue or a_prio != b_prio or not a_at < b_at:
                continue
            alive = a_idx < b_ring and m.ended.get(a, 10**9) > b_ring
            if a in m.line_up or m.line_ended.get(a, -1) > b_ring:
                continue  # its caller was still on their own line: not to be dialled yet
            if alive:
                assert m.first_ring.get(a, 10**9) < b_ring, f"callback {a} was served after later caller {b}"


# ------------------------------------------------------------------------- actions


def confirmed(data: st.DataObject, m: Model) -> None:
    """A confirmation ends: the shell hangs up the caller's own line."""
    line = data.draw(st.sampled_from(sorted(m.confirming)), label="confirmed")
    m.send(ev.CallerHungUp(m.now, line))


def step(data: st.DataObject, m: Model, journeys: bool = False, drive_weight: int = 9) -> None:
    e = m.engine
    if journeys:
        # callers take callbacks at once; agents work them: attempts, retries, quarantine, misses
        kinds = ["callback", "callback", "ready", "ready", "deadline", "deadline", "tick", "admin", "agent", "stale"]
        kinds += ["unbridged", "unrecorded", "unconfirmed"]
        kinds += ["leg"] * (9 if m.agent_legs or m.customer_legs else 0) + ["prompt"] * (9 if m.whisper_legs else 0)
        kinds += ["confirmed"] * (3 if m.confirming else 0)
        kinds += ["drive"] * (drive_weight if any(r.state in DRIVEN for r in e.requests.values()) else 0)
        kind = data.draw(st.sampled_from(kinds), label="kind")
        if kind == "confirmed":
            confirmed(data, m)
            return
        if kind == "drive":  # take one callback in service a step towards an unanswered attempt
            drive(data, m)
            return
        if kind == "callback":
            rid = m.fresh_id()
            m.now += data.draw(st.sampled_from([0.0, 1.0, 10.0]), label="advance")
            queue = data.draw(st.sampled_from(QUEUES), label="queue")
            prio = data.draw(st.sampled_from([0, 0, 1]), label="prio")
            number = data.draw(st.sampled_from(NUMBERS[:4]), label="number")
            if data.draw(st.booleans(), label="web"):
                m.send(ev.CallbackRequested(m.now, rid, queue, number or "", prio))
            else:  # a caller on the line presses the key (if nobody took them at once)
                m.send(ev.CallerArrived(m.now, rid, queue, number, prio))
                for digit in ("1", "1"):
                    m.send(ev.DtmfReceived(m.now, rid, digit))
            return
    else:
        kinds = ["arrive", "arrive", "dtmf", "dtmf", "keyed", "hangup", "agent", "agent", "ready", "ready"]
        kinds += ["tick", "deadline", "deadline", "admin", "web", "stale", "unbridged", "unrecorded", "unconfirmed"]
        # lean towards the legs in flight, so that whole callback journeys happen often
        kinds += ["leg"] * (5 if m.agent_legs or m.customer_legs else 0) + ["prompt"] * (5 if m.whisper_legs else 0)
        kinds += ["confirmed"] * (2 if m.confirming else 0)
        kind = data.draw(st.sampled_from(kinds), label="kind")
    advance = data.draw(st.sampled_from([0.0, 0.0, 0.5, 2.0, 5.0, 12.0, 31.0]), label="advance")
    if kind == "deadline":
        deadline = e.next_deadline()
        if deadline is not None and deadline < m.now + 4 * 3600:
            m.now = max(m.now, deadline)
        m.send(ev.Tick(m.now))
        return
    if kind == "tick":
        m.now += data.draw(st.sampled_from([1.0, 60.0, 400.0, 3000.0]), label="jump")
        m.send(ev.Tick(m.now))
        return
    m.now += advance
    live = sorted(e.requests)
    inbound = sorted(r for r in live if e.requests[r].kind is RequestKind.INBOUND)
    if kind == "arrive":
        rid = m.fresh_id()
        queue = data.draw(st.sampled_from(QUEUES), label="queue")
        number = data.draw(st.sampled_from(NUMBERS), label="number")
        prio = data.draw(st.sampled_from([0, 0, 0, 1]), label="prio")
        m.send(ev.CallerArrived(m.now, rid, queue, number, prio))
    elif kind == "dtmf" and inbound:
        rid = data.draw(st.sampled_from(inbound), label="rid")
        digit = data.draw(st.sampled_from(["1", "1", "1", "2", "#", "*", "5"]), label="digit")
        m.send(ev.DtmfReceived(m.now, rid, digit))
    elif kind == "keyed" and inbound:
        rid = data.draw(st.sampled_from(inbound), label="rid")
        for digit in "12" + data.draw(st.sampled_from(KEYED), label="keyed") + "#":
            if m.send(ev.DtmfReceived(m.now, rid, digit)) is None:
                break
    elif kind == "hangup" and inbound:
        rid = data.draw(st.sampled_from(inbound), label="rid")
        if rid in m.lines or data.draw(st.booleans(), label="late"):
            m.send(ev.CallerHungUp(m.now, rid))
    elif kind == "ready":
        m.send(ev.AgentReady(m.now, data.draw(st.sampled_from(AGENTS), label="ready_agent")))
    elif kind == "agent":
        agent = data.draw(st.sampled_from([*AGENTS, "ghost"]), label="agent")
        which = data.draw(st.integers(0, 6), label="agent_event")
        event: ev.Event = [
            ev.AgentLoggedIn(m.now, agent),
            ev.AgentReady(m.now, agent),
            ev.AgentReady(m.now, agent),
            ev.AgentPaused(m.now, agent, "break"),
            ev.AgentLoggedOut(m.now, agent),
            ev.AgentReachability(m.now, agent, data.draw(st.booleans(), label="reachable")),
            ev.WrapUpExtended(m.now, agent, 20.0),
        ][which]
        m.send(event)
    elif kind == "leg":
        legs = sorted(m.agent_legs) + sorted(m.customer_legs)
        if not legs:
            return
        leg = data.draw(st.sampled_from(legs), label="leg")
        what = data.draw(
            st.sampled_from(["answer", "answer", "answer", "voicemail", "fail", "fail", "hangup"]), label="what"
        )
        if what in ("answer", "voicemail"):
            m.answered.add(leg)
            m.send(ev.LegAnswered(m.now, leg, voicemail=what == "voicemail" and leg in m.customer_legs))
        elif what == "fail" and leg not in m.answered:
            outcome = data.draw(st.sampled_from([AttemptOutcome.BUSY, AttemptOutcome.NO_ANSWER, AttemptOutcome.FAILED]))
            m.send(ev.LegFailed(m.now, leg, outcome, 17 if outcome is AttemptOutcome.BUSY else None))
        else:  # hung up, or cut by Asterisk for lack of audio (a dead line)
            m.send(ev.LegHungUp(m.now, leg, no_audio=data.draw(st.booleans(), label="no_audio")))
    elif kind == "confirmed" and m.confirming:
        confirmed(data, m)
    elif kind == "prompt" and m.whisper_legs:
        leg = data.draw(st.sampled_from(sorted(m.whisper_legs)), label="whisper")
        m.send(ev.PromptFinished(m.now, leg))
    elif kind == "unbridged":  # the shell found a call's legs apart after a restart (or says so wrongly)
        m.send(ev.CallFoundUnbridged(m.now, data.draw(st.sampled_from([*live, "unknown"]), label="unbridged")))
    elif kind == "unrecorded":  # the shell found a bridged call unrecorded after a restart (or says so wrongly)
        m.send(ev.CallFoundUnrecorded(m.now, data.draw(st.sampled_from([*live, "unknown"]), label="unrecorded")))
    elif kind == "unconfirmed":  # an originate of an agent's ring went unanswered by Asterisk
        legs = sorted(m.agent_legs) + m.dead_legs + ["unknown"]
        m.send(ev.RingUnconfirmed(m.now, data.draw(st.sampled_from(legs), label="unconfirmed")))
    elif kind == "stale" and m.dead_legs:
        leg = data.draw(st.sampled_from(m.dead_legs), label="dead")
        which = data.draw(st.integers(0, 2), label="stale_event")
        stale: ev.Event = [
            ev.LegAnswered(m.now, leg),
            ev.LegFailed(m.now, leg, AttemptOutcome.FAILED),
            ev.LegHungUp(m.now, leg),
        ][which]
        m.send(stale)
    elif kind == "admin":
        rid = data.draw(st.sampled_from([*live, "unknown"]), label="admin_rid")
        action = data.draw(st.sampled_from(["remove", "move", "position"]), label="admin_action")
        if action == "remove":
            m.send(ev.CallbackRemoved(m.now, rid, by="admin", reason="test"))
        elif action == "position":
            m.send(ev.Tick(m.now))  # what is due now happens first (an agent freed would take the moved one)
            queue = e.requests[rid].queue if rid in e.requests else QUEUES[0]
            position = data.draw(st.integers(0, len(e.orders[queue]) + 1), label="position")
            if m.send(ev.CallbackRepositioned(m.now, rid, position, by="admin")) is not None:
                assert e.position(rid) == position
        else:
            to = data.draw(st.sampled_from([*QUEUES, "nowhere"]), label="to")
            m.send(ev.CallbackMoved(m.now, rid, to, by="admin"))
    elif kind == "web":
        rid = data.draw(st.sampled_from([m.fresh_id(), *live[:1]]), label="web_rid")
        number = data.draw(st.sampled_from((*NUMBERS[:4], "anonymous")), label="web_number")
        m.send(ev.CallbackRequested(m.now, rid, data.draw(st.sampled_from(QUEUES)), number or ""))


DRIVEN = (RequestState.RINGING_AGENT, RequestState.WHISPER, RequestState.DIALLING_CUSTOMER)


def drive(data: st.DataObject, m: Model) -> None:
    """Agent answers, whisper ends, customer busy or no answer: reaches attempts 2 and 3, quarantine."""
    e = m.engine
    rid = data.draw(st.sampled_from(sorted(r.id for r in e.requests.values() if r.state in DRIVEN)), label="drive")
    req = e.requests[rid]
    m.now += data.draw(st.sampled_from([0.0, 1.0, 5.0]), label="advance")
    if req.state is RequestState.RINGING_AGENT and req.agent_leg in m.agent_legs:
        m.answered.add(req.agent_leg)
        m.send(ev.LegAnswered(m.now, req.agent_leg))
    elif req.state is RequestState.WHISPER and req.agent_leg in m.whisper_legs:
        m.send(ev.PromptFinished(m.now, req.agent_leg))
    elif req.state is RequestState.DIALLING_CUSTOMER and req.customer_leg in m.customer_legs:
        outcome = data.draw(st.sampled_from([AttemptOutcome.BUSY, AttemptOutcome.NO_ANSWER]), label="unanswered")
        m.send(ev.LegFailed(m.now, req.customer_leg, outcome, 17 if outcome is AttemptOutcome.BUSY else 19))
    else:
        m.send(ev.Tick(m.now))


def run(core: CoreSettings, fifo: bool, data: st.DataObject, journeys: bool) -> Model:
    m = Model(Engine(core), max_attempts=core.queues[0].callback.max_attempts)
    m.send(ev.AgentLoggedIn(m.now, "a1"))
    for _ in range(data.draw(st.integers(20, STEPS), label="steps")):
        step(data, m, journeys)
        check_invariants(m)
    if fifo:
        check_keep_place_order(m)
    return m


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=configs(), data=st.data())
def test_random_event_sequences_keep_every_invariant(config: tuple[CoreSettings, bool], data: st.DataObject) -> None:
    run(*config, data, journeys=False)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=configs(), data=st.data())
def test_random_callback_journeys_keep_every_invariant(config: tuple[CoreSettings, bool], data: st.DataObject) -> None:
    core, fifo = config
    queues = tuple(replace(q, callback=replace(q.callback, enabled=True)) for q in core.queues)
    run(replace(core, queues=queues), fifo, data, journeys=True)
