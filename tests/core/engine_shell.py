"""A model shell for long mixed runs of one Engine (tests/core/test_engine_state_machine.py).

It does what app/telephony does around the engine, in memory:
- feeds events, delivers due timers as `Tick`s (as the service's timer loop does);
- keeps the legs Asterisk would have up (originated agent and customer legs, callers' own lines)
  from the commands, and which of them answered, play a prompt that reports its end, or hear a
  confirmation the shell hangs up after;
- keeps a "store" the way the service's committer fills it (`step_of` after every step: request
  rows through the store's codec, agent records, contact progress), and answers `LoadContacts`
  from an in-memory contact list as the store would;
- restarts: a fresh Engine restored from that store in the order app/telephony/service.py start()
  and contacts_loader.start_up() use, then legs reconciled as resync.py does (every expected leg
  whose channel is gone reported `LegLost`, then `LegsReconciled`).

`check()` holds the invariants a contact centre cares about; it raises AssertionError with what
broke. Nothing here reads a clock or draws randomly: the caller picks every move.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace

from app.core import commands as c
from app.core import events as ev
from app.core.contacts import CLAIMED, DONE, SCHEDULED, ContactProgress, DueContact
from app.core.engine import Engine
from app.core.engine_base import REQUEST_TIMERS
from app.core.errors import CoreError
from app.core.promise_log import DAY
from app.core.request import IN_SERVICE, Request
from app.core.settings import CampaignMode, CampaignState, CoreSettings, DispatchPolicy
from app.core.states import AgentState, RequestKind, RequestState
from app.store import codec
from app.store.records import AgentRecord
from app.telephony.committer import step_of

CALLBACK_STATES = (RequestState.WAITING, RequestState.QUARANTINE, *IN_SERVICE)


def stored(req: Request) -> Request:
    """The request as the store gives it back: encoded to rows and decoded (no database needed)."""
    return codec.request_from_row(codec.request_row(req), [row[1:] for row in codec.attempt_rows(req)])


@dataclass
class Store:
    requests: dict[str, Request] = field(default_factory=dict)
    agents: dict[str, AgentRecord] = field(default_factory=dict)
    contacts: dict[tuple[str, int], DueContact] = field(default_factory=dict)
    progress: dict[tuple[str, int], ContactProgress] = field(default_factory=dict)
    updated: dict[tuple[str, int], int] = field(default_factory=dict)  # order of the last change
    campaign_states: dict[str, CampaignState] = field(default_factory=dict)
    finished: dict[str, str] = field(default_factory=dict)  # campaign -> last finishing mark
    merged: set[str] = field(default_factory=set)  # callbacks ended merged into another
    seq: int = 0


@dataclass
class Shell:
    core: CoreSettings
    now: float
    engine: Engine = field(init=False)
    store: Store = field(default_factory=Store)
    agent_legs: dict[str, str] = field(default_factory=dict)  # live originated agent leg -> agent id
    customer_legs: dict[str, str] = field(default_factory=dict)  # live originated customer leg -> number
    lines: set[str] = field(default_factory=set)  # inbound callers' own lines (leg id = request id)
    confirming: set[str] = field(default_factory=set)  # lines hearing a prompt the shell hangs up after
    answered: set[str] = field(default_factory=set)
    reporting: set[str] = field(default_factory=set)  # legs playing a prompt that reports its end
    dead_legs: list[str] = field(default_factory=list)
    ever_legs: set[str] = field(default_factory=set)
    promised: set[str] = field(default_factory=set)  # every request ever seen as a callback
    ended: dict[str, str] = field(default_factory=dict)  # request -> outcome of its "ended" activity
    reconciling: bool = False  # restored, legs not yet reconciled
    steps: int = 0
    restarts: int = 0
    outages: int = 0
    trace: list[str] = field(default_factory=list)  # the events fed, for reading a counterexample

    def __post_init__(self) -> None:
        self.engine = Engine(self.core)

    # ------------------------------------------------------------------ feeding

    def send(self, event: ev.Event) -> list[c.Command] | None:
        """Feed one event as the service does; None when the engine refused it (nothing changed)."""
        self.trace.append(repr(event))
        try:
            out = self.engine.handle(event)
        except CoreError:
            self.trace.append("  -> refused")
            self._commit([])  # a refusal changes nothing: nothing to store
            return None
        self.steps += 1
        if isinstance(event, (ev.LegFailed, ev.LegHungUp, ev.LegLost)):
            self._kill(event.leg_id)
        if isinstance(event, ev.CallerHungUp):
            self._kill(event.request_id)
        if isinstance(event, ev.PromptFinished):
            self.reporting.discard(event.leg_id)
        for cmd in out:
            self._act(cmd)
        self._commit(out)
        for load in [x for x in out if isinstance(x, c.LoadContacts)]:
            due = tuple(self.due(load.campaign, load.limit))
            exhausted = not due and self.exhausted(load.campaign)
            more = self.send(ev.ContactsLoaded(self.now, load.campaign, due, exhausted=exhausted))
            out += more or []
        return out

    def run_until(self, when: float) -> None:
        """Deliver every deadline up to `when` as the timer loop would, then move the clock there."""
        while (deadline := self.engine.next_deadline()) is not None and deadline <= when:
            self.now = max(self.now, deadline)
            self.send(ev.Tick(self.now))
            self.check()
        self.now = max(self.now, when)

    def _commit(self, out: list[c.Command]) -> None:
        step = step_of(self.engine, out)
        for req in step.requests:
            self.store.requests[req.id] = stored(req)
        for record in step.agents:
            self.store.agents[record.agent_id] = record
        for p in step.contacts:
            key = (p.campaign, p.contact_id)
            self.store.progress[key] = p
            self.store.seq += 1
            self.store.updated[key] = self.store.seq
            if key in self.store.contacts:
                self.store.contacts[key] = replace(
                    self.store.contacts[key],
                    attempts=p.attempts,
                    reserved_agent=p.reserved_agent,
                    last_outcome=p.last_outcome,
                )
        for a in step.activities:
            if a.kind == "campaign_state":
                self.store.campaign_states[str(a.data["campaign"])] = CampaignState(str(a.data["state"]))
            elif a.kind in ("campaign_finished", "campaign_reopened"):
                self.store.finished[str(a.data.get("campaign"))] = a.kind

    def _act(self, cmd: c.Command) -> None:
        if isinstance(cmd, c.OriginateAgent):
            assert cmd.request_id in self.engine.requests, f"agent rung for unknown request: {cmd}"
            rung = [leg for leg, agent in self.agent_legs.items() if agent == cmd.agent_id]
            assert not rung, f"{cmd.agent_id} rung for {cmd.request_id} while on leg {rung}"
            agent = self.engine.agents.get(cmd.agent_id)
            assert agent is None or not agent.own_call, f"{cmd.agent_id} rung while their phone is on its own call"
            assert cmd.leg_id not in self.ever_legs, f"leg id {cmd.leg_id} handed out twice"
            self.agent_legs[cmd.leg_id] = cmd.agent_id
            self.ever_legs.add(cmd.leg_id)
        elif isinstance(cmd, c.OriginateCustomer):
            assert cmd.request_id in self.engine.requests, f"customer dialled for unknown request: {cmd}"
            in_dial = [leg for leg, number in self.customer_legs.items() if number == cmd.number]
            assert not in_dial, f"{cmd.number} dialled for {cmd.request_id} while already on leg {in_dial}"
            assert cmd.leg_id not in self.ever_legs, f"leg id {cmd.leg_id} handed out twice"
            self.customer_legs[cmd.leg_id] = cmd.number
            self.ever_legs.add(cmd.leg_id)
        elif isinstance(cmd, c.BridgeLegs):
            for leg in (cmd.customer_leg, cmd.agent_leg):
                # (while legs are reconciled one by one, the other may be gone, not yet reported)
                assert self._live(leg) or self.reconciling, f"bridge names a leg that is not up: {leg} in {cmd}"
        elif isinstance(cmd, c.PlayPrompt):
            assert cmd.leg_id in self.ever_legs or cmd.leg_id in self.lines, f"prompt on unknown leg: {cmd}"
            if cmd.report_finish:
                self.reporting.add(cmd.leg_id)
            if cmd.hangup_after:
                self.reporting.discard(cmd.leg_id)
                if cmd.leg_id in self.lines:
                    self.confirming.add(cmd.leg_id)
                else:
                    self._kill(cmd.leg_id)
        elif isinstance(cmd, c.StopPrompt):
            assert cmd.leg_id in self.ever_legs, f"stop of a prompt on an unknown leg: {cmd}"
        elif isinstance(cmd, c.Hangup):
            assert cmd.leg_id in self.ever_legs or cmd.leg_id in self.lines, f"hang-up of unknown leg: {cmd}"
            self._kill(cmd.leg_id)
        elif isinstance(cmd, c.Activity):
            rid = cmd.request_id
            if cmd.kind == "ended" and rid is not None:
                assert rid not in self.ended, f"{rid} ended twice"
                outcome = cmd.data.get("outcome")
                assert outcome, f"ended without an outcome: {cmd}"
                self.ended[rid] = str(outcome)
                if cmd.data.get("reason") == "merged":
                    self.store.merged.add(rid)

    def _live(self, leg: str) -> bool:
        return leg in self.agent_legs or leg in self.customer_legs or leg in self.lines

    def _kill(self, leg: str) -> None:
        for legs in (self.agent_legs, self.customer_legs):
            if legs.pop(leg, None) is not None:
                self.dead_legs.append(leg)
        self.lines.discard(leg)
        self.confirming.discard(leg)
        self.reporting.discard(leg)
        self.answered.discard(leg)

    def arrive(self, rid: str, queue: str, number: str | None, priority: int = 0) -> list[c.Command] | None:
        known = rid in self.ever_legs
        self.lines.add(rid)  # the caller's channel is up before the engine hears of it
        self.ever_legs.add(rid)
        out = self.send(ev.CallerArrived(self.now, rid, queue, number, priority))
        if out is None and not known:
            self.lines.discard(rid)
            self.ever_legs.discard(rid)
        return out

    # ------------------------------------------------------------------ the store's contacts

    def due(self, campaign: str, limit: int) -> list[DueContact]:
        out = []
        for key, k in sorted(self.store.contacts.items(), key=lambda kv: (-kv[1].priority, kv[0][1])):
            if key[0] != campaign:
                continue
            p = self.store.progress.get(key)
            if p is not None and (p.state in (CLAIMED, DONE) or (p.next_due is not None and p.next_due > self.now)):
                continue
            out.append(k)
        return out[:limit]

    def exhausted(self, campaign: str) -> bool:
        keys = [key for key in self.store.contacts if key[0] == campaign]
        return bool(keys) and all(
            (p := self.store.progress.get(key)) is not None and p.state != SCHEDULED for key in keys
        )

    # ------------------------------------------------------------------ restart

    def resync(self, gone: set[str], asterisk_restarted: bool, answered_meanwhile: frozenset[str] | set[str]) -> None:
        """resync.py after a gap in the events (a restart of ours, or a lost connection): agents'
        reachability first (phones re-register after an Asterisk restart), then every expected leg
        whose channel is gone is lost, and one that answered unseen is answered."""
        if asterisk_restarted:
            gone = {leg for leg, *_ in self.engine.expected_legs()} | set(self._all_live())
        for leg in gone:  # channels that ended while nobody listened: no event will ever come for them
            self._kill(leg)
        for agent in sorted(self.engine.agents):
            self.send(ev.AgentReachability(self.now, agent, not asterisk_restarted))
        reason = "asterisk_restarted" if asterisk_restarted else "channel_vanished"
        for leg, _, _, answered in self.engine.expected_legs():
            if not self._live(leg):
                self.send(ev.LegLost(self.now, leg, reason))
            elif not answered and leg in answered_meanwhile and leg not in self.lines:
                self.answered.add(leg)
                self.send(ev.LegAnswered(self.now, leg))

    def outage(self, after: float, gone: set[str], asterisk_restarted: bool, answered_meanwhile: set[str]) -> None:
        """The events connection drops (or Asterisk restarts) for `after` seconds; then the resync."""
        self.outages += 1
        self.trace.append(f"-- outage {after} s, gone {sorted(gone)}, asterisk_restarted={asterisk_restarted}")
        self.send(ev.TelephonyDown(self.now, "ari_disconnected"))
        self.now += after  # (no timer runs: the events that would tell us are not coming either)
        self.reconciling = True
        self.resync(gone, asterisk_restarted, answered_meanwhile)
        self.reconciling = False
        self.send(ev.TelephonyUp(self.now))

    def crash_and_restart(
        self,
        after: float,
        gone: set[str],
        asterisk_restarted: bool,
        answered_meanwhile: frozenset[str] | set[str] = frozenset(),
    ) -> None:
        """The service dies between two steps and starts `after` seconds later from its store.
        `gone`: legs whose channel ended meanwhile (all of them if Asterisk restarted too);
        `answered_meanwhile`: ringing legs that answered while nobody listened."""
        self.restarts += 1
        self.trace.append(f"-- restart after {after} s, gone {sorted(gone)}, asterisk_restarted={asterisk_restarted}")
        self.now += after
        now = self.now
        s = self.store
        engine = Engine(self.core)
        # app/telephony/service.py start(): requests in the store's order, agents, moves, wrap-ups, promises
        requests = sorted(
            (r for r in s.requests.values() if r.state is not RequestState.ENDED),
            key=lambda r: (r.queue, r.place, r.id),
        )
        agents = sorted(s.agents.values(), key=lambda a: a.agent_id)
        engine.restore([stored(r) for r in requests], [(a.agent_id, a.state, a.pause_reason) for a in agents], now)
        moves = [(a.agent_id, a.after_call, a.after_call_reason) for a in agents if a.after_call is not None]
        engine.restore_after_call(moves, now)
        wrapping = [a for a in agents if a.state is AgentState.WRAP_UP]
        ends = {a.agent_id: a.wrap_up_until for a in wrapping if a.wrap_up_until is not None}
        granted = {a.agent_id: a.wrap_up_extended for a in wrapping if a.wrap_up_extended is not None}
        engine.restore_wrap_ups([(a.agent_id, a.since) for a in wrapping], now, ends, granted)
        self.engine = engine
        self._commit(engine.take_restored())  # wrap-ups the restart ended, stored as the service does
        self._check_store()  # before anything moves the agents on (a ring would hide a stale record)
        engine.restore_promises(
            [
                (r.callback_number, r.callback_requested_at)
                for r in s.requests.values()
                if r.callback_number is not None
                and r.callback_requested_at is not None
                and r.callback_requested_at > now - DAY
                and r.id not in s.merged
            ],
            now,
        )
        # app/telephony/contacts_loader.py start_up(): stale claims freed, campaign states, dispositions
        keep = engine.active_contact_ids()
        for key, p in list(s.progress.items()):
            if p.state == CLAIMED and key[1] not in keep:
                s.progress[key] = replace(p, state=SCHEDULED)
        engine.restore_campaigns(dict(s.campaign_states), {})
        pending: dict[str, list[tuple[int, int, str]]] = {}
        for key, p in sorted(s.progress.items(), key=lambda kv: (s.updated.get(kv[0], 0), kv[0][1])):
            if p.state == DONE and p.last_outcome == "answered" and p.reserved_agent is not None:
                pending.setdefault(key[0], []).append((key[1], p.attempts, p.reserved_agent))
        engine.restore_dispositions({cid: pending.get(cid, []) for cid in engine.campaigns})
        engine.restore_finished({cid for cid, mark in s.finished.items() if mark == "campaign_finished"})
        self.reconciling = True
        self.resync(gone, asterisk_restarted, answered_meanwhile)
        self.send(ev.LegsReconciled(self.now))
        self.reconciling = False
        # legs the old engine left to the shell but the new one does not expect are not ours any more
        expected = {leg for leg, *_ in engine.expected_legs()}
        for leg in list(self._all_live()):
            if leg in self.confirming and leg not in expected:  # the new service hangs up calls it does not know
                self._kill(leg)
            elif leg not in expected:
                raise AssertionError(f"leg {leg} is up but no request restored expects it")

    def _all_live(self) -> list[str]:
        return [*self.agent_legs, *self.customer_legs, *self.lines]

    # ------------------------------------------------------------------ invariants

    def check(self) -> None:
        e = self.engine
        due = e._timers._due
        # every request seen as a callback is one now or ended with a reason, never just gone
        for rid, req in e.requests.items():
            assert req.id == rid and req.state is not RequestState.ENDED
            assert rid not in self.ended, f"{rid} ended and still active"
            if req.is_callback:
                self.promised.add(rid)
        for rid in self.promised:
            promised = e.requests.get(rid)
            if promised is None:
                assert rid in self.ended, f"callback {rid} vanished without an ended activity"
                continue
            req = promised
            assert req.is_callback, f"callback {rid} is a {req.kind} now"
            assert req.state in CALLBACK_STATES, f"callback {rid} in state {req.state}"
            if req.state in (RequestState.WAITING, RequestState.QUARANTINE):
                assert ("expire", rid) in due, f"waiting callback {rid} has no expiry ahead"
            if req.state is RequestState.QUARANTINE:
                assert ("not_before", rid) in due, f"quarantined callback {rid} never comes back"
            assert req.callback_number is not None and req.callback_number.startswith("+")
        # an agent is on at most one request, and the two agree
        on: Counter[str] = Counter(r.agent_id for r in e.requests.values() if r.agent_id is not None)
        assert all(n == 1 for n in on.values()), f"agent on two requests: {on}"
        for agent in e.agents.values():
            if agent.request_id is not None:
                on_call = e.requests.get(agent.request_id)
                assert on_call is not None, f"{agent.id} on ended request {agent.request_id}"
                assert on_call.agent_id == agent.id, f"{agent.id} on {on_call.id}, which names {on_call.agent_id}"
                assert agent.state in (AgentState.RINGING, AgentState.BUSY), f"{agent.id} {agent.state} on a call"
            else:
                assert agent.state not in (AgentState.RINGING, AgentState.BUSY), f"{agent.id} {agent.state}, no call"
            if agent.state is AgentState.WRAP_UP:
                assert due.get(("wrap_up", agent.id)) == agent.wrap_up_until, f"{agent.id}'s wrap-up never ends"
        for rid, req in e.requests.items():
            if req.agent_id is not None:
                assert e.agents[req.agent_id].request_id == rid, f"{rid} names {req.agent_id}, who is elsewhere"
            if req.state is RequestState.RINGING_AGENT:
                assert ("ring", rid) in due, f"{rid} rings its agent forever"
            if req.state is RequestState.DIALLING_CUSTOMER:
                assert ("customer", rid) in due, f"{rid} dials forever"
        # no timer for a request that no longer exists
        for kind, subject in due:
            if kind in REQUEST_TIMERS:
                assert subject in e.requests, f"timer {kind} for gone request {subject}"
            elif kind == "wrap_up":
                assert subject in e.agents
        # every leg the shell holds up is one the engine owns: nothing orphaned
        owners: dict[str, str] = {}
        for rid, req in e.requests.items():
            for leg in (req.agent_leg, req.customer_leg, req.caller_line):
                if leg is not None:
                    assert leg not in owners, f"leg {leg} owned by {owners[leg]} and {rid}"
                    owners[leg] = rid
        if not self.reconciling:
            for leg in self._all_live():
                # a line hearing a confirmation is the shell's to hang up after it, owned or not
                assert leg in owners or leg in self.confirming, f"leg {leg} is up and no request owns it"
            for leg, rid in owners.items():
                assert self._live(leg), f"{rid} expects leg {leg}, which is gone"
        # one dial per number at a time, callbacks and campaigns together
        numbers = Counter(self.customer_legs.values())
        assert all(n == 1 for n in numbers.values()), f"a number in two dials: {numbers}"
        contacts = Counter((r.campaign, r.contact_id) for r in e.requests.values() if r.kind is RequestKind.CONTACT)
        assert all(n == 1 for n in contacts.values()), f"a contact in two requests: {contacts}"
        # a contact the store holds claimed is in the engine's hands (else nobody ever calls it)
        held = {(camp, cid) for camp, w in e._window.items() for cid in w} | set(e._active_contacts)
        claimed = {key for key, p in self.store.progress.items() if p.state == CLAIMED}
        assert claimed <= held, f"claimed in the store, forgotten by the engine: {sorted(claimed - held)}"
        self._check_store()
        self._check_no_freeze()

    def _check_store(self) -> None:
        """What the committer stored is what the engine holds: a restart now would bring back
        exactly these requests, in these states, and the agents as they are."""
        e = self.engine
        active = {rid for rid, r in self.store.requests.items() if r.state is not RequestState.ENDED}
        assert active == set(e.requests), (
            f"stored active {sorted(active - set(e.requests))} not in the engine; "
            f"engine's {sorted(set(e.requests) - active)} not stored"
        )
        for rid, req in e.requests.items():
            kept = self.store.requests[rid]
            now = (req.state, req.kind, req.queue, req.place, req.agent_id, req.agent_leg, req.customer_leg)
            then = (kept.state, kept.kind, kept.queue, kept.place, kept.agent_id, kept.agent_leg, kept.customer_leg)
            assert now == then, f"{rid} stored as {then}, is {now}"
            assert [a.outcome for a in kept.attempts] == [a.outcome for a in req.attempts], f"{rid}'s attempts"
            assert kept.callback_number == req.callback_number and kept.not_before == req.not_before
        for agent in e.agents.values():
            record = self.store.agents.get(agent.id)
            state = record.state if record is not None else AgentState.LOGGED_OFF
            after = (record.after_call, record.after_call_reason) if record is not None else (None, None)
            # (ringing and busy are not stored with the agent: restore takes them from the requests)
            if agent.state not in (AgentState.RINGING, AgentState.BUSY):
                assert state is agent.state, f"{agent.id} stored {state}, is {agent.state}"
            if agent.state in (AgentState.RINGING, AgentState.BUSY, AgentState.WRAP_UP):
                assert after == (agent.after_call, agent.after_call_reason), f"{agent.id}'s move after the call"
            if agent.state is AgentState.WRAP_UP:  # its end, extensions included: a restart resumes it
                until = record.wrap_up_until if record is not None else None
                assert until == agent.wrap_up_until, f"{agent.id}'s wrap-up stored to end at {until}"

    def _check_no_freeze(self) -> None:
        """An agent free for a queue where a caller is on hold, or a callback is due, gets rung."""
        e = self.engine
        if not e.telephony_up or self.reconciling:
            return
        # agents a power dial in flight counts on are kept for it (dialler.py _agents_held_for_dials)
        campaigns = e.campaigns
        held = {a for a, cid in e._agents_held_for_dials().items() if campaigns[cid].mode is CampaignMode.POWER}
        for name, q in e.queues.items():
            if q.hours is not None:
                continue  # (this model's queues are always open)
            free = [a.id for a in e.agents.values() if a.available and a.serves(name) and a.id not in held]
            if not free:
                continue
            for req in e.waiting(name):
                if not req.is_callback:
                    raise AssertionError(f"{free} ready while caller {req.id} waits in {name}")
                if (
                    q.callback.dispatch is DispatchPolicy.ALWAYS
                    and q.callback.max_callback_agent_share >= 1
                    and req.not_before <= self.now
                    and req.caller_line is None
                    and not e.number_in_dial(req.callback_number or "")
                    and not any(  # another call to the number is under way: this one waits for it
                        r.callback_number == req.callback_number and r.state in IN_SERVICE for r in e.requests.values()
                    )
                ):
                    raise AssertionError(f"{free} ready while callback {req.id} is due in {name}")
